"""The report's figures (PNG, matplotlib's Agg backend), each of a fixed pixel size (:data:`FIGURE_SIZES`).

``delay.png``
    Mean delay per strategy with its 95% confidence interval, seeds as dots, the best marked.
``map.png``
    The network, one panel per strategy: junctions coloured by the change in control delay
    against the existing programs (one colour scale for all panels), labelled with the change.
``flows.png``
    Estimated against true movement flows (veh/h over the window) with the GEH < 5 band.
``timespace.png``
    Time-space diagrams of one corridor (``ReportData.corridor``, else the main corridor),
    the existing programs and the new plans side by side on the same axes: distance along
    the corridor in metres, each junction's green, yellow and red for the corridor's through
    movement in both directions, and the green bands (trajectories at the speed limit that
    meet green at every junction).
``queues.png``
    Halting vehicles on the signal approaches over time, per strategy (mean over seeds), in
    consecutive windows of whole minutes spanning at least three cycles of the longest fixed
    cycle and, where one exists, whole cycles of every fixed plan (:func:`queue_window_s`),
    so the cycle does not alias into the curve.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .data import ReportData
from .tables import corridor_chain, flow_comparison, main_corridor, mean_ci

__all__ = ["FIGURES", "FIGURE_SIZES", "render_figures", "plan_signal_windows", "queue_window_s"]

#: Figure files and their titles, in report order.
FIGURES: dict[str, str] = {
    "delay.png": "Delay per strategy (mean and 95% CI over seeds)",
    "map.png": "Change in junction control delay against the existing programs, per strategy",
    "flows.png": "Estimated vs true movement flows (GEH < 5 band)",
    "timespace.png": "Time-space diagrams of the corridor: existing programs and new plans",
    "queues.png": "Queues on the signal approaches over time",
}
#: Width and height (pixels) of each figure.
FIGURE_SIZES: dict[str, tuple[int, int]] = {
    "delay.png": (960, 540), "map.png": (1200, 900), "flows.png": (960, 540), "timespace.png": (1400, 620),
    "queues.png": (960, 540),
}
_DPI = 100
_COLORS = ["#555555", "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d"]


def _figure(name: str, nrows: int = 1, ncols: int = 1, **kwargs):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    w, h = FIGURE_SIZES[name]
    kwargs.setdefault("squeeze", nrows * ncols == 1)
    fig, ax = plt.subplots(nrows, ncols, figsize=(w / _DPI, h / _DPI), dpi=_DPI, **kwargs)
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
    plt, fig, ax = _figure("delay.png")
    ok = data.runs[data.runs["error"].isna()]
    means = {s: mean_ci(ok.loc[ok["strategy"] == s, "delay_s"].astype(float).to_numpy())[0] for s in data.strategies}
    finite = {s: m for s, m in means.items() if math.isfinite(m)}
    best = min(finite, key=finite.get) if finite else None
    for i, s in enumerate(data.strategies):
        vals = ok.loc[ok["strategy"] == s, "delay_s"].astype(float).to_numpy()
        mean, _, ci = mean_ci(vals)
        if math.isfinite(mean):
            ax.bar(i, mean, color=_color(data, s), alpha=0.85,
                   yerr=ci if math.isfinite(ci) else None, capsize=6, ecolor="black")
            ax.scatter(np.full(len(vals), i) + np.linspace(-0.15, 0.15, len(vals)), vals, color="black", s=12, zorder=3)
            top = mean + (ci if math.isfinite(ci) else 0.0)
            ax.annotate(f"{mean:.1f}" + (" (best)" if s == best else ""), (i, top), textcoords="offset points",
                        xytext=(0, 4), ha="center", fontsize=10, fontweight="bold" if s == best else "normal")
    ax.set_xticks(range(len(data.strategies)), [data.label(s) for s in data.strategies], rotation=12, fontsize=9)
    ax.set_ylabel("delay (s/veh)")
    seeds = f"seed {data.seeds[0]}" if len(data.seeds) == 1 else f"seeds {data.seeds[0]}-{data.seeds[-1]}"
    ax.set_title(f"{data.scenario}: {FIGURES['delay.png']}, {seeds}" + (" (one seed: no interval)"
                                                                        if len(data.seeds) < 2 else ""))
    ax.grid(axis="y", alpha=0.3)
    return _save(plt, fig, path)


def _map(data: ReportData, path: Path) -> Path:
    g = data.network.graph
    others = data.strategies[1:] or data.strategies
    xs_all = [d["x_m"] for _, d in g.nodes(data=True)]
    ys_all = [d["y_m"] for _, d in g.nodes(data=True)]
    wide = (max(xs_all) - min(xs_all) + 1.0) / (max(ys_all) - min(ys_all) + 1.0) > 2.0 if xs_all else True
    ncols = 1 if wide or len(others) == 1 else 2
    nrows = math.ceil(len(others) / ncols)
    plt, fig, axes = _figure("map.png", nrows, ncols, sharex=True, sharey=True, layout="constrained",
                                   squeeze=False)
    mean = data.junctions.groupby(["strategy", "junction"])["delay_s"].mean()
    junctions = [j for j in sorted(data.junctions["junction"].unique()) if j in g.nodes]
    change = {s: np.array([mean.get((s, j), math.nan) - mean.get((data.baseline, j), math.nan) for j in junctions])
              for s in others}
    finite = np.concatenate([c[np.isfinite(c)] for c in change.values()] + [np.zeros(1)])
    lim = max(1.0, float(np.abs(finite).max()))
    sc = None
    for k, ax in enumerate(axes.flat):
        if k >= len(others):
            ax.axis("off")
            continue
        s = others[k]
        for u, v in g.edges():
            a, b = g.nodes[u], g.nodes[v]
            ax.plot([a["x_m"], b["x_m"]], [a["y_m"], b["y_m"]], color="#bbbbbb", lw=1.2, zorder=1)
        xs = [g.nodes[j]["x_m"] for j in junctions]
        ys = [g.nodes[j]["y_m"] for j in junctions]
        sc = ax.scatter(xs, ys, c=change[s], cmap="RdYlGn_r", vmin=-lim, vmax=lim, s=160, edgecolors="black", zorder=3)
        for x, y, n, d in zip(xs, ys, junctions, change[s], strict=True):
            ax.annotate(f"{n} {d:+.1f} s" if math.isfinite(d) else n, (x, y), textcoords="offset points",
                        xytext=(0, 11), ha="center", fontsize=10, zorder=4,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
        ax.set_aspect("equal", adjustable="box")
        ax.set_title(f"{data.label(s)} - {data.label(data.baseline)}", fontsize=11)
        ax.tick_params(labelsize=9)
        if k // ncols == nrows - 1:
            ax.set_xlabel("x (m)", fontsize=9)
        if k % ncols == 0:
            ax.set_ylabel("y (m)", fontsize=9)
    if sc is not None:
        fig.colorbar(sc, ax=list(axes.flat), label="change in control delay (s/veh); green: better", shrink=0.8)
    fig.suptitle(f"{data.scenario}: change in junction control delay against {data.label(data.baseline)}, "
                 "per strategy", fontsize=12)
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def _geh_band(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper estimate with GEH = 5 against a true hourly flow ``t``."""
    root = np.sqrt(625.0 + 400.0 * t)
    return np.maximum(0.0, t + (25.0 - root) / 4.0), t + (25.0 + root) / 4.0


def _flows(data: ReportData, path: Path) -> Path:
    plt, fig, ax = _figure("flows.png")
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


def plan_signal_windows(plan, links: list[int], t0: float, t1: float) -> dict[str, list[tuple[float, float]]]:
    """Return the ``[start, end)`` times (s) in ``[t0, t1)`` a plan shows ``links`` green and yellow.

    Green where every link is green (``G`` or ``g``); a link green in the next phase too
    stays green through the transition, else it shows the phase's yellow; red otherwise.

    Returns
    -------
    dict
        ``{"green": [...], "yellow": [...]}``.
    """
    cycle = sum(plan.splits_s)
    out: dict[str, list[tuple[float, float]]] = {"green": [], "yellow": []}
    if cycle <= 0 or not links:
        return out
    phases = plan.phases
    served = [all(ph.state[i] in "Gg" for i in links) for ph in phases]
    in_cycle: dict[str, list[tuple[float, float]]] = {"green": [], "yellow": []}
    start = 0.0
    for k, ph in enumerate(phases):
        if served[k]:
            if served[(k + 1) % len(phases)]:
                in_cycle["green"].append((start, start + ph.duration_s))
            else:
                in_cycle["green"].append((start, start + ph.green_s))
                in_cycle["yellow"].append((start + ph.green_s, start + ph.green_s + ph.yellow_s))
        start += ph.duration_s
    base = plan.sumo_offset_s()
    k = math.floor((t0 - base) / cycle) - 1
    while base + k * cycle < t1:
        for kind, windows in in_cycle.items():
            for a, b in windows:
                s, e = base + k * cycle + a, base + k * cycle + b
                if e > t0 and s < t1:
                    out[kind].append((max(s, t0), min(e, t1)))
        k += 1
    return out


def _through_links(network, junction: str, from_edge: str, to_edge: str) -> tuple[str | None, list[int]]:
    if not network.has_movement(junction, from_edge, to_edge):
        return None, []
    m = network.movement_index(junction, from_edge, to_edge)
    mv = network.movements[m]
    return mv.tls, list(mv.link_indices)


def _corridor_runs(data: ReportData):
    """Both directions of the corridor: lists of (junction, in_edge, out_edge, distance_m)."""
    net = data.network
    chain = corridor_chain(net, data.corridor) if data.corridor else main_corridor(net, data.flows)
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
    forward, backward = _directions(g, js)
    return [(forward, fwd), (backward, back)]


def _directions(g, junctions: list[str]) -> tuple[str, str]:
    """Names of the corridor's two directions of travel from its geometry (eastbound/westbound, ...)."""
    a, b = g.nodes[junctions[0]], g.nodes[junctions[-1]]
    dx, dy = b["x_m"] - a["x_m"], b["y_m"] - a["y_m"]
    if abs(dx) >= abs(dy):
        return ("eastbound", "westbound") if dx > 0 else ("westbound", "eastbound")
    return ("northbound", "southbound") if dy > 0 else ("southbound", "northbound")


def _timespace(data: ReportData, path: Path) -> Path:
    net = data.network
    runs = _corridor_runs(data)
    panels = [("existing programs", data.existing_plan), (data.label(data.plan_strategy), data.plan)]
    plt, fig, axes = _figure("timespace.png", 1, 2, sharey=True)
    if not runs:
        for ax in axes.flat:
            ax.text(0.5, 0.5, "no corridor of two or more linked signals", ha="center", va="center",
                    transform=ax.transAxes)
        fig.suptitle(f"{data.scenario}: {FIGURES['timespace.png']}")
        return _save(plt, fig, path)
    t_ref = float(data.begin_s)
    corridor_tls = {_through_links(net, j, e, out)[0] for _, run in runs for j, e, out, _ in run if e and out}
    cycles = [sum(p.splits_s) for _, plan in panels for tls in corridor_tls
              if (p := plan.plan_at(tls, t_ref)) is not None]
    span = 3 * (max(cycles) if cycles else 90.0)
    t0, t1 = t_ref, t_ref + span
    g = net.graph
    band_colors = ("#1f77b4", "#9467bd")
    bar = {"red": "#d62728", "green": "#2ca02c", "yellow": "#f2c500"}
    length = max(d for *_, d in runs[0][1]) or 1.0
    for ax, (title, network_plan) in zip(axes.flat, panels, strict=True):
        plans = {tls: network_plan.plan_at(tls, t_ref) for tls in network_plan.tls_ids}
        legend = []
        for (name, run), offset, color in zip(runs, (-0.015 * length, 0.015 * length), band_colors, strict=True):
            seq = [(j, e, out, d) for j, e, out, d in run if e is not None and out is not None]
            greens = []
            for j, e, out, d in seq:
                tls, links = _through_links(net, j, e, out)
                plan = plans.get(tls)
                w = plan_signal_windows(plan, links, t0, t1 + span) if plan is not None else \
                    {"green": [(t0, t1 + span)], "yellow": []}
                greens.append(w["green"])
                y = d + offset
                ax.plot([0, span], [y, y], color=bar["red"], lw=4, solid_capstyle="butt", zorder=2)
                for kind in ("green", "yellow"):
                    for a, b in w[kind]:
                        if a < t1:
                            ax.plot([a - t_ref, min(b, t1) - t_ref], [y, y], color=bar[kind], lw=4,
                                    solid_capstyle="butt", zorder=3)
            if len(seq) < 2:
                continue
            travel = [0.0]
            for (_, _, _, d0), (_, e1, _, d1) in zip(seq[:-1], seq[1:], strict=True):
                u, v = next((a, b) for a, b, k in g.edges(keys=True) if k == e1)
                travel.append(travel[-1] + abs(d1 - d0) / (g.edges[u, v, e1]["speed_mps"] or 13.9))
            dists = [d for *_, d in seq]
            cycle = max((sum(p.splits_s) for p in plans.values() if p is not None), default=90.0)
            passed = 0
            for start in np.arange(t0, t0 + cycle, 1.0):
                if all(any(a <= start + tt < b for a, b in w) for w, tt in zip(greens, travel, strict=True)):
                    passed += 1
                    ax.plot([start + tt - t_ref for tt in travel], dists, color=color, alpha=0.25, lw=1, zorder=1)
            legend.append(f"{name} {passed} s")
        cyc = sorted({round(sum(p.splits_s)) for p in plans.values() if p is not None})
        ax.set_title(f"{title}, cycle {', '.join(map(str, cyc))} s\ngreen band per cycle: " + ", ".join(legend),
                     fontsize=10)
        ax.set_xlim(0, span)
        ax.set_xlabel(f"time from {t_ref:g} s of simulation (s)")
        ax.grid(axis="x", alpha=0.3)
    handles = [plt.Line2D([], [], color=c, lw=3, label=f"{name} green band (speed limit)")
               for (name, _), c in zip(runs, band_colors, strict=True)]
    handles += [plt.Line2D([], [], color=bar[k], lw=5, label=f"through {k}") for k in ("green", "yellow", "red")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    ticks = [d for *_, d in runs[0][1]]
    axes.flat[0].set_yticks(ticks, [f"{j}  {d:.0f} m" for j, *_, d in runs[0][1]])
    axes.flat[0].set_ylabel("distance along the corridor (m)")
    pad = max(30.0, 0.08 * (max(ticks) - min(ticks)))
    axes.flat[0].set_ylim(min(ticks) - pad, max(ticks) + pad)
    fig.suptitle(f"{data.scenario}: time-space diagrams, corridor {' - '.join(j for j, *_ in runs[0][1])} "
                 f"(at each junction the lower bar is {runs[0][0]}, the upper {runs[1][0]})", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return path


def queue_window_s(data: ReportData, sample_s: float = 60.0) -> float:
    """Length (s) of the queue chart's windows: whole samples spanning at least three of the longest fixed cycle.

    The fixed cycles are those of the existing programs and the new plans (adaptive
    controllers have none). Among the next 20 lengths of at least 5 minutes and three
    longest cycles, the first that holds every fixed cycle a whole number of times, else
    the first that holds the longest one so, else the shortest.
    """
    cycles = sorted({round(sum(p.splits_s)) for plan in (data.existing_plan, data.plan) for _, p in plan.all_plans()}
                    - {0})
    longest = max(cycles, default=90)
    first = max(math.ceil(300.0 / sample_s), math.ceil(3 * longest / sample_s))
    candidates = [sample_s * k for k in range(first, first + 20)]
    for need in (cycles, [longest]):
        whole = [w for w in candidates if all(round(w) % c == 0 for c in need)]
        if whole:
            return whole[0]
    return candidates[0]


def _queues(data: ReportData, path: Path) -> Path:
    plt, fig, ax = _figure("queues.png")
    window = queue_window_s(data)
    if data.queues is not None and len(data.queues):
        mean = data.queues.groupby(["strategy", "time_s"], as_index=False)["queue_veh"].mean()
        mean["window"] = (mean["time_s"] // window) * window
        for s in data.strategies:
            part = mean[mean["strategy"] == s]
            if len(part):
                w = part.groupby("window")["queue_veh"].mean()
                x = np.append(w.index.to_numpy(), w.index.to_numpy()[-1] + window) / 60.0
                ax.stairs(w.to_numpy(), x, baseline=None, color=_color(data, s), label=data.label(s), lw=1.8)
        ax.legend(loc="upper left", fontsize=8)
    ax.set_xlabel("minutes from the start of the window")
    ax.set_ylabel("halting vehicles on signal approaches (veh)")
    cycles = sorted({round(sum(p.splits_s)) for plan in (data.existing_plan, data.plan) for _, p in plan.all_plans()})
    whole = [c for c in cycles if c and round(window) % c == 0]
    ax.set_title(f"{data.scenario}: {FIGURES['queues.png']}: mean over seeds and {window / 60:g}-min windows"
                 + (f" (whole cycles of {', '.join(map(str, whole))} s)" if whole else ""), fontsize=11)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return _save(plt, fig, path)
