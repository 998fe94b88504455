"""Report figures, tables and HTML, from real shortened runs of the demo scenario (3 seeds and 1 seed).

The HTML check opens the report in headless Chromium through Selenium (Debian packages
``chromium`` and ``chromium-driver``); it skips, saying so, when either is missing.
"""

from __future__ import annotations

import math
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.app.report import FIGURES, METRICS, hcm_los, strategy_table
from citybrain.app.report.warnings import report_warnings
from citybrain.app.report.figures import FIGURE_SIZES, _geh_band
from citybrain.app.report.tables import main_corridor, mean_ci
from citybrain.app.runner import Progress, run_job

@pytest.fixture(scope="module")
def job(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return run_job("scenarios/demo.toml", out, seeds=3, strategies=["existing", "plan", "actuated-pressure"],
                   duration_s=600, progress=Progress(enabled=False))


@pytest.fixture(scope="module")
def one(tmp_path_factory):
    out = tmp_path_factory.mktemp("one")
    return run_job("scenarios/demo.toml", out, seeds=[0], strategies=["existing", "plan"], duration_s=600,
                   progress=Progress(enabled=False))


def _png(path) -> tuple[int, int, np.ndarray]:
    """Width, height and pixels of a PNG (read by Pillow, independently of matplotlib's writer)."""
    from PIL import Image

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(path) as im:
        im.load()
        return im.width, im.height, np.asarray(im.convert("RGB"), dtype=np.int64)


@pytest.mark.sumo
def test_figures_are_images_of_the_expected_size(job):
    for name in FIGURES:
        path = job.out / "figures" / name
        assert path.is_file(), name
        w, h, px = _png(path)
        assert (w, h) == FIGURE_SIZES[name], name
        rgb = px.reshape(-1, 3)
        assert len(np.unique(rgb[:: max(1, len(rgb) // 20000)], axis=0)) > 8, f"{name} looks blank"
        dark = (rgb.sum(axis=1) < 600).mean()
        assert dark > 0.005, f"{name} has almost nothing drawn"


@pytest.mark.sumo
def test_report_markdown_matches_runs(job):
    md = (job.out / "report.md").read_text()
    table = strategy_table(job.data.runs, job.data.strategies)
    mean = table[(table["strategy"] == "plan") & (table["metric"] == "delay_s")]["mean"].iloc[0]
    assert f"{mean:.1f}" in md
    for name in FIGURES:
        assert f"figures/{name}" in md


@pytest.mark.sumo
def test_report_html_opens_in_headless_chromium_without_console_errors(job, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver", reason="Selenium is in the test extra")
    browser, driver = shutil.which("chromium") or "/usr/bin/chromium", shutil.which("chromedriver")
    if not (os.path.exists(browser) and driver):
        pytest.skip("Chromium and its driver are not installed (apt-get install chromium chromium-driver)")
    html = (job.out / "report.html").read_text()
    assert "<script" not in html
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,2000",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    chrome = webdriver.Chrome(options=options, service=Service(driver))
    try:
        chrome.get((job.out / "report.html").as_uri())
        loaded = chrome.execute_script(
            "return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0);")
        severe = [e for e in chrome.get_log("browser") if e["level"] == "SEVERE"]
        headings = chrome.execute_script("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent);")
        chrome.save_screenshot(str(job.out / "report_screenshot.png"))
    finally:
        chrome.quit()
    assert loaded == [True] * len(FIGURES)
    assert severe == []
    for section in ("Result", "Warnings", "Strategies", "Ranking", "Pairwise changes", "Timing sheet", "Figures"):
        assert section in headings


def test_hcm_los_thresholds():
    assert [hcm_los(x) for x in (5, 10, 10.1, 20, 35, 55, 80, 80.1)] == ["A", "A", "B", "B", "C", "D", "E", "F"]
    assert hcm_los(float("nan")) == "-"


def test_mean_ci_student_t():
    mean, sd, ci = mean_ci([1.0, 2.0, 3.0])
    assert (mean, sd) == (2.0, 1.0)
    assert ci == pytest.approx(4.302652729 / np.sqrt(3))
    assert np.isnan(mean_ci([1.0])[2])


def test_geh_band_edges_have_geh_5():
    t = np.array([0.0, 100.0, 1000.0])
    lo, hi = _geh_band(t)
    for e, tt in zip(hi, t, strict=True):
        assert np.sqrt(2 * (e - tt) ** 2 / (e + tt)) == pytest.approx(5.0)
    assert np.sqrt(2 * (lo[2] - 1000) ** 2 / (lo[2] + 1000)) == pytest.approx(5.0)


@pytest.mark.sumo
def test_main_corridor_of_the_arterial(job):
    chain = main_corridor(job.data.network, job.data.flows)
    assert [j for j, _ in chain] == ["J1", "J2", "J3", "J4", "J5"]


def test_default_strategies_include_the_recommended_adaptive_controller():
    from citybrain.app.runner.job import DEFAULT_STRATEGIES
    from citybrain.control import CONTROLLERS

    assert "actuated-pressure" in DEFAULT_STRATEGIES
    assert "actuated-pressure" in CONTROLLERS


@pytest.mark.sumo
def test_one_seed_report_shows_means_and_says_one_seed_proves_little(one):
    md = (one.out / "report.md").read_text()
    assert "(one seed)" in md and "one seed proves little" in md
    assert "+/- -" not in md and "+/-nan" not in md and "[CI +/--]" not in md
    assert "one seed: no interval can be given" in md
    pairs = pd.read_csv(one.out / "pairwise.csv")
    assert len(pairs) == len(METRICS) and pairs["ci_low"].isna().all() and pairs["significant"].isna().all()
    assert "## Ranking" in md


@pytest.mark.sumo
def test_three_seed_report_ranks_every_metric_and_gives_paired_intervals(job):
    runs = job.data.runs
    mean = runs.groupby("strategy")["delay_s"].mean()
    ranking = pd.read_csv(job.out / "ranking.csv")
    delay = ranking[ranking["metric"] == "delay_s"].sort_values("rank")
    assert list(delay["strategy"]) == list(mean.sort_values().index)
    assert delay["best"].tolist() == [True, False, False]
    assert set(ranking["metric"]) == {m for m, *_ in METRICS}
    md = (job.out / "report.md").read_text()
    assert f"1. {job.data.label(mean.idxmin())} {mean.min():.1f} (best)" in md
    pairs = pd.read_csv(job.out / "pairwise.csv")
    assert len(pairs) == 3 * len(METRICS)
    # the paired interval, computed here from the per-seed differences
    from scipy import stats

    row = pairs[(pairs["metric"] == "delay_s") & (pairs["a"] == "existing") & (pairs["b"] == "plan")].iloc[0]
    by = runs.set_index(["strategy", "seed"])["delay_s"]
    d = np.array([by["plan", k] - by["existing", k] for k in (0, 1, 2)])
    half = stats.t.ppf(0.975, 2) * d.std(ddof=1) / np.sqrt(3)
    assert row["change"] == pytest.approx(d.mean())
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert f"[{row['ci_low']:.1f}, {row['ci_high']:.1f}]" in md
    assert "one seed proves little" not in md


@pytest.mark.sumo
def test_warnings_flag_vc_short_cycles_and_unserved_demand(job):
    md = (job.out / "report.md").read_text()
    assert "## Warnings" in md
    data = job.data
    w = report_warnings(data, vc_limit=0.6, min_cycle_s=95.0)
    vc = w[w["kind"] == "v/c"]
    assert {"plan", "existing"} <= set(vc["strategy"])
    assert any("J1_J2 -> J2_J3" in x for x in vc["where"])  # the arterial through movement
    short = w[(w["kind"] == "short cycle") & (w["strategy"] == "existing")]
    assert sorted(x.split()[0] for x in short["where"]) == ["J1", "J2", "J3", "J4", "J5"]  # 90 s < 95 s
    assert report_warnings(data, vc_limit=5.0, min_cycle_s=1.0).query("kind in ['v/c', 'short cycle']").empty
    failing = data.spm[data.spm["split_failures"] > 0]
    flagged = report_warnings(data, split_failure_share=0.0).query("kind == 'split failures'")
    assert len(flagged) == len(failing)
    assert report_warnings(data, split_failure_share=1.0).query("kind == 'split failures'").empty
    runs = data.runs.copy()
    data.runs = runs.assign(never_inserted=np.where(runs["strategy"] == "plan", 4, 0))
    try:
        never = report_warnings(data).query("kind == 'never inserted'")
    finally:
        data.runs = runs
    assert list(never["strategy"]) == ["plan"] and "4 vehicle(s) per run" in never["detail"].iloc[0]


@pytest.mark.sumo
def test_timing_sheet_is_whole_seconds_summing_to_the_cycle_existing_beside_new(job):
    new = pd.read_csv(job.out / "timing.csv")
    old = pd.read_csv(job.out / "timing_existing.csv")
    for sheet in (new, old):
        for col in ("green_s", "yellow_s", "all_red_s", "walk_s", "ped_clearance_s", "split_s", "cycle_s", "offset_s"):
            assert sheet[col].dtype.kind == "i", col
        assert (sheet["green_s"] + sheet["yellow_s"] + sheet["all_red_s"] == sheet["split_s"]).all()
        sums = sheet.groupby(["light", "period"]).agg(split=("split_s", "sum"), cycle=("cycle_s", "first"))
        assert (sums["split"] == sums["cycle"]).all()
        assert sheet["name"].str.contains(r"(?:NB/SB|EB/WB) through").all()
    assert set(new["period"]) == {"00:00-00:10"} and set(old["period"]) == {"all-day"}
    assert (old["cycle_s"] == 90).all()
    md = (job.out / "report.md").read_text()
    section = md.split("### Light J3", 1)[1].split("###", 1)[0]
    rows = [x for x in section.splitlines() if x.startswith("| existing") or x.startswith("| new")]
    assert [x.split(" | ")[0] for x in rows] == ["| existing"] * 2 + ["| new"] * len(new[new["light"] == "J3"])
    import json

    plan = json.loads((job.out / "plan.json").read_text())
    lefts = {m.id for m in job.data.network.movements if m.turn in ("left", "partial_left")}
    protected = {m for p in plan["periods"][0]["plans"] for ph in p["phases"] for m in ph["protected"]}
    assert (plan["meta"]["left_turns"] == "permissive") == (not protected & lefts)  # not 'protected' beside permissive


@pytest.mark.sumo
def test_report_command_rerenders_a_run_with_another_corridor(job, tmp_path):
    res = CliRunner().invoke(cli, ["report", str(job.out), "--corridor", "J5,J4,J3", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "Ranking by delay" in res.output
    assert (tmp_path / "report.html").is_file() and (tmp_path / "timing.csv").read_text() == \
        (job.out / "timing.csv").read_text()
    assert (tmp_path / "figures" / "timespace.png").read_bytes() != (job.out / "figures" / "timespace.png").read_bytes()
    bad = CliRunner().invoke(cli, ["report", str(job.out), "--corridor", "J1,J3", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "no road link from J1 to J3" in bad.output
    empty = CliRunner().invoke(cli, ["report", str(tmp_path / "figures")])
    assert empty.exit_code == 2 and "no saved report data" in empty.output and "Traceback" not in empty.output
    (tmp_path / "report_data" / "meta.json").write_text("{not json")
    broken = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert broken.exit_code == 2 and "meta.json: not the JSON 'citybrain run' writes" in broken.output


@pytest.mark.sumo
def test_report_shows_signal_performance_measures_existing_beside_new(job):
    spm = pd.read_csv(job.out / "spm.csv")
    assert set(spm["strategy"]) == {"existing", "plan"} and set(spm["seed"]) == {0}
    assert sorted(spm["signal_id"].unique()) == ["J1", "J2", "J3", "J4", "J5"]
    assert (spm["arrivals_on_green"] <= spm["arrivals"]).all() and spm["arrivals"].sum() > 0
    assert (job.out / "runs" / "plan" / "seed0" / "events.csv").is_file()
    md = (job.out / "report.md").read_text()
    part = spm[spm["strategy"] == "plan"]
    share = 100.0 * part["arrivals_on_green"].sum() / part["arrivals"].sum()
    assert f"new plans (citybrain): {share:.1f}% of {part['arrivals'].sum():.0f} arrivals on green" in md


@pytest.mark.sumo
def test_queue_windows_hold_whole_cycles_of_every_fixed_plan(job):
    from citybrain.app.report.figures import queue_window_s

    window = queue_window_s(job.data)
    cycles = {round(sum(p.splits_s)) for plan in (job.data.existing_plan, job.data.plan) for _, p in plan.all_plans()}
    assert window % 60 == 0 and window >= max(300, 3 * max(cycles))
    last = 60 * max(5, math.ceil(3 * max(cycles) / 60)) + 19 * 60  # the longest of the 20 lengths tried
    if math.lcm(60, *cycles) <= last:  # one of them holds every cycle: the window does
        assert all(window % c == 0 for c in cycles), (window, cycles)
    elif math.lcm(60, max(cycles)) <= last:  # else one holding the longest cycle
        assert window % max(cycles) == 0, (window, cycles)


@pytest.mark.sumo
def test_measures_from_memory_equal_citybrain_spm_reading_the_files(job):
    from citybrain.spm import measures, read_detectors, read_events

    folder = job.out / "runs" / "plan" / "seed0"
    from_files = measures(read_events(folder / "events.csv"), read_detectors(folder / "detectors.csv"))
    spm = pd.read_csv(job.out / "spm.csv")
    mine = spm[spm["strategy"] == "plan"].reset_index(drop=True)
    for col in ("signal_id", "phase", "cycles", "arrivals", "arrivals_on_green", "split_failures"):
        assert mine[col].tolist() == from_files[col].tolist(), col
