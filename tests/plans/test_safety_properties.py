"""Property tests of the one gate (``require_safe``) against the naive reference of tests.naive.safety.

Safe plans (shipped networks' programs with clearances, optimiser plans) are mutated the ways
hand edits and bugs break plans; no plan the reference finds a hard violation in may pass the
gate, and for the coverage rules (``served``, ``idle-phase``, ``max-red``) the gate must name
exactly the rules the reference finds. Each test counts its examples and asserts the count:
:data:`TOTAL_EXAMPLES` in all.
"""

from __future__ import annotations

from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from citybrain.exceptions import UnsafePlanError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import PlanPhase, plans_from_network, require_safe
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
MUTATED, CONFLICTS, STARVED = 5500, 2500, 2000
TOTAL_EXAMPLES = MUTATED + CONFLICTS + STARVED


def _settings(n):
    return settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def _closed(plan, phases):
    """The plan with these phases and the cycle their splits sum to (offset wrapped)."""
    cycle = sum(p.duration_s for p in phases)
    return replace(plan, phases=tuple(phases), cycle_s=cycle, offset_s=plan.offset_s % cycle if cycle > 0 else 0.0)


def _with_phase(plan, k, phase):
    return _closed(plan, [phase if i == k else p for i, p in enumerate(plan.phases)])


# -- mutations: (rnd, plan) -> plan, all keeping the light's link count --------------------
def drop_yellow(rnd, plan):
    k = rnd.randrange(len(plan.phases))
    ph = plan.phases[k]
    return _with_phase(plan, k, replace(ph, yellow_s=rnd.choice([0.0, 1.0, 2.5]),
                                        green_s=ph.green_s + rnd.choice([0.0, ph.yellow_s])))


def shorten_all_red(rnd, plan):
    k = rnd.randrange(len(plan.phases))
    return _with_phase(plan, k, replace(plan.phases[k], all_red_s=rnd.choice([0.0, 0.5, 1.0])))


def _set_links(rnd, plan, signals: str):
    """One phase with 1-3 of its links set to signals drawn from ``signals``."""
    k = rnd.randrange(len(plan.phases))
    state = list(plan.phases[k].state)
    for i in rnd.choices(range(len(state)), k=rnd.randint(1, 3)):
        state[i] = rnd.choice(signals)
    return _with_phase(plan, k, replace(plan.phases[k], state="".join(state)))


def add_green(rnd, plan):
    return _set_links(rnd, plan, "Gg")


def flip_links(rnd, plan):
    return _set_links(rnd, plan, "Ggrrs")


def huge_duration(rnd, plan):
    k = rnd.randrange(len(plan.phases))
    key = rnd.choice(["green_s", "yellow_s", "all_red_s"])
    return _with_phase(plan, k, replace(plan.phases[k], **{key: rnd.choice([120.0, 181.0, 3600.0, 1e9])}))


def all_red_phase(rnd, plan):
    phase = PlanPhase("r" * plan.n_links, rnd.choice([0.0, 2.0, 30.0, 3600.0]),
                      all_red_s=rnd.choice([0.0, 2.0, 3600.0]))
    phases = list(plan.phases)
    phases.insert(rnd.randint(0, len(phases)), phase)
    return _closed(plan, phases)


def all_red_states(rnd, plan):
    return replace(plan, phases=tuple(replace(p, state="r" * len(p.state)) for p in plan.phases))


def remove_phase(rnd, plan):
    if len(plan.phases) < 2:
        return plan
    k = rnd.randrange(len(plan.phases))
    return _closed(plan, [p for i, p in enumerate(plan.phases) if i != k])


def never_serve(rnd, plan):
    links = set(rnd.choices(range(plan.n_links), k=rnd.randint(1, 3)))
    return replace(plan, phases=tuple(replace(p, state="".join("r" if i in links else c for i, c in enumerate(p.state)))
                                      for p in plan.phases))


def retime(rnd, plan):
    return plan.with_timing([rnd.choice([0.0, 3.0, 5.0, 20.0, 42.0, 90.0, 170.0, 400.0])
                             for _ in plan.phases])


def walk(rnd, plan):
    k = rnd.randrange(len(plan.phases))
    return replace(plan, phases=tuple(replace(p, walk_s=rnd.choice([0.0, 3.0, 7.0, 30.0])) if i == k else p
                                      for i, p in enumerate(plan.phases)))


MUTATIONS = (drop_yellow, shorten_all_red, add_green, flip_links, huge_duration, all_red_phase, all_red_states,
             remove_phase, never_serve, retime, walk)


def mutated(mutations=MUTATIONS, max_mutations=3):
    """``(network, plan)``: a base plan with one to ``max_mutations`` mutations.

    Hypothesis draws the base and a seeded ``random.Random`` that picks the mutations (cheap
    to generate; a failure shrinks to the base and the seed).
    """
    def build(case):
        b, rnd = case
        net, plan = BASES[b]
        for _ in range(rnd.randint(1, max_mutations)):
            plan = rnd.choice(mutations)(rnd, plan)
        return net, plan

    return st.tuples(st.integers(0, len(BASES) - 1), st.randoms(use_true_random=False)).map(build)


def _compare(net, plan):
    """Assert the gate refuses what the reference finds unsafe; return the reference's rules."""
    expected = naive.violations(plan, net)
    try:
        require_safe(plan, net)
        got = set()
    except UnsafePlanError as exc:  # each problem reads "error: tls X phase k: rule: message"
        got = {p.split(": ")[2] for p in exc.problems}
    assert got or not expected, f"passed the gate, reference finds {sorted(expected)}: {plan}"
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
