"""The road network model: junctions, road links, movements, signal programs, conflicts.

A :class:`RoadNetwork` is built from any SUMO ``.net.xml`` by :func:`graph_from_sumo_net`
(read with ``sumolib``). It holds

``graph``
    a ``networkx.MultiDiGraph``. Nodes are SUMO junction ids with attributes ``x_m``,
    ``y_m``, ``type`` (SUMO junction type) and ``tls`` (controlling traffic light id or
    ``None``). Edges are keyed by the SUMO edge id, ``(from_node, to_node, edge_id)``, with
    attributes ``lanes`` (number of lanes), ``length_m``, ``speed_mps`` (speed limit),
    ``priority`` and ``name``. Internal, crossing and walking-area edges are left out.
``movements``
    one :class:`Movement` per (junction, from-edge, to-edge) served by at least one SUMO
    connection, plus one per pedestrian crossing (``turn == "crossing"``), ordered by junction.
``programs``
    the active :class:`SignalProgram` of every traffic light, phases as SUMO state strings
    indexed by SUMO link index; :meth:`SignalProgram.link_movements` maps a link index to
    its movement.
``conflicts``
    per junction a :class:`~citybrain.conflicts.JunctionConflicts` (see that module).

Units are in attribute names: ``length_m``, ``speed_mps``, ``sat_flow_vph``, ``duration_s``.
"""

from __future__ import annotations

import math
import xml.sax
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import networkx as nx
import numpy as np

from .exceptions import NetworkError

__all__ = [
    "TURNS",
    "Movement",
    "Link",
    "ProgramPhase",
    "SignalProgram",
    "NetworkArrays",
    "RoadNetwork",
    "graph_from_sumo_net",
]

#: SUMO connection ``dir`` -> turn type.
TURNS: dict[str, str] = {
    "s": "through",
    "l": "left",
    "r": "right",
    "t": "uturn",
    "L": "partial_left",
    "R": "partial_right",
    "invalid": "through",
}
#: Turn types in the order of their integer code in :class:`NetworkArrays`.
TURN_CODES: tuple[str, ...] = (
    "through",
    "left",
    "right",
    "uturn",
    "partial_left",
    "partial_right",
    "crossing",
)
#: Saturation-flow factor per turn type (HCM 2016 Exh. 19-13: right 1/1.18, protected left 1/1.05).
TURN_SAT_FACTOR: dict[str, float] = {
    "through": 1.0,
    "partial_right": 1.0,
    "partial_left": 1.0,
    "right": 1 / 1.18,
    "left": 1 / 1.05,
    "uturn": 0.8,
    "crossing": 0.0,
}


@dataclass(frozen=True, slots=True)
class Movement:
    """One stream through a junction: from an approach edge to an exit edge.

    Attributes
    ----------
    junction : str
        SUMO junction (node) id the approach ends at.
    from_edge, to_edge : str
        SUMO edge ids. For a pedestrian crossing both are the crossing's id.
    turn : str
        One of :data:`TURN_CODES`, from SUMO's connection ``dir``.
    from_lanes, to_lanes : tuple of str
        SUMO lane ids that serve the movement (distinct, in lane order).
    tls : str or None
        Traffic light that controls it, or ``None`` when unsignalised.
    link_indices : tuple of int
        SUMO link indices (in ``tls``'s state strings) of its connections.
    sat_flow_vph : float
        Saturation flow (veh/h): per-lane base times a turn factor, each lane shared
        equally among the movements using it. 0 for crossings.
    crosses : tuple of str
        For a crossing, the road edges it crosses.
    """

    junction: str
    from_edge: str
    to_edge: str
    turn: str
    from_lanes: tuple[str, ...]
    to_lanes: tuple[str, ...]
    tls: str | None
    link_indices: tuple[int, ...]
    sat_flow_vph: float
    crosses: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """A readable id: ``junction:from_edge->to_edge``."""
        return f"{self.junction}:{self.from_edge}->{self.to_edge}"


@dataclass(frozen=True, slots=True)
class Link:
    """One SUMO connection controlled by a traffic light (one character of its state)."""

    index: int
    from_lane: str
    to_lane: str
    movement: int


@dataclass(frozen=True, slots=True)
class ProgramPhase:
    """One phase of a SUMO signal program (durations in seconds)."""

    duration_s: float
    state: str
    min_dur_s: float | None = None
    max_dur_s: float | None = None
    name: str = ""

    @property
    def is_transition(self) -> bool:
        """True for a transition phase: any yellow, or no green of any kind (all-red).

        A phase that shows yellow to some links while others keep green (SUMO's
        ``yyygg``) is a transition, as in RESCO, not a green phase to choose.
        """
        return "y" in self.state.lower() or not any(c in "Gg" for c in self.state)


@dataclass(frozen=True, slots=True)
class SignalProgram:
    """The active program of one traffic light.

    Attributes
    ----------
    tls : str
        SUMO traffic-light id.
    program_id, type : str
        SUMO ``programID`` and ``type`` (``static``, ``actuated`` ...).
    offset_s : float
        Program offset (seconds).
    junctions : tuple of str
        Junction nodes this light controls.
    phases : tuple of ProgramPhase
        Phases in order.
    links : tuple of Link
        Every controlled connection, by link index (a link index may serve several).
    """

    tls: str
    program_id: str
    type: str
    offset_s: float
    junctions: tuple[str, ...]
    phases: tuple[ProgramPhase, ...]
    links: tuple[Link, ...]

    @property
    def n_links(self) -> int:
        """Number of link indices (length of every state string)."""
        return 1 + max((link.index for link in self.links), default=-1)

    @property
    def cycle_s(self) -> float:
        """Cycle length (seconds): the sum of the phase durations."""
        return float(sum(p.duration_s for p in self.phases))

    def link_movements(self) -> dict[int, tuple[int, ...]]:
        """Map each link index to the movement indices it controls."""
        out: dict[int, list[int]] = defaultdict(list)
        for link in self.links:
            if link.movement not in out[link.index]:
                out[link.index].append(link.movement)
        return {k: tuple(v) for k, v in out.items()}

    def green_phases(self) -> tuple[int, ...]:
        """Indices of the green phases: some green (``G`` or ``g``) and no yellow."""
        return tuple(i for i, p in enumerate(self.phases) if not p.is_transition)


@dataclass(frozen=True, slots=True)
class NetworkArrays:
    """Contiguous arrays of a :class:`RoadNetwork` for numba kernels (CSR style).

    Movements are indexed as in ``RoadNetwork.movements``, edges as in ``edge_ids`` and
    junctions as in ``junction_ids``. ``junction_mov_ptr[j]:junction_mov_ptr[j + 1]`` is the
    slice of movements at junction ``j``; ``edge_out_ptr``/``edge_out_mov`` list the movements
    leaving each edge (the edge is their from-edge) and ``edge_in_ptr``/``edge_in_mov`` those
    entering it. Conflict codes are separate (:meth:`RoadNetwork.conflict_arrays`), since
    classifying every junction costs more than everything else here on a large network.
    """

    junction_ids: tuple[str, ...]
    edge_ids: tuple[str, ...]
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_lanes: np.ndarray
    edge_length_m: np.ndarray
    edge_speed_mps: np.ndarray
    mov_junction: np.ndarray
    mov_from_edge: np.ndarray
    mov_to_edge: np.ndarray
    mov_turn: np.ndarray
    mov_lanes: np.ndarray
    mov_sat_flow_vph: np.ndarray
    junction_mov_ptr: np.ndarray
    edge_out_ptr: np.ndarray
    edge_out_mov: np.ndarray
    edge_in_ptr: np.ndarray
    edge_in_mov: np.ndarray


@dataclass(eq=False)
class RoadNetwork:
    """A SUMO road network as a graph with movements, signal programs and conflicts.

    Build one with :func:`graph_from_sumo_net`; see the module docstring for attributes.
    """

    path: Path
    graph: nx.MultiDiGraph
    movements: tuple[Movement, ...]
    programs: dict[str, SignalProgram]
    junction_shapes: dict[str, tuple[tuple[float, float], ...]] = field(repr=False)
    foes: dict[str, frozenset[tuple[int, int]]] = field(repr=False, default_factory=dict)
    prohibits: dict[str, frozenset[tuple[int, int]]] = field(repr=False, default_factory=dict)
    _conflicts: dict = field(default_factory=dict, repr=False)
    _arrays: NetworkArrays | None = field(default=None, repr=False)
    _movement_index: dict[tuple[str, str, str], int] = field(default_factory=dict, repr=False)
    _feeders: dict[str, set[str]] | None = field(default=None, repr=False)

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
            m.from_edge for m in self.movements if m.junction == junction and m.turn != "crossing"
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
        lengths = {e: d["length_m"] for e, d in self.edges.items()}
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
    def conflicts(self, junction: str):
        """Return the :class:`~citybrain.conflicts.JunctionConflicts` of one junction."""
        from .conflicts import junction_conflicts

        if junction not in self._conflicts:
            self._conflicts[junction] = junction_conflicts(self, junction)
        return self._conflicts[junction]

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
        from .conflicts import unsafe_phases

        return unsafe_phases(self)

    # -- arrays for kernels ------------------------------------------------------------
    def to_arrays(self) -> NetworkArrays:
        """Return the network as contiguous index arrays (computed once, then cached)."""
        if self._arrays is None:
            self._arrays = _build_arrays(self)
        return self._arrays

    def conflict_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """Conflict codes of every junction as CSR arrays ``(conflict_ptr, conflict)``.

        ``conflict_ptr[j]`` is where junction ``j``'s (in ``to_arrays().junction_ids`` order)
        row-major ``n_j x n_j`` codes of :mod:`citybrain.conflicts` start in ``conflict``;
        unsignalised junctions are all ``NONE``.
        """
        from .conflicts import NONE

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


def graph_from_sumo_net(path: str | Path, *, sat_flow_per_lane_vph: float = 1800.0) -> RoadNetwork:
    """Build a :class:`RoadNetwork` from a SUMO ``.net.xml`` file.

    Parameters
    ----------
    path
        The SUMO network file (plain or gzipped).
    sat_flow_per_lane_vph
        Base saturation flow of one through lane (veh/h); turns are scaled by
        :data:`TURN_SAT_FACTOR`.

    Returns
    -------
    RoadNetwork

    Raises
    ------
    NetworkError
        If the file is missing, is not XML, or is not a SUMO network.
    """
    path = Path(path)
    net = _read_sumo_net(path)
    graph = nx.MultiDiGraph(source=str(path))
    shapes: dict[str, tuple[tuple[float, float], ...]] = {}
    for node in net.getNodes():
        if node.getType() == "internal":
            continue
        x, y = node.getCoord()[:2]
        graph.add_node(node.getID(), x_m=float(x), y_m=float(y), type=node.getType(), tls=None)
        shapes[node.getID()] = tuple((float(p[0]), float(p[1])) for p in node.getShape())
    for edge in net.getEdges(withInternal=False):
        if edge.getFunction():
            continue
        shape = edge.getShape()
        graph.add_edge(
            edge.getFromNode().getID(),
            edge.getToNode().getID(),
            key=edge.getID(),
            lanes=edge.getLaneNumber(),
            length_m=float(edge.getLength()),
            speed_mps=float(edge.getSpeed()),
            priority=int(edge.getPriority()),
            name=edge.getName(),
            heading_out_deg=_heading(shape[0], shape[1]),
            heading_in_deg=_heading(shape[-2], shape[-1]),
        )

    movements, tls_links = _collect_movements(net, sat_flow_per_lane_vph)
    for m in movements:
        if m.tls:
            graph.nodes[m.junction]["tls"] = m.tls
    programs = _collect_programs(net, tls_links, movements)
    foes, prohibits = _collect_foes(net, movements)
    return RoadNetwork(
        path=path,
        graph=graph,
        movements=movements,
        programs=programs,
        junction_shapes=shapes,
        foes=foes,
        prohibits=prohibits,
    )


# -- reading ---------------------------------------------------------------------------
def _read_sumo_net(path: Path):
    import sumolib

    if not path.exists():
        msg = f"{path}: no such file."
        raise NetworkError(msg)
    if path.is_dir():
        msg = f"{path}: is a folder, expected a SUMO network file (.net.xml)."
        raise NetworkError(msg)
    root = _root_tag(path)
    if root != "net":
        msg = f"{path}: is XML with root <{root}>, expected a SUMO network (<net>)."
        raise NetworkError(msg)
    try:
        return sumolib.net.readNet(
            str(path), withPrograms=True, withLatestPrograms=True, withPedestrianConnections=True
        )
    except Exception as exc:  # sumolib raises bare KeyError/IndexError on broken files
        msg = f"{path}: not a readable SUMO network ({type(exc).__name__}: {exc})."
        raise NetworkError(msg) from exc


def _root_tag(path: Path) -> str:
    """Return the root element name, reading only the file's start."""
    import gzip

    class _Stop(Exception):
        pass

    class _Handler(xml.sax.ContentHandler):
        root = ""

        def startElement(self, name, attrs):  # noqa: N802 - SAX API
            self.root = name
            raise _Stop

    handler = _Handler()
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            xml.sax.parse(fh, handler)
    except _Stop:
        return handler.root
    except (xml.sax.SAXException, OSError, EOFError) as exc:
        msg = f"{path}: not an XML file ({exc})."
        raise NetworkError(msg) from exc
    msg = f"{path}: empty XML document, expected a SUMO network (<net>)."
    raise NetworkError(msg)


def _collect_movements(net, base_vph: float):
    """Group SUMO connections into movements; return them and the links of each tls."""
    groups: dict[tuple[str, str, str], dict] = {}
    lane_users: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
    tls_links: dict[str, list[tuple[int, str, str, tuple[str, str, str]]]] = defaultdict(list)

    for edge in net.getEdges(withInternal=True):
        function = edge.getFunction()
        if function not in ("", "walkingarea"):
            continue
        for lane in edge.getLanes():
            for conn in lane.getOutgoing():
                to_edge = conn.getTo()
                if function == "walkingarea":
                    if to_edge.getFunction() != "crossing":
                        continue
                    key = (to_edge.getToNode().getID(), to_edge.getID(), to_edge.getID())
                    turn = "crossing"
                    from_lane = to_lane = conn.getToLane().getID()
                    crosses = tuple(e.getID() for e in to_edge.getCrossingEdges())
                else:
                    if to_edge.getFunction():
                        continue
                    key = (edge.getToNode().getID(), edge.getID(), to_edge.getID())
                    turn = TURNS.get(conn.getDirection(), "through")
                    from_lane, to_lane = lane.getID(), conn.getToLane().getID()
                    crosses = ()
                g = groups.setdefault(
                    key,
                    {"turn": turn, "from": [], "to": [], "tls": None, "links": [], "crosses": crosses},
                )
                if from_lane not in g["from"]:
                    g["from"].append(from_lane)
                if to_lane not in g["to"]:
                    g["to"].append(to_lane)
                if turn != "crossing":
                    lane_users[from_lane].add(key)
                if conn.getTLSID():
                    g["tls"] = conn.getTLSID()
                    for idx in (conn.getTLLinkIndex(), conn.getTLLinkIndex2()):
                        if idx >= 0:
                            if idx not in g["links"]:
                                g["links"].append(idx)
                            tls_links[conn.getTLSID()].append((idx, from_lane, to_lane, key))

    keys = sorted(groups)
    movements = []
    for key in keys:
        g = groups[key]
        factor = TURN_SAT_FACTOR[g["turn"]]
        sat = sum(base_vph * factor / max(1, len(lane_users[lane])) for lane in g["from"])
        movements.append(
            Movement(
                junction=key[0],
                from_edge=key[1],
                to_edge=key[2],
                turn=g["turn"],
                from_lanes=tuple(g["from"]),
                to_lanes=tuple(g["to"]),
                tls=g["tls"],
                link_indices=tuple(sorted(g["links"])),
                sat_flow_vph=float(sat),
                crosses=g["crosses"],
            )
        )
    return tuple(movements), tls_links


def _collect_programs(net, tls_links, movements) -> dict[str, SignalProgram]:
    index = {(m.junction, m.from_edge, m.to_edge): i for i, m in enumerate(movements)}
    programs: dict[str, SignalProgram] = {}
    for tls in net.getTrafficLights():
        tls_id = tls.getID()
        progs = tls.getPrograms()
        if not progs:
            continue
        program_id, prog = list(progs.items())[-1]
        links = tuple(
            sorted(
                {Link(i, fl, tl, index[key]) for i, fl, tl, key in tls_links.get(tls_id, [])},
                key=lambda k: (k.index, k.from_lane, k.to_lane),
            )
        )
        junctions = tuple(sorted({movements[link.movement].junction for link in links}))
        phases = tuple(
            ProgramPhase(
                duration_s=float(p.duration),
                state=p.state,
                min_dur_s=_opt(p.minDur),
                max_dur_s=_opt(p.maxDur),
                name=p.name or "",
            )
            for p in prog.getPhases()
        )
        programs[tls_id] = SignalProgram(
            tls=tls_id,
            program_id=str(program_id),
            type=prog.getType(),
            offset_s=float(prog.getOffset()),
            junctions=junctions,
            phases=phases,
            links=links,
        )
    return programs


def _collect_foes(net, movements):
    """Movement pairs that SUMO's junction requests mark as foes, and who yields to whom.

    ``prohibits[j]`` holds ``(a, b)`` when movement ``a`` must yield to movement ``b``.
    """
    index = {(m.junction, m.from_edge, m.to_edge): i for i, m in enumerate(movements)}
    foes: dict[str, frozenset[tuple[int, int]]] = {}
    prohibits: dict[str, frozenset[tuple[int, int]]] = {}
    for node in net.getNodes():
        if not node._foes:
            continue
        junction = node.getID()
        links: list[int] = []
        for lane_id in node._incLanes:
            if not lane_id or not net.hasEdge(lane_id[: lane_id.rfind("_")]):
                continue
            for conn in net.getLane(lane_id).getOutgoing():
                frm, to = conn.getFrom(), conn.getTo()
                if to.getFunction() == "walkingarea" or to.getFunction() == "internal":
                    continue
                if frm.getFunction() == "walkingarea":
                    if to.getFunction() != "crossing":
                        continue
                    links.append(index[(junction, to.getID(), to.getID())])
                else:
                    links.append(index[(junction, frm.getID(), to.getID())])
        pairs: set[tuple[int, int]] = set()
        yields: set[tuple[int, int]] = set()
        for a, foe_bits in node._foes.items():
            response = node._prohibits[a]
            if a >= len(links):
                continue
            n_bits = len(foe_bits)
            for b in range(min(n_bits, len(links))):
                if links[a] == links[b]:
                    continue
                if foe_bits[n_bits - b - 1] == "1":
                    pairs.add((links[a], links[b]))
                    pairs.add((links[b], links[a]))
                if response[len(response) - b - 1] == "1":
                    yields.add((links[a], links[b]))
        foes[junction] = frozenset(pairs)
        prohibits[junction] = frozenset(yields)
    return foes, prohibits


def _heading(p0, p1) -> float:
    """Compass-free heading (degrees, counter-clockwise from +x) of the segment p0 -> p1."""
    return math.degrees(math.atan2(p1[1] - p0[1], p1[0] - p0[0])) % 360.0


def _opt(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value < 0 or math.isnan(value) else value


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
