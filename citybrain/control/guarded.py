"""Guarded pressure: our recommended controller (v2), registered also as ``recommended``.

Advanced-MP's demand (Zhang et al. 2022) with guards against what makes pressure rules
gridlock or starve. At each decision, per movement of the light: its queue (halting vehicles
on its approach), the mean queue per lane of its exit, and its running vehicles within
:data:`NEAR_RANGE_M` of the stop line. A movement is *blocked* when its exit is full
(spill-back: halting vehicles on the exit lanes at least :data:`SPILLBACK_FRACTION` of what
they hold) or every lane it leaves from stalled on green (all its vehicles halting
:data:`STALL_AFTER_S` into a green: the box or the link beyond is jammed); a stalled lane is
tried again after :data:`STALL_RETRY_S`. Blocked movements count for nothing.

1. **Starvation guard.** A movement with a queue that has not seen green for the safety
   profile's maximum red less :data:`GUARD_MARGIN_S` forces the phase serving it (the longest
   red first), so no queue waits longer than the profile allows.
2. **Keep or switch**, reviewed every :data:`REVIEW_S` while the current phase has demand (at
   once when it has none). The phase with most to serve, among the phases with vehicles to
   move, is the one of highest open pressure; when the light decides more often than every
   :data:`GAP_S`, its open running vehicles near the stop line count too (they reach the stop
   line within the transition; under RESCO's 10 s they have joined the queue by then). The
   light keeps the current phase while its open running demand near the stop line is at
   least the highest efficient pressure of any phase, or its own pressure is the highest, up
   to its maximum green; otherwise it serves the phase with most to serve.
   When the light decides more often than every :data:`GAP_S` (the native protocol's 1 s), a
   green kept by the review also gaps out between reviews: it ends once no detector of its
   open approach (the lanes feeding short ones included) saw a vehicle within :data:`GAP_S`,
   no open queue waits on it, and another phase has more vehicles (queued and
   running near) than its own running ones, since a switch loses the transition's time.
3. **Clearing a blocked box.** A current phase whose movements are all blocked has no demand,
   so a phase with open demand takes over; with none, the light waits where it is.

Transitions and minimum greens are the twin's (the checked plan's own yellows and all-reds).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..plans.safety import get_profile
from .actuated import default_max_green_s
from .base import Observation, register_controller
from .demand import PhaseDemand, first_max

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = [
    "GAP_S",
    "GUARD_MARGIN_S",
    "NEAR_RANGE_M",
    "REVIEW_S",
    "SPILLBACK_FRACTION",
    "STALL_AFTER_S",
    "STALL_RETRY_S",
    "GuardedPressureController",
]

#: Range (m) within which running vehicles count as a phase's near demand (10 s at 50 km/h).
NEAR_RANGE_M: float = 140.0
#: A movement's exit is full (spill-back) when its halting vehicles reach this share of what it holds.
SPILLBACK_FRACTION: float = 0.8
#: Seconds into a green after which a lane whose every vehicle halts counts as stalled.
STALL_AFTER_S: float = 5.0
#: Seconds after which a stalled lane is served again (its jam may have cleared).
STALL_RETRY_S: float = 60.0
#: Seconds between two keep-or-switch reviews under infrequent decisions (RESCO's interval).
REVIEW_S: float = 10.0
#: Passage time (s): under decisions more frequent than this, a green goes on while a detector saw a vehicle this recently.
GAP_S: float = 3.0
#: The starvation guard acts this long (s) before a queue's red reaches the profile's maximum.
GUARD_MARGIN_S: float = 30.0


class GuardedPressureController:
    """Advanced-MP demand with spill-back and stall awareness, a starvation guard and maximum greens.

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.
    max_red_s
        Longest red (s) a queue may wait; the safety profile's (US) by default.
    """

    name = "guarded-pressure"
    program_driven = False
    near_range_m = NEAR_RANGE_M
    needs_detectors = True

    def __init__(self, network: RoadNetwork, tls: str, *, max_red_s: float | None = None) -> None:
        self.tls = tls
        self.max_red_s = get_profile(None).max_red_s if max_red_s is None else max_red_s
        self.demand = PhaseDemand(network, tls)
        program = network.programs[tls]
        self.max_green_s = {k: default_max_green_s(program.phases[k].duration_s, program.phases[k].max_dur_s)
                            for k in self.demand.phase_movements}
        self._last_green: dict[int, float] = {}
        self._stalled: dict[str, float] = {}
        self._review_at = -float("inf")
        self._gap_pos: dict[str, int] | None = None

    def _flowing(self, observation: Observation, lanes) -> bool:
        """Whether a vehicle crossed the detector of one of ``lanes`` within the passage time, with vehicles moving there."""
        if self._gap_pos is None:
            self._gap_pos = {x: i for i, x in enumerate(observation.lanes)}
        gaps, n, h = observation.lane_gap_s, observation.lane_vehicles, observation.lane_halting
        pos = self._gap_pos
        return any(gaps[pos[x]] < GAP_S and n[pos[x]] > h[pos[x]] for x in lanes if x in pos)

    def decide(self, observation: Observation) -> int | None:
        """Keep the current green or name the next one (see the module docstring)."""
        current, t, demand = observation.green, observation.time_s, self.demand
        interval = observation.decision_interval_s
        if current is None:
            return None
        for m in demand.phase_movements.get(current, ()):
            self._last_green[m] = t
        self._watch_stalls(observation, current)
        queues = demand.queues(observation)
        starved = self._starved(observation, queues)
        if starved is not None:
            return starved
        full = demand.exits_full(observation, fraction=SPILLBACK_FRACTION)
        stalled = {x for x, since in self._stalled.items() if t - since < STALL_RETRY_S}
        blocked = {m for m, lanes in demand.movement_lanes.items()
                   if full.get(m, False) or all(x in stalled for x in lanes)}
        pressure = demand.efficient_pressures(observation)
        open_pressure, vehicles, running = {}, {}, {}
        for k, ms in demand.phase_movements.items():
            movements = [m for m in ms if m not in blocked]
            lanes = tuple(dict.fromkeys(x for m in movements for x in demand.movement_lanes[m] if x not in stalled))
            open_pressure[k] = sum(pressure[m] for m in movements)
            running[k] = demand.near_running(observation, lanes)
            vehicles[k] = running[k] + sum(queues[m] for m in movements)
        # most to serve under frequent decisions: open pressure and running vehicles near the stop line
        others = {k: open_pressure[k] + running[k] for k in open_pressure if k != current and vehicles[k] > 0}
        within_max = observation.time_in_phase_s < self.max_green_s.get(current, 90.0)
        if not others or (vehicles[current] > 0 and t < self._review_at):
            return None if interval >= GAP_S or not others else self._gap_out(
                observation, current, others, vehicles, running[current], within_max, blocked, stalled)
        self._review_at = t + REVIEW_S - 0.5
        best = first_max(others if interval < GAP_S else {k: open_pressure[k] for k in others}, None)
        if vehicles[current] > 0 and within_max and (
            running[current] >= max(open_pressure.values()) or open_pressure[current] >= open_pressure[best]
        ):
            return None if interval >= GAP_S else self._gap_out(
                observation, current, others, vehicles, running[current], within_max, blocked, stalled)
        return best

    def _gap_out(self, observation: Observation, current: int, others: dict[int, float], vehicles: dict[int, float],
                 running: float, within_max: bool, blocked: set[int], stalled: set[str]) -> int | None:
        """Frequent decisions between reviews: keep the green while its open approach flows or a queue waits on it.

        Gapped out, the green still rests while no other phase has more vehicles (queued and
        running near the stop line) than its own running ones: switching then loses the
        transition's time for fewer vehicles than it serves. Past its maximum green it ends.
        """
        demand = self.demand
        if within_max:
            lanes = [x for m in demand.phase_movements.get(current, ()) if m not in blocked
                     for x in demand.approach_lanes[m] if x not in stalled]
            if self._flowing(observation, lanes) or vehicles[current] > running:
                return None  # flowing, or a queue still waits on the green
            others = {k: p for k, p in others.items() if vehicles[k] > running}
        return first_max(others, None)

    def _watch_stalls(self, observation: Observation, current: int) -> None:
        """Mark the current green's lanes whose every vehicle halts as stalled; a lane seen moving is cleared."""
        if observation.time_in_phase_s < STALL_AFTER_S:
            return
        demand = self.demand
        for lane in demand.phase_lanes.get(current, ()):
            n = demand.lane_sums(observation, (lane,), observation.lane_vehicles)
            halting = demand.lane_sums(observation, (lane,), observation.lane_halting)
            if n > 0 and halting >= n:
                if observation.time_s - self._stalled.get(lane, -STALL_RETRY_S) >= STALL_RETRY_S:
                    self._stalled[lane] = observation.time_s  # stalled (again, once the retry is due)
            elif n > halting:
                self._stalled.pop(lane, None)

    def _starved(self, observation: Observation, queues: dict[int, float]) -> int | None:
        """The phase serving the queue red longest, if that red reached the guard's limit."""
        t = observation.time_s
        for m in queues:
            self._last_green.setdefault(m, t)
        limit = self.max_red_s - GUARD_MARGIN_S
        waiting = sorted(((t - self._last_green[m], m) for m, q in queues.items() if q > 0), reverse=True)
        for red, m in waiting:
            if red < limit:
                return None
            phases = [k for k, ms in self.demand.phase_movements.items() if m in ms]
            if observation.green not in phases:
                return phases[0]
        return None


register_controller("guarded-pressure", GuardedPressureController)
register_controller("recommended", GuardedPressureController)
