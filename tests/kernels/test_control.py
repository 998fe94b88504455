"""Max-pressure kernels against their pure-numpy references."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.control import _downstream_queues, _phase_pressures
from citybrain.control.maxpressure import default_turn_ratios
from citybrain.network import graph_from_sumo_net

from ..conftest import NETWORKS
from ..naive import control as naive


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


@pytest.mark.parametrize("seed", range(5))
def test_downstream_queues_match_reference(grid, seed):
    rng = np.random.default_rng(seed)
    arr = grid.to_arrays()
    n = len(grid.movements)
    ratio = default_turn_ratios(grid)
    up = rng.integers(0, 30, n).astype(float)
    observed = (rng.random(n) < 0.8).astype(np.uint8)
    exit_veh = rng.integers(0, 30, n).astype(float)
    got = _downstream_queues(arr.mov_to_edge, arr.edge_out_ptr, arr.edge_out_mov, ratio, up, observed, exit_veh)
    want = naive.downstream_queues(arr.mov_to_edge, arr.edge_out_ptr, arr.edge_out_mov, ratio, up, observed, exit_veh)
    npt.assert_allclose(got, want)


@pytest.mark.parametrize("seed", range(5))
def test_phase_pressures_match_reference(seed):
    rng = np.random.default_rng(seed)
    n_mov, n_tls = 40, 7
    phases_per_tls = rng.integers(1, 5, n_tls)
    tls_ptr = np.concatenate([[0], np.cumsum(phases_per_tls)]).astype(np.int64)
    sizes = rng.integers(0, 6, tls_ptr[-1])  # a phase may serve nothing
    phase_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    phase_mov = rng.integers(0, n_mov, phase_ptr[-1]).astype(np.int64)
    sat = rng.uniform(500, 3600, n_mov)
    up, down = rng.uniform(0, 40, n_mov), rng.uniform(0, 40, n_mov)
    got = _phase_pressures(tls_ptr, phase_ptr, phase_mov, sat, up, down)
    npt.assert_allclose(got, naive.phase_pressures(tls_ptr, phase_ptr, phase_mov, sat, up, down))


def test_default_turn_ratios_sum_to_one_per_approach(grid):
    arr = grid.to_arrays()
    ratio = default_turn_ratios(grid)
    for e in range(len(arr.edge_ids)):
        movs = arr.edge_out_mov[arr.edge_out_ptr[e]:arr.edge_out_ptr[e + 1]]
        if len(movs):
            assert ratio[movs].sum() == pytest.approx(1.0)
