"""A direct count in the twin, to check ``citybrain.spm`` against (no events, no detectors).

:class:`DirectCount` is a ``Twin`` ``on_step`` hook that reads libsumo each step: a vehicle
arrives when its front passes an advance detector's position on the detector's lane (or it is
first seen on the lane's edge past that position; a lane change on the edge is no arrival); the arrival is on green when a link from that lane
shows ``G``/``g`` in the light's state in force during that step (the state read after it: SUMO
switches lights at the start of a step, before vehicles move). Times are the steps' start times,
the clock of SUMO's detectors. Stop-bar occupancy per step:
some vehicle covers the stop-bar position.
"""

from __future__ import annotations

import pandas as pd


class DirectCount:
    """Count advance-detector crossings by light and phase, and on green, from libsumo each step."""

    def __init__(self, detectors: pd.DataFrame, positions: dict[str, float], links: dict[str, dict[str, list[int]]],
                 step_s: float = 1.0):
        self.step_s = step_s
        self.adv = [(r.signal_id, r.phase, r.lane, positions[f"{r.signal_id}:{r.channel}"])
                    for r in detectors.itertuples() if r.kind == "advance"]
        self.bar = [(r.signal_id, r.phase, r.lane, positions[f"{r.signal_id}:{r.channel}"])
                    for r in detectors.itertuples() if r.kind == "stopbar"]
        self.links = links  # tls -> lane -> link indices
        self.prev: dict[str, tuple[str, float]] = {}
        self.crossings: list[tuple[float, str, int, bool]] = []  # step start time, tls, phase, on green
        self.samples: list[tuple[float, str, int, bool, bool]] = []  # t, tls, phase, bar occupied, lane green

    def __call__(self, twin, t: float) -> None:
        import libsumo as ls

        states = {tls: ls.trafficlight.getRedYellowGreenState(tls) for tls in self.links}
        now: dict[str, tuple[str, float]] = {}
        lanes = {lane for _, _, lane, _ in self.adv} | {lane for _, _, lane, _ in self.bar}
        for lane in lanes:
            for v in ls.lane.getLastStepVehicleIDs(lane):
                now[v] = (lane, ls.vehicle.getLanePosition(v))
        for tls, phase, lane, pos in self.adv:
            state = states[tls]
            green = any(state[i] in "Gg" for i in self.links[tls][lane])
            for v, (ln, x) in now.items():
                if ln != lane or x < pos:
                    continue
                before = self.prev.get(v)
                same_edge = before is not None and before[0].rsplit("_", 1)[0] == lane.rsplit("_", 1)[0]
                if not same_edge or before[1] < pos:
                    self.crossings.append((t - self.step_s, tls, phase, green))
        for tls, phase, lane, pos in self.bar:
            occ = any(ls.vehicle.getLanePosition(v) >= pos
                      and ls.vehicle.getLanePosition(v) - ls.vehicle.getLength(v) <= pos
                      for v in ls.lane.getLastStepVehicleIDs(lane))
            green = any(states[tls][i] in "Gg" for i in self.links[tls][lane])
            self.samples.append((t, tls, phase, occ, green))
        self.prev = now

    def counts(self, begin_s: float, end_s: float, tls: str, phase: int) -> tuple[int, int]:
        """Arrivals and arrivals on green of one phase in steps beginning in ``[begin_s, end_s)``."""
        x = [g for t, s, p, g in self.crossings if s == tls and p == phase and begin_s <= t < end_s]
        return len(x), sum(x)
