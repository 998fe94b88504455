"""Green splits (seconds) of isolated lights: critical flow ratio, equal-saturation greens, cycle bounds.

An isolated method (:mod:`~citybrain.timing.webster`, :mod:`~citybrain.timing.hcm`) collects
one light's lane-group flow ratios and service matrix (:func:`isolated_timing`), picks a cycle,
and splits it at equal degree of saturation (:func:`finish_plan`); :func:`isolated_plans` runs
that over every light.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from ..exceptions import InfeasiblePlanError
from ..plans.model import NetworkPlan, SignalPlan
from ..plans.safety import get_profile, require_safe
from .flows import movement_flows, select_lights
from .options import TimingOptions
from .phases import base_plan, lane_groups, service_matrix

__all__ = [
    "critical_ratio",
    "equal_saturation_greens",
    "IsolatedTiming",
    "isolated_timing",
    "group_ratios",
    "SHORT_APPROACH_M",
    "short_approach_shares",
    "finish_plan",
    "clamp_cycle",
    "isolated_plans",
]

#: Approach edges shorter than this (metres; less than one car) hold no queued vehicle: a
#: stop-line camera there sees only the vehicles that happen to stand on it at a step's
#: end, so its counts are far too low.
SHORT_APPROACH_M = 5.0


def critical_ratio(y: np.ndarray, service: np.ndarray) -> float:
    """Sum of critical flow ratios ``Y`` for overlapping phases.

    The least total green fraction that serves every movement at degree of saturation 1:
    ``min sum f`` subject to ``service @ f >= y``, ``f >= 0`` (Webster's ``Y`` when each
    movement is served by one phase).
    """
    rows = service.sum(axis=1) > 0
    y, service = y[rows], service[rows]
    if not len(y) or y.max() <= 0:
        return 0.0
    from scipy.optimize import linprog  # on first use: it costs more than the CLI's start-up

    n_p = service.shape[1]
    res = linprog(np.ones(n_p), A_ub=-service, b_ub=-y, bounds=[(0, None)] * n_p, method="highs")
    if res.status != 0:  # pragma: no cover - always feasible with y finite
        msg = f"critical flow ratio LP failed: {res.message}"
        raise InfeasiblePlanError(msg)
    return float(res.fun)


def equal_saturation_greens(y: np.ndarray, service: np.ndarray, cycle_s: float, lost_s: float,
                            min_green_s: np.ndarray, max_green_s: np.ndarray | None = None) -> np.ndarray:
    """Greens (seconds) that equalise and minimise the worst degree of saturation.

    Maximise ``t`` subject to ``service @ g >= t * y * C``, ``sum g = C - L``,
    ``min_green <= g <= max_green``. With one phase per movement this is Webster's
    ``g_i = (C - L) y_i / Y``; near and over saturation it keeps every degree of saturation
    equal instead of starving the side streets.

    Raises
    ------
    InfeasiblePlanError
        If the minimum greens do not fit in ``C - L``.
    """
    n_p = service.shape[1]
    effective = cycle_s - lost_s
    if effective + 1e-9 < float(np.sum(min_green_s)):
        msg = (f"The minimum greens ({float(np.sum(min_green_s)):.1f} s) do not fit in cycle {cycle_s:.1f} s minus "
               f"lost time {lost_s:.1f} s; expected a longer cycle.")
        raise InfeasiblePlanError(msg)
    rows = (service.sum(axis=1) > 0) & (y > 0)
    upper = [None] * n_p if max_green_s is None else list(max_green_s)
    bounds = [(float(min_green_s[p]), None if upper[p] is None else max(float(upper[p]), float(min_green_s[p])))
              for p in range(n_p)] + [(0, None)]
    if not rows.any():
        g = np.asarray(min_green_s, dtype=float).copy()
        g += (effective - g.sum()) / n_p
        return g
    ys, sv = y[rows], service[rows]
    if max_green_s is None and np.all((sv > 0).sum(axis=1) == 1):
        return _single_service_greens(ys, sv, cycle_s, effective, np.asarray(min_green_s, dtype=float))
    from scipy.optimize import linprog  # on first use: it costs more than the CLI's start-up

    a_ub = np.hstack([-sv, (ys * cycle_s)[:, None]])
    c = np.zeros(n_p + 1)
    c[-1] = -1.0
    # a small pull towards proportional greens keeps non-critical phases reasonable
    res = linprog(c, A_ub=a_ub, b_ub=np.zeros(len(ys)), A_eq=np.hstack([np.ones(n_p), [0.0]])[None, :],
                  b_eq=[effective], bounds=bounds, method="highs")
    if res.status != 0:
        bounds = [(b[0], None) for b in bounds]
        res = linprog(c, A_ub=a_ub, b_ub=np.zeros(len(ys)), A_eq=np.hstack([np.ones(n_p), [0.0]])[None, :],
                      b_eq=[effective], bounds=bounds, method="highs")
    if res.status != 0:  # pragma: no cover
        msg = f"equal-saturation split LP failed: {res.message}"
        raise InfeasiblePlanError(msg)
    g = res.x[:n_p]
    # second stage: with the worst degree of saturation fixed, share the slack in proportion
    t_star = res.x[-1]
    if t_star > 0:
        a2 = -sv
        b2 = -(t_star * (1 - 1e-7)) * ys * cycle_s
        # maximise the least green share above its floor: max s, g_p - min_p >= s * (g_p share)
        c2 = np.zeros(n_p + 1)
        c2[-1] = -1.0
        a_ub2 = np.vstack([np.hstack([a2, np.zeros((len(ys), 1))]),
                           np.hstack([-np.eye(n_p), np.ones((n_p, 1))])])
        b_ub2 = np.concatenate([b2, -np.asarray(min_green_s, dtype=float)])
        res2 = linprog(c2, A_ub=a_ub2, b_ub=b_ub2, A_eq=np.hstack([np.ones(n_p), [0.0]])[None, :], b_eq=[effective],
                       bounds=[(b[0], b[1]) for b in bounds[:n_p]] + [(0, None)], method="highs")
        if res2.status == 0:
            g = res2.x[:n_p]
    return np.maximum(g, min_green_s)


def _level(floor: np.ndarray, base: np.ndarray, slope: np.ndarray, total: float) -> float:
    """Largest ``x`` with ``sum(max(floor, base + slope x)) <= total`` (``slope >= 0``, some > 0)."""
    live = slope > 0
    fixed = float(np.maximum(floor, base)[~live].sum())
    knots = np.sort((floor[live] - base[live]) / slope[live])
    x = -np.inf
    for k in range(len(knots) + 1):
        lo = knots[k - 1] if k else -np.inf
        hi = knots[k] if k < len(knots) else np.inf
        # on (lo, hi) the phases whose knot is <= lo run on their line, the others at their floor
        on = live.copy()
        on[live] = (floor[live] - base[live]) / slope[live] <= lo
        rest = total - fixed - float(floor[live & ~on].sum()) - float(base[on].sum())
        gain = float(slope[on].sum())
        cand = rest / gain if gain > 0 else (np.inf if rest >= -1e-12 else -np.inf)
        if cand < lo:
            break
        x = min(cand, hi)
        if cand <= hi:
            break
    return float(x)


def _single_service_greens(ys: np.ndarray, sv: np.ndarray, cycle_s: float, effective: float,
                           gmin: np.ndarray) -> np.ndarray:
    """:func:`equal_saturation_greens` where each lane group is served by one phase (closed form).

    Phase ``p`` needs ``g_p >= t C R_p`` with ``R_p`` the largest ``y / service`` of the
    groups it serves, so the first stage is the water level ``t`` at which
    ``sum max(gmin_p, t C R_p) = C - L``; the second raises every phase above its minimum
    by the same ``s`` as far as that level (less 1e-7 of it, as the LP) allows. Same
    greens as the two linear programmes, without their set-up cost.
    """
    ratio = np.zeros(sv.shape[1])
    for r in range(len(ys)):
        p = int(np.flatnonzero(sv[r])[0])
        ratio[p] = max(ratio[p], ys[r] / sv[r, p])
    t_star = _level(gmin, np.zeros_like(gmin), cycle_s * ratio, effective)
    need = t_star * (1 - 1e-7) * cycle_s * ratio
    s_star = _level(need, gmin, np.ones_like(gmin), effective)
    return np.maximum(np.maximum(gmin + s_star, need), gmin)


@dataclass(frozen=True, slots=True)
class IsolatedTiming:
    """What an isolated method needs of one light: its skeleton, flows and service matrix.

    ``y`` and ``service`` have one row per *lane group* (``groups``: movements that share an
    approach lane are one group, as in HCM lane groups), not per movement.
    """

    plan: SignalPlan
    movements: tuple[int, ...]
    y: np.ndarray
    service: np.ndarray
    lost_s: float
    min_green_s: np.ndarray
    Y: float
    groups: tuple[tuple[int, ...], ...] = ()
    min_share: np.ndarray | None = None

    def min_greens(self, cycle_s: float) -> np.ndarray:
        """Minimum green (seconds) per phase at ``cycle_s``: the floor, and ``min_share`` of ``C - L``.

        Where the shares do not fit, the part above the floor is scaled down so the minimums
        sum to ``C - L`` at most.
        """
        floor = np.asarray(self.min_green_s, dtype=float)
        if self.min_share is None or not np.any(self.min_share > 0):
            return floor
        effective = cycle_s - self.lost_s
        g = np.maximum(floor, np.asarray(self.min_share) * effective)
        extra = float((g - floor).sum())
        room = effective - float(floor.sum())
        if extra > room > 0:
            g = floor + (g - floor) * (room / extra)
        elif extra > 0 and room <= 0:
            g = floor
        return g



def group_ratios(q: np.ndarray, sat: np.ndarray, service: np.ndarray,
                 groups: list[list[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Flow ratio and service row per lane group.

    A group's flow ratio is its total flow over its total saturation flow (the movements of
    a shared lane split the lane's saturation flow, so a busy movement may use the whole
    lane); its service in a phase is the flow-weighted mean of its movements' (equal weights
    when the group carries no flow).
    """
    y = np.zeros(len(groups))
    sv = np.zeros((len(groups), service.shape[1]))
    for k, members in enumerate(groups):
        qs, ss = q[members], sat[members]
        y[k] = float(qs.sum() / ss.sum()) if ss.sum() > 0 else 0.0
        w = qs if qs.sum() > 0 else np.ones(len(members))
        sv[k] = (w[:, None] * service[members]).sum(axis=0) / w.sum()
    return y, sv


def short_approach_shares(network, plan: SignalPlan, movements, service: np.ndarray,
                          short_m: float = SHORT_APPROACH_M) -> np.ndarray:
    """Share of the effective green each phase keeps from the light's own program.

    A phase that gives protected green to a movement from an approach shorter than
    ``short_m`` (whose camera counts cannot be trusted, :data:`SHORT_APPROACH_M`) keeps at
    least the share of green it has in the network's own program; other phases get 0.
    """
    shares = np.zeros(len(plan.phases))
    short = [r for r, m in enumerate(movements)
             if network.edges.get(network.movements[m].from_edge, {}).get("length_m", np.inf) < short_m]
    if not short or len(plan.phases) < 2:
        return shares
    own = np.array([max(ph.green_s, 0.0) for ph in plan.phases])
    if own.sum() <= 0:
        return shares
    for p in range(len(plan.phases)):
        if any(service[r, p] >= 1.0 for r in short):
            shares[p] = own[p] / own.sum()
    return shares


def isolated_timing(network, tls: str, q_vph: np.ndarray, options: TimingOptions = TimingOptions(), *,
                    permissive_lefts: bool = False) -> IsolatedTiming:
    """Collect lane-group flow ratios, service matrix, lost time and minimum greens of one light.

    ``q_vph`` is the flow (veh/h) of every network movement; ``options`` gives the profile,
    the permissive factor and the minimum green. Phases serving approaches too short for a
    camera to count (:func:`short_approach_shares`) keep the own program's share of green as
    a minimum (``min_share``). ``permissive_lefts``: see
    :func:`~citybrain.timing.phases.base_plan`; its green states are sanitised by ``q_vph``.
    """
    profile, permissive_factor, min_green_s = options.profile, options.permissive_factor, options.min_green_s
    plan = base_plan(network, tls, profile, permissive_lefts=permissive_lefts, flows_vph=q_vph)
    prof = get_profile(profile)
    movs = tuple(sorted({link.movement for link in network.programs[tls].links
                         if network.movements[link.movement].turn != "crossing"}))
    sat = np.array([network.movements[m].sat_flow_vph for m in movs], dtype=float)
    qm = np.asarray(q_vph, dtype=float)[list(movs)] if movs else np.zeros(0)
    service = service_matrix(plan, network, movs, permissive_factor)
    groups = lane_groups(network, movs)
    y, gservice = group_ratios(qm, sat, service, groups) if movs else (np.zeros(0), service)
    floor = prof.min_green_s if min_green_s is None else float(min_green_s)
    gmin = np.array([max(floor, ph.min_green_s or 0.0, ph.walk_s + ph.ped_clearance_s) for ph in plan.phases])
    shares = short_approach_shares(network, plan, movs, service)
    return IsolatedTiming(plan, movs, y, gservice, plan.lost_time_s, gmin, critical_ratio(y, gservice),
                          tuple(tuple(movs[i] for i in g) for g in groups), shares)


def finish_plan(timing: IsolatedTiming, cycle_s: float, *, method: str, offset_s: float = 0.0) -> SignalPlan:
    """Split ``cycle_s`` by equal degree of saturation and return the plan."""
    greens = equal_saturation_greens(timing.y, timing.service, cycle_s, timing.lost_s, timing.min_greens(cycle_s))
    greens = np.round(greens, 2)  # SUMO files carry 0.01 s
    greens[np.argmax(greens)] += cycle_s - timing.lost_s - greens.sum()
    plan = timing.plan.with_timing(greens, method=method)
    total = float(sum(p.duration_s for p in plan.phases))
    return replace(plan, cycle_s=cycle_s if abs(total - cycle_s) < 1e-6 else total, offset_s=offset_s % cycle_s)


def clamp_cycle(cycle_s: float, timing: IsolatedTiming, bounds: tuple[float, float]) -> float:
    """Clamp a cycle to ``bounds`` and to what the minimum greens need, rounded up to 1 s."""
    lo, hi = bounds
    need = timing.lost_s + float(timing.min_green_s.sum())
    c = cycle_s if math.isfinite(cycle_s) and cycle_s > 0 else hi
    return float(math.ceil(max(min(c, hi), lo, need) - 1e-9))



def isolated_plans(network, flows, options: TimingOptions, method: str,
                   cycle_s: Callable[[IsolatedTiming, float], float]) -> NetworkPlan:
    """Return plans (seconds) timing each light alone, offsets 0: the loop of an isolated method.

    Parameters
    ----------
    network
        The road network; each light keeps its own phase sequence, made safe.
    flows
        Flow table (:data:`citybrain.estimation.FLOW_COLUMNS`).
    options
        The lights, profile, cycle bounds, permissive factor, aggregation and minimum green.
    method
        The method's name, on every plan and as ``meta["method"]``.
    cycle_s
        ``cycle_s(timing, max_cycle_s)``: the method's cycle (seconds) for one light, then
        clamped to the bounds and to what the minimum greens need (:func:`clamp_cycle`).

    Returns
    -------
    NetworkPlan
        One period; ``meta`` holds the method, the network and the options.

    Raises
    ------
    ValidationError, InfeasiblePlanError, UnsafePlanError
        As for :func:`citybrain.timing.webster.webster` (the last from
        :func:`citybrain.plans.safety.require_safe`).
    """
    bounds = options.cycle_bounds_s
    q = movement_flows(network, flows, aggregate=options.aggregate)
    plans = []
    for t in select_lights(network, options.tls):
        timing = isolated_timing(network, t, q, options)
        plans.append(finish_plan(timing, clamp_cycle(cycle_s(timing, bounds[1]), timing, bounds), method=method))
    result = NetworkPlan.single(plans, meta={"method": method, "network": str(network.path),
                                             "options": options.to_dict()})
    require_safe(result, network, options.profile, source="The optimised plan")
    return result
