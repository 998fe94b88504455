"""Coordinated timing: a common cycle and offsets minimising a TRANSYT-style network delay.

The model (after TRANSYT, Robertson 1969): per movement of the signal group, a cyclic flow
profile over one common cycle in 1 s steps. Arrivals at a movement are the departures of the
upstream movements feeding its approach, delayed and smoothed by Robertson's platoon
dispersion over the link travel time ``T = length / speed`` (``t' = beta T``,
``F = 1 / (1 + alpha beta T)``, alpha = 0.35, beta = 0.8) and scaled to the movement's flow;
approaches from outside the group arrive uniformly. A vertical queue discharges at
saturation flow during green (permissive green at ``permissive_factor`` of it); delay is the
queue integrated over the cycle. Offsets are searched by coordinate descent with restarts
in a numba kernel (:func:`citybrain._kernels.timing._search_offsets`).

Notes
-----
Robertson, D. I. (1969), *TRANSYT: a traffic network study tool*, RRL Report LR 253.
Splits come from the isolated method at the common cycle (equal degree of saturation); they
are not re-balanced with the offsets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .._kernels.timing import _network_delay, _search_offsets
from ..exceptions import ValidationError
from ..plans.model import GREEN, NetworkPlan, SignalPlan
from ._common import (
    assert_produced_plans_safe,
    check_bounds,
    clamp_cycle,
    finish_plan,
    isolated_timing,
    movement_flows,
    select_lights,
)
from .webster import webster_cycle_s

__all__ = ["coordinated", "network_delay", "DelayModel", "delay_model", "normalise_seed"]


def normalise_seed(seed) -> np.random.Generator:
    """Return a Generator from ``seed``: an int, a ``numpy.random.Generator`` or ``None`` (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or isinstance(seed, (int, np.integer)):
        return np.random.default_rng(seed)
    msg = f"The 'seed' must be an int, a numpy Generator or None. Got {type(seed).__name__}."
    raise ValidationError(msg, [msg])


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


def _capacity_profile(plan: SignalPlan, links: list[int], sat_vps: float, cycle: int, pf: float) -> np.ndarray:
    """Capacity (veh/step) of one movement at each 1 s step of plan time."""
    out = np.zeros(cycle)
    t0 = 0.0
    for ph in plan.phases:
        chars = [ph.state[i] for i in links]
        w = 1.0 if chars and all(c == "G" for c in chars) else pf if any(c in GREEN for c in chars) else 0.0
        if w > 0:
            a, b = t0, t0 + ph.green_s
            for t in range(int(np.floor(a)), int(np.ceil(b))):
                overlap = min(b, t + 1) - max(a, t)
                if overlap > 0:
                    out[t % cycle] += w * sat_vps * overlap
        t0 += ph.duration_s
    return out


def delay_model(network, plans: dict[str, SignalPlan], q_vph: np.ndarray, *, permissive_factor: float = 0.5,
                alpha: float = 0.35, beta: float = 0.8) -> DelayModel:
    """Build the delay model's arrays for plans sharing one integer cycle.

    Raises
    ------
    ValidationError
        If the plans do not share one whole-second cycle.
    """
    cycles = {round(p.cycle_s, 6) for p in plans.values()}
    if len(cycles) != 1 or abs(next(iter(cycles)) - round(next(iter(cycles)))) > 1e-6:
        msg = f"Coordinated plans must share one whole-second cycle. Got cycles {sorted(cycles)}."
        raise ValidationError(msg, [msg])
    cycle = int(round(next(iter(cycles))))
    tls_ids = tuple(sorted(plans))
    lid = {t: i for i, t in enumerate(tls_ids)}
    links_of: dict[int, list[int]] = {}
    for t in tls_ids:
        for link in network.programs[t].links:
            links_of.setdefault(link.movement, []).append(link.index)
    movs, caps, light = [], [], []
    for m in sorted(links_of):
        mv = network.movements[m]
        if mv.turn == "crossing" or q_vph[m] <= 0 or mv.tls not in lid:
            continue
        cap = _capacity_profile(plans[mv.tls], links_of[m], mv.sat_flow_vph / 3600.0, cycle, permissive_factor)
        if cap.sum() <= 0:
            continue
        movs.append(m)
        caps.append(cap)
        light.append(lid[mv.tls])
    pos = {m: i for i, m in enumerate(movs)}
    by_to: dict[str, list[int]] = {}
    for i, m in enumerate(movs):
        by_to.setdefault(network.movements[m].to_edge, []).append(i)
    edges = network.edges
    up_ptr, up_mov, shift, factor = [0], [], [], []
    for m in movs:
        mv = network.movements[m]
        ups = [u for u in by_to.get(mv.from_edge, []) if network.movements[movs[u]].junction != mv.junction]
        up_mov.extend(ups)
        up_ptr.append(len(up_mov))
        e = edges.get(mv.from_edge, {})
        travel = e.get("length_m", 0.0) / max(e.get("speed_mps", 13.89), 0.1)
        shift.append(int(round(beta * travel)))
        factor.append(1.0 / (1.0 + alpha * beta * travel))
    light_arr = np.array(light, dtype=np.int64)
    order = np.argsort(light_arr, kind="stable")
    light_ptr = np.zeros(len(tls_ids) + 1, dtype=np.int64)
    np.add.at(light_ptr, light_arr + 1, 1)
    light_ptr = np.cumsum(light_ptr)
    down: list[list[int]] = [[] for _ in tls_ids]
    for i in range(len(movs)):
        for k in range(up_ptr[i], up_ptr[i + 1]):
            lu = light[up_mov[k]]
            if lu != light[i] and i not in down[lu]:
                down[lu].append(i)
    down_ptr = np.cumsum([0] + [len(d) for d in down]).astype(np.int64)
    n = len(movs)
    return DelayModel(
        tls=tls_ids,
        movements=tuple(movs),
        cycle_s=cycle,
        cap_local=np.ascontiguousarray(np.array(caps, dtype=np.float64).reshape(n, cycle)),
        light=light_arr,
        q=np.array([q_vph[m] / 3600.0 for m in movs], dtype=np.float64),
        up_ptr=np.array(up_ptr, dtype=np.int64),
        up_mov=np.array(up_mov, dtype=np.int64),
        shift=np.array(shift, dtype=np.int64),
        factor=np.array(factor, dtype=np.float64),
        light_ptr=light_ptr,
        light_mov=order.astype(np.int64),
        down_ptr=down_ptr,
        down_mov=np.array([i for d in down for i in d], dtype=np.int64),
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


def coordinated(network, flows, *, tls=None, profile=None, cycle_bounds=(30.0, 180.0), cycle_s: float | None = None,
                permissive_factor: float = 0.5, aggregate: str = "mean", offset_step_s: int = 1, n_restarts: int = 4,
                n_passes: int = 8, seed=None, min_green_s: float | None = None) -> NetworkPlan:
    """Return coordinated plans: a common cycle, equal-saturation splits and searched offsets.

    Parameters
    ----------
    network, flows, tls, profile, cycle_bounds, permissive_factor, aggregate, min_green_s
        As for :func:`citybrain.timing.webster.webster`.
    cycle_s
        Common cycle (seconds); default the largest Webster cycle of the group, whole seconds.
    offset_step_s
        Offsets tried, in whole seconds.
    n_restarts
        Starts of the coordinate descent: all offsets 0, then random ones.
    n_passes
        Most passes over the lights per start.
    seed
        Seed of the random restarts: an int, a ``numpy.random.Generator`` or ``None``.

    Returns
    -------
    NetworkPlan
        One period, ``method="coordinated"``; ``meta`` holds the modelled delay (veh*h/h)
        with zero offsets and with the searched ones.

    Raises
    ------
    ValidationError
        Bad flows or arguments.
    InfeasiblePlanError
        No safe plan fits the cycle bounds.
    """
    bounds = check_bounds(cycle_bounds)
    if int(offset_step_s) < 1 or int(n_restarts) < 1 or int(n_passes) < 1:
        msg = (f"The 'offset_step_s', 'n_restarts' and 'n_passes' of coordinated must be >= 1. "
               f"Got {offset_step_s}, {n_restarts}, {n_passes}.")
        raise ValidationError(msg, [msg])
    rng = normalise_seed(seed)
    q = movement_flows(network, flows, aggregate=aggregate)
    ids = select_lights(network, tls)
    timings = {t: isolated_timing(network, t, q, profile=profile, permissive_factor=permissive_factor,
                                  min_green_s=min_green_s) for t in ids}
    if cycle_s is None:
        common = max(clamp_cycle(webster_cycle_s(tm.lost_s, tm.Y, max_cycle_s=bounds[1]), tm, bounds)
                     for tm in timings.values())
    else:
        common = float(cycle_s)
        if not bounds[0] <= common <= bounds[1]:
            msg = f"The 'cycle_s' of coordinated must be in [{bounds[0]:g}, {bounds[1]:g}]. Got {cycle_s} instead."
            raise ValidationError(msg, [msg])
    common = float(max(int(np.ceil(common - 1e-9)),
                       max(int(np.ceil(tm.lost_s + tm.min_green_s.sum() - 1e-9)) for tm in timings.values())))
    plans = {t: finish_plan(tm, common, method="coordinated") for t, tm in timings.items()}
    model = delay_model(network, plans, q, permissive_factor=permissive_factor)
    c = model.cycle_s
    init = np.zeros((int(n_restarts), len(model.tls)), dtype=np.int64)
    if n_restarts > 1:
        init[1:] = rng.integers(0, c, size=(int(n_restarts) - 1, len(model.tls)))
    n = len(model.movements)
    before = _network_delay(init[0], model.cap_local, model.light, model.q, model.up_ptr, model.up_mov,
                            model.shift, model.factor, 3, np.empty((n, c)), np.empty(n))
    best, total = _search_offsets(init, int(offset_step_s), model.cap_local, model.light, model.q, model.up_ptr,
                                  model.up_mov, model.shift, model.factor, model.light_ptr, model.light_mov,
                                  model.down_ptr, model.down_mov, int(n_passes))
    if total > before:  # the zero start is evaluated too; keep whichever is better
        best, total = init[0], before
    out = [replace(plans[t], offset_s=float(best[i] % c)) for i, t in enumerate(model.tls)]
    out += [plans[t] for t in ids if t not in model.tls]
    meta = {"method": "coordinated", "network": str(network.path), "cycle_s": c,
            "model_delay_zero_offsets_vehh_per_h": float(before / c), "model_delay_vehh_per_h": float(total / c)}
    result = NetworkPlan.single(out, meta=meta)
    assert_produced_plans_safe(result, network, profile)
    return result
