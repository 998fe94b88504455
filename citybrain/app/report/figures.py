"""The report's figures (PNG, matplotlib's Agg backend), each of a fixed pixel size.

``delay.png``
    Mean delay per strategy with its 95% confidence interval, seeds as dots.
``map.png``
    The network, junctions coloured by the change in control delay of the new plans
    against the existing programs.
``flows.png``
    Estimated against true movement flows (veh/h over the window) with the GEH < 5 band.
``timespace.png``
    Time-space diagram of the main corridor under the new plan: each junction's green and
    red for the corridor's through movement, and the green bands (trajectories at the
    speed limit that meet green at every junction) in both directions.
``queues.png``
    Halting vehicles on the signal approaches over time, per strategy (mean over seeds).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .data import ReportData
from .tables import flow_comparison, main_corridor, mean_ci

__all__ = ["FIGURES", "FIGURE_SIZE_PX", "render_figures", "plan_green_windows"]

#: Figure files and their titles, in report order.
FIGURES: dict[str, str] = {
    "delay.png": "Delay per strategy (mean and 95% CI over seeds)",
    "map.png": "Change in junction delay: new plans against existing programs",
    "flows.png": "Estimated vs true movement flows (GEH < 5 band)",
    "timespace.png": "Time-space diagram of the main corridor under the new plans",
    "queues.png": "Queues over time",
}
#: Width and height (pixels) of every figure.
FIGURE_SIZE_PX: tuple[int, int] = (960, 540)
_DPI = 100
_COLORS = ["#555555", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"]


def _figure():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(FIGURE_SIZE_PX[0] / _DPI, FIGURE_SIZE_PX[1] / _DPI), dpi=_DPI)
    return plt, fig, ax


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def render_figures(data: ReportData, folder: str | Path) -> dict[str, Path]:
    """Render every figure into ``folder`` (created) and return their paths by file name."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "delay.png": _delay(data, folder / "delay.png"),
        "map.png": _map(data, folder / "map.png"),
        "flows.png": _flows(data, folder / "flows.png"),
        "timespace.png": _timespace(data, folder / "timespace.png"),
        "queues.png": _queues(data, folder / "queues.png"),
    }


def _color(data: ReportData, s: str) -> str:
    return _COLORS[data.strategies.index(s) % len(_COLORS)] if s in data.strategies else "#000000"


def _delay(data: ReportData, path: Path) -> Path:
    plt, fig, ax = _figure()
    ok = data.runs[data.runs["error"].isna()]
    for i, s in enumerate(data.strategies):
        vals = ok.loc[ok["strategy"] == s, "delay_s"].astype(float).to_numpy()
        mean, _, ci = mean_ci(vals)
        if math.isfinite(mean):
            ax.bar(i, mean, color=_color(data, s), alpha=0.85,
                   yerr=ci if math.isfinite(ci) else None, capsize=6, ecolor="black")
            ax.scatter(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, color="black", s=12, zorder=3)
            top = mean + (ci if math.isfinite(ci) else 0.0)
            ax.annotate(f"{mean:.1f}", (i, top), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=9)
    ax.set_xticks(range(len(data.strategies)), [data.label(s) for s in data.strategies], rotation=12, fontsize=9)
    ax.set_ylabel("delay (s/veh)")
    seeds = f"seed {data.seeds[0]}" if len(data.seeds) == 1 else f"seeds {data.seeds[0]}-{data.seeds[-1]}"
    ax.set_title(f"{data.scenario}: {FIGURES['delay.png']}, {seeds}")
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def _map(data: ReportData, path: Path) -> Path:
    plt, fig, ax = _figure()
    g = data.network.graph
    for u, v in g.edges():
        a, b = g.nodes[u], g.nodes[v]
        ax.plot([a["x_m"], b["x_m"]], [a["y_m"], b["y_m"]], color="#bbbbbb", lw=1.2, zorder=1)
    target = "plan" if "plan" in data.strategies else (data.strategies[1] if len(data.strategies) > 1 else None)
    mean = data.junctions.groupby(["strategy", "junction"])["delay_s"].mean()
    xs, ys, cs, names = [], [], [], []
    for j in sorted(data.junctions["junction"].unique()):
        if j not in g.nodes:
            continue
        old = mean.get(("existing", j), math.nan)
        new = mean.get((target, j), math.nan) if target else math.nan
        xs.append(g.nodes[j]["x_m"])
        ys.append(g.nodes[j]["y_m"])
        cs.append(new - old)
        names.append(j)
    if xs:
        c = np.asarray(cs, dtype=float)
        lim = max(1.0, float(np.nanmax(np.abs(c))) if np.isfinite(c).any() else 1.0)
        sc = ax.scatter(xs, ys, c=c, cmap="RdYlGn_r", vmin=-lim, vmax=lim, s=220, edgecolors="black", zorder=3)
        fig.colorbar(sc, ax=ax, label=f"change in delay (s/veh): {target} - existing")
        for x, y, n, d in zip(xs, ys, names, cs, strict=True):
            ax.annotate(f"{n}\n{d:+.1f}" if math.isfinite(d) else n, (x, y), textcoords="offset points",
                        xytext=(0, 14), ha="center", fontsize=7)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.set_title(f"{data.scenario}: {FIGURES['map.png']}")
    return _save(plt, fig, path)


def _geh_band(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper estimate with GEH = 5 against a true hourly flow ``t``."""
    root = np.sqrt(625.0 + 400.0 * t)
    return np.maximum(0.0, t + (25.0 - root) / 4.0), t + (25.0 + root) / 4.0


def _flows(data: ReportData, path: Path) -> Path:
    plt, fig, ax = _figure()
    if data.truth is not None and len(data.truth) and len(data.flows):
        comp = flow_comparison(data.flows, data.truth)
        top = max(10.0, float(max(comp["est_vph"].max(), comp["true_vph"].max())) * 1.05)
        t = np.linspace(0.0, top, 200)
        lo, hi = _geh_band(t)
        ax.fill_between(t, lo, hi, color="#1b9e77", alpha=0.15, label="GEH < 5")
        ax.plot(t, t, color="#1b9e77", lw=1)
        good = comp["geh"] < 5
        ax.scatter(comp.loc[good, "true_vph"], comp.loc[good, "est_vph"], s=14, color="#1b9e77",
                   label=f"GEH < 5 ({int(good.sum())})")
        ax.scatter(comp.loc[~good, "true_vph"], comp.loc[~good, "est_vph"], s=18, color="#d95f02", marker="x",
                   label=f"GEH >= 5 ({int((~good).sum())})")
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        share = 100.0 * float(good.mean()) if len(comp) else math.nan
        ax.set_title(f"{data.scenario}: estimated vs true movement flows, {share:.0f}% of movements GEH < 5")
        ax.legend(loc="upper left")
    else:
        ax.text(0.5, 0.5, "no true counts (real counts: only the fit to the counts is known)",
                ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{data.scenario}: {FIGURES['flows.png']}")
    ax.set_xlabel("true flow (veh/h)")
    ax.set_ylabel("estimated flow (veh/h)")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)


def plan_green_windows(plan, network, movement_links: list[int], t0: float, t1: float) -> list[tuple[float, float]]:
    """Return the ``[start, end)`` times (s) in ``[t0, t1)`` a plan shows green to all of ``movement_links``."""
    cycle = sum(plan.splits_s)
    if cycle <= 0:
        return []
    windows_in_cycle = []
    start = 0.0
    for ph in plan.phases:
        if movement_links and all(ph.state[i] in "Gg" for i in movement_links):
            windows_in_cycle.append((start, start + ph.green_s))
        start += ph.duration_s
    base = plan.sumo_offset_s()
    out = []
    k0 = math.floor((t0 - base) / cycle) - 1
    k = k0
    while base + k * cycle < t1:
        for a, b in windows_in_cycle:
            s, e = base + k * cycle + a, base + k * cycle + b
            if e > t0 and s < t1:
                out.append((max(s, t0), min(e, t1)))
        k += 1
    return out


def _through_links(network, junction: str, from_edge: str, to_edge: str) -> tuple[str | None, list[int]]:
    if not network.has_movement(junction, from_edge, to_edge):
        return None, []
    m = network.movement_index(junction, from_edge, to_edge)
    mv = network.movements[m]
    return mv.tls, list(mv.link_indices)


def _corridor_runs(data: ReportData):
    """Both directions of the main corridor: lists of (junction, in_edge, out_edge, distance_m)."""
    net = data.network
    chain = main_corridor(net, data.flows)
    if len(chain) < 2:
        return []
    through = {(mv.junction, mv.from_edge): mv.to_edge for mv in net.movements if mv.turn == "through"}
    g = net.graph
    dist = [0.0]
    for (_, _), (_, e) in zip(chain[:-1], chain[1:], strict=True):
        u, v = next((a, b) for a, b, k in g.edges(keys=True) if k == e)
        dist.append(dist[-1] + g.edges[u, v, e]["length_m"])
    fwd = [(j, e, through.get((j, e)), d) for (j, e), d in zip(chain, dist, strict=True)]
    js = [j for j, _ in chain]

    def edge_between(a: str, b: str) -> str | None:
        return next((k for _, v, k in g.out_edges(a, keys=True) if v == b), None)

    back = []
    for i in range(len(js) - 1, -1, -1):
        j = js[i]
        if i > 0:
            out = edge_between(j, js[i - 1])
            e = next((k for (jj, k), o in through.items() if jj == j and o == out), None) if out else None
        else:
            e = edge_between(js[1], j)
            out = through.get((j, e)) if e else None
        back.append((j, e, out, dist[i]))
    return [("forward", fwd), ("backward", back)]


def _timespace(data: ReportData, path: Path) -> Path:
    plt, fig, ax = _figure()
    net = data.network
    runs = _corridor_runs(data)
    if not runs:
        ax.text(0.5, 0.5, "no corridor of two or more linked signals", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(f"{data.scenario}: {FIGURES['timespace.png']}")
        return _save(plt, fig, path)
    t_ref = float(data.begin_s)
    plans = {tls: data.plan.plan_at(tls, t_ref) for tls in data.plan.tls_ids}
    cycles = [sum(p.splits_s) for p in plans.values() if p is not None]
    cycle = max(cycles) if cycles else 90.0
    t0, t1 = t_ref, t_ref + 3 * cycle
    g = net.graph
    colors = {"forward": "#1b9e77", "backward": "#7570b3"}
    offsets = {"forward": -6.0, "backward": 6.0}
    for name, run in runs:
        seq = [(j, e, out, d) for j, e, out, d in run if e is not None and out is not None]
        windows = []
        for j, e, out, d in seq:
            tls, links = _through_links(net, j, e, out)
            plan = plans.get(tls)
            w = plan_green_windows(plan, net, links, t0, t1 + cycle) if plan is not None else [(t0, t1 + cycle)]
            windows.append(w)
            y = d + offsets[name]
            ax.plot([t0 - t_ref, t1 - t_ref], [y, y], color="#d62728", lw=3, solid_capstyle="butt", zorder=2)
            for a, b in w:
                if a < t1:
                    ax.plot([a - t_ref, min(b, t1) - t_ref], [y, y], color="#2ca02c", lw=3, solid_capstyle="butt",
                            zorder=3)
        if len(seq) < 2:
            continue
        travel = [0.0]
        for (j0, _, out0, d0), (j1, e1, _, d1) in zip(seq[:-1], seq[1:], strict=True):
            u, v = next((a, b) for a, b, k in g.edges(keys=True) if k == e1)
            speed = g.edges[u, v, e1]["speed_mps"] or 13.9
            travel.append(travel[-1] + abs(d1 - d0) / speed)
        dists = [d for *_, d in seq]
        passed = 0
        for start in np.arange(t0, t0 + cycle, 1.0):
            ok = all(any(a <= start + tt < b for a, b in w) for w, tt in zip(windows, travel, strict=True))
            if ok:
                passed += 1
                ax.plot([start + tt - t_ref for tt in travel], dists, color=colors[name], alpha=0.25, lw=1, zorder=1)
        ax.plot([], [], color=colors[name], lw=3, label=f"{name} band: {passed} s of {cycle:.0f} s cycle")
    ax.set_yticks([d for _, _, _, d in runs[0][1]], [j for j, *_ in runs[0][1]])
    ax.set_xlim(0, t1 - t0)
    ax.set_xlabel("time from the start of the window (s)")
    ax.set_ylabel("junction (distance along the corridor)")
    ax.set_title(f"{data.scenario}: {FIGURES['timespace.png']}")
    ax.legend(loc="upper right", fontsize=8)
    return _save(plt, fig, path)


def _queues(data: ReportData, path: Path) -> Path:
    plt, fig, ax = _figure()
    if data.queues is not None and len(data.queues):
        mean = data.queues.groupby(["strategy", "time_s"], as_index=False)["queue_veh"].mean()
        for s in data.strategies:
            part = mean[mean["strategy"] == s].sort_values("time_s")
            if len(part):
                # a 5-minute rolling mean: one-minute means alias with the signal cycle
                smooth = part["queue_veh"].rolling(5, center=True, min_periods=1).mean()
                ax.plot(part["time_s"] / 60.0, smooth, color=_color(data, s), label=data.label(s), lw=1.5)
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("minutes from the start of the window")
    ax.set_ylabel("halting vehicles on signal approaches")
    ax.set_title(f"{data.scenario}: {FIGURES['queues.png']} (mean over seeds, 5-min rolling mean)")
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)

