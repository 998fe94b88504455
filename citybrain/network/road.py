"""The road network: a graph with movements, signal programs and (cached) conflicts.

A :class:`RoadNetwork` is built by :func:`citybrain.network.graph_from_sumo_net` together
with its per-junction conflict overrides, so that every conflict query (:meth:`RoadNetwork.conflicts`,
:meth:`RoadNetwork.conflict_arrays`, :meth:`RoadNetwork.unsafe_phases`), the safety checks and
timing all see the same classes. Attributes are described in :mod:`citybrain.network`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import networkx as nx
import numpy as np

from ..exceptions import NetworkError
from .conflicts import NONE, ConflictOverride, JunctionConflicts, junction_conflicts, unsafe_phases
from .model import TURN_CODES, Movement, NetworkArrays, SignalProgram

__all__ = ["RoadNetwork"]


@dataclass(eq=False)
class RoadNetwork:
    """A SUMO road network as a graph with movements, signal programs and conflicts.

    Build one with :func:`~citybrain.network.graph_from_sumo_net`; see :mod:`citybrain.network`
    for the attributes. ``conflict_overrides`` (junction -> overrides, as returned by
    :func:`~citybrain.network.conflicts.load_overrides` for these movements) replace the
    classifier's verdict for the pairs they name, in every conflict query.
    """

    path: Path
    graph: nx.MultiDiGraph
    movements: tuple[Movement, ...]
    programs: dict[str, SignalProgram]
    junction_shapes: dict[str, tuple[tuple[float, float], ...]] = field(repr=False)
    foes: dict[str, frozenset[tuple[int, int]]] = field(repr=False, default_factory=dict)
    prohibits: dict[str, frozenset[tuple[int, int]]] = field(repr=False, default_factory=dict)
    conflict_overrides: dict[str, tuple[ConflictOverride, ...]] = field(repr=False, default_factory=dict)
    _conflicts: dict[str, JunctionConflicts] = field(default_factory=dict, init=False, repr=False)
    _arrays: NetworkArrays | None = field(default=None, init=False, repr=False)
    _movement_index: dict[tuple[str, str, str], int] = field(default_factory=dict, init=False, repr=False)
    _feeders: dict[str, set[str]] | None = field(default=None, init=False, repr=False)
    _edge_lengths: dict[str, float] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._movement_index = {
            (m.junction, m.from_edge, m.to_edge): i for i, m in enumerate(self.movements)
        }
        by_junction: dict[str, list[int]] = defaultdict(list)
        for i, m in enumerate(self.movements):
            by_junction[m.junction].append(i)
        self._junction_movements = {j: tuple(v) for j, v in by_junction.items()}

    # -- lookups -----------------------------------------------------------------------
    @cached_property
    def edges(self) -> dict[str, dict]:
        """Road edges by SUMO id -> attribute dict (with ``from`` and ``to`` junctions)."""
        return {
            key: dict(data, **{"from": u, "to": v})
            for u, v, key, data in self.graph.edges(keys=True, data=True)
        }

    @property
    def signalised_junctions(self) -> tuple[str, ...]:
        """Junctions controlled by a traffic light, sorted."""
        return tuple(sorted(n for n, d in self.graph.nodes(data=True) if d.get("tls")))

    def movement_index(self, junction: str, from_edge: str, to_edge: str) -> int:
        """Return the index of a movement in :attr:`movements`.

        Raises
        ------
        KeyError
            If the junction has no such movement.
        """
        return self._movement_index[(junction, from_edge, to_edge)]

    def has_movement(self, junction: str, from_edge: str, to_edge: str) -> bool:
        """Whether ``from_edge -> to_edge`` is a movement of ``junction``."""
        return (junction, from_edge, to_edge) in self._movement_index

    def junction_movements(self, junction: str) -> tuple[int, ...]:
        """Indices of the movements at one junction."""
        return self._junction_movements.get(junction, ())

    def approach_edges(self, junction: str) -> tuple[str, ...]:
        """Road edges ending at a junction that carry at least one vehicle movement."""
        seen = dict.fromkeys(
            m.from_edge for m in map(self.movements.__getitem__, self.junction_movements(junction))
            if m.turn != "crossing"
        )
        return tuple(seen)

    def upstream_lanes(self, lanes: tuple[str, ...], reach_m: float) -> tuple[tuple[str, float], ...]:
        """Lanes feeding ``lanes`` through unsignalised junctions, up to ``reach_m`` metres back.

        Short approach lanes (a 1 m edge before a stop line is common in real networks) hold
        no queue; a controller or detector needs the lanes behind them. Returns ``(lane,
        distance_m)`` pairs, ``distance_m`` being how far the fed lane's stop line is from the
        upstream lane's end, in breadth-first order, without the given lanes.
        """
        if self._feeders is None:
            feeders: dict[str, set[str]] = defaultdict(set)
            for m in self.movements:
                if m.tls is None and m.turn != "crossing":
                    for to_lane in m.to_lanes:
                        feeders[to_lane].update(m.from_lanes)
            self._feeders = feeders
            self._edge_lengths = {key: d["length_m"] for _, _, key, d in self.graph.edges(keys=True, data=True)}
        lengths = self._edge_lengths
        found: dict[str, float] = {}
        frontier = [(lane, 0.0) for lane in lanes]
        seen = set(lanes)
        while frontier:
            lane, dist = frontier.pop(0)
            dist += lengths.get(lane.rsplit("_", 1)[0], 0.0)
            if dist >= reach_m:
                continue
            for up in sorted(self._feeders.get(lane, ())):
                if up not in seen:
                    seen.add(up)
                    found[up] = dist
                    frontier.append((up, dist))
        return tuple(found.items())

    # -- conflicts and safety ----------------------------------------------------------
    def conflicts(self, junction: str) -> JunctionConflicts:
        """Return the conflict classes of one junction's movements, overrides applied (cached).

        See :func:`~citybrain.network.conflicts.junction_conflicts`.
        """
        if junction not in self._conflicts:
            self._conflicts[junction] = junction_conflicts(
                junction,
                self.movements,
                self.junction_movements(junction),
                foes=self.foes.get(junction, frozenset()),
                prohibits=self.prohibits.get(junction, frozenset()),
                heading_in_deg=self._heading_in_deg,
                overrides=self.conflict_overrides.get(junction, ()),
            )
        return self._conflicts[junction]

    @cached_property
    def _heading_in_deg(self) -> dict[str, float]:
        """Heading (degrees) of every road edge where it enters its junction."""
        return {e: d["heading_in_deg"] for e, d in self.edges.items()}

    def unsafe_phases(self) -> list[dict]:
        """List every program phase with an unsafe protected green.

        Returns
        -------
        list of dict
            One ``{"tls", "phase", "kind", "movements", "detail"}`` per finding. ``kind`` is
            ``"never-together"`` (protected green to two streams that cross and may never be
            green together) or ``"merge"`` (protected green to two streams entering one lane;
            SUMO's "Unsafe green phase" warning).
        """
        return unsafe_phases(self.programs, self.movements, self.conflicts)

    # -- arrays for kernels ------------------------------------------------------------
    def to_arrays(self) -> NetworkArrays:
        """Return the network as contiguous index arrays (computed once, then cached)."""
        if self._arrays is None:
            self._arrays = _build_arrays(self)
        return self._arrays

    def conflict_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Conflict codes of every junction as CSR arrays ``(conflict_ptr, conflict)``.

        ``conflict_ptr[j]`` is where junction ``j``'s (in ``to_arrays().junction_ids`` order)
        row-major ``n_j x n_j`` codes of :mod:`citybrain.network.conflicts` start in
        ``conflict``; unsignalised junctions are all ``NONE``.
        """
        arr = self.to_arrays()
        ptr = np.zeros(len(arr.junction_ids) + 1, dtype=np.int64)
        blocks = []
        for j, junction in enumerate(arr.junction_ids):
            n_j = int(arr.junction_mov_ptr[j + 1] - arr.junction_mov_ptr[j])
            if n_j and self.graph.nodes[junction].get("tls"):
                block = self.conflicts(junction).kind
            else:
                block = np.full((n_j, n_j), NONE, dtype=np.int8)
            blocks.append(block.ravel())
            ptr[j + 1] = ptr[j] + n_j * n_j
        codes = np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int8)
        return ptr, np.ascontiguousarray(codes, dtype=np.int8)

    def summary(self) -> dict:
        """Counts of junctions, signalised junctions, traffic lights, edges, movements."""
        return {
            "file": str(self.path),
            "junctions": self.graph.number_of_nodes(),
            "signalised": len(self.signalised_junctions),
            "traffic_lights": len(self.programs),
            "edges": self.graph.number_of_edges(),
            "lanes": int(sum(d["lanes"] for _, _, d in self.graph.edges(data=True))),
            "movements": sum(1 for m in self.movements if m.turn != "crossing"),
            "crossings": sum(1 for m in self.movements if m.turn == "crossing"),
        }


# -- arrays ----------------------------------------------------------------------------
def _build_arrays(network: RoadNetwork) -> NetworkArrays:
    junction_ids = tuple(sorted(network.graph.nodes))
    j_index = {j: i for i, j in enumerate(junction_ids)}
    edge_items = list(network.graph.edges(keys=True, data=True))
    edge_ids = tuple(k for _, _, k, _ in edge_items)
    e_index = {e: i for i, e in enumerate(edge_ids)}
    n_e = len(edge_ids)

    movs = network.movements
    mov_junction = np.array([j_index[m.junction] for m in movs], dtype=np.int64)
    mov_from = np.array([e_index.get(m.from_edge, -1) for m in movs], dtype=np.int64)
    mov_to = np.array([e_index.get(m.to_edge, -1) for m in movs], dtype=np.int64)
    turn_code = {t: i for i, t in enumerate(TURN_CODES)}

    order = np.argsort(mov_junction, kind="stable")
    if not np.array_equal(order, np.arange(len(movs))):  # pragma: no cover - built sorted
        msg = "movements must be grouped by junction"
        raise NetworkError(msg)
    junction_ptr = np.zeros(len(junction_ids) + 1, dtype=np.int64)
    np.add.at(junction_ptr, mov_junction + 1, 1)
    junction_ptr = np.cumsum(junction_ptr)

    def csr(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        valid = np.flatnonzero(keys >= 0)
        ptr = np.zeros(n_e + 1, dtype=np.int64)
        np.add.at(ptr, keys[valid] + 1, 1)
        ptr = np.cumsum(ptr)
        members = valid[np.argsort(keys[valid], kind="stable")].astype(np.int64)
        return ptr, members

    out_ptr, out_mov = csr(mov_from)
    in_ptr, in_mov = csr(mov_to)

    attrs = [d for _, _, _, d in edge_items]
    return NetworkArrays(
        junction_ids=junction_ids,
        edge_ids=edge_ids,
        edge_from=np.array([j_index[u] for u, _, _, _ in edge_items], dtype=np.int64),
        edge_to=np.array([j_index[v] for _, v, _, _ in edge_items], dtype=np.int64),
        edge_lanes=np.array([d["lanes"] for d in attrs], dtype=np.int64),
        edge_length_m=np.array([d["length_m"] for d in attrs], dtype=np.float64),
        edge_speed_mps=np.array([d["speed_mps"] for d in attrs], dtype=np.float64),
        mov_junction=mov_junction,
        mov_from_edge=mov_from,
        mov_to_edge=mov_to,
        mov_turn=np.array([turn_code[m.turn] for m in movs], dtype=np.int64),
        mov_lanes=np.array([len(m.from_lanes) for m in movs], dtype=np.int64),
        mov_sat_flow_vph=np.array([m.sat_flow_vph for m in movs], dtype=np.float64),
        junction_mov_ptr=junction_ptr,
        edge_out_ptr=out_ptr,
        edge_out_mov=out_mov,
        edge_in_ptr=in_ptr,
        edge_in_mov=in_mov,
    )
