"""A light whose own program fails the gate runs our controllers on the plan citybrain generates, checked."""

from __future__ import annotations

from dataclasses import replace

import pytest

from citybrain.exceptions import UnsafePlanError
from citybrain.network import graph_from_sumo_net
from citybrain.plans.safety import check_plan
from simulation import RunSpec, Twin
from simulation.controllers import GENERATED, OWN, checked_base_plan, checked_program_plan
from simulation.scenario import load_scenario

from ..conftest import NETWORKS, ROOT

pytestmark = pytest.mark.sumo

# J3's first green with its left turns protected (G) against the opposing through: no clearance mends it
OWN_GREEN = '<tlLogic id="J3" type="static" programID="0" offset="0">\n        <phase duration="42" state="rrrGGGgrrrGGGg"/>'
UNSAFE_GREEN = OWN_GREEN.replace("rrrGGGgrrrGGGg", "rrrGGGGrrrGGGG")


@pytest.fixture(scope="module")
def unsafe_net(tmp_path_factory):
    text = (NETWORKS / "arterial5.net.xml").read_text()
    assert OWN_GREEN in text
    path = tmp_path_factory.mktemp("net") / "arterial5_unsafe_j3.net.xml"
    path.write_text(text.replace(OWN_GREEN, UNSAFE_GREEN))
    return path


def test_the_generated_plan_is_the_checked_plan_where_the_own_program_fails_the_gate(unsafe_net):
    network = graph_from_sumo_net(unsafe_net)
    with pytest.raises(UnsafePlanError, match="permissive"):
        checked_program_plan(network, "J3")
    plan, source = checked_base_plan(network, "J3")
    assert source == GENERATED and not [v for v in check_plan(plan, network) if v.severity == "error"]
    assert all(ph.state[3:7] != "GGGG" for ph in plan.phases)  # the left turn yields again
    assert [checked_base_plan(network, t)[1] for t in ("J1", "J2", "J4", "J5")] == [OWN] * 4


def test_our_controller_runs_the_generated_plan_without_violations(unsafe_net, tmp_path):
    scenario = replace(load_scenario(ROOT / "scenarios" / "demo.toml"), network=unsafe_net, end_s=600.0)
    network = graph_from_sumo_net(unsafe_net)
    twin = Twin(RunSpec(scenario, controller="recommended", seed=0), tmp_path, network=network)
    generated, _ = checked_base_plan(network, "J3")
    ran = {p.state for p in twin.run_network.programs["J3"].phases}
    assert {ph.state for ph in generated.phases} <= ran and "rrrGGGGrrrGGGG" not in ran
    result = twin.run()
    assert result.ok and result.arrived > 100 and not result.gridlocked
    assert result.monitor["total"] == result.monitor["ours"]["total"] == 0, result.monitor["events"]
