"""Emulated stop-line cameras: perfect cameras equal the truth; degraded ones do not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from simulation.cameras import (
    COUNT_COLUMNS,
    REGISTRY_COLUMNS,
    TRUTH_COLUMNS,
    cameras_for_network,
    write_camera_tables,
)
from simulation.runner import run_seeds
from simulation.scenario import CameraConfig, Outage, load_scenario
from simulation.twin import RunSpec

from .conftest import ROOT


@pytest.fixture(scope="module")
def grid_runs():
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    sc = replace(sc, end_s=900.0)
    perfect = replace(sc, cameras=CameraConfig(interval_s=300.0))
    degraded = replace(
        sc,
        cameras=CameraConfig(
            interval_s=300.0,
            detection_rate=0.5,
            noise_sd=0.2,
            outages=(Outage("cam_B1_A1B1", 0.0, 300.0),),
        ),
    )
    out = {}
    for name, scen in (("perfect", perfect), ("degraded", degraded)):
        (res,) = run_seeds(RunSpec(scen, cameras=True), [0], workers=1)
        assert res.ok, res.error
        out[name] = res
    return out


def test_perfect_cameras_equal_true_movement_counts(grid_runs):
    tables = grid_runs["perfect"].cameras
    assert list(tables.counts.columns) == COUNT_COLUMNS
    assert list(tables.truth.columns) == TRUTH_COLUMNS
    assert list(tables.registry.columns) == REGISTRY_COLUMNS
    keys = ["interval_start", "interval_s", "junction", "from_edge", "to_edge"]
    cams = tables.counts.drop(columns="camera_id").sort_values(keys).reset_index(drop=True)
    truth = tables.truth.sort_values(keys).reset_index(drop=True)
    assert cams.equals(truth)
    moves = truth[truth.to_edge != ""]
    assert moves["count"].sum() > 500
    assert sorted(truth.interval_start.unique()) == [0.0, 300.0, 600.0]
    # approach totals are the sums of their movements
    totals = truth[truth.to_edge == ""].set_index(["interval_start", "junction", "from_edge"])["count"]
    sums = moves.groupby(["interval_start", "junction", "from_edge"])["count"].sum()
    assert (totals.loc[sums.index] == sums).all()


def test_every_signalised_approach_has_a_camera(grid_runs):
    from citybrain.network import graph_from_sumo_net

    net = graph_from_sumo_net(ROOT / "networks" / "grid4x4.net.xml")
    cams = cameras_for_network(net)
    approaches = {(j, e) for j in net.signalised_junctions for e in net.approach_edges(j)}
    assert {(c.junction, c.from_edge) for c in cams} == approaches
    reg = grid_runs["perfect"].cameras.registry
    assert set(reg.camera_id) == {c.camera_id for c in cams}
    assert all(reg.lanes.str.len() > 0)


def test_degraded_cameras_miss_vehicles_and_go_down(grid_runs, tmp_path):
    tables = grid_runs["degraded"].cameras
    counts, truth = tables.counts, tables.truth
    assert counts["count"].sum() < 0.8 * truth["count"].sum()
    down = counts[(counts.camera_id == "cam_B1_A1B1") & (counts.interval_start == 0.0)]
    assert down.empty
    assert not counts[counts.camera_id == "cam_B1_A1B1"].empty
    files = write_camera_tables(tables, tmp_path, "x_")
    assert [f.name for f in files] == ["x_counts.csv", "x_truth.csv", "x_cameras.csv"]
    assert files[0].read_text().splitlines()[0] == ",".join(COUNT_COLUMNS)
