"""Tests of citybrain.plans.formats: JSON schema and SUMO tlLogic, both ways."""

from __future__ import annotations

import json

import pytest

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import (
    NetworkPlan,
    PlanPeriod,
    ScheduleEntry,
    plans_from_network,
    read_plans,
    read_plans_json,
    read_sumo_additional,
    write_plans_json,
    write_sumo_additional,
)
from citybrain.plans.formats import ALL_RED_NAME, sumo_phases
from citybrain.plans.safety import apply_clearances

from ..conftest import NETWORKS, REAL_NETS, real_path


@pytest.fixture(scope="module")
def ped_net():
    return graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")


def test_network_programs_become_plans(ped_net):
    plan = plans_from_network(ped_net).period("network").by_tls["A0"]
    assert len(plan.phases) == 2
    p0 = plan.phases[0]
    # 37 s walk + 5 s clearance merged into one 42 s green, then a 3 s yellow
    assert (p0.green_s, p0.walk_s, p0.ped_clearance_s, p0.yellow_s, p0.all_red_s) == (42.0, 37.0, 5.0, 3.0, 0.0)
    assert plan.cycle_s == 90.0 and p0.program_phase == 0 and plan.phases[1].program_phase == 3
    assert "A0:A1A0->A0bottom0" in p0.protected and "A0:A1A0->A0B0" in p0.permissive
    assert set(plan.crossing_links) == {16, 17, 18, 19}


def test_sumo_round_trip_reproduces_programs(ped_net, tmp_path):
    plans = plans_from_network(ped_net)
    out = write_sumo_additional(plans, tmp_path / "p.add.xml")
    back = read_sumo_additional(out, network=ped_net)
    for tls, prog in ped_net.programs.items():
        phases = sumo_phases(back.periods[0].by_tls[tls])
        assert [(d, s) for d, s, _ in phases] == [(p.duration_s, p.state) for p in prog.phases]


def test_json_round_trip_is_exact(ped_net, tmp_path):
    base = plans_from_network(ped_net)
    safe = [apply_clearances(p, ped_net) for _, p in base.all_plans()]
    plan = NetworkPlan((PlanPeriod("am", tuple(safe)), PlanPeriod("off", tuple(base.periods[0].plans))),
                       (ScheduleEntry(6.5 * 3600, "am"), ScheduleEntry(9 * 3600 + 30, "off")), {"k": 1})
    path = write_plans_json(plan, tmp_path / "p.json")
    data = json.loads(path.read_text())
    assert data["schema"] == "citybrain.plans" and data["version"] == 1
    assert data["schedule"] == [{"start": "06:30", "period": "am"}, {"start": "09:00:30", "period": "off"}]
    assert read_plans_json(path) == plan
    assert read_plans(path) == plan


def test_schedule_becomes_a_waut(ped_net, tmp_path):
    base = plans_from_network(ped_net).periods[0].plans
    plan = NetworkPlan((PlanPeriod("am", base), PlanPeriod("pm", base)),
                       (ScheduleEntry(0.0, "am"), ScheduleEntry(43200.0, "pm")))
    out = write_sumo_additional(plan, tmp_path / "s.add.xml")
    text = out.read_text()
    assert 'programID="am"' in text and '<wautSwitch time="43200" to="pm"/>' in text
    back = read_sumo_additional(out, network=ped_net)
    assert [p.name for p in back.periods] == ["am", "pm"]
    assert back.schedule == plan.schedule


@pytest.mark.sumo
def test_written_programs_load_in_sumo(ped_net, tmp_path):
    from citybrain.sumo_tools import run_sumo_program

    safe = NetworkPlan.single([apply_clearances(p, ped_net) for _, p in plans_from_network(ped_net).all_plans()])
    out = write_sumo_additional(safe, tmp_path / "safe.add.xml", program_id="citybrain")
    log = run_sumo_program("sumo", ["-n", str(NETWORKS / "grid2x2_ped.net.xml"), "-a", str(out), "--end", "5",
                                    "--xml-validation", "never", "--no-step-log"])
    assert "Missing yellow" not in log


def test_json_schema_errors_are_collected(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"schema": "other", "version": 9, "periods": [
        {"name": "", "plans": [{"tls": "", "cycle_s": "x", "phases": [{"state": "", "green_s": None}]}]}],
        "schedule": [{"start": "25h", "period": 3}]}))
    with pytest.raises(ValidationError) as info:
        read_plans_json(path)
    assert str(info.value).startswith(f"{path}: 9 problem(s) in the plan file:")
    assert [m.removeprefix(f"{path}: ") for m in info.value.problems] == [
        "'schema': must be 'citybrain.plans', got 'other'",
        "'version': must be 1, got 9",
        "periods[0]: 'name': must be a non-empty string, got ''",
        "periods[0]: plans[0]: 'tls': must be a non-empty string, got ''",
        "periods[0]: plans[0]: phases[0]: 'state': must be a non-empty string, got ''",
        "periods[0]: plans[0]: phases[0]: 'green_s': must be a finite number, got None",
        "periods[0]: plans[0]: 'cycle_s': must be a finite number, got 'x'",
        "schedule[0]: 'period': must be a non-empty string, got 3",
        "schedule[0]: 'start': must be HH:MM[:SS] or seconds after midnight, got '25h'",
    ]


def test_json_plan_problems_name_the_file(tmp_path):
    """What makes the plan unusable (not the schema) is placed in the file too."""
    phase = {"state": "GGrr", "green_s": 25.0}
    plan = {"tls": "A0", "cycle_s": 60.0, "phases": [phase, {**phase, "state": "rrG"}], "reference_phase": 4}
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"schema": "citybrain.plans", "version": 1, "periods": [
        {"name": "am", "plans": [plan, plan, 7]}], "schedule": [{"start": "07:00", "period": "pm"}]}))
    with pytest.raises(ValidationError) as info:
        read_plans(path)
    assert info.value.problems == [f"{path}: periods[0]: plans[2]: expected a table of fields, got 7"]
    path.write_text(json.dumps({"schema": "citybrain.plans", "version": 1, "periods": [
        {"name": "am", "plans": [plan, plan]}], "schedule": [{"start": "07:00", "period": "pm"}]}))
    with pytest.raises(ValidationError) as info:
        read_plans(path)
    problems = [m.removeprefix(f"{path}: ") for m in info.value.problems]
    assert problems[0] == "periods[0]: 'plans': one plan per traffic light expected, got ['A0', 'A0']"
    assert ("periods[0]: plans[1] (tls 'A0'): 'phases': every 'state' must have the same length (one character "
            "per link), got 4 in phases[0], 3 in phases[1]") in problems
    assert "periods[0]: plans[0] (tls 'A0'): 'reference_phase': expected in [0, 2), got 4" in problems
    assert problems[-1] == "schedule[0]: 'period': expected one of ['am'], got 'pm'"


def test_wrong_state_length_names_the_file_and_the_phase(tmp_path):
    """Issue 13: phase 0's short state was blamed on phase 1, with no file named."""
    net = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
    path = write_plans_json(plans_from_network(net), tmp_path / "p.json")
    data = json.loads(path.read_text())
    state = data["periods"][0]["plans"][0]["phases"][0]["state"]
    data["periods"][0]["plans"][0]["phases"][0]["state"] = state[:-1]
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError) as info:
        read_plans(path, network=net)  # the light's link count is known: only phase 0 is wrong
    assert info.value.problems == [f"{path}: periods[0]: plans[0] (tls 'A0'): phases[0]: 'state': expected "
                                   f"{len(state)} characters (the light's link count), got {len(state) - 1}"]
    with pytest.raises(ValidationError) as info:
        read_plans(path)  # two phases, no majority: both lengths listed, nobody blamed wrongly
    assert info.value.problems == [f"{path}: periods[0]: plans[0] (tls 'A0'): 'phases': every 'state' must have "
                                   f"the same length (one character per link), got {len(state) - 1} in phases[0], "
                                   f"{len(state)} in phases[1]"]


def test_unreadable_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValidationError, match="not a readable JSON plan file"):
        read_plans(tmp_path / "x.json")
    (tmp_path / "x.xml").write_text("<additional/>")
    with pytest.raises(ValidationError, match="expected <tlLogic> elements"):
        read_plans(tmp_path / "x.xml")
    with pytest.raises(ValidationError, match="no such plan file"):
        read_plans(tmp_path / "missing.json")


def test_sumo_program_problems_are_collected(tmp_path):
    path = tmp_path / "bad.add.xml"
    path.write_text('<additional><tlLogic id="A0" programID="x"><phase state="GGrr"/>'
                    '<phase duration="5" state="rrGG" minDur="soon"/><phase duration="30" state="GGrr"/></tlLogic>'
                    '<tlLogic id="B0" programID="x" offset="late"><phase duration="5" state="Gr"/></tlLogic>'
                    '</additional>')
    with pytest.raises(ValidationError) as info:
        read_sumo_additional(path)
    assert str(info.value).startswith(f"{path}: 3 problem(s) in the SUMO programs:")
    assert [m.split(": ", 2)[1:] for m in info.value.problems] == [
        ["tlLogic[0] id='A0' phase[0]", "expected duration (s) and state (and numeric minDur/maxDur where given), "
                                        "got {'state': 'GGrr'}."],
        ["tlLogic[0] id='A0' phase[1]", "expected duration (s) and state (and numeric minDur/maxDur where given), "
                                        "got {'duration': '5', 'state': 'rrGG', 'minDur': 'soon'}."],
        ["tlLogic[1] id='B0'", "offset must be a number, got 'late'."],
    ]


@pytest.mark.parametrize("name", ["cologne3", "atlanta"])
def test_real_programs_round_trip(name, tmp_path):
    net = graph_from_sumo_net(real_path(REAL_NETS[name]))
    plans = plans_from_network(net)
    back = read_sumo_additional(write_sumo_additional(plans, tmp_path / "r.add.xml"), network=net)
    for tls, prog in net.programs.items():
        written = [(d, s) for d, s, _ in sumo_phases(back.periods[0].by_tls[tls])]
        original = [(p.duration_s, p.state) for p in prog.phases]
        # rotated to start with a green; yellow states may keep green a link that is green
        # on both sides of the transition (SUMO programs sometimes show it yellow)
        assert sorted(x for x in written if "y" not in x[1]) == sorted(x for x in original if "y" not in x[1])
        assert sorted(d for d, _ in written) == sorted(d for d, _ in original)
        assert sum(d for d, _ in written) == pytest.approx(prog.cycle_s)


def test_transitions_that_keep_a_link_green_read_back_as_transitions(tmp_path):
    """Atlanta's programs keep some links green in every phase: written with a yellow and an
    all-red, each transition reads back as that phase's yellow and all-red, not as greens."""
    from dataclasses import replace

    net = graph_from_sumo_net(real_path(REAL_NETS["atlanta"]))
    safe = []
    for _, plan in plans_from_network(net).all_plans():
        plan = apply_clearances(plan, net)
        phases = tuple(replace(p, all_red_s=2.0) for p in plan.phases)
        safe.append(replace(plan, phases=phases, cycle_s=plan.cycle_s + 2.0 * len(phases)))
    written = NetworkPlan.single(safe)
    back = read_sumo_additional(write_sumo_additional(written, tmp_path / "a.add.xml"), network=net)
    green_in_all_red = 0
    for tls, plan in written.periods[0].by_tls.items():
        durations = [(p.green_s, p.yellow_s, p.all_red_s) for p in back.periods[0].by_tls[tls].phases]
        assert durations == [(p.green_s, p.yellow_s, p.all_red_s) for p in plan.phases]
        green_in_all_red += sum(name == ALL_RED_NAME and any(c in "Gg" for c in s) for _, s, name in sumo_phases(plan))
    assert green_in_all_red > 0
