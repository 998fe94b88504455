"""Tests of the plan controller (protocol level, no SUMO): SUMO runs the plan, the controller never chooses."""

from __future__ import annotations

from citybrain.control.base import CONTROLLERS, Observation, make_controller
from citybrain.control.plan import PlanController, register_plan
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPeriod, ScheduleEntry
from citybrain.timing import optimise_plan

from ..conftest import NETWORKS
from ..timing.helpers import make_flows

NET = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def test_the_plan_is_program_driven_and_never_chooses_a_phase():
    plan = optimise_plan(NET, make_flows(NET), method="webster")
    ctl = PlanController(NET, "A0", plan)
    assert ctl.program_driven is True
    assert ctl.decide(Observation("A0", 1.0, 0, 0, 0.0, (0, 2), (), (), (), (), (), (), ())) is None
    assert ctl.plan_at(0.0) == plan.periods[0].by_tls["A0"]


def test_schedule_switches_plans():
    a = optimise_plan(NET, make_flows(NET, share=0.03), method="webster").periods[0]
    b = optimise_plan(NET, make_flows(NET, share=0.15), method="webster").periods[0]
    plan = NetworkPlan((PlanPeriod("night", a.plans), PlanPeriod("day", b.plans)),
                       (ScheduleEntry(0.0, "night"), ScheduleEntry(7 * 3600.0, "day")))
    register_plan(plan, name="plan-test")
    try:
        ctl = make_controller("plan-test", NET, "A0")
        assert ctl.plan_at(8 * 3600).cycle_s == b.by_tls["A0"].cycle_s
        assert ctl.plan_at(3600).cycle_s == a.by_tls["A0"].cycle_s
    finally:
        CONTROLLERS.pop("plan-test", None)
