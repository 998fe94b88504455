"""Conflict overrides reach every user: safety verdicts, timing and every command's --conflicts."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.network import graph_from_sumo_net
from citybrain.plans import check_network_plan, plans_from_network
from citybrain.timing import optimise_plan

from ..conftest import NETWORKS

GRID = NETWORKS / "grid4x4.net.xml"
# at B1 the eastbound left (A1B1 -> B1B2) has permissive green beside the westbound through
NEVER_AT_B1 = {"B1": [{"from": ["A1B1", "B1B2"], "to": ["C1B1", "B1A1"], "kind": "never"}]}
NEVER_MESSAGE = "B1:A1B1->B1B2 and B1:C1B1->B1A1 may never be green together"


@pytest.fixture
def overrides(tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps(NEVER_AT_B1))
    return path


@pytest.fixture
def flows(tmp_path):
    road = graph_from_sumo_net(GRID)
    rows = [(0.0, 900.0, m.junction, m.from_edge, m.to_edge, 0.1 * m.sat_flow_vph, 10.0)
            for m in road.movements if m.tls and m.turn != "crossing"]
    path = tmp_path / "flows.csv"
    columns = ["interval_start", "interval_s", "junction", "from_edge", "to_edge", "flow_vph", "se_vph"]
    pd.DataFrame(rows, columns=columns).to_csv(path, index=False)
    return path


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _errors(plan, road):
    return [str(v) for v in check_network_plan(plan, road) if v.severity == "error"]


def test_an_override_turns_a_safe_plan_unsafe(overrides):
    plain, strict = graph_from_sumo_net(GRID), graph_from_sumo_net(GRID, conflicts=overrides)
    own = plans_from_network(plain)
    assert _errors(own, plain) == []
    errors = _errors(own, strict)
    assert len(errors) == 1 and NEVER_MESSAGE in errors[0] and "tls B1" in errors[0]


def test_plans_check_refuses_with_the_override(tmp_path, overrides):
    own = tmp_path / "own.json"
    assert run("plans", "export", GRID, "--out", own).exit_code == 0
    safe = run("plans", "check", own, "--network", GRID)
    assert safe.exit_code == 0, safe.output
    assert "0 error(s)" in safe.output
    unsafe = run("plans", "check", own, "--network", GRID, "--conflicts", overrides)
    assert unsafe.exit_code == 1, unsafe.output
    assert NEVER_MESSAGE in unsafe.output and "1 error(s)" in unsafe.output and ": unsafe" in unsafe.output


def test_an_override_changes_the_optimised_plan(flows, overrides):
    plain, strict = graph_from_sumo_net(GRID), graph_from_sumo_net(GRID, conflicts=overrides)
    table = pd.read_csv(flows, dtype={"junction": str, "from_edge": str, "to_edge": str})
    before, after = optimise_plan(plain, table), optimise_plan(strict, table)
    left, thru = (strict.movement_index("B1", *pair) for pair in (("A1B1", "B1B2"), ("C1B1", "B1A1")))
    links = {m: [k.index for k in strict.programs["B1"].links if k.movement == m] for m in (left, thru)}

    def together(plan):
        return any(all(ph.state[i] in "Gg" for m in (left, thru) for i in links[m]) for ph in plan.periods[0].by_tls["B1"].phases)

    assert together(before) and not together(after)
    assert _errors(after, strict) == []
    assert _errors(before, strict) != []  # the plan made without the override breaks it
    for tls in set(plain.programs) - {"B1"}:
        assert before.periods[0].by_tls[tls] == after.periods[0].by_tls[tls]


def test_optimise_cli_writes_another_plan_with_the_override(tmp_path, flows, overrides):
    plain, strict = tmp_path / "plain.json", tmp_path / "strict.json"
    result = run("optimise", "--network", GRID, "--flows", flows, "--out", plain)
    assert result.exit_code == 0, result.output
    result = run("optimise", "--network", GRID, "--flows", flows, "--out", strict, "--conflicts", overrides)
    assert result.exit_code == 0, result.output
    assert "0 safety error(s)" in result.output

    def b1(path):
        return next(p for p in json.loads(path.read_text())["periods"][0]["plans"] if p["tls"] == "B1")

    assert [ph["state"] for ph in b1(plain)["phases"]] != [ph["state"] for ph in b1(strict)["phases"]]
    # checked against the override, the plain plan is refused and the other one passes
    assert run("plans", "check", plain, "--network", GRID, "--conflicts", overrides).exit_code == 1
    assert run("plans", "check", strict, "--network", GRID, "--conflicts", overrides).exit_code == 0


def test_network_info_reports_unsafe_phases_under_the_override(tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"B1": [{"from": ["A1B1", "B1C1"], "to": ["C1B1", "B1A1"], "kind": "never"}]}))
    assert json.loads(run("network", "info", GRID, "--json").output)["unsafe_phases"] == []
    result = run("network", "info", GRID, "--json", "--conflicts", path)
    assert result.exit_code == 0, result.output
    assert [(u["tls"], u["kind"]) for u in json.loads(result.output)["unsafe_phases"]] == [("B1", "never-together")]


@pytest.mark.parametrize(
    "command",
    [
        ["network", "info", GRID],
        ["plans", "export", GRID, "--out", "own.json"],
        ["plans", "check", GRID, "--network", GRID],
        ["counts", "check", "counts.csv", "--network", GRID],
        ["estimate", "--network", GRID, "--counts", "counts.csv"],
        ["optimise", "--network", GRID, "--flows", "flows.csv", "--out", "plan.json"],
    ],
    ids=lambda c: " ".join(str(x) for x in c[:2]),
)
def test_every_network_command_refuses_a_bad_override_file_in_one_line(tmp_path, command):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"B1": [{"from": ["A1B1", "nowhere"], "to": ["C1B1", "B1A1"], "kind": "never"}]}))
    for name in ("counts.csv", "flows.csv"):  # input files must exist; the network is read before their content
        (tmp_path / name).write_text("")
    result = CliRunner().invoke(cli, [str(tmp_path / c) if c in ("own.json", "counts.csv", "flows.csv", "plan.json")
                                      else str(c) for c in command] + ["--conflicts", str(bad)])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output
    assert str(bad) in lines[0] and "B1[0]: 'from'" in lines[0] and "is not a movement" in lines[0]
