"""Property tests of the one gate (``require_safe``) against the naive reference of tests.naive.safety.

Safe plans (shipped networks' programs with clearances, optimiser plans) are mutated the ways
hand edits and bugs break plans; no plan the reference finds a hard violation in may pass the
gate, and for the coverage rules (``served``, ``idle-phase``, ``max-red``) the gate must name
exactly the rules the reference finds. Each test counts its examples and asserts the count:
:data:`TOTAL_EXAMPLES` in all.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.exceptions import UnsafePlanError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import PlanPhase, check_plan, plans_from_network, require_safe
from citybrain.plans.safety import apply_clearances
from citybrain.timing import TimingOptions, optimise_plan

from ..conftest import NETWORKS
from ..naive import safety as naive
from ..timing.helpers import make_flows

PED = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")
GRID = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
COVERAGE = {"served", "idle-phase", "max-red"}


def _bases():
    out = [(net, apply_clearances(plans_from_network(net).periods[0].by_tls[tls], net))
           for net, tls in ((PED, "A0"), (PED, "B1"), (GRID, "A0"), (GRID, "B2"), (ART, "J1"), (ART, "J3"))]
    for net in (ART, GRID):
        plan = optimise_plan(net, make_flows(net, share=0.1), "webster", TimingOptions(seed=0))
        out.extend((net, p) for p in plan.periods[0].plans[:2])
    return out


BASES = _bases()
MUTATED, CONFLICTS, STARVED = 6000, 2500, 2000
TOTAL_EXAMPLES = MUTATED + CONFLICTS + STARVED


def _settings(n):
    return settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _closed(plan, phases):
    """The plan with these phases and the cycle their splits sum to (offset wrapped)."""
    cycle = sum(p.duration_s for p in phases)
    return replace(plan, phases=tuple(phases), cycle_s=cycle, offset_s=plan.offset_s % cycle if cycle > 0 else 0.0)


def _with_phase(plan, k, phase):
    return _closed(plan, [phase if i == k else p for i, p in enumerate(plan.phases)])


# -- mutations: (draw, plan) -> plan, all keeping the light's link count --------------------
def drop_yellow(draw, plan):
    k = draw(st.integers(0, len(plan.phases) - 1))
    ph = plan.phases[k]
    return _with_phase(plan, k, replace(ph, yellow_s=draw(st.sampled_from([0.0, 1.0, 2.5])),
                                        green_s=ph.green_s + draw(st.sampled_from([0.0, ph.yellow_s]))))


def shorten_all_red(draw, plan):
    k = draw(st.integers(0, len(plan.phases) - 1))
    return _with_phase(plan, k, replace(plan.phases[k], all_red_s=draw(st.sampled_from([0.0, 0.5, 1.0]))))


def add_green(draw, plan):
    k = draw(st.integers(0, len(plan.phases) - 1))
    state = list(plan.phases[k].state)
    for i in draw(st.lists(st.integers(0, len(state) - 1), min_size=1, max_size=3)):
        state[i] = draw(st.sampled_from("Gg"))
    return _with_phase(plan, k, replace(plan.phases[k], state="".join(state)))


def flip_links(draw, plan):
    k = draw(st.integers(0, len(plan.phases) - 1))
    state = list(plan.phases[k].state)
    for i in draw(st.lists(st.integers(0, len(state) - 1), min_size=1, max_size=3)):
        state[i] = draw(st.sampled_from("Ggrrs"))
    return _with_phase(plan, k, replace(plan.phases[k], state="".join(state)))


def huge_duration(draw, plan):
    k = draw(st.integers(0, len(plan.phases) - 1))
    key = draw(st.sampled_from(["green_s", "yellow_s", "all_red_s"]))
    return _with_phase(plan, k, replace(plan.phases[k], **{key: draw(st.sampled_from([120.0, 181.0, 3600.0, 1e9]))}))


def all_red_phase(draw, plan):
    phase = PlanPhase("r" * plan.n_links, draw(st.sampled_from([0.0, 2.0, 30.0, 3600.0])),
                      all_red_s=draw(st.sampled_from([0.0, 2.0, 3600.0])))
    phases = list(plan.phases)
    phases.insert(draw(st.integers(0, len(phases))), phase)
    return _closed(plan, phases)


def all_red_states(draw, plan):
    return replace(plan, phases=tuple(replace(p, state="r" * len(p.state)) for p in plan.phases))


def remove_phase(draw, plan):
    if len(plan.phases) < 2:
        return plan
    k = draw(st.integers(0, len(plan.phases) - 1))
    return _closed(plan, [p for i, p in enumerate(plan.phases) if i != k])


def never_serve(draw, plan):
    links = set(draw(st.lists(st.integers(0, plan.n_links - 1), min_size=1, max_size=3)))
    return replace(plan, phases=tuple(replace(p, state="".join("r" if i in links else c for i, c in enumerate(p.state)))
                                      for p in plan.phases))


def retime(draw, plan):
    return plan.with_timing([draw(st.sampled_from([0.0, 3.0, 5.0, 20.0, 42.0, 90.0, 170.0, 400.0]))
                             for _ in plan.phases])


def walk(draw, plan):
    k = draw(st.integers(0, len(plan.phases) - 1))
    return replace(plan, phases=tuple(replace(p, walk_s=draw(st.sampled_from([0.0, 3.0, 7.0, 30.0]))) if i == k else p
                                      for i, p in enumerate(plan.phases)))


MUTATIONS = (drop_yellow, shorten_all_red, add_green, flip_links, huge_duration, all_red_phase, all_red_states,
             remove_phase, never_serve, retime, walk)


@st.composite
def mutated(draw, mutations=MUTATIONS, max_mutations=3):
    net, plan = BASES[draw(st.integers(0, len(BASES) - 1))]
    for mutation in draw(st.lists(st.sampled_from(mutations), min_size=1, max_size=max_mutations)):
        plan = mutation(draw, plan)
    return net, plan


def _compare(net, plan):
    """Assert the gate refuses what the reference finds unsafe; return the reference's rules."""
    expected = naive.violations(plan, net)
    got = {v.rule for v in check_plan(plan, net) if v.severity == "error"}
    if expected:
        with pytest.raises(UnsafePlanError):
            require_safe(plan, net)
    assert got & COVERAGE == expected & COVERAGE, f"gate {sorted(got)} != reference {sorted(expected)}: {plan}"
    assert expected - COVERAGE <= got, f"gate {sorted(got)} misses {sorted(expected - got)}: {plan}"
    return expected


def test_bases_are_safe_by_gate_and_reference():
    for net, plan in BASES:
        assert naive.violations(plan, net) == set()
        require_safe(plan, net)


def test_mutated_plans_agree_with_the_reference():
    seen = {"n": 0, "unsafe": 0}

    @_settings(MUTATED)
    @given(mutated())
    def check(case):
        seen["n"] += 1
        seen["unsafe"] += bool(_compare(*case))

    check()
    assert seen["n"] == MUTATED
    assert 0.3 * MUTATED < seen["unsafe"] < MUTATED  # both verdicts exercised


def test_every_added_green_in_a_conflicting_phase_is_caught():
    seen = {"n": 0, "conflict": 0}

    @_settings(CONFLICTS)
    @given(mutated(mutations=(add_green,), max_mutations=2))
    def check(case):
        seen["n"] += 1
        seen["conflict"] += "conflict" in _compare(*case)

    check()
    assert seen["n"] == CONFLICTS and seen["conflict"] > CONFLICTS // 4


def test_plans_starving_a_movement_are_refused():
    seen = {"n": 0}

    @_settings(STARVED)
    @given(mutated(mutations=(never_serve, remove_phase, all_red_states), max_mutations=2))
    def check(case):
        net, plan = case
        seen["n"] += 1
        expected = _compare(net, plan)
        if any(not any(p.state[i] in "Gg" for p in plan.phases) for i in range(plan.n_links)):
            assert "served" in expected

    check()
    assert seen["n"] == STARVED
