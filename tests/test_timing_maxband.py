"""Tests of the MAXBAND MILP against brute force, and on the generated arterial."""

from __future__ import annotations

import numpy as np
import pytest

from citybrain.network import graph_from_sumo_net
from citybrain.timing import optimise_plan
from citybrain.timing.maxband import arterial_corridor, maxband, maxband_offsets

from . import invariants
from .conftest import NETWORKS
from .test_timing_webster import make_flows


def _band(starts, greens, travel):
    """Widest band through green windows [starts_i, starts_i + greens_i) (cycles), brute force."""
    best = 0.0
    for s in np.linspace(0, 1, 400, endpoint=False):
        for b in np.linspace(0, 1, 201):
            ok = True
            for i in range(len(starts)):
                a = (s + travel[i] - starts[i]) % 1.0
                if a + b > greens[i] + 1e-9:
                    ok = False
                    break
            if ok:
                best = max(best, b)
            else:
                break
    return best


@pytest.mark.parametrize("seed", range(3))
def test_outbound_band_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = 3
    red = rng.uniform(0.3, 0.6, n)
    t = rng.uniform(0.1, 0.8, n - 1)
    sol = maxband_offsets(red, red, np.zeros(n), t, t, k=0.0)
    cum = np.r_[0, np.cumsum(t)]
    # the band the MILP claims exists through its own offsets
    assert _band(sol.green_start, 1 - red, cum) >= sol.b_out - 0.01
    # and no offsets do better: the band is at most the smallest green
    assert sol.b_out == pytest.approx(min(1 - red), abs=1e-6)


def test_two_way_band_on_symmetric_arterial_by_hand():
    # two signals, 50% red each: a round trip of one cycle lets both bands fill the green;
    # a round trip of half a cycle allows only half of that in total
    full = maxband_offsets([0.5, 0.5], [0.5, 0.5], [0.0, 0.0], [0.5], [0.5])
    assert full.b_out + full.b_in == pytest.approx(1.0, abs=1e-6)
    half = maxband_offsets([0.5, 0.5], [0.5, 0.5], [0.0, 0.0], [0.25], [0.25])
    assert half.b_out + half.b_in == pytest.approx(0.5, abs=1e-6)


def test_arterial_offsets_are_safe():
    net = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    corridor = arterial_corridor(net)
    assert len(corridor) == 5
    base = optimise_plan(net, make_flows(net, share=0.1), method="coordinated", n_restarts=1)
    plan = maxband(net, base, corridor)
    assert plan.meta["bandwidth_out_s"] > 0
    invariants.assert_safe_network_plan(plan, net)
