"""The report of a results store: statistics per scenario x controller against a baseline.

For every study (a scenario, window, protocol and SUMO version) and controller: runs, failed
runs, the mean, sample sd and 95% confidence interval (Student's t) of each run's delay
(s/veh), the change against the baseline controller on the same seeds, and a paired t-test
over those seeds (:func:`scipy.stats.ttest_rel`; ``*`` p < 0.05, ``**`` p < 0.01); controllers
are ranked by mean delay (1 = lowest). :func:`write_report` writes ``report.md`` with one bar
chart per study (``report/delay_<study>.png``, 95% CI error bars); for the RESCO scenarios the
published RESCO table stands beside ours (:mod:`.published`). :func:`runs_json` gives every
stored run as one object.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from citybrain.exceptions import ValidationError

from .published import RESCO_SCENARIOS, resco_published
from .store import METRICS, RunStore

__all__ = ["STUDY", "summary_table", "runs_json", "write_report"]

#: The columns that make a study: runs compared with each other share them.
STUDY: tuple[str, ...] = ("scenario", "window_begin_s", "window_end_s", "protocol", "sumo_version")
_OTHER = ("delay_all_s", "trip_time_s", "waiting_s", "stops", "queue_veh", "arrived", "never_inserted", "violations",
          "violations_ours")


def _ci95(values: np.ndarray) -> float:
    """Half-width of the 95% confidence interval of the mean (Student's t); nan below two values."""
    n = len(values)
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.975, n - 1) * values.std(ddof=1) / math.sqrt(n))


def _paired_p(ours: pd.Series, base: pd.Series) -> tuple[float, int]:
    """Paired t-test p-value over the seeds both have, and how many they share (nan below two)."""
    both = pd.concat([ours, base], axis=1, join="inner").dropna()
    n = len(both)
    if n < 2:
        return math.nan, n
    diff = (both.iloc[:, 0] - both.iloc[:, 1]).to_numpy()
    if np.allclose(diff, diff[0]):  # no spread of the differences: t is 0 or infinite
        return (math.nan if diff[0] == 0 else 0.0), n
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(both.iloc[:, 0], both.iloc[:, 1]).pvalue), n


def _mark(p: float) -> str:
    return "" if math.isnan(p) else "**" if p < 0.01 else "*" if p < 0.05 else ""


def summary_table(final: pd.DataFrame, baseline: str = "fixed", metric: str = "delay_s") -> pd.DataFrame:
    """One row per study x controller: n, failed, mean, sd, ci95, change against ``baseline``, p, mark, rank.

    Parameters
    ----------
    final : pandas.DataFrame
        One row per run (:meth:`RunStore.final`).
    baseline : str
        The controller (its stored key) changes are measured against.
    metric : str
        The metric (a :data:`~.store.METRICS` name).
    """
    rows = []
    for study, group in final.groupby(list(STUDY), sort=False, dropna=False):
        ok = group[group["status"] == "ok"]
        base = ok[ok["controller"] == baseline].set_index("seed")[metric]
        for controller in dict.fromkeys(group["controller"]):
            mine = group[group["controller"] == controller]
            good = mine[mine["status"] == "ok"]
            values = good[metric].astype(float).dropna().to_numpy()
            mean = float(values.mean()) if len(values) else math.nan
            p, pairs = _paired_p(good.set_index("seed")[metric].astype(float), base.astype(float)) \
                if controller != baseline and len(base) else (math.nan, 0)
            base_mean = float(base.loc[base.index.isin(good["seed"])].mean()) if len(base) else math.nan
            own_mean = float(good.loc[good["seed"].isin(base.index), metric].mean()) if len(base) else math.nan
            change = own_mean - base_mean if pairs else math.nan
            rows.append({**dict(zip(STUDY, study, strict=True)), "controller": controller, "n": len(values),
                         "failed": int((mine["status"] != "ok").sum()), "mean": mean,
                         "sd": float(values.std(ddof=1)) if len(values) > 1 else math.nan, "ci95": _ci95(values),
                         "pairs": pairs, "change": change,
                         "change_pct": 100.0 * change / base_mean if pairs and base_mean else math.nan,
                         "p_value": p, "mark": _mark(p)})
    table = pd.DataFrame(rows)
    if len(table):
        table["rank"] = table.groupby(list(STUDY), dropna=False)["mean"].rank(method="min").astype("Int64")
    return table


def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.generic):
        return _clean(value.item())
    return value


def runs_json(store: RunStore) -> list[dict]:
    """Every stored run (its final attempt) as an object: scenario, controller, seed, status, and its metrics."""
    out = []
    for row in store.final().to_dict("records"):
        obj = {k: _clean(row[k]) for k in ("scenario", "controller", "seed", "status", "error", "protocol",
                                           "sumo_version", "citybrain_version", "attempt", "run_id")}
        obj["params"] = json.loads(row["params"]) if row.get("params") else {}
        obj["window_s"] = [_clean(row["window_begin_s"]), _clean(row["window_end_s"])]
        obj.update({m: _clean(row[m]) for m in METRICS})
        obj.update({k: _clean(row[k]) for k in row if k.startswith("violations")})
        obj.update({"gridlocked": bool(row["gridlocked"]), "wall_s": _clean(row["wall_s"])})
        out.append(obj)
    return out


def _f(x: float, digits: int = 2) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_")


def _chart(table: pd.DataFrame, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 0.9 * len(table) + 2), 4.0))
    x = np.arange(len(table))
    ax.bar(x, table["mean"], yerr=table["ci95"].fillna(0.0), capsize=4, color="#4C72B0")
    ax.set_xticks(x, table["controller"], rotation=30, ha="right")
    ax.set_ylabel("delay (s/veh): mean, 95% CI over seeds")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(store: RunStore, baseline: str = "fixed", *, baseline_given: bool = False) -> Path:
    """Write ``report.md`` and its charts into the store's folder; return the report's path.

    Raises
    ------
    ValidationError
        If the store holds no run, or ``baseline_given`` and no study has the baseline.
    """
    final = store.final()
    if final.empty:
        msg = f"{store.folder}: no stored runs under {store.runs} (run `citybrain bench ... --results {store.folder}` first)."
        raise ValidationError(msg)
    if baseline_given and baseline not in set(final["controller"]):
        msg = (f"--baseline {baseline!r}: no stored run of that controller; stored: "
               f"{', '.join(sorted(set(final['controller'])))}.")
        raise ValidationError(msg)
    table = summary_table(final, baseline)
    others = final[final["status"] == "ok"].groupby(list(STUDY) + ["controller"], sort=False, dropna=False)[
        list(_OTHER)].mean()
    n_ok = int((final["status"] == "ok").sum())
    lines = [f"# Benchmark report: {store.folder}", "",
             f"{len(final)} runs stored: {n_ok} ok, {len(final) - n_ok} failed. citybrain "
             f"{', '.join(sorted(set(final['citybrain_version'])))}. Delay is s/veh (timeLoss + departDelay per trip); "
             f"change and paired t-test (`*` p < 0.05, `**` p < 0.01) against `{baseline}` on the seeds both ran; "
             "95% CI from Student's t.", ""]
    published = resco_published()
    for study, group in table.groupby(list(STUDY), sort=False, dropna=False):
        info = dict(zip(STUDY, study, strict=True))
        title = (f"{info['scenario']} ({info['window_begin_s']:g}-{info['window_end_s']:g} s, {info['protocol']} "
                 f"protocol, SUMO {info['sumo_version']})")
        group = group.sort_values(["rank", "controller"], na_position="last")
        lines += [f"## {title}", ""]
        if baseline not in set(group["controller"]):
            lines += [f"No `{baseline}` run here: no change against the baseline.", ""]
        lines += ["| rank | controller | runs | failed | delay mean | sd | 95% CI | change | change % | p (paired) |",
                  "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in group.itertuples():
            ci = "-" if math.isnan(r.ci95) else f"{r.mean - r.ci95:.2f} - {r.mean + r.ci95:.2f}"
            lines.append(f"| {'-' if pd.isna(r.rank) else int(r.rank)} | {r.controller} | {r.n} | {r.failed} | "
                         f"{_f(r.mean)} | {_f(r.sd)} | {ci} | {_f(r.change)} | {_f(r.change_pct, 1)} | "
                         f"{_f(r.p_value, 3)}{r.mark} |")
        lines += ["", "Other metrics (means over the ok runs): delay counting never-inserted vehicles, trip time, "
                  "waiting (s/veh), stops per vehicle, queue (veh), arrived and never-inserted vehicles, conflict-monitor "
                  "violations (all, and by plans or controllers of ours).", "",
                  "| controller | " + " | ".join(_OTHER) + " |", "|---|" + "---:|" * len(_OTHER)]
        for controller in group["controller"]:
            key = (*study, controller)
            if key in others.index:
                lines.append(f"| {controller} | " + " | ".join(_f(float(others.loc[key, c])) for c in _OTHER) + " |")
        if info["scenario"] in RESCO_SCENARIOS:
            lines += _resco_lines(info, group, others, study, published)
        png = _chart(group.dropna(subset=["mean"]), title, store.folder / "report" / f"delay_{_slug(title)}.png")
        lines += ["", f"![{title}](report/{png.name})", ""]
        mask = final["status"] != "ok"
        for column, value in info.items():
            mask &= final[column] == value
        failed = final[mask]
        if len(failed):
            lines += ["Failed runs:", ""] + [f"- {r.controller} seed {r.seed} (attempt {r.attempt}): "
                                             f"{str(r.error).strip().splitlines()[0] if r.error else '?'}"
                                             for r in failed.itertuples()] + [""]
    path = store.folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _resco_lines(info: dict, group: pd.DataFrame, others: pd.DataFrame, study: tuple, published: pd.DataFrame) -> list[str]:
    """The published RESCO table beside ours (delay counting never-inserted vehicles, RESCO's definition)."""
    pub = published[published["scenario"] == info["scenario"]].sort_values("delay_s")
    lines = ["", f"Published RESCO results for {info['scenario']} beside ours. Published: {pub['source'].iloc[0]}; "
             "baselines are means over episodes, learners their best episode. Ours: mean over seeds of the delay "
             "counting never-inserted vehicles (RESCO's definition). Compare only under SUMO 1.9.1 (these runs: "
             f"SUMO {info['sumo_version']}).", "",
             "| source | controller | delay | sd | how |", "|---|---|---:|---:|---|"]
    lines += [f"| RESCO | {r.controller} | {_f(r.delay_s)} | {_f(r.delay_sd)} | {r.rule} |" for r in pub.itertuples()]
    for controller in group["controller"]:
        key = (*study, controller)
        if key in others.index:
            lines.append(f"| citybrain | {controller} | {_f(float(others.loc[key, 'delay_all_s']))} | - | mean over seeds |")
    return lines
