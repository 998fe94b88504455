"""Report figures and HTML, from a real shortened run of the demo scenario.

The HTML check opens the report in headless Chromium (Debian package ``chromium``); it skips,
saying so, when Chromium is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from citybrain.app.report import FIGURES, hcm_los, strategy_table
from citybrain.app.report.figures import FIGURE_SIZES, _geh_band
from citybrain.app.report.tables import main_corridor, mean_ci
from citybrain.app.runner import Progress, run_job

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--allow-file-access-from-files",
    "--virtual-time-budget=5000",
]


@pytest.fixture(scope="module")
def job(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    return run_job("scenarios/demo.toml", out, seeds=[0, 1], strategies=["existing", "plan"], duration_s=600,
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


def _chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.mark.sumo
def test_report_html_opens_in_headless_chromium(job, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    html = (job.out / "report.html").read_text()
    assert "<script" not in html
    probe = """<script>
var errors = [];
window.addEventListener('error', function (e) { errors.push('js:' + (e.message || e.target.src)); }, true);
window.addEventListener('load', function () {
  var imgs = document.images, bad = [];
  for (var i = 0; i < imgs.length; i++) {
    if (!imgs[i].complete || imgs[i].naturalWidth === 0) bad.push(imgs[i].getAttribute('src'));
  }
  document.body.setAttribute('data-check', 'images=' + imgs.length + ';bad=' + bad.join(',') +
    ';errors=' + errors.join(','));
});
</script>"""
    check = job.out / "check.html"
    check.write_text(html.replace("<head>", "<head>" + probe, 1))
    env = dict(os.environ, HOME=str(tmp_path))
    proc = subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", check.as_uri()],
        capture_output=True, text=True, timeout=120, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r'data-check="([^"]*)"', proc.stdout)
    assert found, proc.stdout[:2000]
    assert found.group(1) == f"images={len(FIGURES)};bad=;errors=", found.group(1)
    assert "citybrain run: demo" in proc.stdout


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
def test_one_seed_report_shows_means_and_says_one_seed_proves_little(tmp_path):
    one = run_job("scenarios/demo.toml", tmp_path, seeds=[0], strategies=["existing", "plan"], duration_s=600,
                  progress=Progress(enabled=False))
    md = (one.out / "report.md").read_text()
    assert "(one seed)" in md and "one seed proves little" in md
    assert "+/- -" not in md and "+/-nan" not in md and "[CI +/--]" not in md
