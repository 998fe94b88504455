"""Tests of the switch check (citybrain.plans.switch, safety.switch_violations, require_safe(running=))."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.exceptions import UnsafePlanError, ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPhase, SignalPlan, plans_from_network, require_safe, switch_violations
from citybrain.plans.safety import apply_clearances

from ..conftest import NETWORKS
from ..naive import safety as naive

ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
PED = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")


def _safe(network, tls):
    return apply_clearances(plans_from_network(network).periods[0].by_tls[tls], network)


def _rules(found):
    return {v.rule for v in found if v.severity == "error"}


def test_a_safe_plan_switches_into_itself_and_a_cut_yellow_is_caught():
    plan = _safe(ART, "J1")  # its last phase's transition is the one into its phase 0
    assert switch_violations(plan, plan, ART) == []
    cut = replace(plan, phases=plan.phases[:-1] + (replace(plan.phases[-1], yellow_s=2.0),))
    found = switch_violations(cut, plan, ART)
    assert _rules(found) == {"yellow"} and found[0].phase == len(plan.phases) - 1
    assert "lose green at the switch into the pushed plan's phase 0 with 2 s yellow" in found[0].message


def test_a_one_phase_plan_cannot_hand_over_without_yellow():
    safe = _safe(ART, "J1")
    one = SignalPlan("J1", ("J1",), 60.0, 0.0, (PlanPhase(safe.phases[0].state, 60.0),))
    found = switch_violations(one, replace(safe, phases=safe.phases[1:] + safe.phases[:1]), ART)
    assert [(v.rule, v.phase) for v in found if v.severity == "error"] == [("yellow", 0)]
    assert "switch" in found[0].message and "phase 0" in found[0].message
    with pytest.raises(UnsafePlanError, match="yellow: switch"):
        require_safe(NetworkPlan.single([replace(safe, phases=safe.phases[1:] + safe.phases[:1])]), ART,
                     running={"J1": one})
    # no running plan for the light: it starts the pushed plan afresh
    require_safe(NetworkPlan.single([safe]), ART, running={"J2": one})


def test_a_short_running_green_and_a_different_link_count_are_caught():
    safe = _safe(ART, "J1")
    short = replace(safe, phases=safe.phases[:-1] + (replace(safe.phases[-1], green_s=2.0),))
    assert "min-green" in _rules(switch_violations(short, safe, ART))
    wider = replace(safe, phases=tuple(replace(p, state=p.state + "r") for p in safe.phases))
    with pytest.raises(ValidationError, match="link count"):
        switch_violations(wider, safe, ART)
    with pytest.raises(ValidationError, match="link count"):
        require_safe(safe, ART, running={"J1": wider})
    with pytest.raises(ValidationError, match="from a plan of light 'J2'"):
        switch_violations(_safe(ART, "J2"), safe, ART)


SWITCHES = 2000


def test_switches_agree_with_the_reference():
    """Random running plans (clearances cut, greens shortened, states changed) into safe plans."""
    seen = {"n": 0, "unsafe": 0}
    bases = [(ART, _safe(ART, t)) for t in ("J1", "J3")] + [(PED, _safe(PED, t)) for t in ("A0", "B1")]

    @settings(max_examples=SWITCHES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(0, len(bases) - 1), st.integers(0, 2**32 - 1))
    def check(b, seed):
        rng = random.Random(seed)
        net, plan = bases[b]
        pushed = replace(plan, phases=tuple(rng.sample(plan.phases, len(plan.phases))))
        last = rng.choice(plan.phases)
        state = list(last.state)
        for _ in range(rng.randrange(3)):
            state[rng.randrange(len(state))] = rng.choice("Ggr")
        last = replace(last, state="".join(state), green_s=rng.choice([0.0, 2.0, 5.0, 30.0]),
                       yellow_s=rng.choice([0.0, 2.0, 3.0, 3.5, 5.0]), all_red_s=rng.choice([0.0, 1.0, 3.0]))
        running = replace(plan, phases=plan.phases[:-1] + (last,))
        expected = naive.switch_violations(running, pushed, net)
        got = _rules(switch_violations(running, pushed, net))
        seen["n"] += 1
        seen["unsafe"] += bool(got)
        assert expected <= got and got - expected <= {"yellow-trap"}, f"gate {sorted(got)} != reference {sorted(expected)}"

    check()
    print(f"\n{seen['n']} switches checked, {seen['unsafe']} refused")
    assert seen["n"] == SWITCHES and 0.2 * SWITCHES < seen["unsafe"] < SWITCHES
