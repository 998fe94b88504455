"""The one pool: a process per run, failures kept apart, wall-clock limit; live plan changes."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from citybrain.exceptions import ValidationError
from simulation import PlanUpdate, RunSpec, Twin
from simulation.live import PlanServer, push_plan_http, status_http
from simulation.runner import run_many, run_seeds, seeds_from
from simulation.scenario import load_scenario

from ..conftest import ROOT, real_path


@dataclass(frozen=True)
class FakeTask:
    """A unit of work for run_many that behaves as told, without SUMO."""

    behaviour: str
    duration_s: float = 60.0

    def run(self, workdir: Path, on_progress) -> tuple:
        on_progress(30.0)
        if self.behaviour == "raise":
            raise RuntimeError("the controller broke")
        if self.behaviour == "invalid":
            raise ValidationError("counts.csv: 3 problem(s)")
        if self.behaviour == "die":
            os._exit(3)
        if self.behaviour == "hang":
            time.sleep(600)
        return ("ok", self.behaviour, str(workdir), os.getpid())

    def failed(self, error: str, wall_s: float) -> tuple:
        return ("failed", self.behaviour, error)


def test_run_many_keeps_crashed_runs_apart(tmp_path):
    tasks = [FakeTask("fine"), FakeTask("raise"), FakeTask("die"), FakeTask("invalid")]
    folders = [tmp_path / "fine" / "seed0", tmp_path / "raise", tmp_path / "die", tmp_path / "invalid"]
    ended = []
    results = run_many(tasks, folders, workers=len(tasks), on_result=lambda i, r: ended.append(i))
    fine, raised, died, invalid = results
    assert fine[:3] == ("ok", "fine", str(folders[0]))
    assert fine[3] != os.getpid()  # it ran in a child process
    assert raised[0] == "failed" and raised[2].startswith("RuntimeError: the controller broke")
    assert "Traceback" in raised[2]
    assert died == ("failed", "die", "the run's process died (exit code 3)")
    assert invalid == ("failed", "invalid", "counts.csv: 3 problem(s)")  # a user error: its message, no traceback
    assert sorted(ended) == [0, 1, 2, 3]
    assert (folders[0] / "sumo-messages.log").is_file()
    with pytest.raises(ValidationError, match="1 folder"):
        run_many(tasks, folders[:1])
    assert run_many([], tmp_path) == []


def test_run_many_stops_a_hung_run_at_its_wall_clock_limit(tmp_path):
    ended = []
    started = time.monotonic()
    hung, fine = run_many([FakeTask("hang"), FakeTask("fine")], tmp_path, workers=2, timeout_s=12.0,
                          on_result=lambda i, r: ended.append(i))
    assert time.monotonic() - started < 60.0  # stopped, not waited for
    assert hung[0] == "failed" and "wall-clock limit of 12 s" in hung[2]
    assert fine[:3] == ("ok", "fine", str(tmp_path / "run1"))
    assert ended == [1, 0]


@pytest.fixture(scope="module")
def short_grid():
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    return replace(sc, end_s=420.0)


def test_seed_selection(short_grid):
    assert seeds_from(short_grid) == [0, 1, 2]
    assert seeds_from(short_grid, seeds=2) == [0, 1]
    assert seeds_from(short_grid, seed=7) == [7]
    with pytest.raises(ValidationError, match="not both"):
        seeds_from(short_grid, seeds=2, seed=1)


@pytest.mark.sumo
def test_a_failing_seed_keeps_the_others(short_grid):
    results = run_seeds(RunSpec(short_grid), [0, 99_999_999_999], workers=2)
    good, bad = results
    assert good.ok and good.seed == 0 and good.loaded > 0
    assert not bad.ok and bad.seed == 99_999_999_999
    assert "could not start" in bad.error


@pytest.mark.sumo
def test_hung_run_is_stopped_at_the_wall_clock_limit():
    real_path("resco/cologne1/cologne1.sumocfg")
    sc = load_scenario(ROOT / "scenarios" / "resco_cologne1.toml")
    (res,) = run_seeds(RunSpec(sc), [0], wall_clock_limit_s=0.3)
    assert not res.ok and "wall-clock limit of 0.3 s" in res.error


def _new_program(twin: Twin, tls: str):
    """The light's own plan with 20 s greens."""
    from citybrain.plans import plans_from_network

    own = plans_from_network(twin.network).periods[0].by_tls[tls]
    return own.with_timing([20.0] * len(own.phases))


@pytest.mark.sumo
def test_live_plan_switches_at_the_next_cycle_boundary(short_grid, tmp_path):
    pushed = {}

    def hook(twin: Twin, t: float) -> None:
        if t == 100.0:
            (pushed["update"],) = twin.push_plan(_new_program(twin, "A0"))
        if t == 250.0:
            pushed["program"] = twin_api["api"].trafficlight.getProgram("A0")

    twin_api = {}
    twin = Twin(RunSpec(short_grid), tmp_path, on_step=hook)
    original_step = twin._loop

    def loop(backend, *args):
        twin_api["api"] = backend.api
        return original_step(backend, *args)

    twin._loop = loop
    res = twin.run()
    cycle = twin.network.programs["A0"].cycle_s
    (applied,) = res.plans_applied
    # the old program wraps at its first cycle boundary after the push (offset 0), then at
    # most a 3 s yellow and a 2 s all-red separate it from the new program
    boundary = cycle * (100.0 // cycle + 1)
    assert res.ok and applied.tls == "A0" and boundary <= applied.time_s <= boundary + 5.0
    assert pushed["program"] == pushed["update"].program_id == applied.program_id


@pytest.mark.sumo
def test_plans_over_http_are_validated_and_applied(short_grid, tmp_path):
    from citybrain.plans import plans_to_dict
    from citybrain.plans.model import NetworkPlan

    answers = {}

    def hook(twin: Twin, t: float) -> None:
        if t == 50.0:
            port = answers["port"]
            bad = {"tls": "A0", "phases": [{"duration_s": 10, "state": "G"}]}
            try:
                push_plan_http(port, bad)
            except Exception as exc:  # noqa: BLE001 - asserted below
                answers["bad"] = exc
            answers["good"] = push_plan_http(port, plans_to_dict(NetworkPlan.single([_new_program(twin, "B1")])))
            answers["status"] = status_http(port)

    twin = Twin(RunSpec(short_grid), tmp_path, on_step=hook)
    with PlanServer(twin, 0) as server:
        answers["port"] = server.port
        res = twin.run()
    assert isinstance(answers["bad"], ValidationError)
    assert "the pushed plan has 1 links, the running plan 16" in str(answers["bad"].problems)
    assert answers["good"]["accepted"] is True
    assert answers["status"]["pending"] == ["B1"] and answers["status"]["time_s"] == 50.0
    assert [a.tls for a in res.plans_applied] == ["B1"]


@pytest.mark.sumo
def test_a_relative_run_folder_works(short_grid, tmp_path, monkeypatch):
    """``citybrain run ... --out demo-report`` gives the twin a relative folder: SUMO reads the
    paths inside the twin's additional files relative to those files, so they must be absolute."""
    monkeypatch.chdir(tmp_path)
    result = Twin(RunSpec(replace(short_grid, end_s=120.0)), workdir="report/runs/seed0").run()
    assert result.loaded > 0
    assert (tmp_path / "report" / "runs" / "seed0" / "edgedata.xml").is_file()
