"""The runner: per-seed processes, failures kept apart, wall-clock limit, live plan changes."""

from __future__ import annotations

from dataclasses import replace

import pytest

from simulation.live import PlanServer, push_plan_http, status_http
from simulation.runner import run_seeds, seeds_from
from simulation.scenario import load_scenario
from simulation.twin import PlanUpdate, RunSpec, Twin

from .conftest import ROOT, real_path


@pytest.fixture(scope="module")
def short_grid():
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    return replace(sc, end_s=420.0)


def test_seed_selection(short_grid):
    from citybrain.exceptions import ValidationError

    assert seeds_from(short_grid) == [0, 1, 2]
    assert seeds_from(short_grid, seeds=2) == [0, 1]
    assert seeds_from(short_grid, seed=7) == [7]
    with pytest.raises(ValidationError, match="not both"):
        seeds_from(short_grid, seeds=2, seed=1)


def test_a_failing_seed_keeps_the_others(short_grid):
    results = run_seeds(RunSpec(short_grid), [0, 99_999_999_999], workers=2)
    good, bad = results
    assert good.ok and good.seed == 0 and good.loaded > 0
    assert not bad.ok and bad.seed == 99_999_999_999
    assert "could not start" in bad.error


def test_hung_run_is_stopped_at_the_wall_clock_limit():
    real_path("resco/cologne1/cologne1.sumocfg")
    sc = load_scenario(ROOT / "scenarios" / "resco_cologne1.toml")
    (res,) = run_seeds(RunSpec(sc), [0], wall_clock_limit_s=0.3)
    assert not res.ok and "wall-clock limit of 0.3 s" in res.error


def _new_program(twin: Twin, tls: str) -> PlanUpdate:
    prog = twin.network.programs[tls]
    greens = prog.green_phases()
    phases = []
    for i in greens[:2]:
        phases.append((20.0, prog.phases[i].state))
        phases.append((3.0, prog.phases[i + 1].state))
    return PlanUpdate(tls, tuple(phases), "pushed")


def test_live_plan_switches_at_the_next_cycle_boundary(short_grid, tmp_path):
    pushed = {}

    def hook(twin: Twin, t: float) -> None:
        if t == 100.0:
            twin.push_plan(_new_program(twin, "A0"))
            pushed["t"] = t
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
    assert res.ok and pushed["t"] == 100.0
    ((tls, at),) = res.plans_applied
    # the old program wraps at its first cycle boundary after the push (offset 0), then at
    # most a 3 s yellow and a 2 s all-red separate it from the new program
    boundary = cycle * (100.0 // cycle + 1)
    assert tls == "A0" and boundary <= at <= boundary + 5.0
    assert pushed["program"] == "pushed"


def test_plans_over_http_are_validated_and_applied(short_grid, tmp_path):
    answers = {}

    def hook(twin: Twin, t: float) -> None:
        if t == 50.0:
            port = answers["port"]
            bad = {"tls": "A0", "phases": [{"duration_s": 10, "state": "G"}]}
            try:
                push_plan_http(port, bad)
            except Exception as exc:  # noqa: BLE001 - asserted below
                answers["bad"] = exc
            plan = _new_program(twin, "B1")
            body = {"tls": "B1", "phases": [{"duration_s": d, "state": s} for d, s in plan.phases]}
            answers["good"] = push_plan_http(port, body)
            answers["status"] = status_http(port)

    twin = Twin(RunSpec(short_grid), tmp_path, on_step=hook)
    with PlanServer(twin, 0) as server:
        answers["port"] = server.port
        res = twin.run()
    from citybrain.exceptions import ValidationError

    assert isinstance(answers["bad"], ValidationError)
    assert "phase 0 state must be 16 characters" in str(answers["bad"])
    assert answers["good"]["accepted"] is True
    assert answers["status"]["pending"] == ["B1"] and answers["status"]["time_s"] == 50.0
    assert [t for t, _ in res.plans_applied] == ["B1"]


def test_a_relative_run_folder_works(short_grid, tmp_path, monkeypatch):
    """``citybrain run ... --out demo-report`` gives the twin a relative folder: SUMO reads the
    paths inside the twin's additional files relative to those files, so they must be absolute."""
    monkeypatch.chdir(tmp_path)
    result = Twin(RunSpec(replace(short_grid, end_s=120.0)), workdir="report/runs/seed0").run()
    assert result.loaded > 0
    assert (tmp_path / "report" / "runs" / "seed0" / "edgedata.xml").is_file()
