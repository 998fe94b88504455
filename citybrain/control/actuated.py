"""Fully actuated control: gap-out / max-out per phase from approach detectors.

Phases run in the program's order. After its minimum green (enforced by the twin), a green
phase is extended while any lane it serves has a vehicle crossing its detector within the
passage time (``gap_s``) and moving vehicles on it (a queue standing on a lane shared with a
movement that has red does not extend the green); it ends on a gap (gap-out) or at its
maximum green (max-out), and
the light moves to the next phase in order that has demand, skipping phases without any.
With no demand elsewhere the green rests where it is. This is the logic of a NEMA actuated
controller, without the dual ring.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import APPROACH_REACH_M, Observation, green_phase_movements, lane_positions, phases_after, register_controller

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = ["ActuatedController", "PressureActuatedController", "phase_lanes", "default_max_green_s"]

#: Passage time (s): a gap longer than this on every served lane ends the green.
DEFAULT_GAP_S: float = 3.0


def phase_lanes(network: RoadNetwork, tls: str) -> dict[int, tuple[str, ...]]:
    """Approach lanes served (``G`` or ``g``) by each green phase of a light's program.

    Short approach lanes come with the lanes feeding them (see :data:`APPROACH_REACH_M`).
    """
    program = network.programs[tls]
    out = {}
    for k in program.green_phases():
        state = program.phases[k].state
        lanes = {link.from_lane for link in program.links if state[link.index] in "Gg"
                 and network.movements[link.movement].turn != "crossing"}
        lanes |= {lane for lane, _ in network.upstream_lanes(tuple(sorted(lanes)), APPROACH_REACH_M)}
        out[k] = tuple(sorted(lanes))
    return out


def default_max_green_s(duration_s: float, max_dur_s: float | None) -> float:
    """Maximum green (s) of a phase: its ``maxDur``, else 1.5 x its programmed green in [30, 90]."""
    if max_dur_s is not None:
        return max_dur_s
    return min(90.0, max(30.0, 1.5 * duration_s))


class ActuatedController:
    """Gap-out / max-out control of one light from its approach detectors.

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.
    gap_s
        Passage time (s).
    max_green_s
        Maximum green per program phase (s); defaults to :func:`default_max_green_s`.
    """

    name = "actuated"
    program_driven = False
    needs_detectors = True

    def __init__(self, network: RoadNetwork, tls: str, *, gap_s: float = DEFAULT_GAP_S,
                 max_green_s: dict[int, float] | None = None) -> None:
        self.tls = tls
        self.gap_s = gap_s
        program = network.programs[tls]
        self.lanes = phase_lanes(network, tls)
        self.max_green_s = max_green_s or {
            k: default_max_green_s(program.phases[k].duration_s, program.phases[k].max_dur_s) for k in self.lanes
        }
        self._positions: dict[int, list[int]] | None = None

    def _phase_positions(self, observation: Observation) -> dict[int, list[int]]:
        if self._positions is None:
            self._positions = lane_positions(self.lanes, observation.lanes)
        return self._positions

    def extends(self, observation: Observation) -> bool:
        """Whether the current green goes on: before max-out, with a short gap on a moving lane."""
        current = observation.green
        if observation.time_in_phase_s >= self.max_green_s.get(current, 60.0):
            return False
        gaps, vehicles, halting = observation.lane_gap_s, observation.lane_vehicles, observation.lane_halting
        return any(gaps[i] < self.gap_s and vehicles[i] > halting[i] for i in self._phase_positions(observation).get(current, ()))

    def decide(self, observation: Observation) -> int | None:
        """Extend the green on a short gap, else move to the next phase with demand."""
        current = observation.green
        if current is None or self.extends(observation):
            return None
        pos = self._phase_positions(observation)
        vehicles = observation.lane_vehicles
        for k in phases_after(observation):
            if k != current and any(vehicles[i] > 0 for i in pos.get(k, ())):
                return k
        return None


class PressureActuatedController(ActuatedController):
    """Actuated gap-out / max-out, but the next phase is the one of highest pressure.

    The green is extended exactly as in :class:`ActuatedController`; when it ends, instead of
    the next phase in program order the light serves, among the phases with a call (a halting
    vehicle on a lane they serve, or one that just crossed its detector), the one whose
    movements have the highest local
    pressure (saturation flow x (vehicles on the approach - vehicles on the exit lanes),
    Varaiya 2013). Demand-responsive like an actuated
    controller, queue-balancing like max-pressure, and acyclic.
    """

    name = "actuated-pressure"

    def __init__(self, network: RoadNetwork, tls: str, **kwargs) -> None:
        super().__init__(network, tls, **kwargs)
        self._phase_movs = green_phase_movements(network, tls)
        self._sat = {m: network.movements[m].sat_flow_vph for ms in self._phase_movs.values() for m in ms}

    def decide(self, observation: Observation) -> int | None:
        """Extend on a short gap; else serve the phase with demand and the highest pressure."""
        current = observation.green
        if current is None or self.extends(observation):
            return None
        pos = self._phase_positions(observation)
        calls = [h > 0 or g < self.gap_s for h, g in zip(observation.lane_halting, observation.lane_gap_s, strict=True)]
        mpos = {m: i for i, m in enumerate(observation.movements)}
        up, down = observation.movement_vehicles, observation.movement_out_vehicles
        best, best_pressure = None, -float("inf")
        for k in observation.green_phases:
            if k == current or not any(calls[i] for i in pos.get(k, ())):
                continue
            pressure = sum(self._sat[m] * (up[mpos[m]] - down[mpos[m]]) for m in self._phase_movs[k] if m in mpos)
            if pressure > best_pressure:
                best, best_pressure = k, pressure
        return best


register_controller("actuated", ActuatedController)
register_controller("actuated-pressure", PressureActuatedController)
