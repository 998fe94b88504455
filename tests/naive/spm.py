"""A direct count in the twin, to check ``citybrain.spm`` against (no events, no detectors).

:class:`DirectCount` is a ``Twin`` ``on_step`` hook that reads libsumo each step: a vehicle
arrives when its front passes an advance detector's position on the detector's lane (or it is
first seen on the lane's edge past that position; a lane change on the edge is no arrival); the
arrival is on green when a link from that lane shows ``G``/``g`` in the light's state in force
during the step that contains the crossing time plus the detector's travel time to the stop bar
(``distance_m / speed_mps``; the state read after a step: SUMO switches lights at the start of a
step, before vehicles move). Times are the steps' start times,
the clock of SUMO's detectors. Stop-bar occupancy per step: the share of the step during
which some vehicle covers part of the stop-bar zone (on the lane or, past the stop line, on the
junction's internal lane), its front moving linearly over the step.
"""

from __future__ import annotations

import pandas as pd


class DirectCount:
    """Count advance-detector crossings by light and phase, and on green, from libsumo each step."""

    def __init__(self, detectors: pd.DataFrame, positions: dict[str, float], zones: dict[str, tuple[float, float]],
                 links: dict[str, dict[str, list[int]]], step_s: float = 1.0):
        self.step_s = step_s
        self.adv = [(r.signal_id, r.phase, r.lane, positions[f"{r.signal_id}:{r.channel}"])
                    for r in detectors.itertuples() if r.kind == "advance"]
        self.travel = {(r.signal_id, r.lane): r.distance_m / r.speed_mps
                       for r in detectors.itertuples() if r.kind == "advance"}
        self.green: dict[tuple[str, str], dict[int, bool]] = {}  # (tls, lane) -> step number -> green
        self.bar = [(r.signal_id, r.phase, r.lane, zones[f"{r.signal_id}:{r.channel}"])
                    for r in detectors.itertuples() if r.kind == "stopbar"]
        self.links = links  # tls -> lane -> link indices
        self.prev: dict[str, tuple[str, float]] = {}
        self.after: dict[str, list[tuple[str, float]]] = {}
        self.crossings: list[tuple[float, str, int, str]] = []  # step start time, tls, phase, lane
        self.samples: dict[tuple[str, int], list[tuple[float, str]]] = {}  # per step: stop bars' occupied share, signal

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
            self.green.setdefault((tls, lane), {})[round((t - self.step_s) / self.step_s)] = any(
                state[i] in "Gg" for i in self.links[tls][lane])
            for v, (ln, x) in now.items():
                if ln != lane or x < pos:
                    continue
                before = self.prev.get(v)
                same_edge = before is not None and before[0].rsplit("_", 1)[0] == lane.rsplit("_", 1)[0]
                if not same_edge or before[1] < pos:
                    self.crossings.append((t - self.step_s, tls, phase, lane))
        step: dict[tuple[str, int], tuple[list, str]] = {}
        for tls, phase, lane, (up, dn) in self.bar:
            spans = []
            if lane not in self.after:  # the junction's internal lanes after this lane, at the lane's length
                end = ls.lane.getLength(lane)
                self.after[lane] = [(lane, 0.0)] + [(link[4], end) for link in ls.lane.getLinks(lane) if link[4]]
            on = [(v, off) for ln, off in self.after[lane] for v in ls.lane.getLastStepVehicleIDs(ln)]
            for v, off in on:
                x1, speed, length = off + ls.vehicle.getLanePosition(v), ls.vehicle.getSpeed(v), ls.vehicle.getLength(v)
                x0 = x1 - speed * self.step_s  # SUMO's update: the front moved at the new speed
                if x1 > x0:  # the part of the step when the front is past up and the back not past dn
                    a, b = (up - x0) / (x1 - x0), (dn + length - x0) / (x1 - x0)
                    spans.append((max(a, 0.0), min(b, 1.0)))
                elif up <= x1 <= dn + length:
                    spans.append((0.0, 1.0))
            sig = states[tls][self.links[tls][lane][0]].lower()
            prev = step.get((tls, phase), ([], sig))
            step[(tls, phase)] = (prev[0] + spans, prev[1] if prev[1] == "g" else sig)
        for key, (spans, sig) in step.items():
            self.samples.setdefault(key, []).append((_union(spans), sig))
        self.prev = now

    def counts(self, begin_s: float, end_s: float, tls: str, phase: int) -> tuple[int, int]:
        """Arrivals and arrivals on green of one phase whose projected stop-bar time is in ``[begin_s, end_s)``."""
        at_bar = [(t + self.travel[(s, ln)], ln) for t, s, p, ln in self.crossings if s == tls and p == phase]
        kept = [(t, ln) for t, ln in at_bar if begin_s <= t < end_s]
        on = [self.green[(tls, ln)].get(int(t // self.step_s), False) for t, ln in kept]
        return len(kept), sum(on)

    def split_failures(self, tls: str, phase: int, limit: float = 0.79, red_s: int = 5) -> int:
        """Cycles whose stop-bar occupancy exceeds ``limit`` over the green and the first ``red_s`` steps of red.

        Cycles are the phase's green runs with a red after them.
        """
        x = self.samples.get((tls, phase), [])
        failures, k = 0, 0
        while k < len(x):
            if x[k][1] != "g":
                k += 1
                continue
            g0 = k
            while k < len(x) and x[k][1] == "g":
                k += 1
            g_occ = sum(o for o, _ in x[g0:k]) / (k - g0)
            r = k
            while r < len(x) and x[r][1] == "y":
                r += 1
            red = x[r:r + red_s]
            if len(red) == red_s and all(s == "r" for _, s in red):
                failures += g_occ > limit and sum(o for o, _ in red) / red_s > limit
        return failures


def _union(spans: list[tuple[float, float]]) -> float:
    """Length of the union of intervals within [0, 1]."""
    total, end = 0.0, 0.0
    for a, b in sorted(x for x in spans if x[1] > x[0]):
        a = max(a, end)
        if b > a:
            total, end = total + b - a, b
    return total
