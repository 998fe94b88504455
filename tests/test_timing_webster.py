"""Tests of Webster's method, the shared equal-saturation splits, and the front function."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pandas as pd
import pytest

from citybrain.exceptions import InfeasiblePlanError, ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.timing import METHODS, optimise_plan
from citybrain.timing._common import FLOW_COLUMNS, critical_ratio, equal_saturation_greens, movement_flows
from citybrain.timing.webster import webster_cycle_s

from . import invariants
from .conftest import NETWORKS
from .naive import timing as naive

GRID = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
PED = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")


def make_flows(network, share=0.08, seed=0, intervals=1):
    """Movement flows as a share (randomised) of saturation flow at every signalised movement."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(intervals):
        for m in network.movements:
            if m.turn == "crossing" or not m.tls:
                continue
            rows.append((k * 900.0, 900.0, m.junction, m.from_edge, m.to_edge,
                         float(rng.uniform(0.5, 1.5) * share * m.sat_flow_vph), 10.0))
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def test_two_phase_matches_webster_by_hand():
    # one movement per phase: Y = 0.3 + 0.2, L = 10 s -> C = (15 + 5) / 0.5 = 40 s
    y = np.array([0.3, 0.2])
    service = np.eye(2)
    assert critical_ratio(y, service) == pytest.approx(0.5)
    assert webster_cycle_s(10.0, 0.5) == 40.0
    g = equal_saturation_greens(y, service, 40.0, 10.0, np.array([5.0, 5.0]))
    npt.assert_allclose(g, [18.0, 12.0], atol=1e-6)  # (C - L) y_i / Y
    npt.assert_allclose(g, naive.webster_splits(y, 40.0, 10.0), atol=1e-6)


def test_overlapping_phases_equalise_saturation():
    # movement 0 served by phases 0 and 1, movement 1 by phase 1, movement 2 by phase 2
    service = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    y = np.array([0.4, 0.1, 0.2])
    assert critical_ratio(y, service) == pytest.approx(0.6)
    g = equal_saturation_greens(y, service, 60.0, 12.0, np.full(3, 5.0))
    x = y * 60.0 / (service @ g)
    assert x.max() == pytest.approx(naive.min_max_saturation(y, service, 60.0, 12.0, np.full(3, 5.0)), rel=1e-3)


def test_over_saturation_gives_max_cycle_and_no_starved_phase():
    y = np.array([0.7, 0.6])
    assert webster_cycle_s(10.0, 1.3) == 180.0
    g = equal_saturation_greens(y, np.eye(2), 180.0, 10.0, np.array([5.0, 5.0]))
    x = y * 180.0 / g
    npt.assert_allclose(x[0], x[1], rtol=1e-6)  # equal degree of saturation, side street kept


def test_closed_form_greens_match_the_linear_programmes():
    """One phase per lane group: the closed form gives the LP's greens (max_green forces the LP)."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(400):
        n_p, n_r = int(rng.integers(1, 5)), int(rng.integers(1, 7))
        service = np.zeros((n_r, n_p))
        service[np.arange(n_r), rng.integers(0, n_p, n_r)] = rng.choice([1.0, 0.5], n_r)
        y = rng.uniform(0, 0.5, n_r) * (rng.random(n_r) > 0.2)
        cycle, lost, gmin = float(rng.integers(30, 181)), float(rng.uniform(4, 20)), rng.uniform(3, 12, n_p)
        if cycle - lost < gmin.sum():
            continue
        fast = equal_saturation_greens(y, service, cycle, lost, gmin)
        lp = equal_saturation_greens(y, service, cycle, lost, gmin, np.full(n_p, 1e9))
        npt.assert_allclose(fast, lp, atol=1e-6)
        assert fast.sum() == pytest.approx(cycle - lost) and np.all(fast >= gmin - 1e-9)
        checked += 1
    assert checked > 200


def test_minimum_greens_that_do_not_fit_raise():
    with pytest.raises(InfeasiblePlanError, match="do not fit in cycle 30.0 s"):
        equal_saturation_greens(np.array([0.1, 0.1]), np.eye(2), 30.0, 10.0, np.array([15.0, 15.0]))


def test_webster_on_grid_is_safe_and_balanced():
    plan = optimise_plan(GRID, make_flows(GRID), method="webster")
    invariants.assert_safe_network_plan(plan, GRID)
    p = plan.period("all-day").by_tls["A0"]
    assert 30 <= p.cycle_s <= 180 and p.method == "webster"


def test_pedestrian_phases_hold_walk_and_clearance():
    plan = optimise_plan(PED, make_flows(PED, share=0.02), method="webster")
    for _, p in plan.all_plans():
        for ph in p.phases:
            assert ph.green_s >= ph.walk_s + ph.ped_clearance_s


def test_flow_table_problems_are_collected():
    bad = make_flows(GRID).head(3).copy()
    bad.loc[0, "flow_vph"] = -5.0
    bad.loc[1, "to_edge"] = "nowhere"
    with pytest.raises(ValidationError) as info:
        movement_flows(GRID, bad)
    assert "flow_vph must be a number >= 0" in str(info.value) and "nowhere is not a movement" in str(info.value)
    with pytest.raises(ValidationError, match="lacks column"):
        movement_flows(GRID, bad.drop(columns=["se_vph"]))
    with pytest.raises(ValidationError, match="'method' of optimise_plan must be one of"):
        optimise_plan(GRID, make_flows(GRID), method="magic")
    with pytest.raises(ValidationError, match="'cycle_bounds'"):
        optimise_plan(GRID, make_flows(GRID), cycle_bounds=(90, 60))


def test_intervals_are_aggregated():
    flows = make_flows(GRID, intervals=3)
    q_mean = movement_flows(GRID, flows)
    q_max = movement_flows(GRID, flows, aggregate="max")
    assert (q_max >= q_mean - 1e-9).all() and q_mean.sum() > 0


@pytest.mark.parametrize("name", ["webster", "hcm", "coordinated"])
def test_every_method_satisfies_the_invariants(name):
    network = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    plan = optimise_plan(network, make_flows(network, share=0.1), method=METHODS[name])
    invariants.assert_safe_network_plan(plan, network)
    from citybrain.plans import check_network_plan

    assert [v for v in check_network_plan(plan, network) if v.severity == "error"] == []


def test_redundant_phases_are_dropped_and_protected_lefts_kept():
    from citybrain.plans.model import PlanPhase
    from citybrain.timing._common import drop_redundant_phases

    # Hangzhou-style: four paired phases, then each approach alone (nothing new)
    states = ["rrrrGGrrrrrrGGrr", "GGrrrrrrGGrrrrrr", "rrrrrrGGrrrrrrGG", "rrGGrrrrrrGGrrrr",
              "rrrrrrrrrrrrGGGG", "rrrrGGGGrrrrrrrr", "rrrrrrrrGGGGrrrr", "GGGGrrrrrrrrrrrr"]
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in states])
    assert [p.state for p in kept] == states[:4]
    # a protected left (G) is not redundant beside a permissive one (g)
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in ("GGggrrr", "rrGGrrr", "rrrrGGG")])
    assert len(kept) == 3
    # ... unless permissive green counts as much: then the left keeps only its permissive green
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in ("GGggrrr", "rrGGrrr", "rrrrGGG")], permissive=True)
    assert [p.state for p in kept] == ["GGggrrr", "rrrrGGG"]
    # a phase with a link green nowhere else stays
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in ("GGggrrr", "rrGGGrr", "rrrrrGG")], permissive=True)
    assert len(kept) == 3


def test_short_approach_keeps_own_program_share():
    # every approach counted as "short": each phase keeps its own program's share of green
    from citybrain.timing._common import isolated_timing, service_matrix, short_approach_shares

    q = movement_flows(GRID, make_flows(GRID, share=0.02))
    tls = sorted(GRID.programs)[0]
    tm = isolated_timing(GRID, tls, q)
    service = service_matrix(tm.plan, GRID, tm.movements, 0.5)
    shares = short_approach_shares(GRID, tm.plan, tm.movements, service, short_m=1e9)
    own = np.array([ph.green_s for ph in tm.plan.phases])
    npt.assert_allclose(shares, own / own.sum())
    assert not np.any(tm.min_share)  # the grid's approaches are long: no floor
    tm2 = tm.__class__(**{**{f: getattr(tm, f) for f in tm.__slots__}, "min_share": shares})
    for cycle in (30.0, 60.0, 120.0):
        g = tm2.min_greens(cycle)
        assert np.all(g >= tm.min_green_s - 1e-9)
        assert g.sum() <= cycle - tm.lost_s + 1e-9
    g = tm2.min_greens(120.0)
    npt.assert_allclose(g, np.maximum(tm.min_green_s, shares * (120.0 - tm.lost_s)))


def test_short_approach_floor_in_plans():
    # light flows would give the minimum green; a short-approach share lifts the phase to it
    from citybrain.timing._common import finish_plan, isolated_timing

    q = movement_flows(GRID, make_flows(GRID, share=0.02))
    tls = sorted(GRID.programs)[0]
    tm = isolated_timing(GRID, tls, q)
    shares = np.zeros(len(tm.plan.phases))
    shares[0] = 0.6
    tm2 = tm.__class__(**{**{f: getattr(tm, f) for f in tm.__slots__}, "min_share": shares})
    plan = finish_plan(tm2, 90.0, method="webster")
    assert plan.phases[0].green_s >= 0.6 * (90.0 - tm.lost_s) - 1e-6
    invariants.assert_safe_plan(plan, GRID)


def test_clip_to_program_capacity():
    from citybrain.timing._common import clip_to_program_capacity

    ids = sorted(GRID.programs)
    light = movement_flows(GRID, make_flows(GRID, share=0.05))
    npt.assert_allclose(clip_to_program_capacity(GRID, light, ids), light)  # well under capacity: unchanged
    heavy = movement_flows(GRID, make_flows(GRID, share=3.0))
    clipped = clip_to_program_capacity(GRID, heavy, ids)
    assert np.all(clipped <= heavy + 1e-9) and np.any(clipped < heavy)
    sat = np.array([m.sat_flow_vph for m in GRID.movements])
    signalised = [i for i, m in enumerate(GRID.movements) if m.tls and m.turn != "crossing"]
    assert np.all(clipped[signalised] <= sat[signalised] * 2 + 1e-9)


def test_no_movement_is_starved_by_sanitising():
    """A stream green only beside a never-together stream (an all-green phase) still gets a phase."""
    import copy
    from dataclasses import replace as _replace

    from citybrain.network import ProgramPhase
    from citybrain.plans.model import GREEN
    from citybrain.plans.safety import check_plan
    from citybrain.timing._common import base_plan

    art = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    net = copy.copy(art)
    prog = art.programs["J3"]
    n = len(prog.phases[0].state)
    net.programs = {**art.programs, "J3": _replace(prog, phases=(ProgramPhase(40.0, "G" * n), ProgramPhase(3.0, "y" * n)))}
    plan = base_plan(net, "J3")
    served = {i for ph in plan.phases for i, c in enumerate(ph.state) if c in GREEN}
    assert served == set(range(n)) and len(plan.phases) == 2
    assert [v for v in check_plan(plan, net) if v.severity == "error"] == []


def _arterial_with_green_left(third_phase: bool):
    """arterial5 with J1's first phase showing the J2_J1 left protected (``G``) against the W_J1
    through, as right-on-red style programs do; optionally a third phase serving W_J1 alone."""
    import copy
    from dataclasses import replace as _replace

    from citybrain.network import ProgramPhase

    art = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    net = copy.copy(art)
    prog = art.programs["J1"]
    phases = [ProgramPhase(30.0, "rrrGGGGrrrGGGg"), ProgramPhase(3.0, "rrryyyyrrryyyy"),
              ProgramPhase(30.0, "GGgrrrrGGgrrrr"), ProgramPhase(3.0, "yyyrrrryyyrrrr")]
    if third_phase:
        phases += [ProgramPhase(10.0, "rrrrrrrrrrGGGG"), ProgramPhase(3.0, "rrrrrrrrrryyyy")]
    net.programs = {**art.programs, "J1": _replace(prog, phases=tuple(phases))}
    return net


def test_heavier_stream_keeps_its_protection_when_the_lighter_is_served_elsewhere():
    """With flows, a light stream green in another phase goes red rather than make a heavy one permissive."""
    from citybrain.plans.safety import check_plan
    from citybrain.timing._common import base_plan

    left, through = (6,), (11, 12)  # J2_J1 -> J1_S1 (left) yields to W_J1 -> J1_J2 (through)
    for third in (False, True):
        net = _arterial_with_green_left(third)
        q = np.zeros(len(net.movements))
        q[net.movement_index("J1", "J2_J1", "J1_S1")] = 500.0
        q[net.movement_index("J1", "W_J1", "J1_J2")] = 100.0
        blind, by_flow = base_plan(net, "J1"), base_plan(net, "J1", flows_vph=q)
        assert all(blind.phases[0].state[i] == "g" for i in left)
        assert all(blind.phases[0].state[i] == "G" for i in through)
        if third:  # the through has a phase of its own: it leaves the left's phase
            assert all(by_flow.phases[0].state[i] == "G" for i in left)
            assert all(by_flow.phases[0].state[i] == "r" for i in through)
        else:  # the only phase of the through: it stays, the left stays permissive
            assert by_flow.phases[0].state == blind.phases[0].state
        assert [v for v in check_plan(by_flow, net) if v.severity == "error"] == []
