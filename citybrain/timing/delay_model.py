"""The TRANSYT-style delay model of a signal group: cyclic flow profiles, platoons, queues.

The model (after TRANSYT, Robertson 1969): per movement of the signal group, a cyclic flow
profile over one common cycle in 1 s steps. Arrivals at a movement are the departures of the
upstream movements feeding its approach, delayed and smoothed by Robertson's platoon
dispersion over the link travel time ``T = length / speed`` (``t' = beta T``,
``F = 1 / (1 + alpha beta T)``, alpha = 0.35, beta = 0.8) and scaled to the movement's flow;
approaches from outside the group arrive uniformly. A vertical queue discharges at
saturation flow during green (permissive green at ``permissive_factor`` of it); delay is the
queue integrated over the cycle. :func:`delay_model` builds the arrays once; the numba
kernels of :mod:`citybrain._kernels.timing` evaluate them (:func:`cyclic_delay`,
:class:`LocalDelay`). :func:`random_delay` adds the HCM random and over-saturation delay.

Notes
-----
Robertson, D. I. (1969), *TRANSYT: a traffic network study tool*, RRL Report LR 253.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._kernels.timing import _delay_state, _local_delay, _network_delay
from ..exceptions import ValidationError
from ..plans.model import GREEN, NetworkPlan, SignalPlan
from ..plans.safety import crossing_distance_m
from .flows import movement_flows
from .phases import lane_groups

__all__ = [
    "DelayModel",
    "delay_model",
    "green_coverage",
    "capacity_profile",
    "shared_lane_sat_vph",
    "offsets_of",
    "cyclic_delay",
    "movement_delays",
    "network_delay",
    "random_delay",
    "flows_period_h",
    "LocalDelay",
]


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


def green_coverage(plan: SignalPlan, cycle: int) -> np.ndarray:
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


def capacity_profile(plan: SignalPlan, links: list[int], sat_vps: float, pf: float,
                      coverage: np.ndarray) -> np.ndarray:
    """Capacity (veh/step) of one movement at each 1 s step of plan time (``coverage``: :func:`green_coverage`)."""
    return sat_vps * (_phase_weights(plan, links, pf) @ coverage)


def shared_lane_sat_vph(network, movements, q_vph: np.ndarray) -> dict[int, float]:
    """Saturation flow (veh/h) of each movement with shared lanes shared by flow.

    The network splits a shared lane's saturation flow equally between its movements; in
    the queue, though, vehicles discharge in arrival order, so a movement carrying most of
    a shared lane's flow gets most of its capacity. Movements sharing approach lanes
    (:func:`~citybrain.timing.phases.lane_groups`) split the group's saturation flow in
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
            coverage[mv.tls] = green_coverage(plans[mv.tls], cycle)
        cap = capacity_profile(plans[mv.tls], links_of[m], sat[m] / 3600.0, permissive_factor,
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


def offsets_of(model: DelayModel, plans: dict[str, SignalPlan]) -> np.ndarray:
    """Offsets (whole seconds, as SUMO runs the plans) of the model's lights, modulo its cycle."""
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
    return cyclic_delay(model, offsets_of(model, plans), n_sweeps=n_sweeps)


def cyclic_delay(model: DelayModel, offsets: np.ndarray, *, n_sweeps: int = 3) -> float:
    """Return the deterministic cyclic delay (veh, the mean number queued) of a model at ``offsets`` (s).

    Calls the numba kernel :func:`citybrain._kernels.timing._network_delay` (``n_sweeps``
    passes over the movements: upstream departures feed downstream arrivals).
    """
    n = len(model.movements)
    total = _network_delay(offsets, model.cap_local, model.light, model.q, model.up_ptr, model.up_mov,
                           model.shift, model.factor, int(n_sweeps), np.empty((n, model.cycle_s)), np.empty(n))
    return float(total / model.cycle_s)


def movement_delays(model: DelayModel, offsets: np.ndarray, *, n_sweeps: int | None = None) -> np.ndarray:
    """Uniform delay (s/veh) of each of the model's movements at ``offsets`` (s).

    ``n_sweeps`` passes over the movements (default one per light plus one, so a platoon's
    profile reaches the far end of a chain of lights whichever way it runs).
    """
    n = len(model.movements)
    if not n:
        return np.zeros(0)
    sweeps = len(model.tls) + 1 if n_sweeps is None else int(n_sweeps)
    delay = np.empty(n)
    _network_delay(offsets, model.cap_local, model.light, model.q, model.up_ptr, model.up_mov, model.shift,
                   model.factor, sweeps, np.empty((n, model.cycle_s)), delay)
    return delay / np.maximum(model.q * model.cycle_s, 1e-12)


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


class LocalDelay:
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

