"""`citybrain counts check` and `citybrain estimate` through click's CliRunner."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from citybrain.app.cli import CityBrainGroup
from citybrain.app.cli.counts import counts
from citybrain.app.cli.estimate import estimate
from citybrain.synthetic import sample_camera_counts
from citybrain.synthetic import synthetic_movement_flows
from citybrain.estimation import FLOW_COLUMNS, read_flows
from citybrain.network import graph_from_sumo_net

from ...conftest import DATA, NETWORKS

BAD = DATA / "bad_counts"
NET = str(NETWORKS / "grid4x4.net.xml")


@click.group(cls=CityBrainGroup)
def cli() -> None:
    """Test group wired like citybrain.app.cli."""


cli.add_command(counts)
cli.add_command(estimate)


@pytest.fixture(scope="module")
def runner():
    return CliRunner()


def test_check_clean_exits_0(runner):
    result = runner.invoke(cli, ["counts", "check", str(DATA / "good_counts.csv"), "--network", NET])
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


@pytest.mark.parametrize("name", sorted(p.name for p in BAD.iterdir() if p.name != "expected.json"))
def test_check_bad_files_never_traceback(runner, name):
    expected = json.loads((BAD / "expected.json").read_text())[name]
    result = runner.invoke(cli, ["counts", "check", str(BAD / name), "--network", NET])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    if set(expected) & {"unreadable", "missing-column", "mistyped-column", "empty"}:
        assert result.exit_code == 2
    else:
        assert result.exit_code == 1
    if "unreadable" not in expected:
        for code in expected:
            assert f"[{code}]" in result.output


def test_check_json(runner):
    result = runner.invoke(cli, ["counts", "check", str(BAD / "many_problems.csv"), "--network", NET, "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert not report["ok"] and len(report["problems"]) == 6


def test_check_max_lane_flow_is_the_plausibility_ceiling(runner):
    good = str(DATA / "good_counts.csv")
    result = runner.invoke(cli, ["counts", "check", good, "--network", NET, "--max-lane-flow", "10"])
    assert result.exit_code == 1
    assert "[implausible-count]" in result.output and "10 veh/h per lane" in result.output
    result = runner.invoke(cli, ["counts", "check", good, "--network", NET, "--sat-flow-per-lane", "10"])
    assert result.exit_code == 2 and "No such option" in result.output


def test_check_missing_network_exits_2(runner, tmp_path):
    result = runner.invoke(cli, ["counts", "check", str(DATA / "good_counts.csv"), "--network", str(tmp_path / "no.net.xml")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_estimate_writes_flows(runner, tmp_path):
    grid = graph_from_sumo_net(NET)
    truth = synthetic_movement_flows(grid, n_intervals=2, seed=5)
    path = tmp_path / "counts.csv"
    sample_camera_counts(truth, grid, seed=0).to_csv(path, index=False)
    out = tmp_path / "flows.csv"
    result = runner.invoke(cli, ["estimate", "--network", NET, "--counts", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "movements x 2 intervals" in result.output
    flows = read_flows(out)
    assert tuple(flows.columns) == FLOW_COLUMNS
    result = runner.invoke(cli, ["estimate", "--network", NET, "--counts", str(path), "--json"])
    assert result.exit_code == 0
    assert len(json.loads(result.output)["flows"]) == len(flows)


def test_estimate_refuses_bad_counts_with_exit_2(runner):
    result = runner.invoke(cli, ["estimate", "--network", NET, "--counts", str(BAD / "negative_count.csv")])
    assert result.exit_code == 2
    assert "negative count" in result.output
    result = runner.invoke(cli, ["estimate", "--network", NET, "--counts", str(BAD / "negative_count.csv"), "--lenient"])
    assert result.exit_code == 0, result.output
