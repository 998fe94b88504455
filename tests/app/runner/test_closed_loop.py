"""The closed loop (``citybrain run --replan-every``): real twin runs on the day scenario, shortened."""

from __future__ import annotations

import json
import pickle
from dataclasses import replace

import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli.run import run
from citybrain.app.report.data import ReportData
from citybrain.app.runner.closed_loop import LoopRun, LoopSpec, _window_start, run_closed_loop
from citybrain.exceptions import ValidationError
from simulation import load_scenario


@pytest.mark.sumo
def test_closed_loop_replans_and_beats_plans_once(tmp_path):
    # 1 h of counting under the existing programs, then the first 45 min of the morning peak
    result = CliRunner().invoke(run, ["scenarios/day.toml", "--out", str(tmp_path), "--replan-every", "15",
                                      "--seeds", "1", "--duration", "6300"])
    assert result.exit_code == 0, result.output + str(result.exception)
    runs = pd.read_csv(tmp_path / "closed_loop_runs.csv").set_index("variant")
    assert runs["error"].isna().all()
    assert runs.loc["plans-once", "plans_pushed"] == 1
    assert runs.loc["closed-loop", "plans_pushed"] >= 3
    assert runs.loc["closed-loop", "delay_s"] < runs.loc["plans-once", "delay_s"]
    assert "closed loop beats plans made once" in result.output
    assert (tmp_path / "closed_loop.md").is_file()
    replans = tmp_path / "runs" / "closed-loop" / "seed0" / "replans"
    assert list(replans.glob("counts_*.csv"))
    # the traffic state is refreshed with every re-plan, the latest beside the per-period ones
    states = sorted(replans.glob("traffic_state_*.geojson"))
    assert len(states) == runs.loc["closed-loop", "plans_pushed"]
    latest = json.loads((replans / "traffic_state.geojson").read_text())
    assert latest["type"] == "FeatureCollection" and latest["features"]
    assert latest == json.loads(max(states, key=lambda p: int(p.stem.rsplit("_", 1)[1])).read_text())
    # the same report as the main job, and every pushed plan kept as a file beside its flows
    pushed = sorted((tmp_path / "runs" / "closed-loop" / "seed0" / "pushed").glob("plan_*.json"))
    assert len(pushed) == runs.loc["closed-loop", "plans_pushed"]
    assert all(p.with_suffix(".flows.csv").is_file() for p in pushed)
    md = (tmp_path / "report.md").read_text()
    assert "# citybrain closed loop: day" in md and "## Ranking" in md and "## Timing sheet" in md
    assert all(f"runs/closed-loop/seed0/pushed/{p.name}" in md for p in pushed)
    assert (tmp_path / "report.html").is_file() and (tmp_path / "timing.csv").is_file()
    assert len(list((tmp_path / "figures").glob("*.png"))) == 5
    # every push (the first at 3600 s, as SUMO begins the existing programs' next cycle) switches safely
    monitor = ReportData.load(tmp_path).monitor
    assert monitor is not None and not monitor["ours"].any(), monitor.to_dict("records")


def test_closed_loop_needs_a_window_longer_than_the_counting_hour(tmp_path):
    day = load_scenario("scenarios/day.toml")
    with pytest.raises(ValidationError, match="longer than its first 3600 s"):
        LoopSpec(replace(day, end_s=day.begin_s + 1800.0), "closed-loop", 0)
    with pytest.raises(ValidationError, match="Unknown closed-loop variant"):
        LoopSpec(day, "sometimes", 0)
    with pytest.raises(ValidationError, match="longer than its first 3600 s"):  # refused before any run
        run_closed_loop("scenarios/day.toml", tmp_path, seeds=1, duration_s=1800)


def test_closed_loop_runs_its_variants_on_the_one_pool(tmp_path, monkeypatch):
    """Every variant and seed is one picklable LoopSpec handed to run_many; its results make the files."""
    import simulation.runner

    calls = []

    def fake_run_many(specs, workdir, **kwargs):
        calls.append((specs, workdir, kwargs))
        for s in specs:
            pickle.loads(pickle.dumps(s))  # it travels to a child process
        return [s.failed("not run in this test", 0.0) for s in specs]

    monkeypatch.setattr(simulation.runner, "run_many", fake_run_many)
    res = run_closed_loop("scenarios/day.toml", tmp_path, seeds=2, workers=1, duration_s=5400,
                          replan_every_min=20)
    ((specs, folders, kwargs),) = calls
    assert [(s.variant, s.seed) for s in specs] == [("plans-once", 0), ("closed-loop", 0), ("plans-once", 1),
                                                     ("closed-loop", 1)]
    assert all(isinstance(s, LoopSpec) and s.replan_every_s == 1200.0 and s.duration_s == 5400.0 for s in specs)
    assert folders[1] == (tmp_path / "runs" / "closed-loop" / "seed0").resolve()
    assert kwargs["workers"] == 1 and callable(kwargs["on_result"])
    assert all(isinstance(r, LoopRun) and r.error == "not run in this test" for r in res.runs)
    frame = pd.read_csv(tmp_path / "closed_loop_runs.csv")
    assert list(frame.columns) == ["variant", "seed", "delay_s", "delay_all_s", "trip_time_s", "waiting_s",
                                   "queue_veh", "arrived", "wall_s", "error", "plans_pushed"]
    assert "  FAILED closed-loop seed 1: not run in this test" in res.lines


def test_a_failed_closed_loop_run_exits_1_naming_its_error(tmp_path, monkeypatch):
    import simulation.runner

    def failing_run_many(specs, workdir, **kwargs):
        return [s.failed("counts_4440.csv: 0 rows, 1 problem(s):\n  the file has no data rows", 0.0)
                if s.variant == "closed-loop" else s.failed("plans-once broke", 0.0) for s in specs]

    monkeypatch.setattr(simulation.runner, "run_many", failing_run_many)
    result = CliRunner().invoke(run, ["scenarios/day.toml", "--out", str(tmp_path), "--replan-every", "15",
                                      "--seeds", "1", "--duration", "5400", "--quiet"])
    assert result.exit_code == 1, result.output
    assert ("Error: 2 of 2 closed-loop runs failed (first: plans-once seed 0: plans-once broke)"
            in result.output)
    assert "FAILED closed-loop seed 0: counts_4440.csv: 0 rows, 1 problem(s): the file has no data rows" in result.output
    assert "plans-once: no run finished" in result.output and "nan" not in result.output


@pytest.mark.parametrize(("elapsed", "window", "start"), [
    (4500.0, 900.0, 3600.0),   # the window holds whole intervals: kept
    (4440.0, 420.0, 3900.0),   # 4020-4440 holds no whole 300 s interval: widened to 3900-4200
    (3660.0, 60.0, 3300.0),    # a window shorter than an interval
    (100.0, 900.0, 0.0),
])
def test_a_replan_window_holds_at_least_one_whole_camera_interval(elapsed, window, start):
    assert _window_start(elapsed, window, 300.0) == start


@pytest.mark.sumo
def test_a_replan_window_shorter_than_a_camera_interval_still_plans(tmp_path):
    # re-plan every minute: the re-plan at 61 min used to see no whole 5 min camera interval and fail
    result = CliRunner().invoke(run, ["scenarios/day.toml", "--out", str(tmp_path), "--replan-every", "1",
                                      "--seeds", "1", "--duration", "3700", "--quiet"])
    assert result.exit_code == 0, result.output
    runs = pd.read_csv(tmp_path / "closed_loop_runs.csv").set_index("variant")
    assert runs["error"].isna().all()
    assert runs.loc["closed-loop", "plans_pushed"] == 2
