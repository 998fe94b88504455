"""Report tables: strategy comparison with confidence intervals, junction LOS, v/c, storage.

Definitions
-----------
Strategy table
    Per strategy and metric, mean, sample s.d. and 95% confidence half-width (Student t)
    over seeds, and the change against the existing programs with a paired 95% interval
    (the strategies share seeds, so the per-seed differences are compared).
Level of service
    HCM 6th edition, exhibit 19-8 (signalised intersections), from control delay per
    vehicle: A <= 10 s, B <= 20, C <= 35, D <= 55, E <= 80, F above. The twin's control
    delay is the time loss on the junction's approach edges per vehicle.
v/c
    Estimated movement flow (veh/h, mean over the period) over capacity, capacity being
    saturation flow times effective green over cycle; a permissive green (``g``) counts
    at ``permissive_factor``.
Storage
    An approach lane whose peak one-minute mean queue (halting vehicles x
    ``vehicle_spacing_m``) exceeds its length spills back into the junction upstream.
Ranking
    Per metric, strategies ordered by their mean over seeds (lower first, except
    throughput); rank 1 is the best.
Pairwise changes
    For every pair of strategies and metric, the mean of the per-seed differences (the
    strategies share seeds) with a paired 95% Student t interval; with one seed there is
    no interval.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from citybrain.estimation import geh
from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork
from citybrain.plans.model import NetworkPlan

__all__ = [
    "METRICS",
    "mean_ci",
    "strategy_table",
    "hcm_los",
    "junction_table",
    "movement_vc",
    "storage_table",
    "flow_comparison",
    "main_corridor",
    "ranking_table",
    "pairwise_table",
    "corridor_chain",
]

#: Reported metrics: column, label, unit, whether lower is better.
METRICS: tuple[tuple[str, str, str, bool], ...] = (
    ("delay_s", "delay", "s/veh", True),
    ("trip_time_s", "trip time", "s", True),
    ("waiting_s", "waiting", "s/veh", True),
    ("queue_veh", "queue", "veh", True),
    ("arrived", "throughput", "veh", False),
    ("stops", "stops", "per veh", True),
)

_LOS = ((10.0, "A"), (20.0, "B"), (35.0, "C"), (55.0, "D"), (80.0, "E"))


def mean_ci(values) -> tuple[float, float, float]:
    """Return mean, sample s.d. and 95% confidence half-width (Student t) of finite values.

    ``nan`` where a figure cannot be computed (no values; one value has no spread).
    """
    x = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(x):
        return math.nan, math.nan, math.nan
    if len(x) < 2:
        return float(x.mean()), math.nan, math.nan
    from scipy import stats

    sd = float(x.std(ddof=1))
    return float(x.mean()), sd, float(stats.t.ppf(0.975, len(x) - 1)) * sd / math.sqrt(len(x))


def strategy_table(runs: pd.DataFrame, strategies: list[str], baseline: str = "existing") -> pd.DataFrame:
    """Return one row per strategy and metric: mean, sd, ci95, change against ``baseline``.

    Parameters
    ----------
    runs
        One row per strategy and seed (:data:`citybrain.report.data.RUN_COLUMNS`); failed
        runs (``error`` set) are left out.
    strategies
        Strategies in order.
    baseline
        Strategy the changes are taken against.

    Returns
    -------
    pandas.DataFrame
        ``strategy, metric, n, mean, sd, ci95, change, change_pct, change_ci95`` (change
        = strategy minus baseline, mean of per-seed differences; ``change_ci95`` its paired
        95% half-width).
    """
    ok = runs[runs["error"].isna()] if "error" in runs else runs
    rows = []
    base = ok[ok["strategy"] == baseline].set_index("seed")
    for s in strategies:
        part = ok[ok["strategy"] == s].set_index("seed")
        for metric, *_ in METRICS:
            vals = part[metric].astype(float).to_numpy() if metric in part else np.array([])
            mean, sd, ci = mean_ci(vals)
            change = change_pct = change_ci = math.nan
            if s != baseline and len(base) and metric in part:
                common = part.index.intersection(base.index)
                diff = part.loc[common, metric].astype(float) - base.loc[common, metric].astype(float)
                change, _, change_ci = mean_ci(diff.to_numpy())
                bmean = float(base.loc[common, metric].astype(float).mean()) if len(common) else math.nan
                change_pct = 100.0 * change / bmean if bmean else math.nan
            rows.append({"strategy": s, "metric": metric, "n": int(np.isfinite(vals).sum()), "mean": mean, "sd": sd,
                         "ci95": ci, "change": change, "change_pct": change_pct, "change_ci95": change_ci})
    return pd.DataFrame(rows)


def ranking_table(table: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """Return per metric the strategies ranked by their mean (rank 1 best, equal means share a rank).

    Parameters
    ----------
    table
        :func:`strategy_table`'s output.
    strategies
        Strategies in report order (the order among equal means).

    Returns
    -------
    pandas.DataFrame
        ``metric, rank, strategy, mean, best`` in :data:`METRICS` order, then rank; strategies
        with no finite mean are left out.
    """
    rows = []
    for metric, _, _, lower in METRICS:
        part = table[(table["metric"] == metric) & np.isfinite(table["mean"].astype(float))]
        means = {s: float(part.loc[part["strategy"] == s, "mean"].iloc[0]) for s in strategies
                 if (part["strategy"] == s).any()}
        ordered = sorted(means, key=lambda s: (means[s] if lower else -means[s], strategies.index(s)))
        rank = 0
        for i, s in enumerate(ordered):
            if i == 0 or means[s] != means[ordered[i - 1]]:
                rank = i + 1
            rows.append({"metric": metric, "rank": rank, "strategy": s, "mean": means[s], "best": rank == 1})
    return pd.DataFrame(rows, columns=["metric", "rank", "strategy", "mean", "best"])


def pairwise_table(runs: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """Return every pairwise change (``b`` minus ``a``, ``a`` first in order) with its paired 95% interval.

    Failed runs are left out; only seeds both strategies finished are paired.

    Returns
    -------
    pandas.DataFrame
        ``metric, a, b, n, change, ci_low, ci_high, significant``: ``change`` the mean of
        the per-seed differences, ``ci_low``/``ci_high`` its paired 95% Student t interval
        (``nan`` with fewer than two seeds), ``significant`` whether the interval excludes 0
        (``None`` without an interval).
    """
    ok = runs[runs["error"].isna()] if "error" in runs else runs
    by = {s: ok[ok["strategy"] == s].set_index("seed") for s in strategies}
    rows = []
    for metric, *_ in METRICS:
        for i, a in enumerate(strategies):
            for b in strategies[i + 1:]:
                common = by[a].index.intersection(by[b].index)
                diff = (by[b].loc[common, metric].astype(float) - by[a].loc[common, metric].astype(float)).to_numpy()
                change, _, half = mean_ci(diff)
                sig = None if not math.isfinite(half) else bool(abs(change) > half)
                rows.append({"metric": metric, "a": a, "b": b, "n": int(np.isfinite(diff).sum()), "change": change,
                             "ci_low": change - half, "ci_high": change + half, "significant": sig})
    return pd.DataFrame(rows, columns=["metric", "a", "b", "n", "change", "ci_low", "ci_high", "significant"])


def hcm_los(delay_s: float) -> str:
    """Return the HCM level of service (A-F) of a signalised junction from control delay (s/veh)."""
    if delay_s is None or not np.isfinite(delay_s):
        return "-"
    for limit, letter in _LOS:
        if delay_s <= limit:
            return letter
    return "F"


def junction_table(junctions: pd.DataFrame, strategies: list[str]) -> pd.DataFrame:
    """Return per junction and strategy the mean control delay (s/veh), its LOS and mean queue.

    Returns
    -------
    pandas.DataFrame
        ``junction`` plus, per strategy ``s``, ``s:delay_s``, ``s:los``, ``s:queue_veh``.
    """
    mean = junctions.groupby(["junction", "strategy"])[["delay_s", "queue_veh"]].mean()
    out = pd.DataFrame({"junction": sorted(junctions["junction"].unique())})
    for s in strategies:
        d = [mean["delay_s"].get((j, s), math.nan) for j in out["junction"]]
        q = [mean["queue_veh"].get((j, s), math.nan) for j in out["junction"]]
        out[f"{s}:delay_s"] = d
        out[f"{s}:los"] = [hcm_los(x) for x in d]
        out[f"{s}:queue_veh"] = q
    return out


def _green_share(network: RoadNetwork, tls: str, phases, permissive_factor: float) -> dict[int, float]:
    """Effective green over cycle per movement of one light, from ``(green_s, state)`` pairs."""
    links: dict[int, list[int]] = {}
    for link in network.programs[tls].links:
        links.setdefault(link.movement, []).append(link.index)
    cycle = sum(d for d, _ in phases[1]) or 1.0
    out = {}
    for m, idx in links.items():
        g = 0.0
        for green, state in phases[0]:
            chars = [state[i] for i in idx]
            if chars and all(c == "G" for c in chars):
                g += green
            elif any(c in "Gg" for c in chars):
                g += permissive_factor * green
        out[m] = g / cycle
    return out


def movement_vc(network: RoadNetwork, flows: pd.DataFrame, plan: NetworkPlan | None = None, *,
                permissive_factor: float = 0.5) -> pd.DataFrame:
    """Return v/c per movement under the existing programs and under the new plan.

    Parameters
    ----------
    network
        The network (its programs are the existing ones).
    flows
        Estimated flows; the mean over intervals is the demand ``v`` (veh/h).
    plan
        The new plans (the period active at the first interval); ``None`` for existing only.
    permissive_factor
        Share of saturation flow a permissive green gives.

    Returns
    -------
    pandas.DataFrame
        ``junction, from_edge, to_edge, turn, flow_vph, sat_flow_vph, cap_existing_vph,
        vc_existing, cap_plan_vph, vc_plan``.
    """
    demand = flows.groupby(["junction", "from_edge", "to_edge"], observed=True)["flow_vph"].mean()
    share_old: dict[int, float] = {}
    share_new: dict[int, float] = {}
    t0 = float(pd.to_numeric(flows["interval_start"], errors="coerce").min()) if len(flows) else 0.0
    for tls, prog in network.programs.items():
        greens = [(p.duration_s, p.state) for p in prog.phases if not p.is_transition]
        share_old.update(_green_share(network, tls, (greens, [(p.duration_s, p.state) for p in prog.phases]),
                                      permissive_factor))
        if plan is not None:
            p = plan.plan_at(tls, t0 if np.isfinite(t0) else 0.0)
            if p is not None:
                pg = [(ph.green_s, ph.state) for ph in p.phases]
                share_new.update(_green_share(network, tls, (pg, [(ph.duration_s, "") for ph in p.phases]),
                                              permissive_factor))
    rows = []
    for (j, f, t), v in demand.items():
        if not network.has_movement(j, f, t):
            continue
        m = network.movement_index(j, f, t)
        mv = network.movements[m]
        if mv.tls is None or mv.turn == "crossing":
            continue
        cap_old = mv.sat_flow_vph * share_old.get(m, 0.0)
        cap_new = mv.sat_flow_vph * share_new.get(m, math.nan) if plan is not None else math.nan
        rows.append({"junction": j, "from_edge": f, "to_edge": t, "turn": mv.turn, "flow_vph": float(v),
                     "sat_flow_vph": mv.sat_flow_vph, "cap_existing_vph": cap_old,
                     "vc_existing": float(v) / cap_old if cap_old > 0 else math.inf,
                     "cap_plan_vph": cap_new,
                     "vc_plan": float(v) / cap_new if cap_new and cap_new > 0 else math.inf})
    return pd.DataFrame(rows)


def storage_table(lanes: pd.DataFrame, *, vehicle_spacing_m: float = 7.5) -> pd.DataFrame:
    """Return the approach lanes whose peak queue exceeds their storage length.

    Parameters
    ----------
    lanes
        ``strategy, seed, lane, junction, length_m, peak_queue_veh``.
    vehicle_spacing_m
        Length of road one queued vehicle takes (m).

    Returns
    -------
    pandas.DataFrame
        ``strategy, lane, junction, length_m, peak_queue_m, seeds_over`` (in how many seeds it
        spilled back), sorted by strategy and queue.
    """
    cols = ["strategy", "lane", "junction", "length_m", "peak_queue_m", "seeds_over"]
    if lanes is None or not len(lanes):
        return pd.DataFrame(columns=cols)
    x = lanes.assign(peak_queue_m=lanes["peak_queue_veh"] * vehicle_spacing_m)
    x = x.assign(over=x["peak_queue_m"] > x["length_m"])
    g = x.groupby(["strategy", "lane", "junction", "length_m"], as_index=False).agg(
        peak_queue_m=("peak_queue_m", "max"), seeds_over=("over", "sum"))
    g = g[g["seeds_over"] > 0].sort_values(["strategy", "peak_queue_m"], ascending=[True, False])
    return g[cols].reset_index(drop=True)


def flow_comparison(flows: pd.DataFrame, truth: pd.DataFrame) -> pd.DataFrame:
    """Compare estimated and true movement flows over the whole window (veh/h) with GEH.

    Returns
    -------
    pandas.DataFrame
        ``junction, from_edge, to_edge, est_vph, true_vph, geh``.
    """
    keys = ["junction", "from_edge", "to_edge"]
    t = truth[truth["to_edge"].astype(str) != ""]
    dur = float(t.groupby("interval_start")["interval_s"].first().sum()) or 1.0
    true_vph = t.groupby(keys)["count"].sum() * 3600.0 / dur
    est = flows.copy()
    est["veh"] = est["flow_vph"] * est["interval_s"] / 3600.0
    edur = float(est.groupby("interval_start")["interval_s"].first().sum()) or 1.0
    est_vph = est.groupby(keys)["veh"].sum() * 3600.0 / edur
    both = pd.concat([est_vph.rename("est_vph"), true_vph.rename("true_vph")], axis=1).fillna(0.0).reset_index()
    both["geh"] = [float(geh(a, b)) for a, b in zip(both["est_vph"], both["true_vph"], strict=True)]
    return both


def main_corridor(network: RoadNetwork, flows: pd.DataFrame | None = None) -> list[tuple[str, str]]:
    """Return the main corridor: the longest chain of signalised junctions linked by through movements.

    Ties go to the chain carrying the most through flow. Returns ``[(junction, approach
    edge)]`` in travel order (the approach edge is the corridor's edge into the junction);
    empty when no two signalised junctions are linked.
    """
    g = network.graph
    signal = {n for n, d in g.nodes(data=True) if d.get("tls")}
    demand: dict[tuple[str, str, str], float] = {}
    if flows is not None and len(flows):
        demand = flows.groupby(["junction", "from_edge", "to_edge"], observed=True)["flow_vph"].mean().to_dict()
    through: dict[tuple[str, str], str] = {}
    for mv in network.movements:
        if mv.turn == "through":
            through[(mv.junction, mv.from_edge)] = mv.to_edge
    edge_to = {k: v for u, v, k in g.edges(keys=True)}
    best: list[tuple[str, str]] = []
    best_key = (0, 0.0)
    for u, v, k in g.edges(keys=True):
        if v not in signal:
            continue
        chain = [(v, k)]
        flow = 0.0
        seen = {v}
        j, e = v, k
        while (j, e) in through:
            out = through[(j, e)]
            flow += demand.get((j, e, out), 0.0)
            nxt = edge_to.get(out)
            if nxt is None or nxt not in signal or nxt in seen:
                break
            chain.append((nxt, out))
            seen.add(nxt)
            j, e = nxt, out
        key = (len(chain), flow)
        if len(chain) >= 2 and key > best_key:
            best, best_key = chain, key
    return best


def corridor_chain(network: RoadNetwork, junctions: list[str]) -> list[tuple[str, str]]:
    """Return ``[(junction, approach edge)]`` of a corridor given as signalised junctions in travel order.

    The approach edge of the first junction is its through movement's approach in line
    with the second junction (the corridor's edge into it).

    Raises
    ------
    ValidationError
        If fewer than two junctions are named, one is not a signalised junction of the
        network, or two consecutive ones are not joined by a road link.
    """
    g = network.graph
    signal = {n for n, d in g.nodes(data=True) if d.get("tls")}
    problems = []
    if len(junctions) < 2:
        problems.append(f"names {len(junctions)} junction(s), expected two or more")
    problems += [f"{j!r} is not a signalised junction of {network.path.name} (its signals: "
                 f"{', '.join(sorted(signal)[:12])}{', ...' if len(signal) > 12 else ''})"
                 for j in junctions if j not in signal]
    edges = []
    for a, b in zip(junctions[:-1], junctions[1:], strict=True):
        e = next((k for _, v, k in g.out_edges(a, keys=True) if v == b), None) if a in g and b in g else None
        if e is None and a in signal and b in signal:
            problems.append(f"no road link from {a} to {b}")
        edges.append(e)
    if problems:
        msg = "The corridor " + ",".join(junctions) + ": " + "; ".join(problems) + "."
        raise ValidationError(msg)
    # into the first junction: the approach whose through movement leaves on the first link
    first = next((mv.from_edge for mv in network.movements
                  if mv.junction == junctions[0] and mv.to_edge == edges[0] and mv.turn == "through"), None)
    if first is None:
        first = next((k for u, _, k in g.in_edges(junctions[0], keys=True) if u != junctions[1]), edges[0])
    return [(junctions[0], first), *zip(junctions[1:], edges, strict=True)]
