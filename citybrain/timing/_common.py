"""Shared machinery of the timing methods: flows in, phase structure, equal-saturation greens.

Private: the public methods are :mod:`~citybrain.timing.webster`, :mod:`~citybrain.timing.hcm`
and :mod:`~citybrain.timing.coordination`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from ..network.conflicts import MERGE, NEVER, YIELD
from ..exceptions import InfeasiblePlanError, ValidationError
from ..plans.formats import plan_from_program
from ..plans.model import GREEN, SignalPlan, phase_movements
from ..plans.safety import apply_clearances, check_plan, get_profile

__all__ = [
    "FLOW_COLUMNS",
    "movement_flows",
    "base_plan",
    "service_matrix",
    "critical_ratio",
    "equal_saturation_greens",
    "IsolatedTiming",
    "isolated_timing",
    "lane_groups",
    "drop_redundant_phases",
    "group_ratios",
    "select_lights",
    "assert_produced_plans_safe",
    "SHORT_APPROACH_M",
    "short_approach_shares",
]

#: Approach edges shorter than this (metres; less than one car) hold no queued vehicle: a
#: stop-line camera there sees only the vehicles that happen to stand on it at a step's
#: end, so its counts are far too low (ingolstadt7: 52 counted of 655 veh/h).
SHORT_APPROACH_M = 5.0

#: Columns of the flow table (``flows.csv``), exactly.
FLOW_COLUMNS = ("interval_start", "interval_s", "junction", "from_edge", "to_edge", "flow_vph", "se_vph")


def movement_flows(network, flows: pd.DataFrame, *, aggregate: str = "mean") -> np.ndarray:
    """Return the flow (veh/h) of every movement of ``network`` from a flow table.

    Parameters
    ----------
    network
        The road network.
    flows
        Flow table with columns :data:`FLOW_COLUMNS`; several intervals per movement are
        combined by ``aggregate``.
    aggregate
        ``"mean"``, ``"max"`` or ``"median"`` over intervals.

    Returns
    -------
    numpy.ndarray
        ``(n_movements,)`` veh/h, 0 for movements absent from the table (and crossings).

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, negative or non-numeric flows, movements
        that are not in the network.
    """
    problems = []
    if not isinstance(flows, pd.DataFrame):
        msg = f"The 'flows' must be a pandas DataFrame with columns {list(FLOW_COLUMNS)}. Got {type(flows).__name__}."
        raise ValidationError(msg)
    missing = [c for c in FLOW_COLUMNS if c not in flows.columns]
    if missing:
        msg = f"The flow table lacks column(s) {missing}; expected exactly {list(FLOW_COLUMNS)}."
        raise ValidationError(msg)
    if aggregate not in ("mean", "max", "median"):
        msg = f"The 'aggregate' must be one of ['max', 'mean', 'median']. Got {aggregate!r} instead."
        raise ValidationError(msg)
    vph = pd.to_numeric(flows["flow_vph"], errors="coerce")
    for i in np.flatnonzero(vph.isna().to_numpy() | (vph.to_numpy() < 0)):
        problems.append(f"row {i}: flow_vph must be a number >= 0, got {flows['flow_vph'].iloc[i]!r}.")
    keys = list(zip(flows["junction"].astype(str), flows["from_edge"].astype(str), flows["to_edge"].astype(str)))
    unknown = sorted({k for k in keys if not network.has_movement(*k)})
    for k in unknown[:50]:
        problems.append(f"movement {k[0]}:{k[1]}->{k[2]} is not a movement of network {network.path.name}.")
    if len(unknown) > 50:
        problems.append(f"... and {len(unknown) - 50} more unknown movements.")
    if problems:
        msg = f"The flow table has {len(problems)} problem(s):\n" + "\n".join(problems)
        raise ValidationError(msg, problems)
    frame = pd.DataFrame({"key": keys, "vph": vph.to_numpy(dtype=float)})
    agg = frame.groupby("key")["vph"].agg(aggregate)
    out = np.zeros(len(network.movements))
    for key, value in agg.items():
        out[network.movement_index(*key)] = float(value)
    return out


def clip_to_program_capacity(network, q_vph: np.ndarray, tls_ids) -> np.ndarray:
    """Flows no higher than what the network's own programs can discharge.

    Counts taken under the own programs cannot exceed their discharge capacity: per lane
    group of each light, the flow is scaled down to at most the group's saturation flow
    times its green share in the own program (permissive green counted in full, so this is
    an upper bound). An estimate above it is an estimation error (a removed camera), and
    timing would give that approach green it does not need.
    """
    out = np.asarray(q_vph, dtype=float).copy()
    for t in tls_ids:
        prog = network.programs[t]
        cycle = float(sum(ph.duration_s for ph in prog.phases))
        if cycle <= 0:
            continue
        plan = plan_from_program(prog.phases, tls=t, junctions=prog.junctions, network=network)
        movs = sorted({link.movement for link in prog.links if network.movements[link.movement].turn != "crossing"})
        if not movs:
            continue
        service = service_matrix(plan, network, movs, 1.0)
        greens = np.array([ph.green_s for ph in plan.phases])
        share = np.minimum(service @ greens / cycle, 1.0)
        for g in lane_groups(network, movs):
            ms = [movs[i] for i in g]
            sat = sum(network.movements[m].sat_flow_vph for m in ms)
            cap = sat * max(share[i] for i in g)
            total = float(out[ms].sum())
            if total > cap > 0:
                out[ms] *= cap / total
    return out


def select_lights(network, tls) -> list[str]:
    """Normalise a ``tls`` argument (None, one id or ids) to a sorted list of known lights.

    Raises
    ------
    ValidationError
        If a light is not in the network, or the network has none.
    """
    if tls is None:
        ids = sorted(network.programs)
    elif isinstance(tls, str):
        ids = [tls]
    else:
        ids = sorted(tls)
    unknown = [t for t in ids if t not in network.programs]
    if unknown or not ids:
        msg = f"The 'tls' must name traffic lights of {network.path.name} (e.g. {sorted(network.programs)[:5]}). Got {unknown or ids}."
        raise ValidationError(msg)
    return ids


def sanitise_state(state: str, network, tls: str, prefer=(), *, flows_vph=None, optional=()) -> str:
    """Make a green state obey the hard rules by removing or downgrading greens.

    Green streams are admitted one at a time, those in ``prefer`` first, then by flow
    (``flows_vph``, veh/h per network movement) or, without flows, by saturation flow. A
    stream that may never be green with an admitted one goes red. A stream that yields to
    an admitted one is permissive ``g``; an admitted protected stream that would have to
    yield to the new one becomes ``g``, unless (with flows) the new stream is in
    ``optional`` (served in another phase): then it goes red here and the heavier stream
    keeps its protection. So a right turn that the own program shows green in every phase
    does not make a heavy through permissive (atlanta 69421277: a 225 veh/h through merging
    with a 68 veh/h right turn). Two protected links from different lanes into one lane:
    the minor becomes ``g``.
    """
    prog = network.programs[tls]
    chars = list(state)
    links_of: dict[int, list[int]] = {}
    for link in prog.links:
        links_of.setdefault(link.movement, []).append(link.index)

    def weight(m):
        return float(flows_vph[m]) if flows_vph is not None else network.movements[m].sat_flow_vph

    def paint(m, c):
        for i in links_of[m]:
            if chars[i] in GREEN:
                chars[i] = c

    for j in prog.junctions:
        conf = network.conflicts(j)
        pos = {m: i for i, m in enumerate(conf.movements)}
        movs = [m for m in conf.movements if m in links_of and any(chars[i] in GREEN for i in links_of[m])]
        order = sorted(movs, key=lambda m: (m not in prefer, -weight(m), -network.movements[m].sat_flow_vph))
        admitted: list[int] = []
        for m in order:
            kinds = [(k, int(conf.kind[pos[m], pos[k]])) for k in admitted]
            if any(kind == NEVER for _, kind in kinds):
                paint(m, "r")
                continue
            pairs = [k for k, kind in kinds if kind in (YIELD, MERGE)]
            # of a yield or merge pair the admitted stream is the minor only if it yields
            minor = any(not conf.yields[pos[k], pos[m]] for k in pairs)
            downgraded = [k for k in pairs if conf.yields[pos[k], pos[m]]
                          and any(chars[i] == "G" for i in links_of[k])]
            if flows_vph is not None and downgraded and m in optional and m not in prefer:
                paint(m, "r")
                continue
            for k in downgraded:
                paint(k, "g")
            if minor:
                paint(m, "g")
            admitted.append(m)
    by_lane: dict[str, list] = {}
    for link in prog.links:
        if chars[link.index] == "G":
            by_lane.setdefault(link.to_lane, []).append(link)
    for links in by_lane.values():
        if len({x.from_lane for x in links}) > 1:
            keep = max(links, key=lambda x: (network.movements[x.movement].turn == "through",
                                              network.movements[x.movement].sat_flow_vph))
            for x in links:
                if x.from_lane != keep.from_lane:
                    chars[x.index] = "g"
    return "".join(chars)


def _rank(c: str) -> int:
    return 2 if c == "G" else 1 if c == "g" else 0


def drop_redundant_phases(phases: list, *, permissive: bool = False) -> list:
    """Drop green phases whose every green link is as green (``G`` >= ``g``) in another kept phase.

    Programs such as the Hangzhou ones run each approach alone after the paired phases; every
    such phase costs a minimum green and a transition per cycle and serves nothing the others
    do not. Phases with the fewest green links go first; the order of the rest is kept. With
    ``permissive``, permissive green counts as much as protected (``g`` = ``G``): a protected
    left-turn phase goes when the turn has permissive green in another phase.
    """
    rank = (lambda c: 1 if c in GREEN else 0) if permissive else _rank
    keep = list(range(len(phases)))
    for k in sorted(keep, key=lambda i: (sum(c in GREEN for c in phases[i].state), -i)):
        others = [i for i in keep if i != k]
        if not others:
            break
        links = [i for i, c in enumerate(phases[k].state) if c in GREEN]
        if all(any(rank(phases[o].state[i]) >= rank(phases[k].state[i]) for o in others) for i in links):
            keep.remove(k)
    return [phases[i] for i in keep]


def base_plan(network, tls: str, profile=None, *, permissive_lefts: bool = False, flows_vph=None) -> SignalPlan:
    """The light's own phase sequence as a safe plan skeleton (clearances from the profile).

    Green states are sanitised (:func:`sanitise_state`; with ``flows_vph``, veh/h per network
    movement, a stream green in another phase of the own program is optional in this one);
    phases left with no green, a phase identical to the one before it, and phases that serve
    nothing the others do not
    (:func:`drop_redundant_phases`, with ``permissive_lefts`` its ``permissive``) are dropped.
    """
    prog = network.programs[tls]
    plan = plan_from_program(prog.phases, tls=tls, junctions=prog.junctions, offset_s=0.0,
                             program_id="citybrain", network=network, method="base")
    green_in = [{link.movement for link in prog.links if ph.state[link.index] in GREEN} for ph in plan.phases]

    def elsewhere(k):
        return set().union(*(g for i, g in enumerate(green_in) if i != k))

    phases = []
    for k, ph in enumerate(plan.phases):
        state = sanitise_state(ph.state, network, tls, flows_vph=flows_vph, optional=elsewhere(k))
        if not any(c in GREEN for c in state) or (phases and phases[-1].state == state):
            continue
        prot, perm = phase_movements(state, network, tls)
        phases.append(replace(ph, state=state, protected=prot, permissive=perm))
    # a movement whose every green lost out to a never-together stream would never be served
    # (atlanta 69249210: a left turn green only in an all-green phase): it gets a phase of
    # its own, the own phase sanitised in its favour, after the phases it was green in
    served = {i for p in phases for i, c in enumerate(p.state) if c in GREEN}
    for k, ph in enumerate(plan.phases):
        lost = {link.movement for link in prog.links if ph.state[link.index] in GREEN and link.index not in served
                and network.movements[link.movement].turn != "crossing"}
        if not lost:
            continue
        state = sanitise_state(ph.state, network, tls, prefer=lost, flows_vph=flows_vph, optional=elsewhere(k))
        prot, perm = phase_movements(state, network, tls)
        at = max((i + 1 for i, p in enumerate(phases) if p.program_phase == ph.program_phase), default=len(phases))
        phases.insert(at, replace(ph, state=state, protected=prot, permissive=perm))
        served |= {i for i, c in enumerate(state) if c in GREEN}
    if len(phases) > 1 and phases[0].state == phases[-1].state:
        phases.pop()
    phases = drop_redundant_phases(phases, permissive=permissive_lefts)
    if not phases:
        msg = f"Traffic light {tls}: no green phase survives the safety rules; expected at least one."
        raise InfeasiblePlanError(msg)
    plan = replace(plan, phases=tuple(phases), offset_s=0.0)
    return apply_clearances(plan, network, profile)


def service_matrix(plan: SignalPlan, network, movements, permissive_factor: float) -> np.ndarray:
    """``(n_movements, n_phases)`` share of saturation flow each phase gives each movement.

    1 where every link of the movement shows ``G``, ``permissive_factor`` where some link
    shows green otherwise, 0 where none does.
    """
    links_of: dict[int, list[int]] = {}
    for link in network.programs[plan.tls].links:
        links_of.setdefault(link.movement, []).append(link.index)
    a = np.zeros((len(movements), len(plan.phases)))
    for r, m in enumerate(movements):
        for p, ph in enumerate(plan.phases):
            cs = [ph.state[i] for i in links_of.get(m, [])]
            if cs and all(c == "G" for c in cs):
                a[r, p] = 1.0
            elif any(c in GREEN for c in cs):
                a[r, p] = permissive_factor
    return a


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


def lane_groups(network, movements) -> list[list[int]]:
    """Group movements that share an approach lane (union-find over ``from_lanes``)."""
    parent = list(range(len(movements)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, m in enumerate(movements):
        for lane in network.movements[m].from_lanes:
            if lane in owner:
                parent[find(i)] = find(owner[lane])
            else:
                owner[lane] = i
    out: dict[int, list[int]] = {}
    for i in range(len(movements)):
        out.setdefault(find(i), []).append(i)
    return [out[k] for k in sorted(out)]


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


def isolated_timing(network, tls: str, q_vph: np.ndarray, *, profile=None, permissive_factor: float = 0.5,
                    min_green_s: float | None = None, permissive_lefts: bool = False) -> IsolatedTiming:
    """Collect lane-group flow ratios, service matrix, lost time and minimum greens of one light.

    Phases serving approaches too short for a camera to count (:func:`short_approach_shares`)
    keep the own program's share of green as a minimum (``min_share``). ``permissive_lefts``:
    see :func:`base_plan`; its green states are sanitised by the flows ``q_vph``.
    """
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


def check_bounds(cycle_bounds) -> tuple[float, float]:
    """Validate a ``(min, max)`` cycle pair (seconds)."""
    lo, hi = (float(x) for x in cycle_bounds)
    if not (0 < lo <= hi):
        msg = f"The 'cycle_bounds' of optimise_plan must be (min, max) with 0 < min <= max. Got {cycle_bounds!r}."
        raise ValidationError(msg)
    return lo, hi


def assert_produced_plans_safe(network_plan, network, profile=None) -> None:
    """Raise :class:`InfeasiblePlanError` listing every error if a produced plan is unsafe."""
    errors = []
    for period, plan in network_plan.all_plans():
        errors.extend(str(v) for v in check_plan(plan, network, profile, period=period) if v.severity == "error")
    if errors:
        msg = f"The optimised plan breaks {len(errors)} safety rule(s):\n" + "\n".join(errors)
        raise InfeasiblePlanError(msg)
