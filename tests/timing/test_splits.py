"""Tests of equal-saturation splits of isolated lights (citybrain.timing.splits)."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain.exceptions import InfeasiblePlanError
from citybrain.network import graph_from_sumo_net
from citybrain.timing.flows import movement_flows
from citybrain.timing.phases import lane_groups, service_matrix
from citybrain.timing.splits import (
    critical_ratio,
    equal_saturation_greens,
    finish_plan,
    group_ratios,
    isolated_timing,
    short_approach_shares,
)

from .. import invariants
from ..conftest import NETWORKS
from ..naive import timing as naive
from .helpers import make_flows

GRID = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def test_overlapping_phases_equalise_saturation():
    # movement 0 served by phases 0 and 1, movement 1 by phase 1, movement 2 by phase 2
    service = np.array([[1.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    y = np.array([0.4, 0.1, 0.2])
    assert critical_ratio(y, service) == pytest.approx(0.6)
    g = equal_saturation_greens(y, service, 60.0, 12.0, np.full(3, 5.0))
    x = y * 60.0 / (service @ g)
    assert x.max() == pytest.approx(naive.min_max_saturation(y, service, 60.0, 12.0, np.full(3, 5.0)), rel=1e-3)


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


def test_short_approach_keeps_own_program_share():
    # every approach counted as "short": each phase keeps its own program's share of green
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
    q = movement_flows(GRID, make_flows(GRID, share=0.02))
    tls = sorted(GRID.programs)[0]
    tm = isolated_timing(GRID, tls, q)
    shares = np.zeros(len(tm.plan.phases))
    shares[0] = 0.6
    tm2 = tm.__class__(**{**{f: getattr(tm, f) for f in tm.__slots__}, "min_share": shares})
    plan = finish_plan(tm2, 90.0, method="webster")
    assert plan.phases[0].green_s >= 0.6 * (90.0 - tm.lost_s) - 1e-6
    invariants.assert_safe_plan(plan, GRID)


def test_lane_groups_pool_flows_of_shared_lanes():
    net = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    movs = [i for i, m in enumerate(net.movements) if m.junction == "J3" and m.from_edge == "S3_J3"]
    groups = lane_groups(net, movs)
    assert len(groups) == 1  # one shared lane: left, through and right
    sat = np.array([net.movements[m].sat_flow_vph for m in movs])
    q = np.array([500.0, 0.0, 0.0])
    service = np.ones((3, 2))
    y, sv = group_ratios(q, sat, service, groups)
    assert y[0] == pytest.approx(500.0 / sat.sum())
    assert sv.shape == (1, 2)
