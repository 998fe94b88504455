"""Tests of citybrain.plans.safety: hard rules, profiles, and property tests (nothing unsafe passes)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.exceptions import UnsafePlanError, ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import NetworkPlan, PlanPhase, SignalPlan, check_plan, plans_from_network, require_safe
from citybrain.plans.safety import (
    EU_RILSA,
    apply_clearances,
    check_network_plan,
    get_profile,
    required_all_red_s,
    required_yellow_s,
)

from .. import invariants
from ..conftest import NETWORKS, REAL_NETS, real_path

GRID = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
PED = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")
ARTERIAL = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")


def _safe(network, tls):
    return apply_clearances(plans_from_network(network).periods[0].by_tls[tls], network)


def _errors(found):
    return [v for v in found if v.severity == "error"]


def test_ite_yellow_and_all_red_formulas():
    # Y = 1 + v / (2 * 3.05): 40 km/h -> 2.82 -> clamp 3; 50 -> 3.28 -> 3.5; 70 km/h -> 4.19 -> 4.5
    assert required_yellow_s(40 / 3.6) == 3.0
    assert required_yellow_s(50 / 3.6) == 3.5
    assert required_yellow_s(70 / 3.6) == 4.5
    assert required_yellow_s(200 / 3.6) == 6.0
    uphill = replace(get_profile("us"), grade=0.05)
    assert required_yellow_s(70 / 3.6, uphill) == 4.0
    assert [required_yellow_s(v / 3.6, EU_RILSA) for v in (30, 50, 60, 70)] == [3.0, 3.0, 4.0, 5.0]
    assert required_all_red_s(20.0, 50 / 3.6) == 2.0
    assert required_all_red_s(200.0, 5.0) == 6.0
    with pytest.raises(ValueError, match="'profile' must be one of"):
        get_profile("mars")


def test_shipped_safe_plan_passes_with_no_warning():
    for network, tls in ((GRID, "A0"), (PED, "A0")):
        plan = _safe(network, tls)
        assert check_plan(plan, network) == []
        invariants.assert_safe_plan(plan, network)


def test_each_hard_rule_is_reported():
    plan = _safe(GRID, "A0")
    p0, p1 = plan.phases
    # a left turn (link 3, permissive 'g') made protected while the opposing through is green
    permissive = replace(plan, phases=(replace(p0, state=p0.state[:3] + "G" + p0.state[4:]), p1))
    assert {v.rule for v in _errors(check_plan(permissive, GRID))} == {"permissive"}
    # crossing streams green together
    both = "".join("G" if a in "Gg" or b in "Gg" else "r" for a, b in zip(p0.state, p1.state))
    conflict = replace(plan, phases=(replace(p0, state=both), p1))
    assert "conflict" in {v.rule for v in _errors(check_plan(conflict, GRID))}
    no_yellow = replace(plan, phases=(replace(p0, yellow_s=0.0, green_s=p0.green_s + p0.yellow_s), p1))
    assert {v.rule for v in _errors(check_plan(no_yellow, GRID))} == {"yellow"}
    bad_cycle = replace(plan, cycle_s=plan.cycle_s + 1, offset_s=plan.cycle_s + 5)
    msgs = [v.message for v in _errors(check_plan(bad_cycle, GRID))]
    assert any("expected the cycle" in m for m in msgs) and any("expected in [0," in m for m in msgs)
    short = replace(plan, phases=(replace(p0, green_s=3.0), p1), cycle_s=plan.cycle_s - p0.green_s + 3.0)
    assert {v.rule for v in _errors(check_plan(short, GRID))} == {"min-green"}
    long = plan.with_timing([150.0, 150.0])
    assert {v.rule for v in _errors(check_plan(long, GRID))} == {"cycle"}
    wrong = replace(plan, tls="nope")  # unusable input, not a violation
    with pytest.raises(ValidationError, match="traffic light.*'nope' not in network grid4x4"):
        check_plan(wrong, GRID)
    with pytest.raises(ValidationError, match="'nope'") as info:
        require_safe(NetworkPlan.single([plan, wrong]), GRID)
    assert not isinstance(info.value, UnsafePlanError)


def test_pedestrian_and_profile_rules():
    plan = _safe(PED, "A0")
    p0, p1 = plan.phases
    rushed = replace(plan, phases=(replace(p0, walk_s=4.0, ped_clearance_s=2.0), p1))
    msgs = [v.message for v in check_plan(rushed, PED) if v.rule == "pedestrian"]
    assert any("walk 4 s" in m for m in msgs) and any("pedestrian clearance 2 s" in m for m in msgs)
    short_yellow = replace(plan, phases=(replace(p0, yellow_s=3.0, all_red_s=0.0, green_s=p0.duration_s - 3.0), p1))
    found = check_plan(short_yellow, PED)
    assert {(v.rule, v.severity) for v in found} == {("yellow-time", "warning"), ("all-red", "warning")}
    # the same 3 s yellow is fine under the RiLSA-like profile (50 km/h)
    assert {v.rule for v in check_plan(short_yellow, PED, "eu")} == {"all-red"}


def test_yellow_trap_is_reported():
    plan = _safe(GRID, "A0")
    p0, p1 = plan.phases
    # phase 0 keeps the opposing through green into phase 1 while the permissive left ends
    through_left = "GGGgrrrrrrrrrrrr"   # A1A0 right, through, left (g) ...
    through_only = "rGGrrrrrrrrrrrrr"
    opposing = "rrrrrrrrrGGrrrrr"      # bottom0A0 through, which A1A0's left yields to
    s0 = "".join("G" if opposing[i] == "G" else c for i, c in enumerate(through_left))
    s1 = "".join("G" if opposing[i] == "G" else c for i, c in enumerate(through_only))
    trap = replace(plan, phases=(replace(p0, state=s0), replace(p1, state=s1)))
    assert "yellow-trap" in {v.rule for v in check_plan(trap, GRID)}


def test_real_programs_report_what_is_unsafe():
    results = {}
    for name in ("hangzhou_kn-hz", "atlanta", "cologne3"):
        net = graph_from_sumo_net(real_path(REAL_NETS[name]))
        results[name] = {v.rule for v in _errors(check_network_plan(plans_from_network(net), net))}
    assert {"yellow", "cycle"} <= results["hangzhou_kn-hz"]  # no yellow at all, 280 s cycle
    assert {"yellow", "conflict", "merge"} <= results["atlanta"]
    assert results["cologne3"] == set()


# -- properties ------------------------------------------------------------------------
_BASE = _safe(PED, "A0")


@st.composite
def mutated_plans(draw):
    """Plans near a safe one: links switched, clearances and greens changed."""
    phases = []
    for ph in _BASE.phases:
        state = list(ph.state)
        for i in draw(st.lists(st.integers(0, len(state) - 1), max_size=3)):
            state[i] = draw(st.sampled_from("Ggr"))
        phases.append(replace(
            ph,
            state="".join(state),
            green_s=draw(st.floats(0.0, 80.0)),
            yellow_s=draw(st.sampled_from([0.0, 2.0, 3.0, 3.5, 4.0])),
            all_red_s=draw(st.sampled_from([0.0, 1.0, 2.0])),
            walk_s=draw(st.sampled_from([0.0, 5.0, 7.0, 10.0])),
            ped_clearance_s=draw(st.sampled_from([0.0, 10.0, 18.0])),
        ))
    cycle = sum(p.duration_s for p in phases) + draw(st.sampled_from([0.0, 0.0, 0.0, 4.0]))
    offset = draw(st.floats(0.0, cycle * 1.2))
    return replace(_BASE, phases=tuple(phases), cycle_s=cycle, offset_s=offset)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_plans())
def test_nothing_unsafe_passes(plan):
    if _errors(check_plan(plan, PED)):
        return
    invariants.assert_safe_plan(plan, PED)
    for ph in plan.phases:
        walk = ph.walk_s or ph.green_s
        if any(ph.state[i] in "Gg" for i in plan.crossing_links):
            assert walk >= 7.0 and ph.ped_clearance_s >= 18.0
    assert 30.0 <= plan.cycle_s <= 180.0


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 1), st.integers(0, 19), st.data())
def test_every_added_conflicting_green_is_caught(phase, link, data):
    ph = _BASE.phases[phase]
    if ph.state[link] in "Gg":
        return
    char = data.draw(st.sampled_from("Gg"))
    state = ph.state[:link] + char + ph.state[link + 1:]
    plan = replace(_BASE, phases=tuple(replace(p, state=state) if k == phase else p for k, p in enumerate(_BASE.phases)))
    found = _errors(check_plan(plan, PED))
    try:
        invariants.assert_no_conflicting_greens(plan, PED)
    except AssertionError:
        assert found, f"link {link} -> {char} in phase {phase} is unsafe but passed"


def test_network_plan_check_names_periods():
    from citybrain.plans import PlanPeriod, ScheduleEntry

    bad = replace(_BASE, cycle_s=_BASE.cycle_s + 3)
    plan = NetworkPlan((PlanPeriod("am", (_BASE,)), PlanPeriod("pm", (bad,))), (ScheduleEntry(0.0, "am"),))
    found = check_network_plan(plan, PED)
    assert [v.period for v in found] == ["pm"] and str(found[0]).startswith("error: [pm] tls A0")


def test_one_phase_plan_needs_no_yellow_but_starves_the_side_streets():
    state = GRID.programs["A0"].phases[0].state
    one = SignalPlan("A0", ("A0",), 60.0, 0.0, (PlanPhase(state, 60.0),))
    found = _errors(check_plan(one, GRID))
    assert [v.rule for v in found] == ["served"]  # defect 3 of issue 13: no yellow needed, but refused
    never = [i for i, c in enumerate(state) if c not in "Gg"]
    assert found[0].message.startswith(f"links {','.join(map(str, never[:8]))}")
    with pytest.raises(UnsafePlanError, match="served"):
        require_safe(one, GRID)


def test_all_red_plan_is_refused():
    plan = _safe(GRID, "A0")
    red = replace(plan, phases=tuple(replace(p, state="r" * len(p.state)) for p in plan.phases))
    rules = [v.rule for v in _errors(check_plan(red, GRID))]
    assert sorted(rules) == ["idle-phase", "idle-phase", "served"]
    with pytest.raises(UnsafePlanError, match="idle-phase"):
        require_safe(red, GRID)
    # one all-red phase between two served ones: idle, the rest is fine
    p0, p1 = plan.phases
    extra = replace(p1, state="r" * len(p1.state), green_s=10.0, yellow_s=0.0, all_red_s=0.0)
    three = replace(plan, phases=(p0, p1, extra), cycle_s=plan.cycle_s + 10.0)
    assert [(v.rule, v.phase) for v in _errors(check_plan(three, GRID))] == [("idle-phase", 2)]


def test_every_crossing_must_be_served():
    plan = _safe(PED, "A0")
    assert plan.crossing_links
    c = plan.crossing_links[0]
    dropped = replace(plan, phases=tuple(replace(p, state=p.state[:c] + "r" + p.state[c + 1:]) for p in plan.phases))
    found = [v for v in _errors(check_plan(dropped, PED)) if v.rule == "served"]
    assert len(found) == 1 and found[0].message.startswith(f"links {c} ")


def test_longest_red_is_limited_by_the_profile():
    from citybrain.plans.coverage import longest_reds_s

    plan = _safe(GRID, "A0")
    p0, p1 = plan.phases
    reds = longest_reds_s(plan)
    # a link green in phase 0 only is red for phase 0's yellow + all-red and all of phase 1
    i = next(k for k, (a, b) in enumerate(zip(p0.state, p1.state)) if a in "Gg" and b not in "Gg")
    assert reds[i] == pytest.approx(p0.yellow_s + p0.all_red_s + p1.duration_s)
    assert _errors(check_plan(plan, GRID)) == []
    tight = replace(get_profile("us"), max_red_s=reds[i] - 1.0)
    assert "max-red" in {v.rule for v in _errors(check_plan(plan, GRID, tight))}
    # a 200 s side-street red breaks the default 180 s limit (and the cycle rule)
    long = plan.with_timing([200.0, p1.green_s])
    msgs = [v.message for v in _errors(check_plan(long, GRID)) if v.rule == "max-red"]
    assert msgs and "expected at most 180 s" in msgs[0]


def test_crossing_length_is_the_crossing_lane_not_lanes_times_width():
    from citybrain.plans.safety import crossing_length_m

    net = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")
    crossings = [i for i, m in enumerate(net.movements) if m.turn == "crossing"]
    assert crossings
    # :A0_c0 crosses A0A1 and A1A0 (2 vehicle lanes + a sidewalk each): 12.8 m kerb to kerb, not 6 x 3.2 m
    lengths = {net.movements[i].from_lanes[0]: crossing_length_m(net, i) for i in crossings}
    assert lengths[":A0_c0_0"] == pytest.approx(12.8)
    assert all(0 < v < 19.2 for v in lengths.values())


def test_all_red_only_when_a_link_gains_green():
    from citybrain.plans.safety import LightGeometry, clearance_times

    tls = sorted(GRID.programs)[0]
    geo = LightGeometry.of(GRID, tls)
    state = next(ph.state for ph in GRID.programs[tls].phases if ph.state.count("G") >= 2)
    keep = state.index("G")
    reduced = "".join(c if i == keep or c not in "Gg" else "r" for i, c in enumerate(state))
    y, ar = clearance_times(state, reduced, geo)  # links lose green, none gains: nobody enters
    assert y >= 3.0 and ar == 0.0
    swapped = "".join("G" if c == "r" else "r" for c in state)
    y2, ar2 = clearance_times(state, swapped, geo)
    assert y2 >= 3.0 and ar2 > 0.0


def test_require_safe_returns_the_warnings_of_a_safe_plan():
    plan = plans_from_network(ARTERIAL)  # arterial5's own programs: safe, with clearance warnings
    warnings = require_safe(plan, ARTERIAL)
    assert warnings == check_network_plan(plan, ARTERIAL)
    assert warnings and {v.severity for v in warnings} == {"warning"}
    one = plan.periods[0].by_tls["J1"]
    assert require_safe(one, ARTERIAL, "eu") == check_plan(one, ARTERIAL, "eu")


def test_require_safe_refuses_an_unsafe_plan_listing_every_error():
    plan = plans_from_network(ARTERIAL)
    j1 = plan.periods[0].by_tls["J1"]
    all_green = replace(j1, phases=tuple(replace(p, state="G" * len(p.state)) for p in j1.phases))
    unsafe = NetworkPlan.single([all_green, *(p for p in plan.periods[0].plans if p.tls != "J1")])
    errors = [str(v) for v in check_network_plan(unsafe, ARTERIAL) if v.severity == "error"]
    assert {e.split(": ")[2] for e in errors} >= {"conflict", "merge"}
    for target in (unsafe, all_green):  # a NetworkPlan and one light's SignalPlan
        with pytest.raises(UnsafePlanError) as info:
            require_safe(target, ARTERIAL, source="plan.json")
        assert isinstance(info.value, ValidationError)
        assert info.value.problems == errors
        assert str(info.value) == "\n".join([f"plan.json is unsafe and will not run ({len(errors)} error(s)):", *errors])


def test_a_pure_clearance_phase_is_allowed_an_idle_green_is_not():
    plan = _safe(GRID, "A0")
    for green_s, rules in ((0.0, set()), (2.0, {"idle-phase"})):
        phases = (plan.phases[0], PlanPhase("r" * plan.n_links, green_s, all_red_s=2.0), plan.phases[1])
        cleared = replace(plan, phases=phases, cycle_s=plan.cycle_s + green_s + 2.0)
        assert {v.rule for v in _errors(check_plan(cleared, GRID))} == rules
