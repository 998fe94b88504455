"""Tests of the UTDF and NTCIP exports and export_plan: structure read back from the files written."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPeriod, ScheduleEntry, plans_from_network, read_plans
from citybrain.plans.controller_timing import controller_timing
from citybrain.plans.formats import export_format_for, export_plan
from citybrain.plans.formats.ntcip import NTCIP_OBJECTS, ntcip_dict
from citybrain.timing import TimingOptions, optimise_plan

from ..conftest import NETWORKS
from ..timing.helpers import make_flows

ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
COORDINATED = optimise_plan(ART, make_flows(ART, share=0.1), "coordinated", TimingOptions(seed=0))


def _read_utdf(path):
    """Sections of a UTDF file: name -> list of row dicts (header after the title line)."""
    sections, name, header = {}, None, None
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    for row in rows:
        if not row:
            name = None
        elif row[0].startswith("["):
            name, header = row[0].strip("[]"), None
            sections[name] = []
        elif name and header is None and len(row) > 1:
            header = row
        elif name and header:
            sections[name].append(dict(zip(header, row)))
    return sections


def test_utdf_timing_sums_to_the_cycle_and_starts_at_the_offset(tmp_path):
    path = export_plan(COORDINATED, ART, tmp_path / "a.utdf.csv", "utdf")
    utdf = _read_utdf(path)
    nodes = {int(r["INTID"]): r["DESCRIPTION"] for r in utdf["Nodes"]}
    assert sorted(nodes.values()) == sorted(COORDINATED.tls_ids)
    plans = COORDINATED.periods[0].by_tls
    assert len({p.offset_s for p in plans.values()}) > 1  # a real coordination to check
    for intid, tls in nodes.items():
        plan_rows = {r["RECORDNAME"]: r["DATA"] for r in utdf["Timeplans"] if int(r["INTID"]) == intid}
        phases = {r["RECORDNAME"]: [r[f"D{k}"] for k in range(1, len(plans[tls].phases) + 1)]
                  for r in utdf["Phases"] if int(r["INTID"]) == intid}
        sheet = controller_timing(plans[tls], ART)
        cycle = int(plan_rows["Cycle Length"])
        assert cycle == sheet.cycle_s and plan_rows["Control Type"] == "0" and plan_rows["Referenced To"] == "0"
        green, yellow, red = ([int(x) for x in phases[k]] for k in ("MaxGreen", "Yellow", "AllRed"))
        assert sum(green) + sum(yellow) + sum(red) == cycle
        start, end = [int(x) for x in phases["Start"]], [int(x) for x in phases["End"]]
        ref = int(plan_rows["Reference Phase"]) - 1
        assert start[ref] == int(plan_rows["Offset"]) == sheet.offset_s
        assert all(end[k] == start[(k + 1) % len(start)] for k in range(len(start)))
        assert [int(x) for x in phases["Yield"]] == [(s + g) % cycle for s, g in zip(start, green)]
        assert [(q.green_s, q.yellow_s, q.all_red_s) for q in sheet.phases] == list(zip(green, yellow, red))


def test_utdf_refuses_what_it_cannot_hold(tmp_path):
    two = NetworkPlan((PlanPeriod("am", COORDINATED.periods[0].plans), PlanPeriod("pm", COORDINATED.periods[0].plans)))
    with pytest.raises(ValidationError, match=r"holds one period and the plan has 2 \(am, pm\)"):
        export_plan(two, ART, tmp_path / "a.utdf.csv", "utdf")
    assert export_plan(two, ART, tmp_path / "a.utdf.csv", "utdf", period="pm").is_file()
    j1 = COORDINATED.periods[0].by_tls["J1"]
    many = NetworkPlan.single([replace(j1, phases=j1.phases * 9)])
    with pytest.raises(ValidationError, match=r"at most 16 phases per intersection; too many in J1 \(18\)"):
        export_plan(many, ART, tmp_path / "b.utdf.csv", "utdf")
    grid = plans_from_network(graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml"))
    with pytest.raises(ValidationError, match="not in network arterial5"):
        export_plan(grid, ART, tmp_path / "c.utdf.csv", "utdf")
    assert not (tmp_path / "b.utdf.csv").exists() and not (tmp_path / "c.utdf.csv").exists()


def _names(obj, out):
    if isinstance(obj, dict):
        out.update(obj)
        for v in obj.values():
            _names(v, out)
    elif isinstance(obj, list):
        for v in obj:
            _names(v, out)
    return out


def test_ntcip_tables_are_consistent_and_every_field_is_documented():
    plan = NetworkPlan((PlanPeriod("am", COORDINATED.periods[0].plans),
                        PlanPeriod("off", COORDINATED.periods[0].plans[1:])),
                       (ScheduleEntry(7 * 3600.0, "am"), ScheduleEntry(9.5 * 3600, "off")))
    data = json.loads(json.dumps(ntcip_dict(plan, ART)))
    controller_keys = {"tls", "junctions", "phase_names", "phaseTable", "sequenceTable", "splitTable", "patternTable",
                       "coord", "timebaseAscActionTable", "timeBaseDayPlanTable", "timeBaseScheduleTable"}
    for c in data["controllers"]:
        fields = _names([c[k] for k in controller_keys - {"tls", "junctions", "phase_names"}], {})
        assert set(fields) <= set(NTCIP_OBJECTS), set(fields) - set(NTCIP_OBJECTS)
        signal_plan = plan.periods[0].by_tls[c["tls"]]
        for row, p in zip(c["phaseTable"], signal_plan.phases, strict=True):
            assert row["phaseYellowChange"] >= 10 * p.yellow_s - 1e-6 and row["phaseRedClear"] >= 10 * p.all_red_s - 1e-6
        for pattern in c["patternTable"]:
            splits = [s for s in c["splitTable"] if s["splitNumber"] == pattern["patternSplitNumber"]]
            assert sum(s["splitTime"] for s in splits) == pattern["patternCycleTime"]
            assert sum(s["splitCoordPhase"] for s in splits) == 1
            assert 0 <= pattern["patternOffsetTime"] < pattern["patternCycleTime"]
        events = [(e["dayPlanHour"], e["dayPlanMinute"], e["dayPlanActionNumberOID"]) for e in c["timeBaseDayPlanTable"]]
        assert events == [(0, 0, "timebaseAscActionNumber.2"), (7, 0, "timebaseAscActionNumber.1"),
                          (9, 30, "timebaseAscActionNumber.2")]
        actions = {a["timebaseAscActionNumber"]: a["timebaseAscPattern"] for a in c["timebaseAscActionTable"]}
        assert actions == ({1: 1, 2: 254} if c["tls"] == "J1" else {1: 1, 2: 2})  # J1 has no "off" plan: free


def test_ntcip_refuses_missing_yellow_and_off_minute_schedules():
    own = plans_from_network(ART)
    no_yellow = NetworkPlan.single([replace(p, phases=tuple(replace(ph, yellow_s=0.0, green_s=ph.green_s + ph.yellow_s)
                                                            for ph in p.phases)) for _, p in own.all_plans()])
    with pytest.raises(ValidationError, match="phaseYellowChange is 3.0-25.5 s, got yellow phase 1 0 s"):
        ntcip_dict(no_yellow, ART)
    odd = NetworkPlan(own.periods, (ScheduleEntry(30.0, "network"),))
    with pytest.raises(ValidationError, match=r"whole minutes; schedule\[0\] starts 30 s after midnight"):
        ntcip_dict(odd, ART)


def test_json_and_sumo_exports_read_back(tmp_path):
    for name in ("p.json", "p.add.xml"):
        path = export_plan(COORDINATED, ART, tmp_path / name, export_format_for(name))
        back = read_plans(path, network=ART)
        assert {p.tls: round(p.cycle_s, 6) for _, p in back.all_plans()} == {
            p.tls: round(p.cycle_s, 6) for _, p in COORDINATED.all_plans()}
    assert export_format_for("x.ntcip.json") == "ntcip" and export_format_for("x.utdf.csv") == "utdf"
    assert export_format_for(".json") is None and export_format_for("x.txt") is None
    with pytest.raises(ValidationError, match="expected one of utdf, ntcip, sumo, json"):
        export_plan(COORDINATED, ART, tmp_path / "x", "pdf")
