"""Tests of citybrain.plans.model: plans, transitions, the time-of-day schedule."""

from __future__ import annotations

import pytest

from citybrain.exceptions import ValidationError
from citybrain.plans import NetworkPlan, PlanPeriod, PlanPhase, ScheduleEntry, SignalPlan, transition_states


def _plan(tls="A", cycle=60.0, offset=0.0, ref=0):
    phases = (PlanPhase("GGrr", 25.0, 3.0, 2.0), PlanPhase("rrGG", 25.0, 3.0, 2.0))
    return SignalPlan(tls, (tls,), cycle, offset, phases, reference_phase=ref)


def test_plan_derived_quantities():
    p = _plan()
    assert p.n_links == 4
    assert p.splits_s == (30.0, 30.0)
    assert p.lost_time_s == 10.0
    assert p.phase_starts_s() == (0.0, 30.0)


def test_sumo_offset_and_reference_phase():
    assert _plan(offset=10.0).sumo_offset_s() == 10.0
    # offset refers to phase 1's green start, which is 30 s into the program
    assert _plan(offset=10.0, ref=1).sumo_offset_s() == 40.0
    assert _plan(offset=10.0).cycle_position_s(10.0) == 0.0
    assert _plan(offset=10.0).cycle_position_s(5.0) == 55.0


def test_with_timing_recomputes_cycle():
    p = _plan().with_timing([40.0, 20.0], offset_s=75.0, method="x")
    assert p.cycle_s == 70.0 and p.offset_s == 5.0 and p.method == "x"


def test_transition_states_keep_continuing_green():
    y, r = transition_states("GgGrs", "GrrGs")
    assert y == "GyyrS".replace("S", "s")
    assert r == "Grrrs"


def test_schedule_picks_last_entry_and_wraps():
    am = PlanPeriod("am", (_plan(),))
    off = PlanPeriod("off", (_plan(cycle=60.0),))
    plan = NetworkPlan((am, off), (ScheduleEntry(7 * 3600.0, "am"), ScheduleEntry(10 * 3600.0, "off")))
    assert plan.period_at(8 * 3600.0).name == "am"
    assert plan.period_at(12 * 3600.0).name == "off"
    assert plan.period_at(3600.0).name == "off"  # before the first entry: yesterday's last
    assert plan.period_at(86400.0 + 8 * 3600.0).name == "am"
    assert plan.plan_at("A", 0.0).tls == "A"
    assert plan.plan_at("B", 0.0) is None


def test_single_period_runs_all_day():
    plan = NetworkPlan.single([_plan("B"), _plan("A")])
    assert plan.tls_ids == ("A", "B")
    assert plan.period_at(12345.0).name == "all-day"


def test_network_plan_collects_every_problem():
    bad = SignalPlan("A", ("A",), 60.0, 0.0, (PlanPhase("GG", 25.0), PlanPhase("GGX", -1.0)), reference_phase=5)
    with pytest.raises(ValidationError) as info:
        NetworkPlan((PlanPeriod("p", (bad, bad)),), (ScheduleEntry(90000.0, "nope"),))
    assert str(info.value).startswith("NetworkPlan: 11 problem(s) in the network plan:")
    problems = [m.removeprefix("NetworkPlan: ") for m in info.value.problems]
    assert problems[:5] == [
        "periods[0]: 'plans': one plan per traffic light expected, got ['A', 'A']",
        "periods[0]: plans[0] (tls 'A'): 'phases': every 'state' must have the same length (one character per "
        "link), got 2 in phases[0], 3 in phases[1]",
        "periods[0]: plans[0] (tls 'A'): phases[1]: 'state': expected SUMO state characters (GgrysoOu), got ['X']",
        "periods[0]: plans[0] (tls 'A'): phases[1]: 'green_s': expected a number >= 0, got -1.0",
        "periods[0]: plans[0] (tls 'A'): 'reference_phase': expected in [0, 2), got 5",
    ]
    assert problems[-2:] == [
        "schedule[0]: 'period': expected one of ['p'], got 'nope'",
        "schedule[0]: 'start': 90000 s after midnight, expected in [0, 86400)",
    ]


def test_wrong_state_length_is_blamed_on_its_phase():
    """Issue 13: a short state in phase 0 was blamed on phase 1."""
    good, short = PlanPhase("GGrr", 25.0), PlanPhase("GGr", 25.0)
    plan = SignalPlan("A", ("A",), 75.0, 0.0, (short, good, good))
    with pytest.raises(ValidationError) as info:
        NetworkPlan.single([plan])
    assert info.value.problems == [
        "NetworkPlan: periods[0]: plans[0] (tls 'A'): phases[0]: 'state': expected 4 characters (like the other "
        "phases), got 3"]


def test_periods_must_be_named_once_and_scheduled_in_order():
    plan = PlanPeriod("am", (_plan(),))
    with pytest.raises(ValidationError) as info:
        NetworkPlan((plan, plan), (ScheduleEntry(9 * 3600.0, "am"), ScheduleEntry(7 * 3600.0, "am")))
    assert info.value.problems == [
        "NetworkPlan: 'periods': names must be unique, got ['am', 'am']",
        "NetworkPlan: 'schedule': starts must be strictly increasing, got [32400.0, 25200.0] (s after midnight)",
    ]
    with pytest.raises(ValidationError, match="'periods': expected at least one period, got none"):
        NetworkPlan(())
