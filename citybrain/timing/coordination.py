"""Coordinated timing: a common cycle, splits and offsets minimising a network delay model.

The objective is the TRANSYT-style cyclic delay of the signal group
(:mod:`~citybrain.timing.delay_model`) plus the HCM random and over-saturation delay
(:func:`~citybrain.timing.delay_model.random_delay`). Offsets are searched by coordinate
descent with restarts (each light on a coarse grid, then finely near the best) in a numba
kernel (:func:`citybrain._kernels.timing._search_offsets`); lightly loaded lights may run at
half the cycle; splits start at equal degree of saturation and are then re-balanced with the
offsets fixed (:func:`coordinated`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .._kernels.timing import _search_offsets
from ..exceptions import ValidationError
from ..plans.model import NetworkPlan, SignalPlan
from ..plans.safety import require_safe
from .delay_model import (
    LocalDelay,
    capacity_profile,
    cyclic_delay,
    delay_model,
    flows_period_h,
    green_coverage,
    random_delay,
)
from .flows import clip_to_program_capacity, movement_flows, select_lights
from .options import TimingOptions
from .phases import base_plan
from .splits import finish_plan, isolated_timing

__all__ = ["coordinated", "normalise_seed"]


def normalise_seed(seed) -> np.random.Generator:
    """Return a Generator from ``seed``: an int, a ``numpy.random.Generator`` or ``None`` (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    msg = f"The 'seed' must be an int, a numpy Generator or None. Got {type(seed).__name__}."
    raise ValidationError(msg)


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
        return cyclic_delay(model, offsets)

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
    state = LocalDelay(model, offsets)
    rnd = search.random(model)
    for l, t in enumerate(model.tls):
        rows = model.light_mov[model.light_ptr[l]:model.light_ptr[l + 1]]
        if not len(rows) or _need_s(timings[t]) > c / 2 + 1e-9:
            continue
        links: dict[int, list[int]] = {}
        for link in network.programs[t].links:
            links.setdefault(link.movement, []).append(link.index)
        trial = finish_plan(timings[t], c / 2, method="coordinated")
        coverage = green_coverage(trial, c)
        old_rows = model.cap_local[rows].copy()
        cur = state.light(l)
        for i in rows:
            model.cap_local[i] = capacity_profile(trial, links[model.movements[i]], model.sat_vph[i] / 3600.0, pf,
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
        coverage = green_coverage(plan, model.cycle_s)
        for i in rows[t]:
            m = model.movements[i]
            model.cap_local[i] = capacity_profile(plan, links[m], model.sat_vph[i] / 3600.0, pf,
                                                   coverage)

    state = LocalDelay(model, offsets)
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


def coordinated(network, flows, options: TimingOptions = TimingOptions(), *, cycle_s: float | None = None,
                offset_step_s: int = 1, n_restarts: int = 4, n_passes: int = 8, cycle_step_s: int = 10,
                scan_offsets: int = 12, half_cycles: bool = True, rebalance_splits: bool = True, own_program: bool = True,
                period_h: float | None = 0.25, n_cycles: int = 3, clip_to_program: bool = True,
                left_turns: str = "best") -> NetworkPlan:
    """Return coordinated plans: a common cycle, splits and offsets minimising a network delay model.

    Parameters
    ----------
    network, flows
        As for :func:`citybrain.timing.webster.webster`.
    options
        As for :func:`citybrain.timing.webster.webster`; ``options.seed`` seeds the random
        restarts.
    cycle_s
        Common cycle (seconds); default: searched (see Notes).
    offset_step_s
        Offsets tried, in whole seconds.
    n_restarts
        Starts of the coordinate descent: all offsets 0, then random ones.
    n_passes
        Most passes over the lights per start.
    cycle_step_s
        Step (seconds) of the coarse cycle scan; the best is refined at half that step.
    scan_offsets
        Offsets per light the cycle scan tries (every ``cycle // scan_offsets`` seconds,
        at least ``offset_step_s``); the chosen cycle's offsets are searched at
        ``offset_step_s``. The search costs about the cycle squared per light at full
        resolution, so a full-resolution scan is dominated by the long cycles.
    half_cycles
        Let lightly loaded lights run at half the common cycle (double cycling) where that
        lowers the modelled delay.
    rebalance_splits
        After the offsets, move green between phases (2 s at a time) where that lowers the
        modelled delay.
    period_h
        Analysis period (hours) of the random and over-saturation delay (HCM ``T``); None:
        the time the flow table covers (:func:`~citybrain.timing.delay_model.flows_period_h`).
        A long period lets the over-saturation term drive the cycle far up.
    clip_to_program
        Scale each lane group's flow down to what the own program can discharge
        (:func:`~citybrain.timing.flows.clip_to_program_capacity`): for flows estimated
        from counts taken under the own programs. Demand (a ``demand_vph`` column) is clipped
        too: a backlog beyond what the own programs discharge (vehicles queued at the
        network's entries) is not served faster by more green on its approach than the roads
        downstream take (on atlanta, timing for the unclipped demand cost about 100 s/veh,
        ``benchmarks/bench_plans_twin.py``); the queues still raise every flow below that bound.
    n_cycles
        How many of the best cycles of the scan are compared again with all restarts.
    left_turns
        ``"protected"``: each light's own phase sequence (made safe); ``"permissive"``: phases
        whose every green link is green in another phase are dropped too, so a left turn with
        a protected phase after its permissive green keeps only the permissive one (one
        phase and one transition fewer per cycle); ``"best"``: both, where they differ, and
        the lower modelled objective wins.
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
        ones (the deterministic cyclic model, as
        :func:`~citybrain.timing.delay_model.network_delay`), the random delay and the options.

    Raises
    ------
    ValidationError
        Bad flows or arguments.
    InfeasiblePlanError
        The minimum greens do not fit a cycle.
    UnsafePlanError
        A plan breaks a hard safety rule.

    Notes
    -----
    The objective is the deterministic cyclic-flow-profile delay of the group (TRANSYT, with
    the offsets searched) plus the HCM random and over-saturation delay of every movement
    (:func:`~citybrain.timing.delay_model.random_delay`), both as mean vehicles waiting. Without ``cycle_s`` the common
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
    bounds = options.cycle_bounds_s
    profile = options.profile
    if int(offset_step_s) < 1 or int(n_restarts) < 1 or int(n_passes) < 1 or int(cycle_step_s) < 1:
        msg = (f"The 'offset_step_s', 'n_restarts', 'n_passes' and 'cycle_step_s' of coordinated must be >= 1. "
               f"Got {offset_step_s}, {n_restarts}, {n_passes}, {cycle_step_s}.")
        raise ValidationError(msg)
    rng = normalise_seed(options.seed)
    q = movement_flows(network, flows, aggregate=options.aggregate)
    ids = select_lights(network, options.tls)
    if clip_to_program:
        q = clip_to_program_capacity(network, q, ids)
    if period_h is None:
        period_h = flows_period_h(flows)
    search = _Search(network, q, options.permissive_factor, offset_step_s, n_passes, period_h)

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
        timings = {t: isolated_timing(network, t, q, options, permissive_lefts=permissive) for t in ids}
        first = timings
        got = run(timings)
        if best is None or got[0] < best[0] - 1e-9 * (1.0 + abs(best[0])):
            best = got
    _, plans, model, offsets, half, start = best
    c = model.cycle_s
    zero = search.delay(model, np.zeros(len(model.tls), dtype=np.int64))
    det = search.delay(model, offsets)
    if zero < det:
        offsets, det = np.zeros(len(model.tls), dtype=np.int64), zero
    out = [replace(plans[t], offset_s=float(offsets[i] % plans[t].cycle_s)) for i, t in enumerate(model.tls)]
    out += [plans[t] for t in ids if t not in model.tls]
    meta = {"method": "coordinated", "network": str(network.path), "cycle_s": c, "half_cycle_tls": sorted(half),
            "start": start, "left_turns": _left_turn_treatment(out, network),
            "model_delay_zero_offsets_vehh_per_h": float(zero), "model_delay_vehh_per_h": float(det),
            "model_random_delay_vehh_per_h": float(search.random(model)), "period_h": search.period_h,
            "options": options.to_dict()}
    result = NetworkPlan.single(out, meta=meta)
    require_safe(result, network, profile, source="The optimised plan")
    return result


def _left_turn_treatment(plans, network) -> str:
    """How plans serve their left turns: ``"protected"``, ``"permissive"``, ``"mixed"`` or ``"none"``.

    A left turn is protected when some phase gives it protected green.
    """
    turn = {m.id: m.turn for m in network.movements}
    protected: set[str] = set()
    lefts: set[str] = set()
    for plan in plans:
        for ph in plan.phases:
            for mid in (*ph.protected, *ph.permissive):
                if turn.get(mid) in ("left", "partial_left"):
                    lefts.add(mid)
            protected.update(m for m in ph.protected if turn.get(m) in ("left", "partial_left"))
    if not lefts:
        return "none"
    if protected == lefts:
        return "protected"
    return "permissive" if not protected else "mixed"
