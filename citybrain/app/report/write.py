"""Write ``report.md`` and ``report.html`` (plus CSV tables and PNG figures) from :class:`ReportData`.

Both files are rendered from one list of blocks (headings, paragraphs, tables, figures), so
they always say the same thing. The HTML is a single static page with relative links to the
figures: no script, no external resource.
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import pandas as pd

from citybrain.plans.controller_timing import timing_table

from .data import ReportData
from .figures import FIGURES, render_figures
from .tables import (
    METRICS,
    flow_comparison,
    junction_table,
    movement_vc,
    pairwise_table,
    ranking_table,
    strategy_table,
)
from .warnings import report_warnings

__all__ = ["write_report", "report_blocks", "headline", "ranking_blocks", "warning_blocks", "timing_blocks",
           "ONE_SEED_NOTE"]

#: The note a one-seed report carries.
ONE_SEED_NOTE = ("One seed only: no spread or confidence interval can be given, and one seed proves little; "
                 "run with --seeds 3 or more before relying on a ranking.")
_UNITS = {metric: unit for metric, _, unit, _ in METRICS}
_LABELS = {metric: label for metric, label, _, _ in METRICS}


def _f(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def headline(data: ReportData, table: pd.DataFrame | None = None) -> list[str]:
    """One line per strategy: its delay against the existing programs, with the margin."""
    table = strategy_table(data.runs, data.strategies, data.baseline) if table is None else table
    d = table[table["metric"] == "delay_s"].set_index("strategy")
    if data.baseline not in d.index:
        return []
    base = d.loc[data.baseline, "mean"]
    ranked = ranking_table(table, data.strategies)
    ranked = ranked[ranked["metric"] == "delay_s"]
    out = ["Ranking by delay (s/veh, lower is better): " + ", ".join(
        f"{r.rank}. {data.label(r.strategy)} {_f(r.mean)}" + (" (best)" if r.best else "")
        for r in ranked.itertuples()) + ("; one seed: no confidence interval" if len(data.seeds) < 2 else "") + "."]
    for s in data.strategies[1:]:
        if s not in d.index:
            continue
        r = d.loc[s]
        better = r["change"] < 0
        sig = math.isfinite(r["change_ci95"]) and abs(r["change"]) > r["change_ci95"]
        verdict = ("beats" if better else "does not beat") + f" {data.label(data.baseline)}"
        if math.isfinite(r["change_ci95"]):
            verdict += " (significant at 95%)" if sig else " (not significant at 95%)"
            interval = f"paired 95% CI +/-{_f(r['change_ci95'])}"
        else:
            interval = "one seed, no interval"
        out.append(
            f"{data.label(s)}: delay {_f(r['mean'])} s/veh vs {_f(base)} s/veh, "
            f"margin {_f(-r['change'])} s/veh ({_f(-r['change_pct'])}%, {interval}): {verdict}."
        )
    return out


def ranking_blocks(data: ReportData, table: pd.DataFrame) -> list[tuple]:
    """The ranking per metric (best marked) and every pairwise change with its paired 95% interval."""
    one = len(data.seeds) < 2
    blocks: list[tuple] = [("h2", "Ranking")]
    ranked = ranking_table(table, data.strategies)
    n = len(data.strategies)
    rows = []
    for metric, label, unit, lower in METRICS:
        part = ranked[ranked["metric"] == metric]
        row = {"metric": f"{label} ({unit}, {'lower' if lower else 'higher'} is better)"}
        for k, r in enumerate(part.itertuples(), start=1):
            row[str(k)] = f"{data.label(r.strategy)}: {_f(r.mean, 2 if unit == 'per veh' else 1)}" + \
                (" (best)" if r.best else "")
        rows.append(row)
    blocks.append(("table", pd.DataFrame(rows, columns=["metric", *map(str, range(1, n + 1))]).fillna("")
                   .rename(columns={str(k): f"rank {k}" for k in range(1, n + 1)})))
    blocks.append(("p", "Strategies ordered by their mean over seeds " + (
        "(one seed: the order may not survive another seed)." if one else
        f"({len(data.seeds)} seeds); whether a gap is real is in the pairwise changes below.")))
    blocks.append(("h2", "Pairwise changes"))
    pw = pairwise_table(data.runs, data.strategies)
    rows = []
    for (a, b), part in pw.groupby(["a", "b"], sort=False):
        row = {"change": f"{data.label(b)} - {data.label(a)}"}
        for r in part.itertuples():
            digits = 2 if _UNITS[r.metric] == "per veh" else 1
            cell = f"{'+' if r.change >= 0 else ''}{_f(r.change, digits)}"
            if r.significant is not None:
                cell += f" [{_f(r.ci_low, digits)}, {_f(r.ci_high, digits)}]" + ("*" if r.significant else "")
            row[f"{_LABELS[r.metric]} ({_UNITS[r.metric]})"] = cell
        rows.append(row)
    blocks.append(("table", pd.DataFrame(rows)))
    blocks.append(("p", "Each cell: the second strategy minus the first, mean of the per-seed differences "
                        "(the strategies ran on the same seeds)" + (
                            "; one seed: no interval can be given." if one else
                            ", with its paired 95% confidence interval (Student t); * where the interval "
                            "excludes 0.") + " All pairs and metrics are in pairwise.csv."))
    return blocks


def warning_blocks(data: ReportData) -> list[tuple]:
    """The warnings section: v/c, short cycles, queues beyond storage, monitor, never-inserted vehicles."""
    blocks: list[tuple] = [("h2", "Warnings")]
    w = report_warnings(data)
    if not len(w):
        return [*blocks, ("p", "None: no movement above v/c 0.9 under the existing programs or the new plans, no "
                               "cycle under 40 s, no queue beyond its lane's storage, no conflict-monitor violation, "
                               "every vehicle entered the network, every run finished.")]
    counts = w["kind"].value_counts()
    blocks.append(("p", f"{len(w)} warning(s): " + ", ".join(f"{n} {k}" for k, n in counts.items()) +
                        ". Thresholds: v/c > 0.9 (estimated flow over capacity under the timing), cycle < 40 s, "
                        "peak queue (7.5 m per halting vehicle) longer than the lane, split failures in more than "
                        "10% of a phase's cycles."))
    blocks.append(("table", pd.DataFrame({"kind": w["kind"], "strategy": [data.label(s) if s else "" for s in
                                                                          w["strategy"]],
                                          "where": w["where"], "detail": w["detail"]})))
    return blocks


def timing_blocks(data: ReportData) -> list[tuple]:
    """The controller timing sheet: per light, the existing programs' phases beside the new plans'."""
    blocks: list[tuple] = [("h2", "Timing sheet")]
    new = timing_table(data.plan, data.network)
    old = timing_table(data.existing_plan, data.network)
    blocks.append(("p", "Whole seconds, as a controller is programmed (timing.csv: the new plans; "
                        "timing_existing.csv: the existing programs). Phases are numbered in the plan's order and "
                        "named by the movements they serve (direction of travel on the approach). Per phase green + "
                        "yellow + all-red = split, and the splits sum to the cycle. The offset is the start of the "
                        "reference phase's green in the common cycle counted from time 0 (midnight in the "
                        "controller's time base). Min/max green are empty where the plan sets none (fixed-time "
                        "programs)."))
    for light in sorted(set(new["light"]) | set(old["light"])):
        rows = pd.concat([old[old["light"] == light].assign(plan="existing"),
                          new[new["light"] == light].assign(plan="new")])
        blocks.append(("h3", f"Light {light}"))
        blocks.append(("table", pd.DataFrame({
            "plan": rows["plan"], "period": rows["period"], "phase": rows["phase"], "movements": rows["name"],
            "green": rows["green_s"], "yellow": rows["yellow_s"], "all-red": rows["all_red_s"],
            "walk": rows["walk_s"], "ped clear": rows["ped_clearance_s"], "split": rows["split_s"],
            "min green": [_opt(x) for x in rows["min_green_s"]], "max green": [_opt(x) for x in rows["max_green_s"]],
            "cycle": rows["cycle_s"], "offset": rows["offset_s"], "offset reference": rows["offset_reference"]})))
    return blocks


def _opt(x) -> str:
    """A whole number of seconds, or '-' where there is none."""
    return "-" if x is None or pd.isna(x) else str(int(x))


def spm_blocks(data: ReportData) -> list[tuple]:
    """Signal performance measures (ATSPM) from the hi-res events: existing programs beside the new plans."""
    spm = data.spm
    if spm is None or not len(spm):
        return []
    blocks: list[tuple] = [("h2", "Signal performance measures (hi-res events)")]
    names = {}
    for strategy, plan in (("existing", data.existing_plan), (data.plan_strategy, data.plan)):
        t = timing_table(plan, data.network).drop_duplicates(["light", "phase"])
        names.update({(strategy, r.light, r.phase): r.name for r in t.itertuples()})
    totals = []
    for strategy, part in spm.groupby("strategy", sort=False):
        arrivals = float(part["arrivals"].sum())
        aog = 100.0 * float(part["arrivals_on_green"].sum()) / arrivals if arrivals else math.nan
        totals.append(f"{data.label(strategy)}: {_f(aog)}% of {arrivals:.0f} arrivals on green, "
                      f"{int(part['split_failures'].sum())} split failure(s) in {int(part['cycles'].sum())} phase cycles")
    seed = int(spm["seed"].iloc[0])
    blocks.append(("p", f"From the controller event log of seed {seed} (Indiana hi-res codes; events.csv and "
                        "detectors.csv beside each run, the files 'citybrain spm' reads), measured with its code: "
                        "arrivals on green at the advance detectors projected to the stop bar, split failures (green "
                        "occupancy > 79% and red occupancy in the first 5 s > 79%). Totals: " + "; ".join(totals) + "."))
    rows = []
    for r in spm.sort_values(["signal_id", "strategy", "phase"], key=lambda c: c.map(
            {s: i for i, s in enumerate(data.strategies)}) if c.name == "strategy" else c).itertuples():
        rows.append({"light": r.signal_id, "plan": data.label(r.strategy), "phase": r.phase,
                     "movements": names.get((r.strategy, r.signal_id, r.phase), ""), "cycles": r.cycles,
                     "arrivals": r.arrivals, "on green (%)": _f(r.aog_pct), "platoon ratio": _f(r.platoon_ratio, 2),
                     "split failures": r.split_failures})
    blocks.append(("table", pd.DataFrame(rows)))
    return blocks


def monitor_blocks(data: ReportData) -> list[tuple]:
    """The conflict monitor section: violations by strategy and kind, and the first of each."""
    blocks: list[tuple] = [("h2", "Conflict monitor")]
    mon = data.monitor
    intro = ("The twin's conflict monitor (a cabinet MMU, emulated) compared every light's shown state with the "
             "conflict matrix every step: conflicting greens, green to red without yellow, yellow under 3 s, "
             "green under the minimum green (5 s).")
    if mon is None:
        return [*blocks, ("p", intro + " Not recorded for these runs.")]
    if not len(mon):
        return [*blocks, ("p", intro + " No violation under any strategy.")]
    blocks.append(("p", intro + " Violations (summed over seeds); baselines (the network's own programs, "
                        "SUMO's actuated programs) are reported but are not citybrain's:"))
    kinds = list(dict.fromkeys(mon["kind"]))
    rows = []
    for strategy in [x for x in data.strategies if x in set(mon["strategy"])]:
        part = mon[mon["strategy"] == strategy]
        row = {"strategy": data.label(strategy), "ours": "yes" if bool(part["ours"].any()) else "no (baseline)"}
        for kind in kinds:
            row[kind] = int(part.loc[part["kind"] == kind, "count"].sum())
        rows.append(row)
    blocks.append(("table", pd.DataFrame(rows)))
    first = mon.sort_values("first_time_s").groupby(["strategy", "kind"], sort=False).head(1)
    for _, r in first.iterrows():
        who = "OURS" if r["ours"] else "baseline"
        blocks.append(("li", f"{data.label(r['strategy'])} ({who}): {r['kind']} first at t={r['first_time_s']:g} s "
                             f"(seed {r['seed']}) on light {r['first_tls']}: {r['detail']}"))
    return blocks


def report_title(data: ReportData) -> str:
    """The report's title: ``citybrain run: SCENARIO`` (the closed loop's says so)."""
    return data.extra.get("title", f"citybrain run: {data.scenario}")


def report_blocks(data: ReportData, extra: dict | None = None) -> list[tuple]:
    """Return the report as blocks: ``("h1"|"h2"|"p"|"li", text)``, ``("table", frame)``, ``("img", file, title)``."""
    extra = {**data.extra, **(extra or {})}
    table = strategy_table(data.runs, data.strategies, data.baseline)
    blocks: list[tuple] = [("h1", report_title(data))]
    if data.description:
        blocks.append(("p", data.description))
    counts = extra.get("counts_from", f"counts from a separate run (seed {data.count_seed})")
    blocks.append(("p", f"Window {data.begin_s:g}-{data.end_s:g} s ({(data.end_s - data.begin_s) / 3600:.3g} h); "
                        f"validation seeds {', '.join(map(str, data.seeds))} (the same for every strategy); "
                        f"{data.counts_source or counts}; SUMO {data.sumo_version}."))
    blocks.append(("h2", "Result"))
    for line in headline(data, table):
        blocks.append(("li", line))
    if len(data.seeds) < 2:
        blocks.append(("p", ONE_SEED_NOTE))
    blocks.extend(warning_blocks(data))
    blocks.append(("h2", "Strategies"))
    best = ranking_table(table, data.strategies)
    best = set(zip(best.loc[best["best"], "strategy"], best.loc[best["best"], "metric"], strict=True))
    rows = []
    for s in data.strategies:
        part = table[table["strategy"] == s].set_index("metric")
        row = {"strategy": data.label(s), "runs": int(part["n"].max()) if len(part) else 0}
        for metric, label, unit, _ in METRICS:
            r = part.loc[metric]
            digits = 2 if unit == "per veh" else 1
            cell = (f"{_f(r['mean'], digits)} +/- {_f(r['sd'], digits)} [CI +/-{_f(r['ci95'], digits)}]"
                    if math.isfinite(r["ci95"]) else f"{_f(r['mean'], digits)} (one seed)")
            if s != data.baseline and math.isfinite(r["change"]):
                cell += f" ({'+' if r['change'] >= 0 else ''}{_f(r['change_pct'])}%)"
            if (s, metric) in best:
                cell += " (best)"
            row[f"{label} ({unit})"] = cell
        rows.append(row)
    blocks.append(("table", pd.DataFrame(rows)))
    blocks.append(("p", "Cells: mean +/- s.d. over seeds [95% confidence half-width, Student t]; in brackets the "
                        "change against the first row (paired by seed); (best): first in the ranking. "
                        "Delay is RESCO's: time loss plus insertion delay per vehicle; throughput is vehicles "
                        "arrived."))
    blocks.extend(ranking_blocks(data, table))
    blocks.extend(monitor_blocks(data))

    fit = data.fit
    if fit:
        blocks.append(("h2", "Counts and flow estimate"))
        blocks.append(("p", f"{fit.get('counts', 0)} counts checked, no problems; {fit.get('movements', 0)} movements "
                            f"x {fit.get('intervals', 0)} intervals of {fit.get('interval_s', 0):g} s estimated. Fit to "
                            f"the counts: GEH < 5 on {_f(100 * fit.get('fit_geh_below_5', math.nan))}% "
                            f"(mean GEH {_f(fit.get('fit_geh_mean', math.nan), 2)})."))
    if data.truth is not None and len(data.truth):
        comp = flow_comparison(data.flows, data.truth)
        blocks.append(("p", f"Against the twin's true movement counts (window flows): GEH < 5 on "
                            f"{_f(100 * float((comp['geh'] < 5).mean()))}% of {len(comp)} movements; mean GEH "
                            f"{_f(float(comp['geh'].mean()), 2)}; largest {_f(float(comp['geh'].max()), 2)}."))

    blocks.append(("h2", "New plans" if data.plan_strategy == "plan" else f"Plans: {data.label(data.plan_strategy)}"))
    blocks.append(("p", f"Method: {data.plan_method}. " + extra.get(
        "files", "Files: plan.json (the plan service's format), plan.add.xml (SUMO tlLogic), timing.csv (the timing "
                 "sheet below), flows.csv (estimated flows).")))
    if data.plan.schedule:
        blocks.append(("p", "Schedule: " + ", ".join(f"{e.period} from {e.start_s / 3600:.2f} h"
                                                     for e in data.plan.schedule)))
    if "safety" in extra:
        blocks.append(("p", extra["safety"]))
    if extra.get("pushes"):
        blocks.append(("h2", "Plans pushed"))
        blocks.append(("p", "Every plan pushed into the running twin (each passed the safety gate), kept as a file; "
                            "the mean cycle over the lights."))
        blocks.append(("table", pd.DataFrame(extra["pushes"])))
    blocks.extend(timing_blocks(data))

    blocks.append(("h2", "Junctions: control delay and HCM level of service"))
    jt = junction_table(data.junctions, data.strategies)
    show = pd.DataFrame({"junction": jt["junction"]})
    for s in data.strategies:
        show[f"{s} delay (s)"] = [_f(x) for x in jt[f"{s}:delay_s"]]
        show[f"{s} LOS"] = jt[f"{s}:los"]
    blocks.append(("table", show))

    blocks.extend(spm_blocks(data))

    blocks.append(("h2", "Movements: v/c (estimated flow over capacity)"))
    vc = movement_vc(data.network, data.flows, data.plan)
    if len(vc):
        over_old = int((vc["vc_existing"] > 1).sum())
        over_new = int((vc["vc_plan"] > 1).sum())
        blocks.append(("p", f"{len(vc)} movements; v/c > 1 under the existing programs: {over_old}, under the new "
                            f"plans: {over_new}. The 15 highest under either (all in vc.csv):"))
        top = vc.assign(worst=vc[["vc_existing", "vc_plan"]].max(axis=1)).sort_values("worst", ascending=False).head(15)
        blocks.append(("table", pd.DataFrame({
            "junction": top["junction"], "movement": top["from_edge"] + " -> " + top["to_edge"], "turn": top["turn"],
            "flow (veh/h)": [_f(x, 0) for x in top["flow_vph"]],
            "v/c existing": [_f(x, 2) for x in top["vc_existing"]], "v/c new": [_f(x, 2) for x in top["vc_plan"]]})))

    blocks.append(("h2", "Figures"))
    for name, title in FIGURES.items():
        blocks.append(("img", f"figures/{name}", title))
    if data.timings:
        blocks.append(("h2", "Steps"))
        blocks.append(("table", pd.DataFrame({"step": list(data.timings),
                                              "wall time (s)": [_f(v) for v in data.timings.values()]})))
    return blocks


def _md_table(frame: pd.DataFrame) -> str:
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(str(x).replace("|", "/") for x in row) + " |")
    return "\n".join(lines)


def _to_markdown(blocks) -> str:
    out = []
    previous = None
    for b in blocks:
        kind = b[0]
        if previous == "li" and kind != "li":
            out.append("")
        previous = kind
        if kind == "h1":
            out.append(f"# {b[1]}\n")
        elif kind == "h2":
            out.append(f"\n## {b[1]}\n")
        elif kind == "h3":
            out.append(f"\n### {b[1]}\n")
        elif kind == "p":
            out.append(f"{b[1]}\n")
        elif kind == "li":
            out.append(f"- {b[1]}")
        elif kind == "table":
            out.append("\n" + _md_table(b[1]) + "\n")
        elif kind == "img":
            out.append(f"\n![{b[2]}]({b[1]})\n")
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}th,td{border:1px solid #ccc;padding:.25em .5em;
text-align:left}th{background:#f3f3f3}figure{margin:1.2em 0}img{max-width:100%;border:1px solid #ddd}
figcaption{font-size:.9em;color:#555}li{margin:.2em 0}
"""


def _to_html(blocks, title: str) -> str:
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">', f"<title>{e(title)}</title>",
           f"<style>{_CSS}</style>", "</head>", "<body>"]
    in_list = False
    for b in blocks:
        kind = b[0]
        if kind != "li" and in_list:
            out.append("</ul>")
            in_list = False
        if kind == "h1":
            out.append(f"<h1>{e(b[1])}</h1>")
        elif kind in ("h2", "h3"):
            out.append(f"<{kind}>{e(b[1])}</{kind}>")
        elif kind == "p":
            out.append(f"<p>{e(b[1])}</p>")
        elif kind == "li":
            if not in_list:
                out.append("<ul>")
                in_list = True
            out.append(f"<li>{e(b[1])}</li>")
        elif kind == "table":
            frame = b[1]
            out.append("<table><thead><tr>" + "".join(f"<th>{e(str(c))}</th>" for c in frame.columns) + "</tr></thead><tbody>")
            for row in frame.itertuples(index=False):
                out.append("<tr>" + "".join(f"<td>{e(str(x))}</td>" for x in row) + "</tr>")
            out.append("</tbody></table>")
        elif kind == "img":
            out.append(f'<figure><img src="{e(b[1])}" alt="{e(b[2])}"><figcaption>{e(b[2])}</figcaption></figure>')
    if in_list:
        out.append("</ul>")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


def write_report(data: ReportData, out: str | Path, *, extra: dict | None = None) -> dict[str, Path]:
    """Write ``report.md``, ``report.html``, ``figures/*.png``, the CSV tables and the saved data into ``out``.

    ``extra`` lines are kept in ``data.extra`` (so a re-render shows them).

    Returns
    -------
    dict
        Paths by name: ``report.md``, ``report.html``, each figure, ``strategies.csv``,
        ``ranking.csv``, ``pairwise.csv``, ``warnings.csv``, ``runs.csv``, ``junctions.csv``,
        ``vc.csv``, ``timing.csv`` (the new plans), ``timing_existing.csv``, ``spm.csv`` (when
        events were logged) and ``report_data``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data.extra = {**data.extra, **(extra or {})}
    paths: dict[str, Path] = {}
    paths.update(render_figures(data, out / "figures"))
    table = strategy_table(data.runs, data.strategies, data.baseline)
    tables = {
        "strategies.csv": table,
        "ranking.csv": ranking_table(table, data.strategies),
        "pairwise.csv": pairwise_table(data.runs, data.strategies),
        "warnings.csv": report_warnings(data),
        "runs.csv": data.runs,
        "junctions.csv": junction_table(data.junctions, data.strategies),
        "vc.csv": movement_vc(data.network, data.flows, data.plan),
        "timing.csv": timing_table(data.plan, data.network),
        "timing_existing.csv": timing_table(data.existing_plan, data.network),
    }
    if data.spm is not None:
        tables["spm.csv"] = data.spm
    for name, frame in tables.items():
        frame.to_csv(out / name, index=False)
        paths[name] = out / name
    paths["report_data"] = data.save(out)
    blocks = report_blocks(data)
    (out / "report.md").write_text(_to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(_to_html(blocks, report_title(data)), encoding="utf-8")
    paths["report.md"] = out / "report.md"
    paths["report.html"] = out / "report.html"
    return paths
