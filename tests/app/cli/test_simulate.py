"""``citybrain simulate``: JSON output, errors and exit codes (real SUMO)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli

from ...conftest import ROOT, real_path


GRID = str(ROOT / "scenarios" / "grid4x4.toml")


@pytest.fixture
def short_grid(tmp_path):
    path = tmp_path / "short.toml"
    path.write_text(
        f'name = "short"\nnetwork = "{ROOT / "networks" / "grid4x4.net.xml"}"\n'
        f'demand = ["{ROOT / "scenarios" / "grid4x4.rou.xml"}"]\nend_s = 300\nseeds = 2\n'
    )
    return str(path)


@pytest.mark.sumo
def test_json_output_has_the_documented_keys():
    real_path("resco/cologne1/cologne1.sumocfg")
    cfg = str(ROOT.parent / "shared" / "real" / "resco" / "cologne1" / "cologne1.sumocfg")
    result = CliRunner().invoke(cli, ["simulate", cfg, "--seed", "0", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {"controller", "scenario", "sumo_version", "runs", "delay_s"} <= set(body)
    assert body["controller"] == "fixed" and body["scenario"] == "cologne1"
    assert body["sumo_version"].startswith("1.28")
    (run,) = body["runs"]
    for key in ("seed", "delay_s", "trip_time_s", "waiting_s", "stops", "queue_veh", "arrived", "loaded", "teleports"):
        assert key in run
    assert run["seed"] == 0 and run["delay_s"] == pytest.approx(41.62, abs=0.05)
    assert set(body["delay_s"]) == {"mean", "sd", "ci95"}


@pytest.mark.sumo
def test_table_output_and_cameras(short_grid, tmp_path):
    out = tmp_path / "cams"
    result = CliRunner().invoke(
        cli, ["simulate", short_grid, "--protocol", "resco", "--cameras-out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "short | controller fixed | protocol resco" in result.stdout
    assert "delay_s mean" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "short_seed0_cameras.csv",
        "short_seed0_counts.csv",
        "short_seed0_sightings.csv",
        "short_seed0_truth.csv",
        "short_seed1_cameras.csv",
        "short_seed1_counts.csv",
        "short_seed1_sightings.csv",
        "short_seed1_truth.csv",
    ]


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--plan", "x.json"], "no such file; expected a plan file"),
        (["--seeds", "2", "--seed", "1"], "not both"),
        (["--controller", "nope"], "unknown controller 'nope'"),
        (["--backend", "libsumo", "--gui"], "need --backend traci"),
        (["--serve", "8765", "--seeds", "2"], "--serve needs a single run"),
    ],
)
def test_unusable_input_exits_2(args, needle):
    result = CliRunner().invoke(cli, ["simulate", GRID, *args])
    assert result.exit_code == 2
    assert needle in result.output


def test_bad_scenario_lists_problems(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('network = "none.net.xml"\nseeds = -1\n')
    result = CliRunner().invoke(cli, ["simulate", str(bad)])
    assert result.exit_code == 2
    assert "'network': file 'none.net.xml' not found" in result.output
    assert "'seeds': must be a whole number >= 1" in result.output


@pytest.mark.sumo
def test_failed_run_exits_1_and_reports_the_rest(short_grid):
    result = CliRunner().invoke(cli, ["simulate", short_grid, "--seed", "99999999999", "--json"])
    assert result.exit_code == 1
    assert "could not start" in result.output


@pytest.mark.sumo
def test_plan_runs_and_matches_the_program_it_copies(short_grid, tmp_path):
    plan = tmp_path / "own.json"
    assert CliRunner().invoke(cli, ["plans", "export", str(ROOT / "networks" / "grid4x4.net.xml"), "--out", str(plan)]).exit_code == 0
    fixed = json.loads(CliRunner().invoke(cli, ["simulate", short_grid, "--seed", "0", "--json"]).stdout)
    result = CliRunner().invoke(cli, ["simulate", short_grid, "--seed", "0", "--plan", str(plan), "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["controller"] == "plan"
    assert body["delay_s"]["mean"] == pytest.approx(fixed["delay_s"]["mean"], rel=0.15)


def test_unsafe_plan_is_refused(short_grid, tmp_path):
    plan = tmp_path / "own.json"
    CliRunner().invoke(cli, ["plans", "export", str(ROOT / "networks" / "grid4x4.net.xml"), "--out", str(plan)])
    data = json.loads(plan.read_text())
    first = data["periods"][0]["plans"][0]["phases"][0]
    first["state"] = "G" * len(first["state"])
    plan.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["simulate", short_grid, "--seed", "0", "--plan", str(plan)])
    assert result.exit_code == 2
    assert "unsafe" in result.output and "Traceback" not in result.output


@pytest.mark.sumo
def test_one_run_and_a_failed_run_print_no_nan(short_grid, tmp_path):
    result = CliRunner().invoke(cli, ["simulate", short_grid, "--seed", "0"])
    assert result.exit_code == 0, result.output
    assert "delay_s mean" in result.stdout and "(one run: no sd or ci)" in result.stdout
    assert "nan" not in result.output
    bad = tmp_path / "bad_option.toml"
    bad.write_text(Path(short_grid).read_text() + 'sumo_options = ["--no-such-option", "1"]\n')
    result = CliRunner().invoke(cli, ["simulate", str(bad), "--seed", "0"])
    assert result.exit_code == 1
    assert "delay_s: no run finished with a delay" in result.stdout and "nan" not in result.output
    assert "seed 0: SUMO (libsumo) could not start" in result.output
