"""``citybrain simulate``: the conflict monitor in ``--json``, its warnings and the exit code."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.network import graph_from_sumo_net
from simulation import RunResult
from simulation.monitor import ConflictMonitor

from ...conftest import ROOT, real_path

GRID_NET = ROOT / "networks" / "grid4x4.net.xml"
G0, Y0, G1 = "GGGgrrrrGGGgrrrr", "yyyyrrrryyyyrrrr", "rrrrGGGgrrrrGGGg"


@pytest.fixture
def short_grid(tmp_path):
    path = tmp_path / "short.toml"
    path.write_text(f'name = "short"\nnetwork = "{GRID_NET}"\n'
                    f'demand = ["{ROOT / "scenarios" / "grid4x4.rou.xml"}"]\nend_s = 200\nseeds = 1\n')
    return str(path)


def _no_yellow_summary(ours: bool) -> dict:
    """A real monitor's summary of A0 going green to red without yellow at t=20."""
    mon = ConflictMonitor(graph_from_sumo_net(GRID_NET), ("A0",), ours=("A0",) if ours else ())
    for t in range(30):
        mon.observe(float(t), {"A0": G0 if t < 20 else G1})
    return mon.summary()


@pytest.mark.sumo
def test_json_has_the_monitor_and_a_safe_run_exits_0(short_grid):
    result = CliRunner().invoke(cli, ["simulate", short_grid, "--seed", "0", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["monitor"] == {"total": 0, "counts": {"conflict": 0, "no-yellow": 0, "short-yellow": 0,
                                                      "short-green": 0}, "first": {}, "ours_total": 0}
    (run,) = body["runs"]
    assert run["monitor"]["total"] == 0 and run["monitor"]["min_green_s"] == 5.0


@pytest.mark.parametrize(("ours", "code", "needle"), [(True, 1, "Warning"), (False, 0, "note (baselines included)")])
def test_our_violation_exits_1_a_baseline_one_is_reported(short_grid, monkeypatch, ours, code, needle):
    summary = _no_yellow_summary(ours)

    def fake_run_many(specs, *args, **kwargs):  # the runs themselves are tested with SUMO elsewhere
        return [replace(RunResult("short", s.controller, "native", s.seed, "libsumo", "1.28.0", delay_s=10.0),
                        monitor=summary) for s in specs]

    monkeypatch.setattr("simulation.runner.run_many", fake_run_many)
    result = CliRunner().invoke(cli, ["simulate", short_grid, "--seed", "0", "--json"])
    assert result.exit_code == code, result.output
    body = json.loads(result.stdout)
    assert body["monitor"]["counts"]["no-yellow"] == 1 and body["monitor"]["ours_total"] == int(ours)
    assert body["monitor"]["first"]["no-yellow"]["tls"] == "A0"
    line = next(x for x in result.stderr.splitlines() if "conflict monitor" in x)
    assert needle in line and "no-yellow" in line and "light A0" in line and "t=20 s" in line


@pytest.mark.sumo
def test_the_hangzhou_program_has_no_yellow_reported_but_not_failed():
    real_path("hangzhou/1x1_bc-tyc_18041610_1h/hangzhou_1x1_bc-tyc_18041610_1h.sumocfg")
    result = CliRunner().invoke(cli, ["simulate", str(ROOT / "scenarios" / "hangzhou_bc_tyc.toml"), "--seed", "0",
                                      "--json"])
    assert result.exit_code == 0, result.output  # the network's own program is a baseline
    body = json.loads(result.stdout)
    assert body["monitor"]["counts"]["no-yellow"] > 0 and body["monitor"]["ours_total"] == 0
    assert body["monitor"]["first"]["no-yellow"]["tls"] == "intersection_1_1"
    assert any("note (baselines included)" in x and "no-yellow" in x for x in result.stderr.splitlines())
