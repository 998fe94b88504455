"""The controller protocol: what an online signal controller sees and what it answers.

A controller drives one traffic light. At every decision step the twin (``simulation``)
hands it an :class:`Observation` of that light and calls ``decide(observation)``, which
returns the index of the program phase (a green phase) to run next, or ``None`` to keep
the current one. The twin, not the controller, inserts the yellow and all-red transitions
and enforces minimum greens; a :class:`DecisionProtocol` says how often controllers decide
and how transitions are built.

Two protocols ship:

``native``
    decide every second; transitions are the program's own yellow/all-red phases (or, when
    the chosen green does not follow the current one in the program, a yellow of the
    program's yellow duration built from the two states); minimum greens come from the
    program phases' ``minDur`` or :data:`DEFAULT_MIN_GREEN_S`.
``resco``
    the RESCO benchmark's protocol (Ault & Sharon 2021): decide every 10 s, a 3 s yellow on
    every change, no all-red, choose among the program's green phases.

A controller with ``program_driven = True`` (the fixed controller) leaves the network's
own program running: the twin still observes it but never sets the light.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = [
    "DEFAULT_MIN_GREEN_S",
    "DETECTOR_SETBACK_M",
    "APPROACH_REACH_M",
    "Observation",
    "DecisionProtocol",
    "NATIVE",
    "RESCO",
    "PROTOCOLS",
    "Controller",
    "ControllerFactory",
    "CONTROLLERS",
    "register_controller",
    "make_controller",
    "get_protocol",
    "green_phase_movements",
    "lane_positions",
    "phases_after",
]

#: Minimum green (seconds) under the native protocol when a phase has no ``minDur``.
DEFAULT_MIN_GREEN_S: float = 5.0
#: Distance (m) of the emulated approach detectors before the stop line.
DETECTOR_SETBACK_M: float = 30.0
#: Observed approach (m): a movement's lanes, and the lanes feeding them through unsignalised
#: junctions where those are shorter than this.
APPROACH_REACH_M: float = 60.0


@dataclass(frozen=True, slots=True)
class Observation:
    """What one traffic light's controller sees at one decision step.

    Attributes
    ----------
    tls : str
        SUMO traffic-light id.
    time_s : float
        Simulation time (seconds, SUMO clock).
    phase : int
        Index of the program phase now shown (a green or a transition phase).
    green : int or None
        Index of the green phase being served, ``None`` during a transition the twin inserted.
    time_in_phase_s : float
        Seconds since ``phase`` (or, during a transition, the transition) began.
    green_phases : tuple of int
        The program's green phases: the choices ``decide`` may return.
    movements : tuple of int
        Indices into ``RoadNetwork.movements`` of the vehicle movements the light controls.
    movement_vehicles, movement_halting : tuple of int
        Per movement, vehicles (and halting vehicles, speed < 0.1 m/s) on its approach lanes.
        A lane shared by several movements counts towards each of them.
    movement_out_vehicles : tuple of int
        Per movement, vehicles on its exit lanes (downstream queue, for pressure-type rules).
    lanes : tuple of str
        The approach lanes of the light, in a fixed order: the movements' own lanes, and
        where those are short the lanes feeding them up to :data:`APPROACH_REACH_M`.
    lane_vehicles, lane_halting : tuple of int
        Per approach lane, vehicles and halting vehicles.
    lane_gap_s : tuple of float
        Per approach lane, seconds since its detector (an induction loop
        :data:`DETECTOR_SETBACK_M` before the stop line) last saw a vehicle; empty unless the
        controller asks for detectors (``needs_detectors``).
    movement_out_halting : tuple of int
        Per movement, halting vehicles on its exit lanes (downstream queue).
    lane_near_vehicles, lane_near_halting : tuple of int
        Per approach lane, vehicles and halting vehicles within the controller's
        ``near_range_m`` of the stop line (emulated lane-area detectors); empty unless the
        controller asks for them.
    decision_interval_s : float
        Seconds between two calls of ``decide`` under the run's protocol
        (:attr:`DecisionProtocol.decision_interval_s`).
    """

    tls: str
    time_s: float
    phase: int
    green: int | None
    time_in_phase_s: float
    green_phases: tuple[int, ...]
    movements: tuple[int, ...]
    movement_vehicles: tuple[int, ...]
    movement_halting: tuple[int, ...]
    movement_out_vehicles: tuple[int, ...]
    lanes: tuple[str, ...]
    lane_vehicles: tuple[int, ...]
    lane_halting: tuple[int, ...]
    lane_gap_s: tuple[float, ...] = ()
    movement_out_halting: tuple[int, ...] = ()
    lane_near_vehicles: tuple[int, ...] = ()
    lane_near_halting: tuple[int, ...] = ()
    decision_interval_s: float = 1.0


@dataclass(frozen=True, slots=True)
class DecisionProtocol:
    """How often controllers decide and how the twin changes greens.

    Attributes
    ----------
    name : str
        ``"native"`` or ``"resco"``.
    decision_interval_s : float
        Seconds between two calls of ``decide``.
    yellow_s : float or None
        Yellow (seconds) on every change; ``None`` uses the program's own transitions.
    all_red_s : float or None
        All-red (seconds) after the yellow; ``None`` uses the program's own.
    min_green_s : float or None
        Minimum green (seconds) for every phase; ``None`` takes each phase's ``minDur``,
        or :data:`DEFAULT_MIN_GREEN_S` where it has none.
    """

    name: str
    decision_interval_s: float
    yellow_s: float | None
    all_red_s: float | None
    min_green_s: float | None


NATIVE = DecisionProtocol("native", 1.0, None, None, None)
RESCO = DecisionProtocol("resco", 10.0, 3.0, 0.0, 0.0)
PROTOCOLS: dict[str, DecisionProtocol] = {"native": NATIVE, "resco": RESCO}


def get_protocol(name: str) -> DecisionProtocol:
    """Return a decision protocol by name.

    Raises
    ------
    ValueError
        If ``name`` is not one of :data:`PROTOCOLS`.
    """
    try:
        return PROTOCOLS[name]
    except KeyError:
        msg = f"Unknown decision protocol {name!r}; expected one of {sorted(PROTOCOLS)}."
        raise ValueError(msg) from None


@runtime_checkable
class Controller(Protocol):
    """An online controller of one traffic light.

    Attributes
    ----------
    name : str
        Registry name (``"fixed"``, ``"max-pressure"`` ...).
    program_driven : bool
        ``True`` when the network's own program runs the light (the twin then never sets
        it and ignores ``decide``'s answer); ``False`` when ``decide`` chooses the greens.

    Notes
    -----
    Optional attributes the twin honours when present:

    ``batch``
        an object with ``decide_all(observations: dict[str, Observation]) -> dict[str, int |
        None]``, shared by the controllers of several lights: the twin then calls it once per
        decision step for all of them (max-pressure computes every light's pressures in one
        kernel call) instead of calling each ``decide``.
    ``needs_detectors``
        ``True`` to get ``Observation.lane_gap_s`` from emulated approach detectors.
    ``near_range_m``
        a distance (m) to get ``Observation.lane_near_vehicles`` and ``lane_near_halting``:
        counts within that distance of the stop line on every approach lane.
    ``external``
        ``True`` when the choices come from outside the twin (an RL environment): the twin's
        step-wise run (``simulation.Twin.episode``) hands the observation out instead of
        calling ``decide``.
    ``sumo_program_type``
        for a program-driven controller, a SUMO ``tlLogic`` type (``"actuated"``,
        ``"delay_based"``) the network's own programs are switched to (see
        :func:`citybrain.control.sumo_programs.switch_program_type`).
    """

    name: str
    program_driven: bool

    def decide(self, observation: Observation) -> int | None:
        """Return the program phase index of the next green, or ``None`` to keep the current."""
        ...


#: Builds the controller of one traffic light: ``factory(network, tls) -> Controller``.
ControllerFactory = Callable[["RoadNetwork", str], Controller]

#: Registered controllers by name; later modules add theirs with :func:`register_controller`.
CONTROLLERS: dict[str, ControllerFactory] = {}


def register_controller(name: str, factory: ControllerFactory) -> None:
    """Register a controller factory under ``name`` (replacing any earlier one)."""
    CONTROLLERS[name] = factory


def make_controller(name: str, network: RoadNetwork, tls: str) -> Controller:
    """Build the controller ``name`` for traffic light ``tls``.

    Raises
    ------
    ValueError
        If no controller is registered under ``name``, or ``tls`` is not in the network.
    """
    if name not in CONTROLLERS:
        msg = f"Unknown controller {name!r}; registered: {sorted(CONTROLLERS)}."
        raise ValueError(msg)
    if tls not in network.programs:
        msg = f"Traffic light {tls!r} is not in network {network.path}."
        raise ValueError(msg)
    return CONTROLLERS[name](network, tls)


# -- what several controllers read of a program and an observation --------------------
def green_phase_movements(network: RoadNetwork, tls: str) -> dict[int, list[int]]:
    """Vehicle movements (indices into ``network.movements``) served, ``G`` or ``g``, by each green phase."""
    program = network.programs[tls]
    link_movs = program.link_movements()
    return {
        k: sorted({m for i, c in enumerate(program.phases[k].state) if c in "Gg" for m in link_movs.get(i, ())
                   if network.movements[m].turn != "crossing"})
        for k in program.green_phases()
    }


def lane_positions(lanes: Mapping[int, Sequence[str]], observed: Sequence[str]) -> dict[int, list[int]]:
    """Per phase, the positions in ``observed`` (``Observation.lanes``) of its lanes; unobserved lanes are left out."""
    index = {lane: i for i, lane in enumerate(observed)}
    return {k: [index[x] for x in phase_lanes if x in index] for k, phase_lanes in lanes.items()}


def phases_after(observation: Observation) -> list[int]:
    """The green phases in program order after the current green, ending with it (all of them from the first)."""
    order = list(observation.green_phases)
    start = order.index(observation.green) if observation.green in order else -1
    return order[start + 1 :] + order[: start + 1]
