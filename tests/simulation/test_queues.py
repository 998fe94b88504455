"""Emulated queue readings: halted vehicles within the camera's range, and vehicles SUMO could not insert."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from citybrain.counts import QUEUE_COLUMN, read_counts
from citybrain.estimation import estimate_flows
from citybrain.network import graph_from_sumo_net
from simulation import RunSpec, Twin, write_camera_tables
from simulation.cameras import Camera
from simulation.queues import QueueReadings
from simulation.scenario import Flow, load_scenario

from ..conftest import NETWORKS, ROOT

CAM = Camera("cam_J_a", "J", "a", ("b",), ("a_0",), (("a_0",),))


class _Feeding:
    """A network stand-in: lane ``a_0`` (40 m) is fed by ``u_0`` through an unsignalised junction."""

    def upstream_lanes(self, lanes, reach_m):
        return (("u_0", 40.0),) if reach_m > 40.0 else ()


def test_readings_count_halted_vehicles_within_range_on_approach_and_feeder_lanes():
    q = QueueReadings((CAM,), _Feeding(), interval_s=300.0, begin_s=0.0, end_s=700.0, range_m=100.0)
    assert q.n_intervals == 3 and [q.boundary_s(k) for k in range(3)] == [300.0, 600.0, 700.0]
    assert not q.due(299.0) and q.due(300.0)
    halted = {"a_0": (0.0, 7.5, 15.0), "u_0": (0.0, 30.0, 60.0, 61.0)}  # 40 + 60 = 100 m: in; 101 m: out
    q.read(halted.__getitem__, lambda: ("p1", "p2", "p3"), {"p1": ("a", "b"), "p2": ("u", "a"), "p3": ("x",)}.get)
    assert q.value(0, "cam_J_a") == 3 + 3 + 2  # p1 departs on the approach, p2 on the feeder; p3 elsewhere
    assert not q.due(300.0) and q.due(600.0)
    assert np.isnan(q.value(1, "cam_J_a"))


@pytest.mark.sumo
def test_a_camera_at_an_entry_reports_the_vehicles_sumo_could_not_insert(tmp_path):
    """The demo with a side street loaded beyond what it can take: its entry camera sees the backlog."""
    sc = load_scenario(ROOT / "scenarios" / "demo.toml")
    heavy = Flow("N1_J1", "J1_S1", 1500.0, 0.0, 600.0)
    sc = replace(sc, end_s=600.0, flows=(*sc.flows, heavy))
    net = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    result = Twin(RunSpec(sc, cameras=True, seed=0), workdir=tmp_path, network=net).run()
    assert result.never_inserted > 20
    counts = result.cameras.counts
    totals = counts[counts["to_edge"] == ""].set_index(["camera_id", "interval_start"])[QUEUE_COLUMN]
    assert counts.loc[counts["to_edge"] != "", QUEUE_COLUMN].isna().all()
    holds = 100.0 / 7.5  # one lane: what 100 m of it holds
    assert totals[("cam_J1_N1_J1", 300.0)] > totals[("cam_J1_N1_J1", 0.0)] > holds
    # the last reading: halted within range plus the vehicles still waiting to be inserted
    assert totals[("cam_J1_N1_J1", 300.0)] >= result.never_inserted
    assert totals.drop("cam_J1_N1_J1", level=0).max() < holds * 2

    # through the files: the estimate's demand on that approach is above its discharge and a lower bound
    count_file, _, registry = write_camera_tables(result.cameras, tmp_path / "cams", "")
    flows = estimate_flows(net, read_counts(count_file, net, registry=registry)).flows
    side = flows[flows["from_edge"] == "N1_J1"]
    assert side["queue_capped"].all()
    assert side["demand_vph"].sum() > 1.5 * side["flow_vph"].sum()


def test_readings_are_taken_once_per_interval():
    q = QueueReadings((CAM,), _Feeding(), interval_s=100.0, begin_s=50.0, end_s=250.0)
    taken = []
    for t in np.arange(51.0, 251.0):
        if q.due(t):
            q.read(lambda lane: (), tuple, lambda v: ())
            taken.append(t)
    assert taken == [150.0, 250.0]
