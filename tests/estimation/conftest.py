"""Fixtures of the estimation tests: the 4 x 4 grid, synthetic truth, partial counts, one estimate."""

from __future__ import annotations

import pytest

from citybrain.counts import counts_from_frame
from citybrain.estimation import estimate_flows
from citybrain.network import graph_from_sumo_net
from citybrain.synthetic import sample_camera_counts, synthetic_movement_flows

from ..conftest import NETWORKS

@pytest.fixture(scope="package")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


@pytest.fixture(scope="package")
def truth(grid):
    return synthetic_movement_flows(grid, n_intervals=4, interval_s=900.0, seed=7)


@pytest.fixture(scope="package")
def partial(grid, truth):
    return counts_from_frame(sample_camera_counts(truth, grid, seed=2), grid)


@pytest.fixture(scope="package")
def estimate(grid, partial):
    return estimate_flows(grid, partial)
