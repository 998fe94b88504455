"""`citybrain bench`: a sweep into the store, the re-run that skips it, the report; killed midway and resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from click.testing import CliRunner

from citybrain.app.bench import RunStore
from citybrain.app.cli import cli

from ...conftest import ROOT
from .conftest import PLUGINS, bench_command, run_bench

pytestmark = pytest.mark.sumo

DEMO = ROOT / "scenarios" / "demo.toml"


def test_a_sweep_stores_every_run_a_rerun_skips_them_and_the_report_compares_them(lone_toml, tmp_path):
    args = [str(a) for a in ("bench", "--scenarios", lone_toml, DEMO, "--controllers", "fixed",
                             f"{PLUGINS}:NextGreen", "--seeds", "2", "--duration", "120", "--workers", "2",
                             "--results", tmp_path)]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    final = RunStore(tmp_path).final()
    assert len(final) == 8 and set(final["status"]) == {"ok"}
    assert sorted(set(zip(final["scenario"], final["controller"], final["seed"]))) == sorted(
        (s, c, k) for s in ("demo", "lone") for c in ("fixed", f"{PLUGINS}:NextGreen") for k in (1, 2))
    assert np.isfinite(final["delay_s"]).all() and (final["arrived"] > 0).all()
    assert set(final["sumo_version"]) == {"1.28.0"} and (final["violations_ours"] == 0).all()

    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0 and "8 runs: 8 already stored, 0 to run" in again.stderr
    assert len(list((tmp_path / "runs").glob("*.parquet"))) == 8

    report = CliRunner().invoke(cli, ["bench", "report", str(tmp_path)])
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report.md").read_text()
    assert "## lone (0-120 s, native protocol, SUMO 1.28.0)" in text and "| rank | controller |" in text
    assert len(list((tmp_path / "report").glob("delay_*.png"))) == 2
    runs = json.loads(CliRunner().invoke(cli, ["bench", "report", str(tmp_path), "--json"]).stdout)["runs"]
    assert len(runs) == 8 and {"scenario", "controller", "seed", "status", "delay_s", "violations"} <= set(runs[0])
    by = {(r["scenario"], r["controller"], r["seed"]): r["delay_s"] for r in runs}
    assert by == {(r.scenario, r.controller, r.seed): r.delay_s for r in final.itertuples()}


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_a_sweep_killed_midway_then_rerun_finishes_only_the_missing_runs(lone_toml, tmp_path, how):
    args = ("--scenarios", lone_toml, "--controllers", "fixed", "maxpressure", "--seeds", "3",
            "--duration", "120", "--workers", "2", "--results", tmp_path)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(bench_command(*args), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "runs").glob("*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    if how == "SIGKILL":
        os.killpg(proc.pid, signal.SIGKILL)  # the command and every run's process with it
    else:
        proc.send_signal(signal.SIGTERM)  # the command alone: it stops its runs
    _, err = proc.communicate(timeout=60)
    stored = RunStore(tmp_path).done_ids()
    assert 1 <= len(stored) < 6, "kill the sweep midway"
    if how == "SIGTERM":
        assert proc.returncode == 130 and "run the same command again" in err

    rerun = run_bench(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert f"6 runs: {len(stored)} already stored, {6 - len(stored)} to run" in rerun.stderr
    rows = RunStore(tmp_path).rows()
    assert len(rows) == 6 and set(rows["status"]) == {"ok"} and rows["run_id"].is_unique
