"""Tests of the plan controller (protocol level, no SUMO)."""

from __future__ import annotations

import pytest

from citybrain.control.base import CONTROLLERS, Observation, make_controller
from citybrain.control.plan import PlanController, register_plan
from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPeriod, ScheduleEntry
from citybrain.timing import optimise_plan

from ..conftest import NETWORKS
from ..timing.helpers import make_flows

NET = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def obs(t, green):
    return Observation("A0", t, green, green, 0.0, (0, 2), (), (), (), (), (), (), ())


def test_follows_the_plan_cycle_and_offset():
    plan = optimise_plan(NET, make_flows(NET), method="webster")
    ctl = PlanController(NET, "A0", plan)
    p = plan.periods[0].by_tls["A0"]
    g0 = p.phases[0].green_s
    assert ctl.target_phase(1.0) == 0 and ctl.target_phase(g0 + 0.5) == 2  # the yellow already asks for phase 2
    assert ctl.decide(obs(1.0, 0)) is None and ctl.decide(obs(g0 + 0.5, 0)) == 2


def test_schedule_switches_plans():
    a = optimise_plan(NET, make_flows(NET, share=0.03), method="webster").periods[0]
    b = optimise_plan(NET, make_flows(NET, share=0.15), method="webster").periods[0]
    plan = NetworkPlan((PlanPeriod("night", a.plans), PlanPeriod("day", b.plans)),
                       (ScheduleEntry(0.0, "night"), ScheduleEntry(7 * 3600.0, "day")))
    register_plan(plan, name="plan-test")
    try:
        ctl = make_controller("plan-test", NET, "A0")
        assert ctl.plan.plan_at("A0", 8 * 3600).cycle_s == b.by_tls["A0"].cycle_s
    finally:
        CONTROLLERS.pop("plan-test", None)


def test_plans_that_do_not_map_onto_the_program_are_refused():
    from dataclasses import replace

    plan = optimise_plan(NET, make_flows(NET), method="webster")
    p = plan.periods[0].by_tls["A0"]
    bad = replace(p, phases=(replace(p.phases[0], program_phase=1), p.phases[1]))
    with pytest.raises(ValidationError, match="program_phase 1"):
        PlanController(NET, "A0", NetworkPlan.single([bad]))
