"""The plain data of a road network: movements, signal programs and their kernel arrays.

Frozen value objects built by :func:`citybrain.network.graph_from_sumo_net` and held by a
:class:`~citybrain.network.RoadNetwork`. Units are in attribute names: ``sat_flow_vph``,
``duration_s``, ``offset_s``, ``length_m``, ``speed_mps``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

__all__ = [
    "TURNS",
    "TURN_CODES",
    "TURN_SAT_FACTOR",
    "Movement",
    "Link",
    "ProgramPhase",
    "SignalProgram",
    "NetworkArrays",
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
    """Contiguous arrays of a :class:`~citybrain.network.RoadNetwork` for numba kernels (CSR style).

    Movements are indexed as in ``RoadNetwork.movements``, edges as in ``edge_ids`` and
    junctions as in ``junction_ids``. ``junction_mov_ptr[j]:junction_mov_ptr[j + 1]`` is the
    slice of movements at junction ``j``; ``edge_out_ptr``/``edge_out_mov`` list the movements
    leaving each edge (the edge is their from-edge) and ``edge_in_ptr``/``edge_in_mov`` those
    entering it. Conflict codes are separate (:meth:`~citybrain.network.RoadNetwork.conflict_arrays`), since
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
