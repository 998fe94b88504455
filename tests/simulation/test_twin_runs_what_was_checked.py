"""The twin runs what was checked: a hand-edited plan in the twin and in plain ``sumo`` (issue 13, Must show)."""

from __future__ import annotations

import subprocess
from dataclasses import replace

import pytest

from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, plans_from_network, require_safe, write_plans_json, write_sumo_additional
from citybrain.sumo_tools import sumo_binary
from simulation import RunSpec, Twin
from simulation.metrics import read_tripinfo
from simulation.scenario import load_scenario

from ..conftest import ROOT

pytestmark = pytest.mark.sumo


def test_a_hand_edited_safe_plan_gives_the_same_delay_and_arrivals_as_plain_sumo(tmp_path):
    scenario = replace(load_scenario(ROOT / "scenarios" / "demo.toml"), end_s=900.0)
    network = graph_from_sumo_net(scenario.network)
    own = plans_from_network(network).periods[0]
    edited = []
    for k, p in enumerate(own.plans):  # different greens and offsets on every light, still safe
        first, *rest = p.phases
        phases = (replace(first, green_s=first.green_s + 9.0), *(replace(ph, green_s=ph.green_s - 4.0) for ph in rest))
        cycle = sum(ph.duration_s for ph in phases)
        edited.append(replace(p, phases=phases, cycle_s=cycle, offset_s=(13.0 * k) % cycle))
    plan = NetworkPlan.single(edited, name="edited")
    require_safe(plan, network)
    assert [p.phases for p in plan.periods[0].plans] != [p.phases for p in own.plans]
    path = write_plans_json(plan, tmp_path / "edited.json")
    twin = Twin(RunSpec(scenario, plan=str(path), seed=3), tmp_path / "twin", network=network).run()
    assert twin.ok and twin.arrived > 100

    add = write_sumo_additional(plan, tmp_path / "plan.add.xml", program_id="citybrain")
    flows = tmp_path / "flows.rou.xml"
    flows.write_text(scenario.flows_xml())
    tripinfo = tmp_path / "tripinfo.xml"
    args = scenario.sumo_args(3, extra_routes=(flows,), extra_additional=(add,))
    subprocess.run([str(sumo_binary()), *args, "--tripinfo-output", str(tripinfo),
                    "--tripinfo-output.write-undeparted", "true"],
                   check=True, capture_output=True, timeout=300)
    plain = read_tripinfo(tripinfo)
    assert plain.finished == twin.arrived
    assert plain.delay_s == pytest.approx(twin.delay_s, abs=1e-9)
