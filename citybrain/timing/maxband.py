"""MAXBAND-style arterial progression: offsets that maximise two-way green bandwidth (MILP).

Little's formulation (Little, Kelson & Gartner 1981, *MAXBAND*, TRR 795), with times in
cycles. Per signal ``i`` along the arterial: outbound and inbound through reds ``r_i``,
``rb_i``; ``delta_i`` the inbound red centre minus the outbound red centre; travel times
``t_i`` (i -> i+1) and ``tb_i`` (i+1 -> i). Variables: bandwidths ``b``, ``bb``; interference
``w_i``, ``wb_i`` >= 0 (gap between red and band); integers ``m_i``. Maximise ``b + k bb``
subject to ``w_i + b <= 1 - r_i``, ``wb_i + bb <= 1 - rb_i``, ``(1 - k) bb >= (1 - k) k b``
and the loop constraints
``(w_i + wb_i) - (w_{i+1} + wb_{i+1}) + (t_i + tb_i) + (r_i + rb_i)/2 - (r_{i+1} + rb_{i+1})/2
+ (delta_{i+1} - delta_i) = m_i``. Solved with :func:`scipy.optimize.milp`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import networkx as nx
import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp

from ..exceptions import InfeasiblePlanError, ValidationError
from ..plans.model import GREEN, NetworkPlan

__all__ = ["Bandwidth", "maxband_offsets", "arterial_corridor", "maxband"]


@dataclass(frozen=True, slots=True)
class Bandwidth:
    """Solution: outbound green starts (cycles, per signal), bandwidths (cycles)."""

    green_start: np.ndarray
    b_out: float
    b_in: float


def maxband_offsets(red_out, red_in, delta, t_out, t_in, *, k: float = 1.0) -> Bandwidth:
    """Solve MAXBAND for one arterial (all times as fractions of the cycle).

    Parameters
    ----------
    red_out, red_in, delta
        Per signal: outbound and inbound red, inbound minus outbound red centre.
    t_out, t_in
        Per link ``i -> i+1``: outbound and inbound travel times.
    k
        Weight (and target ratio) of inbound bandwidth.

    Returns
    -------
    Bandwidth
        ``green_start[i]``: start of outbound green at signal ``i`` (``green_start[0] = r_0/2``
        shifted to 0-based phase), and the bandwidths.

    Raises
    ------
    InfeasiblePlanError
        If the MILP has no solution.
    """
    r, rb, d = (np.asarray(x, dtype=float) for x in (red_out, red_in, delta))
    t, tb = np.asarray(t_out, dtype=float), np.asarray(t_in, dtype=float)
    n = len(r)
    nv = 2 + 2 * n + (n - 1)
    c = np.zeros(nv)
    c[0], c[1] = -1.0, -k
    rows, lo, hi = [], [], []
    for i in range(n):
        row = np.zeros(nv); row[0] = 1; row[2 + i] = 1
        rows.append(row); lo.append(-np.inf); hi.append(1 - r[i])
        row = np.zeros(nv); row[1] = 1; row[2 + n + i] = 1
        rows.append(row); lo.append(-np.inf); hi.append(1 - rb[i])
    if abs(1 - k) > 1e-12:
        row = np.zeros(nv); row[1] = 1 - k; row[0] = -(1 - k) * k
        rows.append(row); lo.append(0.0); hi.append(np.inf)
    for i in range(n - 1):
        row = np.zeros(nv)
        row[2 + i] += 1; row[2 + n + i] += 1; row[2 + i + 1] -= 1; row[2 + n + i + 1] -= 1
        row[2 + 2 * n + i] = -1
        rhs = -(t[i] + tb[i]) - (r[i] + rb[i]) / 2 + (r[i + 1] + rb[i + 1]) / 2 - (d[i + 1] - d[i])
        rows.append(row); lo.append(rhs); hi.append(rhs)
    integrality = np.r_[np.zeros(2 + 2 * n), np.ones(n - 1)]
    bounds = Bounds(np.r_[np.zeros(2 + 2 * n), np.full(n - 1, -20.0)], np.r_[np.ones(2 + 2 * n), np.full(n - 1, 20.0)])
    res = milp(c, constraints=LinearConstraint(np.array(rows), lo, hi) if rows else None,
               integrality=integrality, bounds=bounds)
    if res.status != 0 or res.x is None:
        msg = f"MAXBAND MILP found no solution ({res.message})."
        raise InfeasiblePlanError(msg)
    x = res.x
    w = x[2:2 + n]
    phi = np.zeros(n)  # outbound red centre
    for i in range(n - 1):
        phi[i + 1] = phi[i] + r[i] / 2 + w[i] + t[i] - r[i + 1] / 2 - w[i + 1]
    return Bandwidth(green_start=(phi + r / 2) % 1.0, b_out=float(x[0]), b_in=float(x[1]))


def arterial_corridor(network, tls_ids=None) -> list[tuple[str, str, str]]:
    """The longest chain of lights joined by straight-through edges: ``[(tls, in_edge, out_edge)]``.

    ``in_edge``/``out_edge`` are the outbound through movement's approach and exit at each light.
    """
    ids = set(tls_ids or network.programs)
    g = nx.DiGraph()
    for m in network.movements:
        if m.turn != "through" or m.tls not in ids:
            continue
        to = network.edges.get(m.to_edge, {}).get("to")
        to_tls = network.graph.nodes[to].get("tls") if to in network.graph else None
        if to_tls in ids and to_tls != m.tls:
            g.add_edge(m.tls, to_tls, edge=m.to_edge)
    if g.number_of_edges() == 0:
        msg = "No two signals are joined by a through movement; MAXBAND needs an arterial."
        raise ValidationError(msg)
    best: list[str] = []
    for s in g.nodes:
        for tgt, path in nx.single_source_shortest_path(g, s).items():
            if len(path) > len(best):
                best = path
    out = []
    for i, tls in enumerate(best):
        in_edge = g.edges[best[i - 1], tls]["edge"] if i > 0 else None
        out_edge = g.edges[tls, best[i + 1]]["edge"] if i + 1 < len(best) else None
        out.append((tls, in_edge, out_edge))
    return out


def _green_window(plan, links) -> tuple[float, float]:
    """Longest cyclic green (start, length in s) of some links in plan time."""
    cycle = sum(plan.splits_s)
    t, spans = 0.0, []
    for ph in plan.phases:
        if links and all(ph.state[i] in GREEN for i in links):
            spans.append([t, t + ph.green_s])
        t += ph.duration_s
    if not spans:
        return 0.0, 0.0
    best = max(spans, key=lambda s: s[1] - s[0])
    return best[0] % cycle, best[1] - best[0]


def maxband(network, plan: NetworkPlan, corridor=None, *, k: float = 1.0) -> NetworkPlan:
    """Set the offsets of an arterial's lights for maximum two-way bandwidth.

    Parameters
    ----------
    network
        The road network.
    plan
        Plans sharing one cycle (e.g. from ``coordinated``); the first period is used.
    corridor
        ``[(tls, in_edge, out_edge)]`` from :func:`arterial_corridor` (default: found).
    k
        Inbound weight.

    Returns
    -------
    NetworkPlan
        The plans with new offsets; ``meta`` gains ``bandwidth_out_s`` and ``bandwidth_in_s``.

    Raises
    ------
    ValidationError
        If the corridor's plans do not share one cycle.
    InfeasiblePlanError
        If the MILP fails.
    """
    plans = plan.periods[0].by_tls
    corridor = corridor or arterial_corridor(network, list(plans))
    cycles = {round(plans[t].cycle_s, 6) for t, _, _ in corridor}
    if len(cycles) != 1:
        msg = f"MAXBAND needs one common cycle along the arterial. Got {sorted(cycles)}."
        raise ValidationError(msg)
    cycle = next(iter(cycles))
    edges = network.edges
    reverse = {}
    for e, d in edges.items():
        reverse[(d["from"], d["to"])] = e
    red_o, red_i, delta, t_o, t_i, starts = [], [], [], [], [], []
    for idx, (tls, in_edge, out_edge) in enumerate(corridor):
        p = plans[tls]
        links = network.programs[tls].links
        out_links = [l.index for l in links if network.movements[l.movement].turn == "through"
                     and (network.movements[l.movement].to_edge == out_edge or network.movements[l.movement].from_edge == in_edge)]
        in_links = [l.index for l in links if network.movements[l.movement].turn == "through"
                    and l.index not in out_links
                    and (edges.get(network.movements[l.movement].from_edge, {}).get("from") in
                         ({edges[out_edge]["to"]} if out_edge else set())
                         or edges.get(network.movements[l.movement].to_edge, {}).get("to") in
                         ({edges[in_edge]["from"]} if in_edge else set()))]
        s_o, g_o = _green_window(p, out_links)
        s_i, g_i = _green_window(p, in_links or out_links)
        red_o.append(1 - g_o / cycle)
        red_i.append(1 - g_i / cycle)
        centre_o = (s_o + g_o + (cycle - g_o) / 2) / cycle
        centre_i = (s_i + g_i + (cycle - g_i) / 2) / cycle
        delta.append(((centre_i - centre_o + 0.5) % 1.0) - 0.5)
        starts.append(s_o)
        if out_edge is not None:
            e = edges[out_edge]
            t_o.append(e["length_m"] / e["speed_mps"] / cycle)
            back = reverse.get((e["to"], e["from"]))
            eb = edges.get(back, e)
            t_i.append(eb["length_m"] / eb["speed_mps"] / cycle)
    sol = maxband_offsets(red_o, red_i, delta, t_o, t_i, k=k)
    new = dict(plans)
    for i, (tls, _, _) in enumerate(corridor):
        p = plans[tls]
        # outbound green must start at sol.green_start[i] * cycle in common time
        sumo_off = (sol.green_start[i] * cycle - starts[i]) % cycle
        ref_start = p.phase_starts_s()[p.reference_phase]
        new[tls] = replace(p, offset_s=float(round((sumo_off + ref_start) % cycle, 3)) % cycle, method="maxband")
    meta = dict(plan.meta, bandwidth_out_s=sol.b_out * cycle, bandwidth_in_s=sol.b_in * cycle,
                corridor=[t for t, _, _ in corridor])
    return NetworkPlan.single(new.values(), meta=meta)
