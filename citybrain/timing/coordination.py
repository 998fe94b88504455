"""Coordinated timing: a common cycle and offsets minimising a TRANSYT-style network delay.

The model (after TRANSYT, Robertson 1969): per movement of the signal group, a cyclic flow
profile over one common cycle in 1 s steps. Arrivals at a movement are the departures of the
upstream movements feeding its approach, delayed and smoothed by Robertson's platoon
dispersion over the link travel time ``T = length / speed`` (``t' = beta T``,
``F = 1 / (1 + alpha beta T)``, alpha = 0.35, beta = 0.8) and scaled to the movement's flow;
approaches from outside the group arrive uniformly. A vertical queue discharges at
saturation flow during green (permissive green at ``permissive_factor`` of it); delay is the
queue integrated over the cycle. Offsets are searched by coordinate descent with restarts
(each light on a coarse grid, then finely near the best) in a numba kernel
(:func:`citybrain._kernels.timing._search_offsets`).

Notes
-----
Robertson, D. I. (1969), *TRANSYT: a traffic network study tool*, RRL Report LR 253.
The common cycle is chosen by the same model plus the HCM random and over-saturation delay
(:func:`random_delay`); lightly loaded lights may run at half the cycle; splits start at equal
degree of saturation and are then re-balanced with the offsets fixed (:func:`coordinated`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._kernels.timing import (
    _delay_state,
    _local_delay,
    _network_delay,
    _search_offsets,
)
from ..exceptions import ValidationError
from ..plans.model import GREEN, NetworkPlan, SignalPlan
from ..plans.safety import crossing_distance_m
from ._common import (
    assert_produced_plans_safe,
    base_plan,
    check_bounds,
    clip_to_program_capacity,
    finish_plan,
    isolated_timing,
    lane_groups,
    movement_flows,
    select_lights,
)

__all__ = ["coordinated", "network_delay", "random_delay", "DelayModel", "delay_model", "normalise_seed"]


def normalise_seed(seed) -> np.random.Generator:
    """Return a Generator from ``seed``: an int, a ``numpy.random.Generator`` or ``None`` (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    msg = f"The 'seed' must be an int, a numpy Generator or None. Got {type(seed).__name__}."
    raise ValidationError(msg)


@dataclass(frozen=True, slots=True)
class DelayModel:
    """Arrays of the delay model for one signal group (see :mod:`citybrain._kernels.timing`)."""

    tls: tuple[str, ...]
    movements: tuple[int, ...]
    cycle_s: int
    cap_local: np.ndarray
    light: np.ndarray
    q: np.ndarray
    up_ptr: np.ndarray
    up_mov: np.ndarray
    shift: np.ndarray
    factor: np.ndarray
    light_ptr: np.ndarray
    light_mov: np.ndarray
    down_ptr: np.ndarray
    down_mov: np.ndarray
    sat_vph: np.ndarray | None = None


def _green_coverage(plan: SignalPlan, cycle: int) -> np.ndarray:
    """``(n_phases, cycle)`` share of each 1 s step of plan time inside each phase's green.

    A plan with half the cycle runs twice.
    """
    out = np.zeros((len(plan.phases), cycle))
    t0 = 0.0
    repeats = max(1, int(round(cycle / max(sum(plan.splits_s), 1e-9))))
    for _ in range(repeats):
        for p, ph in enumerate(plan.phases):
            a, b = t0, t0 + ph.green_s
            for t in range(int(np.floor(a)), int(np.ceil(b))):
                overlap = min(b, t + 1) - max(a, t)
                if overlap > 0:
                    out[p, t % cycle] += overlap
            t0 += ph.duration_s
    return out


def _phase_weights(plan: SignalPlan, links: list[int], pf: float) -> np.ndarray:
    """Share of saturation flow each phase gives a movement: 1 on ``G`` at all its links, ``pf`` on other green."""
    w = np.zeros(len(plan.phases))
    for p, ph in enumerate(plan.phases):
        chars = [ph.state[i] for i in links]
        w[p] = 1.0 if chars and all(c == "G" for c in chars) else pf if any(c in GREEN for c in chars) else 0.0
    return w


def _capacity_profile(plan: SignalPlan, links: list[int], sat_vps: float, pf: float,
                      coverage: np.ndarray) -> np.ndarray:
    """Capacity (veh/step) of one movement at each 1 s step of plan time (``coverage``: :func:`_green_coverage`)."""
    return sat_vps * (_phase_weights(plan, links, pf) @ coverage)


def shared_lane_sat_vph(network, movements, q_vph: np.ndarray) -> dict[int, float]:
    """Saturation flow (veh/h) of each movement with shared lanes shared by flow.

    The network splits a shared lane's saturation flow equally between its movements; in
    the queue, though, vehicles discharge in arrival order, so a movement carrying most of
    a shared lane's flow gets most of its capacity. Movements sharing approach lanes
    (:func:`~citybrain.timing._common.lane_groups`) split the group's saturation flow in
    proportion to their flows (equally when the group carries none).
    """
    movements = [m for m in movements if network.movements[m].turn != "crossing"]
    out = {}
    for g in lane_groups(network, movements):
        ms = [movements[i] for i in g]
        total_sat = sum(network.movements[m].sat_flow_vph for m in ms)
        total_q = sum(max(float(q_vph[m]), 0.0) for m in ms)
        for m in ms:
            out[m] = (total_sat * max(float(q_vph[m]), 0.0) / total_q if total_q > 0
                      else network.movements[m].sat_flow_vph)
    return out


def _unsignalised_feeders(network) -> dict[str, set[str]]:
    """``to_edge -> {from_edge}`` over the movements of unsignalised junctions (cached per network)."""
    key = id(network)
    hit = _FEEDERS.get(key)
    if hit is not None and hit[0] is network:
        return hit[1]
    out: dict[str, set[str]] = {}
    for m in network.movements:
        if m.tls is None and m.turn != "crossing":
            out.setdefault(m.to_edge, set()).add(m.from_edge)
    _FEEDERS.clear()
    _FEEDERS[key] = (network, out)
    return out


_FEEDERS: dict[int, tuple[object, dict[str, set[str]]]] = {}


def _edge_speed(network, edge: str) -> float:
    return float(network.edges.get(edge, {}).get("speed_mps", 13.89))


def _edge_travel_s(network, edge: str) -> float:
    return network.edges.get(edge, {}).get("length_m", 0.0) / max(_edge_speed(network, edge), 0.1)


def _approach_chain(network, edge: str, feeders, max_travel_s: float) -> dict[str, float]:
    """Edges whose traffic reaches ``edge``'s stop line through unsignalised junctions only.

    Real networks split a street into several edges (at driveways, lane drops, 1 m stubs
    before a stop line); a platoon leaving an upstream signal crosses them all. Returns
    ``{edge: travel time (s) from the edge's start to the stop line}``, ``edge`` itself
    included, up to ``max_travel_s``.
    """
    out = {edge: _edge_travel_s(network, edge)}
    frontier = [edge]
    while frontier:
        nxt = []
        for x in frontier:
            for y in sorted(feeders.get(x, ())):
                if y in out:
                    continue
                t = out[x] + _edge_travel_s(network, y)
                if t <= max_travel_s:
                    out[y] = t
                    nxt.append(y)
        frontier = nxt
    return out


def _topology(network, movs, light, n_lights, q_vph, *, alpha, beta, max_travel_s, accel_mps2):
    """Upstream links, lags, dispersion factors and per-light index arrays of a delay model."""
    by_to: dict[str, list[int]] = {}
    for i, m in enumerate(movs):
        by_to.setdefault(network.movements[m].to_edge, []).append(i)
    feeders = _unsignalised_feeders(network)
    chains: dict[str, dict[str, float]] = {}
    across: dict[tuple[str, str], float] = {}
    up_ptr, up_mov, shift, factor = [0], [], [], []
    for m in movs:
        mv = network.movements[m]
        if mv.from_edge not in chains:
            chains[mv.from_edge] = _approach_chain(network, mv.from_edge, feeders, max_travel_s)
        chain = chains[mv.from_edge]
        ups, weights, times = [], [], []
        for edge, t_s in chain.items():
            for u in by_to.get(edge, []):
                mu = network.movements[movs[u]]
                if mu.junction != mv.junction:
                    ups.append(u)
                    weights.append(q_vph[movs[u]])
                    if (mu.junction, mu.from_edge) not in across:
                        across[mu.junction, mu.from_edge] = crossing_distance_m(network, mu.junction, mu.from_edge)
                    times.append(t_s + across[mu.junction, mu.from_edge] / max(_edge_speed(network, edge), 0.1))
        up_mov.extend(ups)
        up_ptr.append(len(up_mov))
        travel = float(np.average(times, weights=weights)) if ups and sum(weights) > 0 else chain[mv.from_edge]
        if ups and accel_mps2 > 0:
            travel += _edge_speed(network, mv.from_edge) / (2.0 * accel_mps2)
        shift.append(int(round(beta * travel)))
        factor.append(1.0 / (1.0 + alpha * beta * travel))
    light_arr = np.array(light, dtype=np.int64)
    order = np.argsort(light_arr, kind="stable")
    light_ptr = np.zeros(n_lights + 1, dtype=np.int64)
    np.add.at(light_ptr, light_arr + 1, 1)
    light_ptr = np.cumsum(light_ptr)
    down: list[list[int]] = [[] for _ in range(n_lights)]
    for i in range(len(movs)):
        for k in range(up_ptr[i], up_ptr[i + 1]):
            lu = light[up_mov[k]]
            if lu != light[i] and i not in down[lu]:
                down[lu].append(i)
    down_ptr = np.cumsum([0] + [len(d) for d in down]).astype(np.int64)
    return (light_arr, np.array(up_ptr, dtype=np.int64), np.array(up_mov, dtype=np.int64),
            np.array(shift, dtype=np.int64), np.array(factor, dtype=np.float64), light_ptr, order.astype(np.int64),
            down_ptr, np.array([i for d in down for i in d], dtype=np.int64))


def delay_model(network, plans: dict[str, SignalPlan], q_vph: np.ndarray, *, permissive_factor: float = 0.5,
                alpha: float = 0.35, beta: float = 0.8, max_travel_s: float = 120.0,
                accel_mps2: float = 2.6, cache: dict | None = None) -> DelayModel:
    """Build the delay model's arrays for plans sharing one integer cycle (or half of it).

    A plan whose cycle is half the common one (a double-cycling light) runs twice per
    common cycle. A movement's arrivals come from the signalised movements that feed its
    approach directly or through unsignalised junctions (up to ``max_travel_s`` back,
    :func:`_approach_chain`); the travel time is their flow-weighted mean (from the upstream
    stop line: the upstream junction's width, ``crossing_distance_m``, included), plus the time a
    platoon loses starting from rest at the upstream stop line, ``v / (2 a)`` (``v`` the
    approach's speed limit, ``a = accel_mps2``; SUMO's default car accelerates at 2.6 m/s^2).
    Robertson's ``T`` is a mean journey time; the free-flow time alone puts platoons at the
    next stop line seconds early (200 m at 13.9 m/s: a lag of 0.8 x 14.4 = 11.5 s, while a
    car starting from rest needs about 17 s). ``cache`` (a dict the caller keeps) reuses this
    part between calls with the same movements and flows, where only the plans change.

    Raises
    ------
    ValidationError
        If the plans do not share one whole-second cycle, up to half-cycle lights.
    """
    cycles = {round(p.cycle_s, 6) for p in plans.values()}
    top = max(cycles) if cycles else 0.0
    if (not cycles or abs(top - round(top)) > 1e-6
            or any(abs(c - top) > 1e-6 and abs(2 * c - top) > 1e-6 for c in cycles)):
        msg = (f"Coordinated plans must share one whole-second cycle (or run at half of it). "
               f"Got cycles {sorted(cycles)}.")
        raise ValidationError(msg)
    cycle = int(round(top))
    tls_ids = tuple(sorted(plans))
    lid = {t: i for i, t in enumerate(tls_ids)}
    links_of: dict[int, list[int]] = {}
    for t in tls_ids:
        for link in network.programs[t].links:
            links_of.setdefault(link.movement, []).append(link.index)
    sat = shared_lane_sat_vph(network, sorted(links_of), q_vph)
    movs, caps, light, sats = [], [], [], []
    coverage: dict[str, np.ndarray] = {}
    for m in sorted(links_of):
        mv = network.movements[m]
        if mv.turn == "crossing" or q_vph[m] <= 0 or mv.tls not in lid:
            continue
        if mv.tls not in coverage:
            coverage[mv.tls] = _green_coverage(plans[mv.tls], cycle)
        cap = _capacity_profile(plans[mv.tls], links_of[m], sat[m] / 3600.0, permissive_factor,
                                coverage[mv.tls])
        if cap.sum() <= 0:
            continue
        movs.append(m)
        caps.append(cap)
        light.append(lid[mv.tls])
        sats.append(sat[m])
    key = (tuple(movs), tuple(light), len(tls_ids), alpha, beta, max_travel_s, accel_mps2)
    topo = cache.get(key) if cache is not None else None
    if topo is None:
        topo = _topology(network, movs, light, len(tls_ids), q_vph, alpha=alpha, beta=beta,
                         max_travel_s=max_travel_s, accel_mps2=accel_mps2)
        if cache is not None:
            cache[key] = topo
    light_arr, up_ptr, up_mov, shift, factor, light_ptr, order, down_ptr, down_mov = topo
    n = len(movs)
    return DelayModel(
        tls=tls_ids,
        movements=tuple(movs),
        cycle_s=cycle,
        cap_local=np.ascontiguousarray(np.array(caps, dtype=np.float64).reshape(n, cycle)),
        light=light_arr,
        q=np.array([q_vph[m] / 3600.0 for m in movs], dtype=np.float64),
        up_ptr=up_ptr,
        up_mov=up_mov,
        shift=shift,
        factor=factor,
        light_ptr=light_ptr,
        light_mov=order,
        down_ptr=down_ptr,
        down_mov=down_mov,
        sat_vph=np.array(sats, dtype=np.float64),
    )


def _offsets_of(model: DelayModel, plans: dict[str, SignalPlan]) -> np.ndarray:
    return np.array([int(round(plans[t].sumo_offset_s())) % model.cycle_s for t in model.tls], dtype=np.int64)


def network_delay(network, plans, flows, *, permissive_factor: float = 0.5, n_sweeps: int = 3) -> float:
    """Return the model's network delay (veh*h/h, the mean number of queued vehicles) of plans.

    Parameters
    ----------
    network
        The road network.
    plans
        A :class:`NetworkPlan` (its first period) or ``{tls: SignalPlan}`` sharing one cycle.
    flows
        Flow table (see :func:`citybrain.timing.optimise_plan`).
    permissive_factor
        Share of saturation flow on permissive green.
    n_sweeps
        Passes over the movements (upstream departures feed downstream arrivals).

    Notes
    -----
    Calls the numba kernel :func:`citybrain._kernels.timing._network_delay`.
    """
    if isinstance(plans, NetworkPlan):
        plans = plans.periods[0].by_tls
    q = movement_flows(network, flows)
    model = delay_model(network, plans, q, permissive_factor=permissive_factor)
    n = len(model.movements)
    dep = np.empty((n, model.cycle_s))
    delay = np.empty(n)
    total = _network_delay(_offsets_of(model, plans), model.cap_local, model.light, model.q, model.up_ptr,
                           model.up_mov, model.shift, model.factor, int(n_sweeps), dep, delay)
    return float(total / model.cycle_s)


def random_delay(model: DelayModel, *, period_h: float = 0.25) -> float:
    """Random and over-saturation delay (veh, mean number waiting) of a delay model's plans.

    Per movement, the HCM incremental delay ``d2 = 900 T [(x - 1) + sqrt((x - 1)^2 + 4 x / (c T))]``
    (seconds per vehicle; ``x`` the degree of saturation, ``c`` the capacity in veh/h,
    ``T`` the analysis period in hours) times its flow. It does not depend on offsets; it
    is what makes longer cycles pay off near saturation, where the deterministic cyclic
    model alone always prefers the shortest cycle.
    """
    if not len(model.movements):
        return 0.0
    cap = model.cap_local.sum(axis=1) / model.cycle_s
    x = model.q / np.maximum(cap, 1e-9)
    c_vph = np.maximum(cap * 3600.0, 1e-6)
    d2 = 900.0 * period_h * ((x - 1.0) + np.sqrt((x - 1.0) ** 2 + 4.0 * x / (c_vph * period_h)))
    return float(np.sum(model.q * d2))


def flows_period_h(flows) -> float:
    """Hours a flow table covers (first interval start to last interval end), at least 0.25."""
    try:
        start = np.asarray(flows["interval_start"], dtype=float)
        end = start + np.asarray(flows["interval_s"], dtype=float)
        span = float(np.nanmax(end) - np.nanmin(start)) / 3600.0 if len(start) else 0.0
    except (KeyError, TypeError, ValueError):
        span = 0.0
    return max(0.25, span) if np.isfinite(span) else 0.25


class _Search:
    """The objective (deterministic cyclic delay plus random delay) and its offset search."""

    def __init__(self, network, q, permissive_factor, offset_step_s, n_passes, period_h=0.25):
        self.network, self.q, self.pf = network, q, permissive_factor
        self.step, self.n_passes = int(offset_step_s), int(n_passes)
        self.cache: dict = {}
        self.period_h = float(period_h)

    def random(self, model) -> float:
        return random_delay(model, period_h=self.period_h)

    def model(self, plans):
        return delay_model(self.network, plans, self.q, permissive_factor=self.pf, cache=self.cache)

    def delay(self, model, offsets) -> float:
        n = len(model.movements)
        total = _network_delay(offsets, model.cap_local, model.light, model.q, model.up_ptr, model.up_mov,
                               model.shift, model.factor, 3, np.empty((n, model.cycle_s)), np.empty(n))
        return float(total / model.cycle_s)

    def offsets(self, model, init, n_passes: int | None = None, step: int | None = None) -> tuple[np.ndarray, float]:
        """Best offsets from the rows of ``init`` (and from ``init[0]`` as given); deterministic delay (veh)."""
        init = np.ascontiguousarray(np.asarray(init, dtype=np.int64) % model.cycle_s)
        step = self.step if step is None else int(step)
        # two levels: about sqrt(C / 2) grid steps, then every step around the best (fewest trials)
        coarse = max(1, int(np.sqrt(model.cycle_s / (2.0 * step))))
        best, total = _search_offsets(init, step, model.cap_local, model.light, model.q, model.up_ptr,
                                      model.up_mov, model.shift, model.factor, model.light_ptr, model.light_mov,
                                      model.down_ptr, model.down_mov,
                                      self.n_passes if n_passes is None else int(n_passes), coarse)
        start = self.delay(model, init[0])
        got = self.delay(model, best)
        return (init[0].copy(), start) if start <= got else (best, got)


def _plans_at(timings, cycle: int, half: set[str], method: str) -> dict[str, SignalPlan]:
    return {t: finish_plan(tm, cycle / 2 if t in half else float(cycle), method=method) for t, tm in timings.items()}


def _need_s(tm) -> float:
    return float(tm.lost_s + tm.min_green_s.sum())


class _LocalState:
    """The delay model's state at fixed offsets, re-evaluated one light at a time (numba kernels)."""

    def __init__(self, model: DelayModel, offsets: np.ndarray):
        self.model, self.offsets = model, np.ascontiguousarray(offsets, dtype=np.int64)
        n, c = model.cap_local.shape
        self.dep, self.delay, self.arr_store = np.empty((n, c)), np.empty(n), np.empty((n, c))
        width = int(np.max(np.diff(model.light_ptr))) if len(model.light_ptr) > 1 else 1
        self.tmp_dep = np.empty((max(1, width), c))
        self.tmp_pos = -np.ones(n, dtype=np.int64)
        self.work = [np.empty(c) for _ in range(4)]
        m = model
        _delay_state(self.offsets, m.cap_local, m.light, m.q, m.up_ptr, m.up_mov, m.shift, m.factor,
                     self.dep, self.delay, self.arr_store)

    def light(self, l: int, commit: bool = False) -> float:
        """Delay (veh*s per cycle) of light ``l``'s movements and those they feed; ``commit`` stores the state."""
        m = self.model
        return float(_local_delay(l, self.offsets[l], self.offsets, m.cap_local, m.light, m.q, m.up_ptr, m.up_mov,
                                  m.shift, m.factor, m.light_ptr, m.light_mov, m.down_ptr, m.down_mov, self.dep,
                                  self.arr_store, self.tmp_dep, self.tmp_pos, *self.work, commit, self.delay))


def _screen_halves(search: _Search, timings, value, model, offsets, min_cycle_s: float) -> tuple[float, set[str]]:
    """Lights that lower the objective at half the common cycle, tried one at a time (offsets fixed).

    Each light whose minimum greens fit in half the cycle (and half is at least
    ``min_cycle_s``) gets its equal-saturation plan at half the cycle in the delay model (its
    capacity rows only, re-evaluated locally as in :func:`_rebalance`); kept when the
    objective falls. Returns the objective with the kept lights and their ids.
    """
    c = model.cycle_s
    half: set[str] = set()
    if c % 2 or c / 2 < min_cycle_s:
        return value, half
    model = replace(model, cap_local=model.cap_local.copy())
    network, pf = search.network, search.pf
    state = _LocalState(model, offsets)
    rnd = search.random(model)
    for l, t in enumerate(model.tls):
        rows = model.light_mov[model.light_ptr[l]:model.light_ptr[l + 1]]
        if not len(rows) or _need_s(timings[t]) > c / 2 + 1e-9:
            continue
        links: dict[int, list[int]] = {}
        for link in network.programs[t].links:
            links.setdefault(link.movement, []).append(link.index)
        trial = finish_plan(timings[t], c / 2, method="coordinated")
        coverage = _green_coverage(trial, c)
        old_rows = model.cap_local[rows].copy()
        cur = state.light(l)
        for i in rows:
            model.cap_local[i] = _capacity_profile(trial, links[model.movements[i]], model.sat_vph[i] / 3600.0, pf,
                                                   coverage)
        d, r = state.light(l), search.random(model)
        change = (d - cur) / c + (r - rnd)
        if change < -1e-9 * (1.0 + abs(value)):
            half.add(t)
            value, rnd = value + change, r
        else:
            model.cap_local[rows] = old_rows
        state.light(l, commit=True)
    return value, half


def _rebalance(search: _Search, plans, timings, model, offsets, objective, *, step_s: float = 2.0, n_passes: int = 2):
    """Move green between phases of one light at a time (``step_s``) while the objective falls.

    Each light's capacity rows of the delay model are rebuilt for a trial split; a trial is
    kept when the objective (deterministic delay of the light's movements and of those they
    feed, at the current offsets, plus the random delay) drops. Returns the plans and the
    objective as tracked (the caller re-evaluates it).
    """
    network, pf = search.network, search.pf
    rows = {t: [i for i, m in enumerate(model.movements) if network.movements[m].tls == t] for t in model.tls}
    links = {}
    for t in model.tls:
        for link in network.programs[t].links:
            links.setdefault(link.movement, []).append(link.index)

    def set_rows(t, plan):
        coverage = _green_coverage(plan, model.cycle_s)
        for i in rows[t]:
            m = model.movements[i]
            model.cap_local[i] = _capacity_profile(plan, links[m], model.sat_vph[i] / 3600.0, pf,
                                                   coverage)

    state = _LocalState(model, offsets)
    rnd = search.random(model)
    c = float(model.cycle_s)
    for _ in range(n_passes):
        improved = False
        for l, t in enumerate(model.tls):
            plan = plans[t]
            gmin = timings[t].min_greens(plan.cycle_s)
            n = len(plan.phases)
            if n < 2 or not rows[t]:
                continue
            cur = state.light(l)
            for a in range(n):
                for b in range(n):
                    if a == b:
                        continue
                    greens = np.array([ph.green_s for ph in plan.phases])
                    if greens[a] - step_s < gmin[a] - 1e-9:
                        continue
                    greens[a] -= step_s
                    greens[b] += step_s
                    trial = plan.with_timing(greens, cycle_s=plan.cycle_s)
                    set_rows(t, trial)
                    d, r = state.light(l), search.random(model)
                    change = (d - cur) / c + (r - rnd)
                    if change < -1e-6 * (1.0 + abs(objective)):
                        plan, objective, improved, cur, rnd = trial, objective + change, True, d, r
                    else:
                        set_rows(t, plan)
            state.light(l, commit=True)
            plans[t] = plan
        if not improved:
            break
    return plans, objective


def _fit_greens(own: np.ndarray, gmin: np.ndarray, total: float) -> np.ndarray | None:
    """Greens in the proportions of ``own`` summing to ``total``, each at least ``gmin`` (None if impossible)."""
    own = np.maximum(np.asarray(own, dtype=float), 0.0)
    gmin = np.asarray(gmin, dtype=float)
    if total + 1e-9 < gmin.sum():
        return None
    if own.sum() <= 0:
        own = np.ones_like(own)
    fixed = np.zeros(len(own), dtype=bool)
    g = own * total / own.sum()
    while True:  # water-filling: pin phases below their minimum, share the rest by ``own``
        low = ~fixed & (g < gmin - 1e-12)
        if not low.any():
            break
        fixed |= low
        g[fixed] = gmin[fixed]
        rest = total - g[fixed].sum()
        free = ~fixed
        if not free.any():
            break
        w = own[free] if own[free].sum() > 0 else np.ones(int(free.sum()))
        g[free] = w * rest / w.sum()
    return g if np.all(g >= gmin - 1e-6) else None


def _own_candidates(network, timings, common: int, half: set[str]):
    """Start plans from the lights' own programs: ``(name, {tls: plan}, offsets)`` pairs.

    Each light keeps its own phase sequence (made safe, as :func:`base_plan`) and its own
    share of green; the profile's clearances come out of the greens. ``"own program"`` keeps
    the own cycle where every light's own cycle is one whole-second cycle or half of it;
    ``"own splits"`` uses the searched common cycle (and half-cycle lights).
    """
    from ..plans.formats import plan_from_program

    own_cycle = {t: float(sum(ph.duration_s for ph in network.programs[t].phases)) for t in timings}
    own_offset = {t: plan_from_program(network.programs[t].phases, tls=t, offset_s=network.programs[t].offset_s).offset_s
                  for t in timings}

    def build(cycles: dict[str, float]):
        plans = {}
        for t, tm in timings.items():
            c = cycles[t]
            greens = _fit_greens([ph.green_s for ph in tm.plan.phases], tm.min_greens(c), c - tm.lost_s)
            if greens is None:
                return None
            greens = np.round(greens, 2)  # SUMO files carry 0.01 s
            greens[np.argmax(greens)] += c - tm.lost_s - greens.sum()
            plans[t] = tm.plan.with_timing(greens, cycle_s=c, offset_s=0.0, method="coordinated")
        return plans

    top = max(own_cycle.values()) if own_cycle else 0.0
    out = []
    if top > 0 and abs(top - round(top)) < 1e-6 and all(
            abs(c - top) < 1e-6 or abs(2 * c - top) < 1e-6 for c in own_cycle.values()):
        plans = build(own_cycle)
        if plans is not None:
            offs = np.array([int(round(own_offset[t])) % int(round(top)) for t in sorted(plans)], dtype=np.int64)
            out.append(("own program", plans, offs))
    plans = build({t: common / 2 if t in half else float(common) for t in timings})
    if plans is not None:
        offs = np.array([int(round(own_offset[t] * common / max(own_cycle[t], 1e-9))) % common for t in sorted(plans)],
                        dtype=np.int64)
        out.append(("own splits", plans, offs))
    return out


def coordinated(network, flows, *, tls=None, profile=None, cycle_bounds=(30.0, 180.0), cycle_s: float | None = None,
                permissive_factor: float = 0.5, aggregate: str = "mean", offset_step_s: int = 1, n_restarts: int = 4,
                n_passes: int = 8, seed=None, min_green_s: float | None = None, cycle_step_s: int = 10,
                scan_offsets: int = 12,
                half_cycles: bool = True, rebalance_splits: bool = True, own_program: bool = True,
                period_h: float | None = 0.25, n_cycles: int = 3, clip_to_program: bool = True,
                left_turns: str = "best") -> NetworkPlan:
    """Return coordinated plans: a common cycle, splits and offsets minimising a network delay model.

    Parameters
    ----------
    network, flows, tls, profile, cycle_bounds, permissive_factor, aggregate, min_green_s
        As for :func:`citybrain.timing.webster.webster`.
    cycle_s
        Common cycle (seconds); default: searched (see Notes).
    offset_step_s
        Offsets tried, in whole seconds.
    n_restarts
        Starts of the coordinate descent: all offsets 0, then random ones.
    n_passes
        Most passes over the lights per start.
    seed
        Seed of the random restarts: an int, a ``numpy.random.Generator`` or ``None``.
    cycle_step_s
        Step (seconds) of the coarse cycle scan; the best is refined at half that step.
    scan_offsets
        Offsets per light the cycle scan tries (every ``cycle // scan_offsets`` seconds,
        at least ``offset_step_s``); the chosen cycle's offsets are searched at
        ``offset_step_s``. The search costs about the cycle squared per light at full
        resolution, so the scan of long cycles dominated (10x10 grid: 11 of 28 s).
    half_cycles
        Let lightly loaded lights run at half the common cycle (double cycling) where that
        lowers the modelled delay.
    rebalance_splits
        After the offsets, move green between phases (2 s at a time) where that lowers the
        modelled delay.
    period_h
        Analysis period (hours) of the random and over-saturation delay (HCM ``T``); None:
        the time the flow table covers (:func:`flows_period_h`). The default 0.25 h: with
        1 h the over-saturation term drove arterial5 to a 155 s cycle (twin delay 67 -> 82 s).
    clip_to_program
        Scale each lane group's flow down to what the own program can discharge
        (:func:`~citybrain.timing._common.clip_to_program_capacity`): for flows estimated
        from counts taken under the own programs.
    n_cycles
        How many of the best cycles of the scan are compared again with all restarts.
    left_turns
        ``"protected"``: each light's own phase sequence (made safe); ``"permissive"``: phases
        whose every green link is green in another phase are dropped too, so a left turn with
        a protected phase after its permissive green keeps only the permissive one (one
        phase and one transition fewer per cycle); ``"best"``: both, where they differ, and
        the lower modelled objective wins (cologne3, seeds 1-2: 58.8 -> 31.4 s/veh in the twin).
    own_program
        Also start from the network's own programs, made safe (the profile's clearances)
        and kept at their own cycle (where the lights share one) and at the searched common
        cycle, with their share of green: offsets searched from the own ones, splits
        re-balanced only where the model gains. The plan the model rates best is returned,
        so the result is never rated worse than the own timing.

    Returns
    -------
    NetworkPlan
        One period, ``method="coordinated"``; ``meta`` holds the common cycle, the half-cycle
        lights, and the modelled delay (veh*h/h) with zero offsets and with the searched
        ones (the deterministic cyclic model, as :func:`network_delay`), and the random delay.

    Raises
    ------
    ValidationError
        Bad flows or arguments.
    InfeasiblePlanError
        No safe plan fits the cycle bounds.

    Notes
    -----
    The objective is the deterministic cyclic-flow-profile delay of the group (TRANSYT, with
    the offsets searched) plus the HCM random and over-saturation delay of every movement
    (:func:`random_delay`), both as mean vehicles waiting. Without ``cycle_s`` the common
    cycle is scanned from the shortest cycle every light's minimum greens allow to the
    upper bound in ``cycle_step_s`` steps (one offset start, one pass, offsets on a coarse
    grid each; the scan stops once three cycles in a row score over 10% above the best,
    as the objective is U-shaped in the cycle), then refined; the best ``n_cycles`` are
    searched with every restart, their lights screened at half the cycle, and the lowest
    objective wins. Each light's offset
    is searched on two levels (a grid of about ``sqrt(C / 2)`` steps, then every
    ``offset_step_s`` near the best). Splits start at equal degree of saturation at the
    chosen cycle.
    """
    bounds = check_bounds(cycle_bounds)
    if int(offset_step_s) < 1 or int(n_restarts) < 1 or int(n_passes) < 1 or int(cycle_step_s) < 1:
        msg = (f"The 'offset_step_s', 'n_restarts', 'n_passes' and 'cycle_step_s' of coordinated must be >= 1. "
               f"Got {offset_step_s}, {n_restarts}, {n_passes}, {cycle_step_s}.")
        raise ValidationError(msg)
    rng = normalise_seed(seed)
    q = movement_flows(network, flows, aggregate=aggregate)
    ids = select_lights(network, tls)
    if clip_to_program:
        q = clip_to_program_capacity(network, q, ids)
    if period_h is None:
        period_h = flows_period_h(flows)
    search = _Search(network, q, permissive_factor, offset_step_s, n_passes, period_h)

    def run(timings):
        need = max(int(np.ceil(_need_s(tm) - 1e-9)) for tm in timings.values())
        plan_cache: dict[tuple[int, frozenset], dict[str, SignalPlan]] = {}

        def objective(cycle: int, half: set[str], starts: int = 1, passes: int | None = None, coarse: bool = False):
            key = (cycle, frozenset(half))
            if key not in plan_cache:
                plan_cache[key] = _plans_at(timings, cycle, half, "coordinated")
            plans = dict(plan_cache[key])
            model = search.model(plans)
            init = np.zeros((starts, len(model.tls)), dtype=np.int64)
            if starts > 1:
                init[1:] = rng.integers(0, model.cycle_s, size=(starts - 1, len(model.tls)))
            step = max(int(offset_step_s), model.cycle_s // max(1, int(scan_offsets))) if coarse else None
            offsets, det = search.offsets(model, init, passes, step)
            return det + search.random(model), plans, model, offsets

        if cycle_s is None:
            lo, hi = int(max(bounds[0], need)), int(max(bounds[1], need))
            step = int(cycle_step_s)
            scan = 1  # a coarse ranking (one descent pass); the best few are searched in full below
            scores: dict[int, float] = {}
            for c in sorted({*range(lo, hi + 1, step), hi}):
                scores[c] = objective(c, set(), 1, scan, True)[0]
                floor = min(scores.values())
                if len(scores) > 3 and all(v > 1.1 * floor for v in list(scores.values())[-3:]):
                    break  # three cycles in a row well above the best: past the minimum
            best = min(scores, key=scores.get)
            for c in range(max(lo, best - step + step // 2), min(hi, best + step - 1) + 1, max(1, step // 2)):
                if c not in scores:
                    scores[c] = objective(c, set(), 1, scan, True)[0]
            # the scan uses one offset start; its ranking is noisy, so the best few cycles are
            # compared again with every restart
            top = sorted(scores, key=scores.get)[:max(1, int(n_cycles))]
            finals = {c: objective(c, set(), int(n_restarts)) for c in top}
        else:
            if not bounds[0] <= float(cycle_s) <= bounds[1]:
                msg = f"The 'cycle_s' of coordinated must be in [{bounds[0]:g}, {bounds[1]:g}]. Got {cycle_s} instead."
                raise ValidationError(msg)
            c = int(max(int(np.ceil(float(cycle_s) - 1e-9)), need))
            finals = {c: objective(c, set(), int(n_restarts))}
        # each finalist's lights are screened at half its cycle (offsets fixed), and the
        # cycle is chosen with its half-cycle lights: a long cycle may pay only with them
        halves_of = {c: _screen_halves(search, timings, finals[c][0], finals[c][2], finals[c][3], bounds[0])
                     if half_cycles else (finals[c][0], set()) for c in finals}
        common = int(min(finals, key=lambda c: halves_of[c][0]))
        half = halves_of[common][1]
        value, plans, model, offsets = objective(common, half, int(n_restarts)) if half else finals[common]
        if rebalance_splits:
            plans, value = _rebalance(search, plans, timings, model, offsets, value)
            model = search.model(plans)
            offsets, det = search.offsets(model, np.vstack([offsets, np.zeros(len(offsets), dtype=np.int64)]))
            value = det + search.random(model)
        start = "equal saturation"
        if own_program:
            for name, cand, init in _own_candidates(network, timings, common, half):
                cmodel = search.model(cand)
                rows = np.vstack([init, np.zeros(len(init), dtype=np.int64)])
                coffsets, cdet = search.offsets(cmodel, rows)
                cvalue = cdet + search.random(cmodel)
                if rebalance_splits:
                    cand, cvalue = _rebalance(search, cand, timings, cmodel, coffsets, cvalue)
                    cmodel = search.model(cand)
                    coffsets, cdet = search.offsets(cmodel, np.vstack([coffsets, np.zeros(len(coffsets), dtype=np.int64)]))
                    cvalue = cdet + search.random(cmodel)
                if cvalue < value - 1e-9 * (1.0 + abs(value)):
                    plans, model, offsets, value, start = cand, cmodel, coffsets, cvalue, name
                    half = {t for t, p in cand.items() if 2 * p.cycle_s < cmodel.cycle_s + 1e-6}
        return value, plans, model, offsets, half, start

    if left_turns not in ("protected", "permissive", "best"):
        msg = f"The 'left_turns' of coordinated must be 'protected', 'permissive' or 'best'. Got {left_turns!r}."
        raise ValidationError(msg)
    best = None
    first = None
    for permissive in ((False, True) if left_turns == "best" else (left_turns == "permissive",)):
        if first is not None and all(base_plan(network, t, profile, permissive_lefts=True, flows_vph=q).phases
                                     == first[t].plan.phases for t in ids):
            continue  # no light has a protected phase to drop
        timings = {t: isolated_timing(network, t, q, profile=profile, permissive_factor=permissive_factor,
                                      min_green_s=min_green_s, permissive_lefts=permissive) for t in ids}
        first = timings
        got = run(timings)
        if best is None or got[0] < best[0] - 1e-9 * (1.0 + abs(best[0])):
            best = got
            best_lefts = "permissive" if permissive else "protected"
    _, plans, model, offsets, half, start = best
    c = model.cycle_s
    zero = search.delay(model, np.zeros(len(model.tls), dtype=np.int64))
    det = search.delay(model, offsets)
    if zero < det:
        offsets, det = np.zeros(len(model.tls), dtype=np.int64), zero
    out = [replace(plans[t], offset_s=float(offsets[i] % plans[t].cycle_s)) for i, t in enumerate(model.tls)]
    out += [plans[t] for t in ids if t not in model.tls]
    meta = {"method": "coordinated", "network": str(network.path), "cycle_s": c, "half_cycle_tls": sorted(half),
            "start": start, "left_turns": best_lefts,
            "model_delay_zero_offsets_vehh_per_h": float(zero), "model_delay_vehh_per_h": float(det),
            "model_random_delay_vehh_per_h": float(search.random(model)), "period_h": search.period_h}
    result = NetworkPlan.single(out, meta=meta)
    assert_produced_plans_safe(result, network, profile)
    return result
