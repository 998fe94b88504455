"""Tests of the HCM critical-movement method."""

from __future__ import annotations

import pytest

from citybrain.network import graph_from_sumo_net
from citybrain.timing import optimise_plan
from citybrain.timing.hcm import hcm_cycle_s

from .. import invariants
from ..conftest import NETWORKS, REAL_NETS, real_path
from .helpers import make_flows


def test_cycle_formula_by_hand():
    # Vc = 0.5 * 1800 = 900; 900 / (1710 * 0.9) = 0.585; C = 10 / 0.415 = 24.1
    assert hcm_cycle_s(10.0, 0.5) == pytest.approx(10.0 / (1 - 900 / 1539), rel=1e-9)
    assert hcm_cycle_s(10.0, 0.9) == 180.0  # at/over the target: maximum cycle


def test_higher_target_vc_gives_shorter_cycles():
    assert hcm_cycle_s(12.0, 0.4, target_vc=0.95) < hcm_cycle_s(12.0, 0.4, target_vc=0.85)


def test_hcm_plans_are_safe_and_grow_with_demand():
    net = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
    low = optimise_plan(net, make_flows(net, share=0.05), method="hcm")
    high = optimise_plan(net, make_flows(net, share=0.3), method="hcm")
    invariants.assert_safe_network_plan(low, net)
    invariants.assert_safe_network_plan(high, net)
    assert high.period("all-day").by_tls["B1"].cycle_s > low.period("all-day").by_tls["B1"].cycle_s


@pytest.mark.parametrize("name", ["hangzhou_sb-sx", "atlanta", "ingolstadt7"])
def test_real_networks_get_safe_plans(name):
    from citybrain.plans import check_network_plan

    net = graph_from_sumo_net(real_path(REAL_NETS[name]))
    for method in ("hcm", "webster"):
        plan = optimise_plan(net, make_flows(net, share=0.06), method=method)
        assert [str(v) for v in check_network_plan(plan, net) if v.severity == "error"] == []
        invariants.assert_safe_network_plan(plan, net)
