"""Tests of ``citybrain plans`` and ``citybrain optimise`` through click's CliRunner."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from citybrain.app.cli import CityBrainGroup
from citybrain.app.cli.plans import plans

from ...conftest import NETWORKS, REAL_NETS, real_path


def _cli():
    group = CityBrainGroup(name="citybrain")
    group.add_command(plans)
    try:
        from citybrain.app.cli.optimise import optimise
    except ImportError:  # pragma: no cover - written after plans
        pass
    else:
        group.add_command(optimise)
    return group


def run(*args):
    return CliRunner().invoke(_cli(), list(map(str, args)))


def test_check_network_own_programs_safe_with_warnings():
    net = NETWORKS / "grid4x4.net.xml"
    result = run("plans", "check", net, "--network", net)
    assert result.exit_code == 0, result.output
    assert "16 plan(s), 0 error(s), 64 warning(s): safe" in result.output
    strict = run("plans", "check", net, "--network", net, "--strict")
    assert strict.exit_code == 1


def test_check_lists_every_violation_and_exits_1(tmp_path):
    net = NETWORKS / "grid2x2_ped.net.xml"
    out = tmp_path / "p.add.xml"
    assert run("plans", "export", net, "--out", out).exit_code == 0
    result = run("plans", "check", out, "--network", net, "--json")
    assert result.exit_code == 1
    found = json.loads(result.output)
    assert {v["tls"] for v in found if v["rule"] == "pedestrian"} == {"A0", "A1", "B0", "B1"}


def test_unusable_input_exits_2(tmp_path):
    net = NETWORKS / "grid4x4.net.xml"
    result = run("plans", "check", tmp_path / "missing.json", "--network", net)
    assert result.exit_code == 2 and "no such file; expected a plan file" in result.output
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema": "citybrain.plans", "version": 2, "periods": []}')
    result = run("plans", "check", bad, "--network", net)
    assert result.exit_code == 2 and "'version': must be 1, got 2" in result.output
    other = tmp_path / "other.json"  # a plan for a light grid4x4 does not have: unusable, not unsafe
    assert run("plans", "export", NETWORKS / "arterial5.net.xml", "--out", other).exit_code == 0
    result = run("plans", "check", other, "--network", net)
    assert result.exit_code == 2, result.output
    assert f"{other}: plan for traffic light(s) 'J1'" in result.output and "not in network grid4x4" in result.output


@pytest.mark.parametrize("name", ["hangzhou_bc-tyc", "atlanta"])
def test_real_programs_without_yellow_are_flagged(name):
    net = real_path(REAL_NETS[name])
    result = run("plans", "check", net, "--network", net)
    assert result.exit_code == 1
    assert "yellow: links" in result.output and "lose green with 0 s yellow" in result.output


def test_optimise_writes_safe_plans(tmp_path):
    from citybrain.network import graph_from_sumo_net

    from ...timing.helpers import make_flows

    net_path = NETWORKS / "arterial5.net.xml"
    flows = tmp_path / "flows.csv"
    make_flows(graph_from_sumo_net(net_path), share=0.1).to_csv(flows, index=False)
    for method in ("webster", "hcm", "coordinated"):
        out, add = tmp_path / f"{method}.json", tmp_path / f"{method}.add.xml"
        result = run("optimise", "--network", net_path, "--flows", flows, "--method", method, "--out", out,
                     "--sumo-out", add)
        assert result.exit_code == 0, result.output
        assert "0 safety error(s)" in result.output
        for plan_file in (out, add):
            check = run("plans", "check", plan_file, "--network", net_path, "--strict")
            assert check.exit_code == 0, check.output


def test_optimise_input_errors(tmp_path):
    net_path = NETWORKS / "arterial5.net.xml"
    flows = tmp_path / "flows.csv"
    flows.write_text("interval_start,junction\n0,J1\n")
    result = run("optimise", "--network", net_path, "--flows", flows, "--out", tmp_path / "x.json")
    assert result.exit_code == 2 and "missing column(s)" in result.output and "a flows file needs" in result.output
    result = run("optimise", "--network", net_path, "--out", tmp_path / "x.json")
    assert result.exit_code == 2 and "exactly one of --flows and --counts" in result.output
