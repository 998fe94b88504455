"""Demand for the twin from an estimate (SUMO's jtrrouter), and the synthetic flow generator."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from citybrain.counts import counts_from_frame
from citybrain.estimation import EstimationSettings, estimate_flows
from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.synthetic import sample_camera_counts, synthetic_movement_flows
from simulation.demand import turn_ratio_xml, write_jtr_demand

from ..conftest import NETWORKS


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def test_synthetic_flows_conserve(grid):
    truth = synthetic_movement_flows(grid, n_intervals=2, seed=0, midblock_share=0.0)
    a = grid.to_arrays()
    t0 = truth[truth["interval_start"] == 0]
    flow = dict(zip(zip(t0["from_edge"], t0["to_edge"], strict=True), t0["flow_vph"], strict=True))
    for e in a.edge_ids:
        into = sum(v for (f, t), v in flow.items() if t == e)
        out = sum(v for (f, t), v in flow.items() if f == e)
        if into > 0 and out > 0:
            assert into == pytest.approx(out, rel=1e-9)
    assert (truth["count"] >= 0).all()


def test_turn_ratio_xml(grid):
    truth = synthetic_movement_flows(grid, n_intervals=1, seed=0)
    est = estimate_flows(grid, counts_from_frame(sample_camera_counts(truth, grid, seed=0), grid), EstimationSettings(standard_errors=False))
    root = ET.fromstring(turn_ratio_xml(est.flows))
    probs = {}
    for rel in root.iter("edgeRelation"):
        probs.setdefault(rel.get("from"), []).append(float(rel.get("probability")))
    assert probs
    for values in probs.values():
        assert sum(values) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.sumo
def test_write_jtr_demand_routes(grid, tmp_path):
    truth = synthetic_movement_flows(grid, n_intervals=2, seed=4)
    est = estimate_flows(grid, counts_from_frame(sample_camera_counts(truth, grid, seed=0), grid), EstimationSettings(standard_errors=False))
    paths = write_jtr_demand(est, grid, tmp_path, seed=1)
    vehicles = list(ET.parse(paths["routes"]).getroot().iter("vehicle"))
    entries = est.flows.astype({"from_edge": str, "to_edge": str})
    fed = set(entries["to_edge"])
    expected = (entries[~entries["from_edge"].isin(fed)]["flow_vph"].sum() * 900 / 3600)
    assert len(vehicles) == pytest.approx(expected, rel=0.05)
    # every routed step follows a movement of the network
    moves = {(m.from_edge, m.to_edge) for m in grid.movements}
    for v in vehicles[:50]:
        edges = v.find("route").get("edges").split()
        assert all((a, b) in moves for a, b in zip(edges, edges[1:], strict=False))
    assert np.isfinite(expected)


def test_write_jtr_demand_refuses_iso(grid, tmp_path):
    import pandas as pd

    frame = pd.DataFrame({"interval_start": ["2024-01-01T00:00:00"], "interval_s": [900.0], "junction": ["A0"],
                          "from_edge": ["a"], "to_edge": ["b"], "flow_vph": [1.0], "se_vph": [1.0]})
    with pytest.raises(ValidationError, match="ISO"):
        write_jtr_demand(frame, grid, tmp_path)
