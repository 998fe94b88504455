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

from .data import ReportData
from .figures import FIGURES, render_figures
from .tables import METRICS, flow_comparison, junction_table, movement_vc, storage_table, strategy_table

__all__ = ["write_report", "report_blocks", "headline"]


def _f(x, digits: int = 1) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.{digits}f}"


def headline(data: ReportData, table: pd.DataFrame | None = None) -> list[str]:
    """One line per strategy: its delay against the existing programs, with the margin."""
    table = strategy_table(data.runs, data.strategies) if table is None else table
    d = table[table["metric"] == "delay_s"].set_index("strategy")
    if "existing" not in d.index:
        return []
    base = d.loc["existing", "mean"]
    out = []
    for s in data.strategies[1:]:
        if s not in d.index:
            continue
        r = d.loc[s]
        better = r["change"] < 0
        sig = math.isfinite(r["change_ci95"]) and abs(r["change"]) > r["change_ci95"]
        verdict = ("beats" if better else "does not beat") + " the existing programs"
        if math.isfinite(r["change_ci95"]):
            verdict += " (significant at 95%)" if sig else " (not significant at 95%)"
        out.append(
            f"{data.label(s)}: delay {_f(r['mean'])} s/veh vs {_f(base)} s/veh, "
            f"margin {_f(-r['change'])} s/veh ({_f(-r['change_pct'])}%, paired 95% CI +/-{_f(r['change_ci95'])}): "
            f"{verdict}."
        )
    return out


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


def report_blocks(data: ReportData, extra: dict | None = None) -> list[tuple]:
    """Return the report as blocks: ``("h1"|"h2"|"p"|"li", text)``, ``("table", frame)``, ``("img", file, title)``."""
    extra = extra or {}
    table = strategy_table(data.runs, data.strategies)
    blocks: list[tuple] = [("h1", f"citybrain run: {data.scenario}")]
    if data.description:
        blocks.append(("p", data.description))
    blocks.append(("p", f"Window {data.begin_s:g}-{data.end_s:g} s ({(data.end_s - data.begin_s) / 3600:g} h); "
                        f"validation seeds {', '.join(map(str, data.seeds))} (the same for every strategy); "
                        f"{data.counts_source or f'counts from a separate run (seed {data.count_seed})'}; "
                        f"SUMO {data.sumo_version}."))
    blocks.append(("h2", "Result"))
    for line in headline(data, table):
        blocks.append(("li", line))
    blocks.append(("h2", "Strategies"))
    rows = []
    for s in data.strategies:
        part = table[table["strategy"] == s].set_index("metric")
        row = {"strategy": data.label(s), "runs": int(part["n"].max()) if len(part) else 0}
        for metric, label, unit, _ in METRICS:
            r = part.loc[metric]
            cell = (f"{_f(r['mean'])} +/- {_f(r['sd'])} [CI +/-{_f(r['ci95'])}]" if math.isfinite(r["ci95"])
                    else f"{_f(r['mean'])} (one seed)")
            if s != "existing" and math.isfinite(r["change"]):
                cell += f" ({'+' if r['change'] >= 0 else ''}{_f(r['change_pct'])}%)"
            row[f"{label} ({unit})"] = cell
        rows.append(row)
    blocks.append(("table", pd.DataFrame(rows)))
    blocks.append(("p", "Cells: mean +/- s.d. over seeds [95% confidence half-width, Student t]; in brackets the "
                        "change against the existing programs (paired by seed). Delay is RESCO's: time loss plus "
                        "insertion delay per vehicle; throughput is vehicles arrived."))
    if len(data.seeds) < 2:
        blocks.append(("p", "One seed only: no spread or confidence interval can be given, and one seed proves "
                            "little; run with --seeds 3 or more before relying on a ranking."))
    failed = data.runs[data.runs["error"].notna()]
    for _, r in failed.iterrows():
        blocks.append(("li", f"FAILED: {r['strategy']} seed {r['seed']}: {str(r['error']).splitlines()[0]}"))
    grid = data.runs[data.runs["gridlocked"].fillna(False).astype(bool)]
    for _, r in grid.iterrows():
        blocks.append(("li", f"GRIDLOCK: {r['strategy']} seed {r['seed']}"))
    for note in data.notes:
        blocks.append(("li", note))
    blocks.extend(monitor_blocks(data))

    blocks.append(("h2", "Counts and flow estimate"))
    fit = data.fit
    blocks.append(("p", f"{fit.get('counts', 0)} counts checked, no problems; {fit.get('movements', 0)} movements x "
                        f"{fit.get('intervals', 0)} intervals of {fit.get('interval_s', 0):g} s estimated. Fit to the "
                        f"counts: GEH < 5 on {_f(100 * fit.get('fit_geh_below_5', math.nan))}% "
                        f"(mean GEH {_f(fit.get('fit_geh_mean', math.nan), 2)})."))
    if data.truth is not None and len(data.truth):
        comp = flow_comparison(data.flows, data.truth)
        blocks.append(("p", f"Against the twin's true movement counts (window flows): GEH < 5 on "
                            f"{_f(100 * float((comp['geh'] < 5).mean()))}% of {len(comp)} movements; mean GEH "
                            f"{_f(float(comp['geh'].mean()), 2)}; largest {_f(float(comp['geh'].max()), 2)}."))

    blocks.append(("h2", "New plans"))
    blocks.append(("p", f"Method: {data.plan_method}. Files: plan.json (the plan service's format), plan.add.xml "
                        f"(SUMO tlLogic), flows.csv (estimated flows)."))
    prow = []
    for period in data.plan.periods:
        for p in period.plans:
            prow.append({"period": period.name, "light": p.tls, "cycle (s)": _f(p.cycle_s, 0),
                         "offset (s)": _f(p.offset_s, 0),
                         "greens (s)": " / ".join(_f(ph.green_s, 0) for ph in p.phases),
                         "method": p.method})
    blocks.append(("table", pd.DataFrame(prow)))
    if data.plan.schedule:
        blocks.append(("p", "Schedule: " + ", ".join(f"{e.period} from {e.start_s / 3600:.2f} h"
                                                     for e in data.plan.schedule)))
    if "safety" in extra:
        blocks.append(("p", extra["safety"]))

    blocks.append(("h2", "Junctions: control delay and HCM level of service"))
    jt = junction_table(data.junctions, data.strategies)
    show = pd.DataFrame({"junction": jt["junction"]})
    for s in data.strategies:
        show[f"{s} delay (s)"] = [_f(x) for x in jt[f"{s}:delay_s"]]
        show[f"{s} LOS"] = jt[f"{s}:los"]
    blocks.append(("table", show))

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

    blocks.append(("h2", "Queues beyond the storage length of their lane"))
    st = storage_table(data.lanes)
    if len(st):
        blocks.append(("table", pd.DataFrame({
            "strategy": [data.label(s) for s in st["strategy"]], "lane": st["lane"], "junction": st["junction"],
            "length (m)": [_f(x, 0) for x in st["length_m"]], "peak queue (m)": [_f(x, 0) for x in st["peak_queue_m"]],
            "seeds": st["seeds_over"]})))
    else:
        blocks.append(("p", "None: no approach lane's peak one-minute queue (7.5 m per halting vehicle) exceeded its "
                            "length under any strategy."))

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
    for b in blocks:
        kind = b[0]
        if kind == "h1":
            out.append(f"# {b[1]}\n")
        elif kind == "h2":
            out.append(f"\n## {b[1]}\n")
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
        elif kind == "h2":
            out.append(f"<h2>{e(b[1])}</h2>")
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
    """Write ``report.md``, ``report.html``, ``figures/*.png`` and the CSV tables into ``out``.

    Returns
    -------
    dict
        Paths by name: ``report.md``, ``report.html``, each figure, ``strategies.csv``,
        ``runs.csv``, ``junctions.csv``, ``vc.csv``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    paths.update(render_figures(data, out / "figures"))
    table = strategy_table(data.runs, data.strategies)
    table.to_csv(out / "strategies.csv", index=False)
    data.runs.to_csv(out / "runs.csv", index=False)
    junction_table(data.junctions, data.strategies).to_csv(out / "junctions.csv", index=False)
    movement_vc(data.network, data.flows, data.plan).to_csv(out / "vc.csv", index=False)
    for name in ("strategies.csv", "runs.csv", "junctions.csv", "vc.csv"):
        paths[name] = out / name
    blocks = report_blocks(data, extra)
    (out / "report.md").write_text(_to_markdown(blocks), encoding="utf-8")
    (out / "report.html").write_text(_to_html(blocks, f"citybrain run: {data.scenario}"), encoding="utf-8")
    paths["report.md"] = out / "report.md"
    paths["report.html"] = out / "report.html"
    return paths
