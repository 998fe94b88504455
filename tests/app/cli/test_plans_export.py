"""``citybrain plans export``: every format through click's CliRunner, and its refusals."""

from __future__ import annotations

import json

from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPeriod, write_plans_json
from citybrain.timing import TimingOptions, optimise_plan

from ...conftest import NETWORKS
from ...timing.helpers import make_flows

NET = NETWORKS / "arterial5.net.xml"


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def _plan(tmp_path, periods=1):
    net = graph_from_sumo_net(NET)
    plan = optimise_plan(net, make_flows(net, share=0.1), "coordinated", TimingOptions(seed=0))
    plan = NetworkPlan(tuple(PlanPeriod(f"p{k}", plan.periods[0].plans) for k in range(periods)))
    return write_plans_json(plan, tmp_path / "plan.json")


def test_every_format_by_flag_and_by_ending(tmp_path):
    plan = _plan(tmp_path)
    for fmt, name in (("utdf", "a.utdf.csv"), ("ntcip", "a.ntcip.json"), ("sumo", "a.add.xml"), ("json", "a.json")):
        by_ending = run("plans", "export", plan, "--network", NET, "--out", tmp_path / name)
        assert by_ending.exit_code == 0 and f"({fmt})" in by_ending.output, by_ending.output
        by_flag = run("plans", "export", plan, "--network", NET, "--format", fmt, "--out", tmp_path / f"b.{fmt}")
        assert by_flag.exit_code == 0, by_flag.output
        assert (tmp_path / f"b.{fmt}").read_bytes() == (tmp_path / name).read_bytes()
    assert json.loads((tmp_path / "a.ntcip.json").read_text())["controllers"][0]["tls"] == "J1"


def test_bad_input_exits_2_with_the_reason(tmp_path):
    plan = _plan(tmp_path, periods=2)
    result = run("plans", "export", plan, "--network", NET, "--out", tmp_path / "a.utdf.csv")
    assert result.exit_code == 2 and "holds one period and the plan has 2 (p0, p1); choose one (--period)" in result.output
    assert run("plans", "export", plan, "--network", NET, "--period", "p1", "--out", tmp_path / "a.utdf.csv").exit_code == 0
    result = run("plans", "export", plan, "--network", NET, "--period", "noon", "--out", tmp_path / "b.json")
    assert result.exit_code == 2 and "period 'noon' is not in the plan (its periods: p0, p1)" in result.output
    result = run("plans", "export", plan, "--out", tmp_path / "c.json")
    assert result.exit_code == 2 and "give --network" in result.output
    result = run("plans", "export", plan, "--network", NET, "--out", tmp_path / "d.txt")
    assert result.exit_code == 2 and "cannot tell the format" in result.output
    result = run("plans", "export", plan, "--network", NET, "--format", "pdf", "--out", tmp_path / "e.json")
    assert result.exit_code == 2 and "'pdf' is not one of" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "d.txt").exists()


def test_an_unsafe_plan_is_not_exported_for_a_controller(tmp_path):
    ped = NETWORKS / "grid2x2_ped.net.xml"  # its own programs break the pedestrian rule
    result = run("plans", "export", ped, "--out", tmp_path / "p.utdf.csv")
    assert result.exit_code == 1 and "safety error(s); not exported to utdf" in result.output
    assert not (tmp_path / "p.utdf.csv").exists()
    assert run("plans", "export", ped, "--out", tmp_path / "p.json").exit_code == 0  # a conversion, not a controller
