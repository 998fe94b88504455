"""Emulated stop-line cameras: perfect cameras equal the truth; degraded ones do not."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from citybrain.counts import COUNT_COLUMNS, QUEUE_COLUMN, REGISTRY_COLUMNS, CountTable, read_counts
from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from simulation import RunSpec
from simulation.cameras import TRUTH_COLUMNS, cameras_for_network, write_camera_tables
from simulation.runner import run_seeds
from simulation.scenario import CameraConfig, Outage, load_scenario

from ..conftest import ROOT

pytestmark = pytest.mark.sumo


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
    assert list(tables.counts.columns) == [*COUNT_COLUMNS, QUEUE_COLUMN]
    assert list(tables.truth.columns) == TRUTH_COLUMNS
    assert list(tables.registry.columns) == [*REGISTRY_COLUMNS, "range_m"]
    keys = ["interval_start", "interval_s", "junction", "from_edge", "to_edge"]
    cams = tables.counts.drop(columns=["camera_id", QUEUE_COLUMN]).sort_values(keys).reset_index(drop=True)
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
    assert files[0].read_text().splitlines()[0] == ",".join([*COUNT_COLUMNS, QUEUE_COLUMN])


def test_count_table_is_the_validated_file_without_the_file(grid_runs, tmp_path):
    """The table the cameras hand over equals what reading their files gives: same rows, same report."""
    net = graph_from_sumo_net(ROOT / "networks" / "grid4x4.net.xml")
    tables = grid_runs["perfect"].cameras
    counts, _, registry = write_camera_tables(tables, tmp_path, "")
    table = tables.count_table(net, source=str(counts))
    assert isinstance(table, CountTable) and table.report.ok and len(table) == len(tables.counts)
    from_file = read_counts(counts, net, registry=registry)
    pd.testing.assert_frame_equal(table.frame, from_file.frame)
    assert (table.origin, table.interval_s) == (from_file.origin, from_file.interval_s) == (None, 300.0)
    assert table.report.format() == from_file.report.format()


def test_count_table_reports_a_camera_that_was_down(grid_runs):
    net = graph_from_sumo_net(ROOT / "networks" / "grid4x4.net.xml")
    tables = grid_runs["degraded"].cameras
    lenient = tables.count_table(net, strict=False, source="grid cameras")
    assert [p.code for p in lenient.report.problems] == ["camera-gap"]
    assert "grid cameras" in lenient.report.format() and "'cam_B1_A1B1'" in lenient.report.format()
    with pytest.raises(ValidationError, match="camera 'cam_B1_A1B1' has no counts"):
        tables.count_table(net)
    # the counts after the outage are complete
    later = tables.between(300.0, 900.0)
    assert later.counts["interval_start"].min() == 300.0 and later.truth["interval_start"].min() == 300.0
    assert later.count_table(net).report.ok
    assert len(tables.between(300.0, 599.0).counts) == 0  # only whole intervals



def test_cameras_count_vehicles_that_cross_short_approach_edges_between_steps(tmp_path):
    """On ingolstadt7 some approach edges are shorter than a car travels in a step: every
    vehicle that leaves an approach edge (SUMO's own edge data) is counted all the same."""
    import xml.etree.ElementTree as ET

    from simulation import Twin

    from ..conftest import real_path

    sc = load_scenario(real_path("resco/ingolstadt7/ingolstadt7.sumocfg"))
    sc = replace(sc, end_s=sc.begin_s + 900.0, cameras=CameraConfig(interval_s=300.0))
    net = graph_from_sumo_net(sc.network)
    result = Twin(RunSpec(sc, cameras=True), workdir=tmp_path, network=net).run()
    truth = result.cameras.truth
    counted = truth[truth.to_edge == ""].groupby("from_edge")["count"].sum()
    left: dict[str, float] = {}
    for interval in ET.parse(tmp_path / "edgedata.xml").getroot():
        for edge in interval:
            left[edge.get("id")] = left.get(edge.get("id"), 0.0) + float(edge.get("left", 0))
    for edge, n in counted.items():
        assert n == left.get(edge, 0.0), f"{edge}: cameras {n}, SUMO edge data {left.get(edge, 0.0)}"
    short = [e for e in counted.index if net.edges[e]["length_m"] < 15.0]
    assert counted[short].sum() > 50, "ingolstadt7's short approach edges carry traffic"


def test_cameras_read_a_share_of_the_plates(grid_runs, tmp_path):
    """Sightings: about read_rate of the crossings, at cameras of the registry, within the window."""
    tables = grid_runs["perfect"].cameras
    crossings = tables.truth[tables.truth.to_edge == ""]["count"].sum()
    seen = tables.sightings
    assert list(seen.columns) == ["time_s", "camera_id", "plate"]
    assert 0.25 < len(seen) / crossings < 0.35  # default read_rate 0.3
    assert set(seen.camera_id) <= set(tables.registry.camera_id)
    assert seen.time_s.between(0.0, 900.0).all()
    # a vehicle read twice is read at two cameras, in time order
    twice = seen.groupby("plate").filter(lambda g: len(g) > 1)
    assert len(twice) > 0
    assert (twice.groupby("plate")["time_s"].apply(lambda t: t.is_monotonic_increasing)).all()
    # between() keeps the sightings of the window; files only when asked (raw plates)
    assert tables.between(300.0, 600.0).sightings.time_s.between(300.0, 600.0).all()
    assert [f.name for f in write_camera_tables(tables, tmp_path, "a_")][-1] == "a_cameras.csv"
    assert write_camera_tables(tables, tmp_path, "b_", sightings=True)[-1].name == "b_sightings.csv"
