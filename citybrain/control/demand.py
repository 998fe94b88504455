"""What queue-based rules read of one light: each green phase's movements and lanes, and their counts.

:class:`PhaseDemand` holds, for one light, the movements and approach lanes each green phase
serves and the exit lanes of every movement (how many, and how many vehicles they hold), and
turns one :class:`~citybrain.control.Observation` into per-movement and per-phase counts:
queues in and out, running vehicles near the stop line, exits that are full. Efficient-MP,
Advanced-MP, Greedy and the guarded controller all read the light through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from .base import APPROACH_REACH_M, Observation, green_phase_movements

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = ["VEHICLE_SPACING_M", "PhaseDemand", "first_max"]

#: Space (m) one standing vehicle takes in a queue (length and gap): a lane holds ``length / this``.
VEHICLE_SPACING_M: float = 7.5


def first_max(values: Mapping[int, float], current: int | None) -> int | None:
    """The key of the largest value: the current phase on a tie, else the first in order; ``None`` if empty."""
    if not values:
        return None
    best = max(values.values())
    if current in values and values[current] >= best:
        return current
    return next(k for k, v in values.items() if v >= best)


class PhaseDemand:
    """One light's phases, movements and lanes, and their counts in an observation.

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.

    Attributes
    ----------
    phase_movements : dict of int to list of int
        Per green phase, the vehicle movements it serves (``G`` or ``g``).
    phase_lanes : dict of int to tuple of str
        Per green phase, the approach lanes of those movements (the movements' own lanes).
    exit_lanes : dict of int to int
        Per movement, its number of exit lanes.
    exit_capacity_veh : dict of int to float
        Per movement, the vehicles its exit lanes hold standing (length / :data:`VEHICLE_SPACING_M`).
    movement_lanes : dict of int to tuple of str
        Per movement, the approach lanes it leaves from.
    approach_lanes : dict of int to tuple of str
        Per movement, its observed approach: its own lanes and the lanes feeding short ones (up
        to :data:`~citybrain.control.APPROACH_REACH_M`), as ``movement_halting`` counts them.
    """

    def __init__(self, network: RoadNetwork, tls: str) -> None:
        self.phase_movements = green_phase_movements(network, tls)
        mov = network.movements
        self.phase_lanes = {k: tuple(dict.fromkeys(lane for m in ms for lane in mov[m].from_lanes))
                            for k, ms in self.phase_movements.items()}
        moves = {m for ms in self.phase_movements.values() for m in ms}
        self.exit_lanes = {m: max(1, len(mov[m].to_lanes)) for m in moves}
        self.exit_capacity_veh = {
            m: sum(network.edges[x.rsplit("_", 1)[0]]["length_m"] for x in mov[m].to_lanes) / VEHICLE_SPACING_M
            for m in moves
        }
        self.movement_lanes = {m: tuple(mov[m].from_lanes) for m in moves}
        self.approach_lanes = {
            m: (*mov[m].from_lanes, *(x for x, _ in network.upstream_lanes(tuple(mov[m].from_lanes), APPROACH_REACH_M)))
            for m in moves
        }
        self._mpos: dict[int, int] | None = None
        self._lpos: dict[str, int] | None = None

    def _positions(self, observation: Observation) -> tuple[dict[int, int], dict[str, int]]:
        if self._mpos is None or self._lpos is None:
            self._mpos = {m: i for i, m in enumerate(observation.movements)}
            self._lpos = {lane: i for i, lane in enumerate(observation.lanes)}
        return self._mpos, self._lpos

    def queues(self, observation: Observation) -> dict[int, float]:
        """Per movement, halting vehicles on its approach lanes (the lanes feeding short ones included)."""
        mpos, _ = self._positions(observation)
        halting = observation.movement_halting
        return {m: float(halting[i]) for m, i in mpos.items() if m in self.exit_lanes}

    def efficient_pressures(self, observation: Observation) -> dict[int, float]:
        """Per movement, Efficient-MP's pressure: queue in less the mean queue per exit lane (vehicles).

        Raises
        ------
        ValueError
            If the observation lacks ``movement_out_halting``.
        """
        if len(observation.movement_out_halting) != len(observation.movements):
            msg = f"Light {observation.tls}: the observation has no movement_out_halting (exit queues)."
            raise ValueError(msg)
        mpos, _ = self._positions(observation)
        halting, out = observation.movement_halting, observation.movement_out_halting
        return {m: float(halting[i]) - float(out[i]) / self.exit_lanes[m] for m, i in mpos.items() if m in self.exit_lanes}

    def lane_sums(self, observation: Observation, lanes: tuple[str, ...], values) -> float:
        """Sum of a per-lane observation vector over ``lanes`` (unobserved lanes count 0)."""
        _, lpos = self._positions(observation)
        return float(sum(values[lpos[x]] for x in lanes if x in lpos))

    def near_running(self, observation: Observation, lanes: tuple[str, ...]) -> float:
        """Moving vehicles within the near range of the stop line on ``lanes``.

        Raises
        ------
        ValueError
            If the observation has no near-range counts (the controller must set ``near_range_m``).
        """
        if len(observation.lane_near_vehicles) != len(observation.lanes):
            msg = f"Light {observation.tls}: the observation has no near-range counts (set near_range_m)."
            raise ValueError(msg)
        near = self.lane_sums(observation, lanes, observation.lane_near_vehicles)
        return near - self.lane_sums(observation, lanes, observation.lane_near_halting)

    def exits_full(self, observation: Observation, *, fraction: float) -> dict[int, bool]:
        """Per movement, whether its exit lanes are full: halting vehicles there >= ``fraction`` of what they hold."""
        mpos, _ = self._positions(observation)
        out = observation.movement_out_halting
        if len(out) != len(observation.movements):
            return dict.fromkeys(self.exit_lanes, False)
        return {m: float(out[i]) >= fraction * self.exit_capacity_veh[m] for m, i in mpos.items() if m in self.exit_lanes}
