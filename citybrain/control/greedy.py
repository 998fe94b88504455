"""RESCO's Greedy (max-wave) rule: serve the phase with the most vehicles queued or approaching.

The wave of a phase is the number of vehicles, halting or moving, within :data:`WAVE_RANGE_M`
of the stop line on the approach lanes it serves (RESCO's ``queue + approach`` per lane, with
its 200 m observation distance); the light serves the phase of largest wave, the first in
program order on a tie, as RESCO's ``MAXWAVE`` agent does (Ault & Sharon 2021).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Observation, register_controller
from .demand import PhaseDemand

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = ["WAVE_RANGE_M", "GreedyController", "phase_waves"]

#: Distance (m) from the stop line within which RESCO observes a lane's vehicles.
WAVE_RANGE_M: float = 200.0


def phase_waves(demand: PhaseDemand, observation: Observation) -> dict[int, float]:
    """Vehicles within the near range on each green phase's approach lanes, in program order.

    Raises
    ------
    ValueError
        If the observation has no near-range counts.
    """
    if len(observation.lane_near_vehicles) != len(observation.lanes):
        msg = f"Light {observation.tls}: the observation has no near-range counts (set near_range_m)."
        raise ValueError(msg)
    near = observation.lane_near_vehicles
    return {k: demand.lane_sums(observation, lanes, near) for k, lanes in demand.phase_lanes.items()}


class GreedyController:
    """Max-wave: the phase with the largest queue plus approaching count (RESCO's Greedy).

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.
    """

    name = "greedy"
    program_driven = False
    near_range_m = WAVE_RANGE_M

    def __init__(self, network: RoadNetwork, tls: str) -> None:
        self.tls = tls
        self.demand = PhaseDemand(network, tls)

    def decide(self, observation: Observation) -> int | None:
        """The phase of largest wave (first in order on a tie); ``None`` when it is the current one."""
        if observation.green is None:
            return None
        waves = phase_waves(self.demand, observation)
        best = max(waves.values(), default=0.0)
        choice = next((k for k, v in waves.items() if v >= best), None)
        return None if choice == observation.green else choice


register_controller("greedy", GreedyController)
