"""Synthetic ground truth: flows for any network and a partial, noisy camera layout's counts."""

from __future__ import annotations

import pandas as pd
import pytest

from citybrain.counts import COUNT_COLUMNS, counts_from_frame
from citybrain.network import graph_from_sumo_net
from citybrain.synthetic import sample_camera_counts, synthetic_movement_flows

from .conftest import NETWORKS


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


@pytest.fixture(scope="module")
def truth(grid):
    return synthetic_movement_flows(grid, n_intervals=2, seed=3)


def test_synthetic_flows_schema_and_seed(grid, truth):
    assert list(truth.columns) == ["interval_start", "interval_s", "junction", "from_edge", "to_edge", "count", "flow_vph"]
    assert sorted(set(truth["interval_start"])) == [0.0, 900.0]
    assert (truth["to_edge"] != "").all() and (truth["count"] >= 0).all()
    pd.testing.assert_frame_equal(truth, synthetic_movement_flows(grid, n_intervals=2, seed=3))


def test_sample_camera_counts_protocol(grid, truth):
    counts = sample_camera_counts(truth, grid, drop_share=0.3, movement_share=0.5, noise_rel=0.0, seed=1)
    assert list(counts.columns) == list(COUNT_COLUMNS)
    approaches = {(m.junction, m.from_edge) for m in grid.movements if m.tls}
    seen = set(zip(counts["junction"], counts["from_edge"], strict=True))
    assert len(seen) == round(0.7 * len(approaches))
    totals = counts[counts["to_edge"] == ""]
    assert abs(len(set(totals["from_edge"])) - len(seen) / 2) <= 1
    assert counts_from_frame(counts, grid).report.ok


def test_sampled_counts_without_noise_are_the_true_counts(grid, truth):
    counts = sample_camera_counts(truth, grid, movement_share=1.0, noise_rel=0.0, seed=2)
    assert (counts["to_edge"] != "").all()
    key = ["interval_start", "junction", "from_edge", "to_edge"]
    merged = counts.merge(truth, on=key, suffixes=("", "_true"))
    assert len(merged) == len(counts)
    assert (merged["count"] == merged["count_true"]).all()
