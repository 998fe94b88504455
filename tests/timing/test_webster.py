"""Tests of Webster's method."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain.network import graph_from_sumo_net
from citybrain.timing import optimise_plan
from citybrain.timing.splits import critical_ratio, equal_saturation_greens
from citybrain.timing.webster import webster_cycle_s

from .. import invariants
from ..conftest import NETWORKS
from ..naive import timing as naive
from .helpers import make_flows

GRID = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
PED = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")


def test_two_phase_matches_webster_by_hand():
    # one movement per phase: Y = 0.3 + 0.2, L = 10 s -> C = (15 + 5) / 0.5 = 40 s
    y = np.array([0.3, 0.2])
    service = np.eye(2)
    assert critical_ratio(y, service) == pytest.approx(0.5)
    assert webster_cycle_s(10.0, 0.5) == 40.0
    g = equal_saturation_greens(y, service, 40.0, 10.0, np.array([5.0, 5.0]))
    npt.assert_allclose(g, [18.0, 12.0], atol=1e-6)  # (C - L) y_i / Y
    npt.assert_allclose(g, naive.webster_splits(y, 40.0, 10.0), atol=1e-6)


def test_over_saturation_gives_max_cycle_and_no_starved_phase():
    y = np.array([0.7, 0.6])
    assert webster_cycle_s(10.0, 1.3) == 180.0
    g = equal_saturation_greens(y, np.eye(2), 180.0, 10.0, np.array([5.0, 5.0]))
    x = y * 180.0 / g
    npt.assert_allclose(x[0], x[1], rtol=1e-6)  # equal degree of saturation, side street kept


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
