"""Efficient-MP and Advanced-MP (Zhang et al., ICML 2022, "Expression might be enough").

Efficient pressure of a movement is its queue (halting vehicles on its approach lanes) less the
mean queue per lane of its exit; a phase's is the sum over the movements it serves.
:class:`EfficientPressureController` serves the phase of highest efficient pressure.
:class:`AdvancedPressureController` also reads the demand of the current phase: its running
(moving) vehicles within the effective range of the stop line (the distance covered in one
decision interval at the speed limit; :data:`EFFECTIVE_RANGE_M`). It keeps the current phase
while that demand is at least the highest efficient pressure of any phase, and otherwise
serves the phase of highest efficient pressure. Ties keep the current phase, else go to the
first phase in program order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Observation, register_controller
from .demand import PhaseDemand, first_max

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = ["EFFECTIVE_RANGE_M", "EfficientPressureController", "AdvancedPressureController", "phase_efficient_pressures"]

#: Effective range (m) of Advanced-MP: a 10 s decision interval (RESCO's) at 50 km/h.
EFFECTIVE_RANGE_M: float = 140.0


def phase_efficient_pressures(demand: PhaseDemand, observation: Observation) -> dict[int, float]:
    """Efficient pressure (vehicles) of every green phase, in program order."""
    per_movement = demand.efficient_pressures(observation)
    return {k: sum(per_movement.get(m, 0.0) for m in ms) for k, ms in demand.phase_movements.items()}


class EfficientPressureController:
    """Efficient-MP: serve the phase of highest efficient pressure (queues in less mean queues out).

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.
    """

    name = "efficient-mp"
    program_driven = False

    def __init__(self, network: RoadNetwork, tls: str) -> None:
        self.tls = tls
        self.demand = PhaseDemand(network, tls)

    def decide(self, observation: Observation) -> int | None:
        """The phase of highest efficient pressure; ``None`` keeps the current one (or a transition)."""
        if observation.green is None:
            return None
        best = first_max(phase_efficient_pressures(self.demand, observation), observation.green)
        return None if best == observation.green else best


class AdvancedPressureController(EfficientPressureController):
    """Advanced-MP: keep the current phase while its running vehicles near the stop line outweigh every pressure.

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.
    effective_range_m
        Distance (m) from the stop line within which running vehicles count as the current
        phase's demand.
    """

    name = "advanced-mp"

    def __init__(self, network: RoadNetwork, tls: str, *, effective_range_m: float = EFFECTIVE_RANGE_M) -> None:
        super().__init__(network, tls)
        self.near_range_m = effective_range_m

    def decide(self, observation: Observation) -> int | None:
        """Keep the current phase while its near running demand >= the highest efficient pressure, else serve that phase."""
        current = observation.green
        if current is None:
            return None
        pressures = phase_efficient_pressures(self.demand, observation)
        running = self.demand.near_running(observation, self.demand.phase_lanes.get(current, ()))
        if running >= max(pressures.values(), default=0.0):
            return None
        best = first_max(pressures, current)
        return None if best == current else best


register_controller("efficient-mp", EfficientPressureController)
register_controller("advanced-mp", AdvancedPressureController)
