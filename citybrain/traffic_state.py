"""The state of the roads for the public: per link flow, speed, travel time, travel time index and level.

Per road link (a SUMO edge), the travel time is a model of the estimated flows and the signal
timing, or, where plate matches measured it, the measured one. The model adds up:

* running time: the free-flow time ``t0 = length / free speed`` (the speed limit less the
  :data:`DAWDLE_MPS` a free driver loses, :func:`free_flow_speed_mps`) grown by the BPR function
  ``t0 (1 + 0.15 (v / c)^4)``, ``c`` 1800 veh/h per lane (Bureau of Public Roads, 1964);
* turns: cars braking for a turn slower than the link at its end, and speeding up after the
  junction at its start, from rest for the share a light stopped (``(1 - g/C) / (1 - y)``),
  else from the turn's speed (SUMO's internal lanes), over the links until at speed;
* queues: per movement at a light, the uniform delay of the platoon model
  (:mod:`citybrain.timing.delay_model`, TRANSYT-style, at the plans' offsets, so progression
  counts) where the lights share a whole-second cycle, else HCM's
  ``d1 = 0.5 C (1 - g/C)^2 / (1 - min(1, X) g/C)``; plus HCM's incremental delay
  ``d2 = 900 T [(X - 1) + sqrt((X - 1)^2 + 4 X / (c T))]`` (HCM 6th ed., Eq. 19-19), ``g/C`` its
  effective green share (a permissive green at the gap-acceptance capacity against the streams
  it yields to), ``X`` its degree of saturation, ``T`` the analysis period. Per movement giving
  way at an unsignalised junction, HCM's two-way-stop delay for a give-way sign. The delay is
  spent where the cars queue: on the stop line's link and, once its queue outgrows it, on the
  links feeding it, across junctions with or without lights (spill-back: each holds what its
  car lanes store, the rest passes on to its own feeders by their flows; :func:`_queue_delays`,
  a shockwave share of the delay per stretch).

The travel time index is travel time over free-flow time. Levels follow AutoNavi's (Amap)
congestion delay index bands: free below 1.5, slow below 1.8, congested below 2.0, jammed from
2.0. An area's congestion index is its links' travel time index weighted by vehicle-kilometres
(flow x length); links without flow do not weigh.

Not modelled: a full link's queue blocking movements into other links (only the cars heading
into the full link wait for it), and the time on the junctions' internal lanes (SUMO's edge
travel times leave it out too).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from functools import lru_cache

from .network.geometry import LinkGeometry

import numpy as np
import pandas as pd

from .network.conflicts import NEVER
from .plans.model import GREEN, SignalPlan
from .plans.safety import crossing_distance_m
from .timing.delay_model import delay_model, movement_delays, offsets_of, shared_lane_sat_vph
from .timing.phases import lane_groups

__all__ = ["LEVELS", "STATE_COLUMNS", "level_of", "link_states", "congestion_index", "state_geojson"]

#: Level names and the travel time index each level stays below.
LEVELS: tuple[tuple[str, float], ...] = (("free", 1.5), ("slow", 1.8), ("congested", 2.0), ("jammed", float("inf")))
#: Columns of :func:`link_states`, one row per link.
STATE_COLUMNS: tuple[str, ...] = (
    "edge", "length_m", "lanes", "flow_vph", "free_flow_s", "travel_s", "speed_kmh", "tti", "level", "vc",
    "control_delay_s", "source", "matched",
)
#: Saturation flow of one lane mid-block, for the BPR running time (veh/h).
LANE_CAPACITY_VPH = 1800.0
#: Driver imperfection ``sigma`` of SUMO's default (Krauss) driver: each 1 s step it drops a uniform
#: share of ``sigma a`` below the speed it could reach (0 a perfect driver).
DAWDLE_SIGMA = 0.5
#: Mean acceleration of a car speeding up (m/s^2): SUMO's default car's 2.6 less the dawdling, ``a (1 - sigma / 2)``.
ACCEL_MPS2 = 2.6 * (1 - DAWDLE_SIGMA / 2)
#: Space a queued car takes in its lane (m): SUMO's default car, 5 m long, 2.5 m behind the next.
QUEUED_SPACING_M = 7.5
CAR_LENGTH_M = 5.0
#: Share of a stop line's delay left beyond a link, or of its queue on a branch, below which the queue is not
#: followed further back (the link takes the rest).
QUEUE_TAIL = 0.01
#: Comfortable deceleration of a car (m/s^2; SUMO's default passenger car).
DECEL_MPS2 = 4.5
#: Speed (m/s) a free driver loses to dawdling, ``sigma a / 2`` (a = 2.6 m/s^2).
DAWDLE_MPS = DAWDLE_SIGMA * 2.6 / 2
#: Critical headway and follow-up headway (s) of a permissive turn (HCM 6th ed., Exhibit 20-11's left turn).
CRITICAL_HEADWAY_S = 4.5
FOLLOW_UP_S = 2.5
#: Cars a permissive turn clears per green as it ends, whatever the opposing flow (HCM's sneakers).
SNEAKERS = 2.0
#: Share of saturation flow a permissive green gives in the platoon model.
PERMISSIVE_FACTOR = 0.5


def free_flow_speed_mps(limit_mps: float) -> float:
    """Mean speed (m/s) of free cars on a link with speed limit ``limit_mps``: the limit less :data:`DAWDLE_MPS`."""
    return max(limit_mps - DAWDLE_MPS, 0.5 * limit_mps, 0.1)


def level_of(tti: float) -> str:
    """The level (free / slow / congested / jammed) of a travel time index."""
    return next(name for name, below in LEVELS if tti < below)


def _uniform_delay_s(cycle_s: float, green_share: float, x: float) -> float:
    """HCM's uniform delay ``d1 = 0.5 C (1 - g/C)^2 / (1 - min(1, X) g/C)`` (s/veh); 0 on a green never red."""
    if green_share >= 1.0:
        return 0.0
    return 0.5 * cycle_s * (1 - green_share) ** 2 / (1 - min(1.0, x) * green_share)


def _control_delay_s(q_vph: float, sat_vph: float, green_share: float, cycle_s: float, period_h: float,
                     uniform_s: float | None = None) -> float:
    """Uniform (``uniform_s``, else HCM d1) + HCM incremental delay (s/veh) of one movement, at most the period."""
    if green_share <= 0 or sat_vph <= 0:
        return float("nan")
    cap = sat_vph * green_share
    x = q_vph / cap
    d1 = uniform_s if uniform_s is not None else _uniform_delay_s(cycle_s, green_share, x)
    d2 = 900.0 * period_h * ((x - 1) + np.sqrt((x - 1) ** 2 + 4 * x / (cap * period_h)))
    return float(min(d1 + d2, 3600.0 * period_h))


def _cyclic_delays(network, plans: Mapping[str, SignalPlan], q_vph: np.ndarray) -> dict[int, float]:
    """Uniform delay (s/veh) of the movements of lights sharing a whole-second cycle, from the platoon model.

    The TRANSYT-style model of :mod:`citybrain.timing.delay_model` at the plans' own offsets: a
    movement fed by a platoon arriving on green waits less than random arrivals would, one
    arriving on red more. Lights of other cycles are modelled apart (their arrivals uniform).
    """
    groups: dict[int, dict[str, SignalPlan]] = {}
    for tls, plan in plans.items():
        if plan.cycle_s > 0 and abs(plan.cycle_s - round(plan.cycle_s)) < 1e-6:
            groups.setdefault(int(round(plan.cycle_s)), {})[tls] = plan
    out: dict[int, float] = {}
    for group in groups.values():
        model = delay_model(network, group, q_vph, permissive_factor=PERMISSIVE_FACTOR)
        if not model.movements:
            continue
        for m, d in zip(model.movements, movement_delays(model, offsets_of(model, group))):
            out[m] = float(d)
    return out


def _service(plan: SignalPlan, network, movements: list[int], q_vph: np.ndarray) -> np.ndarray:
    """``(n_movements, n_phases)`` share of saturation flow each phase of ``plan`` gives each movement.

    1 where every link of the movement shows ``G``; on a permissive green, the gap-acceptance
    capacity of one lane (Harders; HCM's permissive turn: critical headway
    :data:`CRITICAL_HEADWAY_S`, follow-up :data:`FOLLOW_UP_S`) against the flow of the movements
    it yields to that are green in that phase, over the lane's saturation flow (at most 1), for
    the part of the green after the queue of an opposing movement whose green starts with the
    phase has cleared (HCM's unsaturated green; arrivals uniform, so the opposing cars then come
    at their arrival rate), and at least the :data:`SNEAKERS` that clear as the green ends.
    """
    links_of: dict[int, list[int]] = {}
    for link in network.programs[plan.tls].links:
        links_of.setdefault(link.movement, []).append(link.index)
    green_s = {m: sum(ph.green_s for ph in plan.phases if any(ph.state[i] in GREEN for i in links_of.get(m, [])))
               for m in links_of}
    out = np.zeros((len(movements), len(plan.phases)))
    for r, m in enumerate(movements):
        mv = network.movements[m]
        conflicts = network.conflicts(mv.junction)
        pos = {k: i for i, k in enumerate(conflicts.movements)}
        major = [b for b in conflicts.movements if m in pos and conflicts.yields[pos[m], pos[b]] and b in links_of]
        lane_sat_vps = mv.sat_flow_vph / max(len(mv.from_lanes), 1) / 3600.0
        for p, ph in enumerate(plan.phases):
            shown = [ph.state[i] for i in links_of.get(m, [])]
            if shown and all(c == "G" for c in shown):
                out[r, p] = 1.0
            elif any(c in GREEN for c in shown):
                against = [b for b in major if any(ph.state[i] in GREEN for i in links_of[b])]
                v = sum(float(q_vph[b]) / 3600.0 for b in against)
                cap = (v * np.exp(-v * CRITICAL_HEADWAY_S) / (1 - np.exp(-v * FOLLOW_UP_S)) if v > 1e-9
                       else 1.0 / FOLLOW_UP_S)
                blocked_s = max((_queue_clearance_s(plan, network, b, green_s[b], float(q_vph[b]))
                                 for b in against if not _green_in(plan.phases[p - 1], links_of[b])), default=0.0)
                cap *= max(ph.green_s - blocked_s, 0.0) / max(ph.green_s, 1e-9)
                cap = max(cap, SNEAKERS / max(ph.green_s, 1.0))
                out[r, p] = min(1.0, cap / lane_sat_vps) if lane_sat_vps > 0 else 0.0
    return out


def _green_in(phase, link_indices: list[int]) -> bool:
    """Whether ``phase`` shows green to any of ``link_indices``."""
    return any(phase.state[i] in GREEN for i in link_indices)


def _queue_clearance_s(plan: SignalPlan, network, m: int, green_s: float, q_vph: float) -> float:
    """Time (s) the queue movement ``m`` built over its red takes to clear at the start of its green,
    ``q r / (s - q)`` (at most its green): no gaps to filter through meanwhile."""
    sat = network.movements[m].sat_flow_vph
    if sat <= q_vph:
        return green_s
    return min(q_vph * max(plan.cycle_s - green_s, 0.0) / (sat - q_vph), green_s)


def _signal_delays(network, plans: Mapping[str, SignalPlan], q_vph: np.ndarray,
                   period_h: float) -> dict[int, tuple[float, float, float]]:
    """Per movement at a light of ``plans``: control delay (s/veh; uniform + d2), effective green share, and
    the vehicles it queues per cycle (those that stop, ``q r / (1 - y)``, plus the overflow queue ``q d2``)."""
    cyclic = _cyclic_delays(network, plans, q_vph)
    out: dict[int, tuple[float, float, float]] = {}
    for tls, plan in plans.items():
        movs = sorted({link.movement for link in network.programs[tls].links
                       if network.movements[link.movement].turn != "crossing"})
        if not movs or plan.cycle_s <= 0:
            continue
        share = _service(plan, network, movs, q_vph) @ np.array([ph.green_s for ph in plan.phases])
        sat = shared_lane_sat_vph(network, movs, q_vph)
        for m, g in zip(movs, np.minimum(share / plan.cycle_s, 1.0)):
            q = float(q_vph[m])
            delay = _control_delay_s(q, sat[m], float(g), plan.cycle_s, period_h, cyclic.get(m))
            if not np.isfinite(delay):
                continue
            uniform = cyclic.get(m, _uniform_delay_s(plan.cycle_s, float(g), q / (sat[m] * g)))
            y = min(q / sat[m], 0.95) if sat[m] > 0 else 0.0
            queued = q / 3600.0 * ((1 - g) * plan.cycle_s / (1 - y) + max(delay - uniform, 0.0))
            out[m] = (delay, float(g), queued)
    return out


def _headways_s(network, m: int, minor: set[int]) -> tuple[float, float]:
    """Critical and follow-up headway (s) of a movement giving way at an unsignalised junction (HCM 6th ed.,
    Exhibit 20-11, two-lane major road): a left turn off the major road 4.1 / 2.2; from the minor
    road a right turn 6.2 / 3.3, a through 6.5 / 4.0, a left or U-turn 7.1 / 3.5."""
    mv = network.movements[m]
    on_major = any(k not in minor for k in network.junction_movements(mv.junction)
                   if network.movements[k].from_edge == mv.from_edge and network.movements[k].turn != "crossing")
    if on_major:
        return 4.1, 2.2
    return {"right": (6.2, 3.3), "partial_right": (6.2, 3.3), "through": (6.5, 4.0)}.get(mv.turn, (7.1, 3.5))


def _priority_delays(links, period_h: float) -> dict[int, tuple[float, float, float]]:
    """Per movement giving way at an unsignalised junction: its delay (s/veh), 1, and the vehicles it queues.

    A movement gives way to those it yields or merges to (:mod:`citybrain.network.conflicts`)
    and, if it gives way to any, to the streams it crosses that give way to none. Its capacity
    is Harders' gap acceptance against their flows, ``c = v e^(-v t_c) / (1 - e^(-v t_f))``
    (:func:`_headways_s`); its delay the HCM two-way-stop delay less the service time of an
    empty major road and its 5 s for the stop (these are give-way, not stop, signs):
    ``3600/c - t_f + 900 T [(x - 1) + sqrt((x - 1)^2 + 3600 x / (450 c T))]``, ``x = q / c``;
    it queues ``q d`` vehicles on average (Little), twice that at most. Delays stop at the analysis
    period ``T`` (a queue that would not clear within it).
    """
    network, mvs = links.network, links.network.movements
    out: dict[int, tuple[float, float, float]] = {}
    for junction in {mv.junction for mv in mvs if mv.tls is None and mv.turn != "crossing"}:
        conflicts = network.conflicts(junction)
        idx = [i for i, m in enumerate(conflicts.movements) if mvs[m].turn != "crossing"]
        minor = {conflicts.movements[a] for a in idx if conflicts.yields[a, idx].any()}
        for a in idx:
            m = conflicts.movements[a]
            if m not in minor:
                continue
            major = [conflicts.movements[b] for b in idx if conflicts.yields[a, b]
                     or (conflicts.kind[a, b] == NEVER and conflicts.movements[b] not in minor)]
            v = sum(links.carried(b) for b in major) / 3600.0
            q = links.carried(m)
            if v <= 0 or q <= 0:
                continue
            t_c, t_f = _headways_s(network, m, minor)
            cap = v * np.exp(-v * t_c) / (1 - np.exp(-v * t_f)) * 3600.0
            x = q / cap
            queueing = 900.0 * period_h * ((x - 1) + np.sqrt((x - 1) ** 2 + 3600.0 * x / (450.0 * cap * period_h)))
            d = min(max(float(3600.0 / cap - t_f + queueing), 0.0), 3600.0 * period_h)
            out[m] = (d, 1.0, 2.0 * q * d / 3600.0)
    return out


class _Links:
    """The movements between road links: who feeds whom, through which junctions, and the links' flows."""

    def __init__(self, network, q_vph: np.ndarray):
        self.network, self.q = network, q_vph
        self.out_of: dict[str, list[int]] = {}
        self.into: dict[str, list[int]] = {}
        for i, mv in enumerate(network.movements):
            if mv.turn != "crossing" and mv.from_edge in network.edges and mv.to_edge in network.edges:
                self.out_of.setdefault(mv.from_edge, []).append(i)
                self.into.setdefault(mv.to_edge, []).append(i)
        self.flow = self._flows()

    def _flows(self) -> dict[str, float]:
        """Flow (veh/h) of every link: what its movements carry out of it, else into it.

        A link whose movements carry no estimate (both of its ends unsignalised, say) takes
        from each feeder what the feeder's other links fed by it alone do not take, split over
        the rest by lanes; else its share by lanes of its successors' flows; repeated until
        nothing changes, then one link at a time from the neighbours known so far, and again.
        U-turns carrying no estimate take no share.
        """
        mvs, q = self.network.movements, self.q
        flow: dict[str, float] = {}
        for edge in self.network.edges:
            out = float(q[self.out_of.get(edge, [])].sum())
            inn = float(q[self.into.get(edge, [])].sum())
            if out > 0 or inn > 0:
                flow[edge] = out if out > 0 else inn

        def lanes(m: int) -> int:
            return max(len(mvs[m].from_lanes), 1)

        def used(movements: list[int]) -> list[int]:
            return [m for m in movements if mvs[m].turn != "uturn" or q[m] > 0]

        def from_feeder(m: int) -> float:
            """Of its link's flow, what movement ``m`` carries: what the links fed by that link alone do
            not take, split by lanes."""
            rest, taken = [], 0.0
            for k in used(self.out_of[mvs[m].from_edge]):
                to = mvs[k].to_edge
                if k != m and to in flow and len(used(self.into[to])) == 1:
                    taken += flow[to]
                else:
                    rest.append(k)
            return max(flow[mvs[m].from_edge] - taken, 0.0) * lanes(m) / sum(lanes(k) for k in rest)

        def to_successor(m: int) -> float:
            return flow[mvs[m].to_edge] * lanes(m) / sum(lanes(k) for k in used(self.into[mvs[m].to_edge]))

        strict = True
        for _ in range(2 * len(self.network.edges)):
            changed = False
            for edge in self.network.edges:
                if edge in flow:
                    continue
                fwd = used(self.into.get(edge, []))
                back = used(self.out_of.get(edge, []))
                for side, part, end in ((fwd, from_feeder, "from_edge"), (back, to_successor, "to_edge")):
                    known = [m for m in side if getattr(mvs[m], end) in flow]
                    if known and (len(known) == len(side) or not strict):
                        flow[edge] = sum(part(m) for m in known)
                        changed = True
                        break
                if changed and not strict:
                    break
            if not changed and not strict:
                break
            strict = changed
        return {edge: flow.get(edge, 0.0) for edge in self.network.edges}

    def car_lanes(self, edge: str) -> int:
        """Lanes of ``edge`` its movements leave from (sidewalks and bike lanes hold no queue), else all its lanes."""
        lanes = {lane for m in self.out_of.get(edge, []) for lane in self.network.movements[m].from_lanes}
        return len(lanes) if lanes else max(self.network.edges[edge]["lanes"], 1)

    def unsignalised(self, movements: list[int]) -> list[int]:
        """The movements of ``movements`` at unsignalised junctions (U-turns only where they carry flow)."""
        mvs = self.network.movements
        return [m for m in movements if mvs[m].tls is None and (mvs[m].turn != "uturn" or self.q[m] > 0)]

    def carried(self, m: int) -> float:
        """Flow (veh/h) of movement ``m``: its estimate, else its link's flow split by lanes (none for a U-turn)."""
        if self.q[m] > 0:
            return float(self.q[m])
        mvs = self.network.movements
        if mvs[m].turn == "uturn":
            return 0.0
        leaving = self.unsignalised(self.out_of[mvs[m].from_edge])
        lanes = sum(max(len(mvs[k].from_lanes), 1) for k in leaving)
        return self.flow[mvs[m].from_edge] * max(len(mvs[m].from_lanes), 1) / max(lanes, 1)


def _queue_share(x_from: float, x_to: float, queue_m: float) -> float:
    """Share of a stop line's delay a car spends between ``x_from`` and ``x_to`` metres back from it.

    Shockwave picture of a queue reaching ``L`` back: the car stopping at ``x`` waits
    ``r (1 - x / L)``, so the share spent within ``x`` is ``2 u - u^2``, ``u = x / L``. Arrivals
    being random, the cars a cycle queues per lane are Poisson around the mean ``queue_m`` holds
    (:data:`QUEUED_SPACING_M` each), a cycle's delay growing with its cars: the share is their
    mean weighted by the cars.
    """
    if queue_m <= 0:
        return 1.0 if x_from <= 0 < x_to else 0.0
    reach, weight = _cycle_reaches(float(queue_m))

    def f(x: float) -> float:
        u = np.minimum(x / reach, 1.0)
        return float(np.sum(weight * (2 * u - u * u)))
    return f(x_to) - f(x_from)


@lru_cache(maxsize=4096)
def _cycle_reaches(queue_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Reaches (m) of a cycle's queue holding ``k`` cars a lane, ``k`` Poisson around ``queue_m`` /
    :data:`QUEUED_SPACING_M` (within 8 standard deviations), and their weights ``k P(k)``, summing to 1."""
    mean = queue_m / QUEUED_SPACING_M
    spread = 8 * np.sqrt(mean) + 10
    lo = max(1, int(mean - spread))
    k = np.arange(lo, int(mean + spread) + 1)
    log_p = k * np.log(mean) - mean - (math.lgamma(lo) + np.cumsum(np.log(k)))
    weight = k * np.exp(log_p - log_p.max())
    return k * QUEUED_SPACING_M, weight / weight.sum()


def _whole_cars_m(length_m: float) -> float:
    """Queue room (m per lane) of a link: whole cars only, :data:`QUEUED_SPACING_M` each, the first with no gap.

    Cars do not stop across a junction, so a link shorter than a car (an edge split just
    before a stop line) holds no queue: its cars wait on the link before it.
    """
    gap = QUEUED_SPACING_M - CAR_LENGTH_M
    return np.floor((length_m + gap) / QUEUED_SPACING_M) * QUEUED_SPACING_M


def _approach_queues(network, delays: dict[int, tuple[float, float, float]], q_vph: np.ndarray,
                     leaving: list[int]) -> list[tuple[float, float, float]]:
    """``(flow veh/h, control delay s/veh, queue reach m)`` of each timed movement leaving one approach.

    Movements sharing approach lanes (:func:`~citybrain.timing.phases.lane_groups`) share
    one queue: their queued cars over their lanes, :data:`QUEUED_SPACING_M` each.
    """
    timed = [m for m in leaving if m in delays]
    out = []
    for group in lane_groups(network, timed):
        ms = [timed[i] for i in group]
        lanes = {lane for m in ms for lane in network.movements[m].from_lanes}
        reach = sum(delays[m][2] for m in ms) * QUEUED_SPACING_M / max(len(lanes), 1)
        out += [(float(q_vph[m]), delays[m][0], reach) for m in ms]
    return out


def _queue_delays(links: _Links, approaches: dict[str, list[tuple[float, float, float]]]) -> dict[str, float]:
    """Control delay (s/veh) each link carries from the queues of the stop lines downstream of it.

    A stop line's queue fills its approach and, once longer, spills back across the junctions
    (lights too) onto the links feeding it, split over the feeders by their flows into it, each
    holding whole cars over its car lanes (:meth:`_Links.car_lanes`; a feeder with more lanes
    holds it shorter), the rest passing on to its own feeders. Each link carries the share of
    the delay spent on its stretch (:func:`_queue_share`), a link ending the chain (the
    network's edge) whatever queues beyond it. Per vehicle of a link, the share of its flow
    heading to that stop line counts.
    """
    network, mvs = links.network, links.network.movements
    out: dict[str, float] = {}
    for approach, queues in approaches.items():
        q = np.array([x[0] for x in queues])
        w_mov = q / q.sum() if q.sum() > 0 else np.full(len(queues), 1.0 / len(queues))
        reach = max(x[2] for x in queues)
        target = links.flow[approach]
        lanes_a = links.car_lanes(approach)
        stack = [(approach, 0.0, 1.0, (approach,))]
        while stack:
            edge, x0, weight, path = stack.pop()
            data = network.edges[edge]
            stretch = _whole_cars_m(data["length_m"]) * (1.0 if edge == approach else links.car_lanes(edge) / lanes_a)
            x1 = x0 + stretch / max(weight, 1e-9)
            feeders = [m for m in links.into.get(edge, []) if mvs[m].from_edge not in path
                       and (mvs[m].turn != "uturn" or links.q[m] > 0)]
            last = not feeders or weight < QUEUE_TAIL or _queue_share(0.0, x1, reach) >= 1.0 - QUEUE_TAIL
            share = sum(wm * d * (1.0 - _queue_share(0.0, x0, lq) if last else _queue_share(x0, x1, lq))
                        for wm, (_, d, lq) in zip(w_mov, queues))
            heading = min(1.0, weight * target / links.flow[edge]) if links.flow[edge] > 0 and target > 0 else 1.0
            out[edge] = out.get(edge, 0.0) + heading * share
            if last:
                continue
            f = np.array([links.carried(m) for m in feeders])
            w = f / f.sum() if f.sum() > 0 else np.full(len(feeders), 1.0 / len(feeders))
            for m, wm in zip(feeders, w):
                stack.append((mvs[m].from_edge, x1, weight * float(wm), (*path, mvs[m].from_edge)))
    return out


def _turns(network) -> dict[tuple[str, str], tuple[float, float]]:
    """``(from_edge, to_edge) -> (speed m/s, length m)`` of the junction's internal lanes between them.

    Read from the network file (cached per file): SUMO limits a turn's internal lanes to the
    speed its radius allows; several lanes of one movement are averaged, chained internal
    lanes summed (length) and their slowest taken (speed).
    """
    path = str(getattr(network, "path", "") or "")
    if path in _TURNS:
        return _TURNS[path]
    lanes: dict[str, tuple[float, float]] = {}
    via_of: dict[str, str] = {}
    pairs: list[tuple[str, str, str]] = []
    try:
        for _, elem in ET.iterparse(path):
            if elem.tag == "lane" and elem.get("id", "").startswith(":"):
                lanes[elem.get("id")] = (float(elem.get("speed", 0)), float(elem.get("length", 0)))
            elif elem.tag == "connection" and elem.get("via"):
                src = elem.get("from", "")
                if src.startswith(":"):
                    via_of[f"{src}_{elem.get('fromLane')}"] = elem.get("via")
                else:
                    pairs.append((src, elem.get("to", ""), elem.get("via")))
            if elem.tag in ("edge", "junction", "connection"):
                elem.clear()
    except (OSError, ET.ParseError):
        pass
    found: dict[tuple[str, str], list[tuple[float, float]]] = {}
    for src, dst, via in pairs:
        speed, length, lane, seen = float("inf"), 0.0, via, set()
        while lane in lanes and lane not in seen:
            seen.add(lane)
            speed, length = min(speed, lanes[lane][0]), length + lanes[lane][1]
            lane = via_of.get(lane)
        if np.isfinite(speed):
            found.setdefault((src, dst), []).append((speed, length))
    out = {k: (float(np.mean([v[0] for v in vs])), float(np.mean([v[1] for v in vs]))) for k, vs in found.items()}
    _TURNS[path] = out
    return out


_TURNS: dict[str, dict[tuple[str, str], tuple[float, float]]] = {}


def _speed_up_s(x_from: float, x_to: float, speed: float, from_speed: float = 0.0) -> float:
    """Time (s) a car leaving a junction at ``from_speed`` loses between ``x_from`` and ``x_to`` m past its stop line.

    Accelerating at :data:`ACCEL_MPS2` from ``u`` to ``v = speed``: at ``x`` metres it has lost
    ``(sqrt(u^2 + 2 a x) - u) / a - x / v``, up to ``(v - u)^2 / (2 a v)`` once at speed.
    """
    u = min(max(from_speed, 0.0), speed)

    def lost(x: float) -> float:
        x = min(max(x, 0.0), (speed * speed - u * u) / (2 * ACCEL_MPS2))
        return float((np.sqrt(u * u + 2 * ACCEL_MPS2 * x) - u) / ACCEL_MPS2 - x / max(speed, 0.1))
    return lost(x_to) - lost(x_from)


def _slow_down_s(length_m: float, speed: float, turn_speed: float) -> float:
    """Time (s) a car loses braking at :data:`DECEL_MPS2` from ``speed`` to ``turn_speed`` in the last ``length_m``."""
    v, u = max(speed, 0.1), min(max(turn_speed, 0.0), speed)
    x = min(length_m, (v * v - u * u) / (2 * DECEL_MPS2))
    return float((np.sqrt(u * u + 2 * DECEL_MPS2 * x) - u) / DECEL_MPS2 - x / v)


def _stopped_share(links: _Links, m: int, delays: dict[int, tuple[float, float, float]]) -> float:
    """Share of a movement's cars its light stops: ``(1 - g/C) / (1 - y)`` (uniform arrivals, at most 1), else 0."""
    if m not in delays:
        return 0.0
    sat = links.network.movements[m].sat_flow_vph
    y = min(float(links.q[m]) / sat, 0.95) if sat > 0 else 0.0
    return min(1.0, (1.0 - delays[m][1]) / (1.0 - y))


def _turn_losses(links: _Links, delays: dict[int, tuple[float, float, float]]) -> dict[str, float]:
    """Time (s/veh) each link loses to cars braking for the turns at its end and speeding up after its start.

    Cars a light stops start from rest at the stop line, the others cross at the turn's speed
    (its internal lanes', :func:`_turns`); the acceleration runs across the junction (its
    internal lanes' length, else its width along the approach) and on through the links past
    unsignalised junctions until at speed (:func:`_speed_up_s`). Cars not stopped brake for a
    turn slower than their link at :data:`DECEL_MPS2` (:func:`_slow_down_s`).
    """
    network, mvs = links.network, links.network.movements
    turns = _turns(network)
    out: dict[str, float] = {}
    stack = []  # (edge, share of its cars, metres from the stop line to its start, speed crossing, path)
    for edge in network.edges:
        data = network.edges[edge]
        v = max(data["speed_mps"], 0.1)
        movs = [m for m in links.into.get(edge, []) if mvs[m].turn != "uturn" or links.q[m] > 0]
        w = np.array([links.carried(m) for m in movs])
        if movs and w.sum() > 0:
            for m, wm in zip(movs, w / w.sum()):
                mv = mvs[m]
                speed, length = turns.get((mv.from_edge, edge),
                                          (v, crossing_distance_m(network, mv.junction, mv.from_edge)))
                stopped = _stopped_share(links, m, delays)
                stack.append((edge, float(wm) * stopped, length, 0.0, (edge,)))
                if speed < v:
                    stack.append((edge, float(wm) * (1 - stopped), length, speed, (edge,)))
        leaving = [m for m in links.out_of.get(edge, []) if mvs[m].turn != "uturn" or links.q[m] > 0]
        w = np.array([links.carried(m) for m in leaving])
        if leaving and w.sum() > 0:
            for m, wm in zip(leaving, w / w.sum()):
                speed = turns.get((edge, mvs[m].to_edge), (v, 0.0))[0]
                if speed < v:
                    out[edge] = out.get(edge, 0.0) + float(wm) * (1 - _stopped_share(links, m, delays)) * _slow_down_s(
                        data["length_m"], v, speed)
    while stack:
        edge, share, x0, u, path = stack.pop()
        data = network.edges[edge]
        speed = max(data["speed_mps"], 0.1)
        x1 = x0 + data["length_m"]
        out[edge] = out.get(edge, 0.0) + share * _speed_up_s(x0, x1, speed, u)
        if share <= 1e-6 or x1 >= (speed * speed - min(u, speed) ** 2) / (2 * ACCEL_MPS2):
            continue
        for m in links.unsignalised(links.out_of.get(edge, [])):
            to = mvs[m].to_edge
            if to in path:
                continue
            # the successor's cars that came this way
            came = min(1.0, links.carried(m) / links.flow[to]) if links.flow[to] > 0 else 1.0
            across = turns.get((edge, to), (speed, crossing_distance_m(network, mvs[m].junction, edge)))[1]
            stack.append((to, share * came, x1 + across, u, (*path, to)))
    return out


def link_states(network, q_vph: np.ndarray, plans: Mapping[str, SignalPlan], *, period_h: float = 0.25,
                measured: Mapping[str, tuple[float, int]] | None = None, min_matched: int = 20) -> pd.DataFrame:
    """The state of every road link: :data:`STATE_COLUMNS`, one row per edge.

    Parameters
    ----------
    network
        The road network.
    q_vph
        ``(n_movements,)`` movement flows (veh/h), as :func:`citybrain.timing.movement_flows` gives.
    plans
        What each light runs (``{tls: SignalPlan}``); lights left out add no control delay.
    period_h
        The analysis period ``T`` of the incremental delay (h).
    measured
        Edge -> (measured travel time in s, plates matched) from plate re-identification; a link
        with at least ``min_matched`` matches takes the measured time (``source`` "plates").
    """
    measured = measured or {}
    delays = _signal_delays(network, plans, q_vph, period_h)
    links = _Links(network, q_vph)
    waits = {**_priority_delays(links, period_h), **delays}
    carried = np.array([links.carried(m) if m in waits and q_vph[m] <= 0 else q_vph[m] for m in range(len(q_vph))])
    approaches = {edge: _approach_queues(network, waits, carried, leaving) for edge, leaving in links.out_of.items()}
    control = _queue_delays(links, {edge: qs for edge, qs in approaches.items() if qs})
    turning = _turn_losses(links, delays)
    rows = []
    for edge, data in sorted(network.edges.items()):
        flow = links.flow[edge]
        t0 = data["length_m"] / free_flow_speed_mps(data["speed_mps"])
        vc = flow / (LANE_CAPACITY_VPH * max(data["lanes"], 1))
        waiting = control.get(edge, 0.0)
        travel, source = t0 * (1 + 0.15 * vc ** 4) + turning.get(edge, 0.0) + waiting, "model"
        seen_s, matched = measured.get(edge, (float("nan"), 0))
        if matched >= min_matched and np.isfinite(seen_s) and seen_s > 0:
            travel, source = float(seen_s), "plates"
        tti = travel / t0 if t0 > 0 else 1.0
        rows.append((edge, data["length_m"], data["lanes"], flow, t0, travel,
                     data["length_m"] / travel * 3.6 if travel > 0 else data["speed_mps"] * 3.6, tti,
                     level_of(tti), vc, waiting, source, int(matched)))
    return pd.DataFrame(rows, columns=list(STATE_COLUMNS))


def congestion_index(states: pd.DataFrame) -> dict[str, float | str]:
    """An area's congestion index (travel time index weighted by veh-km), level, veh-km/h and mean speed (km/h)."""
    vkm = states["flow_vph"] * states["length_m"] / 1000.0
    if vkm.sum() <= 0:
        return {"index": 1.0, "level": level_of(1.0), "veh_km_per_h": 0.0, "mean_speed_kmh": float("nan")}
    index = float(np.average(states["tti"], weights=vkm))
    veh_h = float((states["flow_vph"] * states["travel_s"] / 3600.0).sum())
    return {"index": index, "level": level_of(index), "veh_km_per_h": float(vkm.sum()),
            "mean_speed_kmh": float(vkm.sum() / veh_h)}


def state_geojson(states: pd.DataFrame, geometry: LinkGeometry, *, areas: Mapping[str, list[str]] | None = None,
                  at: str = "") -> dict:
    """The state as a GeoJSON FeatureCollection: one LineString per link with its state, areas' indices on top.

    Coordinates are WGS84 longitude / latitude when the network carries a projection, else the
    network's metres; ``crs_note`` says which (RFC 7946 has no other CRS member). ``areas`` maps
    an area name to its edges (default: the whole network as ``"network"``).
    """
    shapes = geometry.shapes_lonlat if geometry.shapes_lonlat is not None else geometry.shapes_m
    features = []
    for row in states.itertuples(index=False):
        if row.edge not in shapes:
            continue
        props = {c: getattr(row, c) for c in STATE_COLUMNS}
        props = {k: (round(v, 3) if isinstance(v, float) else v.item() if isinstance(v, np.generic) else v)
                 for k, v in props.items()}
        features.append({"type": "Feature", "id": row.edge, "properties": props,
                         "geometry": {"type": "LineString", "coordinates": [list(p) for p in shapes[row.edge]]}})
    areas = areas or {"network": list(states["edge"])}
    index = {name: congestion_index(states[states["edge"].isin(set(edges))]) for name, edges in areas.items()}
    return {"type": "FeatureCollection", "features": features, "at": at, "crs_note": geometry.crs_note,
            "levels": {name: below for name, below in LEVELS[:-1]}, "areas": index}
