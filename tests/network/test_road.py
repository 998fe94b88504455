"""RoadNetwork: lookups, kernel arrays, upstream lanes, and conflicts with their overrides."""

from __future__ import annotations

import json

import numpy as np

from citybrain.network import graph_from_sumo_net
from citybrain.network.conflicts import NEVER, YIELD

from ..conftest import NETWORKS, REAL_NETS, real_path

GRID = NETWORKS / "grid4x4.net.xml"
# at B1 the eastbound left (A1B1 -> B1B2) yields to the westbound through (C1B1 -> B1A1)
LEFT, THRU = ("A1B1", "B1B2"), ("C1B1", "B1A1")


def _never_file(tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"B1": [{"from": list(LEFT), "to": list(THRU), "kind": "never"}]}))
    return path


def test_to_arrays_is_consistent():
    road = graph_from_sumo_net(GRID)
    arr = road.to_arrays()
    assert road.to_arrays() is arr
    for name in ("edge_from", "mov_from_edge", "junction_mov_ptr", "edge_out_mov"):
        assert getattr(arr, name).flags.c_contiguous
    conflict_ptr, conflict = road.conflict_arrays()
    for e, edge in enumerate(arr.edge_ids):
        out = arr.edge_out_mov[arr.edge_out_ptr[e]:arr.edge_out_ptr[e + 1]]
        assert {road.movements[m].from_edge for m in out} <= {edge}
        assert len(out) == sum(1 for m in road.movements if m.from_edge == edge)
        inc = arr.edge_in_mov[arr.edge_in_ptr[e]:arr.edge_in_ptr[e + 1]]
        assert len(inc) == sum(1 for m in road.movements if m.to_edge == edge and m.turn != "crossing")
    for j, junction in enumerate(arr.junction_ids):
        movs = range(arr.junction_mov_ptr[j], arr.junction_mov_ptr[j + 1])
        assert all(road.movements[m].junction == junction for m in movs)
        n = len(movs)
        block = conflict[conflict_ptr[j]:conflict_ptr[j + 1]].reshape(n, n)
        if road.graph.nodes[junction]["tls"]:
            assert np.array_equal(block, road.conflicts(junction).kind)


def test_conflicts_are_cached_per_junction():
    road = graph_from_sumo_net(GRID)
    assert road.conflicts("B1") is road.conflicts("B1")
    assert road.conflicts("B1").movements == road.junction_movements("B1")


def test_a_network_built_with_overrides_sees_them_in_every_query(tmp_path):
    plain = graph_from_sumo_net(GRID)
    road = graph_from_sumo_net(GRID, conflicts=_never_file(tmp_path))
    left, thru = road.movement_index("B1", *LEFT), road.movement_index("B1", *THRU)
    assert plain.conflicts("B1").pair(left, thru) == YIELD
    assert road.conflicts("B1").pair(left, thru) == NEVER
    # the kernels' arrays differ in exactly the two cells of that pair
    _, before = plain.conflict_arrays()
    _, after = road.conflict_arrays()
    changed = np.flatnonzero(before != after)
    assert len(changed) == 2 and set(after[changed]) == {NEVER}
    assert road.conflict_overrides["B1"][0].kind == NEVER


def test_unsafe_phases_see_the_overrides(tmp_path):
    path = tmp_path / "overrides.json"
    # the two opposing throughs at B1 share the protected green of phase 2
    path.write_text(json.dumps({"B1": [{"from": ["A1B1", "B1C1"], "to": ["C1B1", "B1A1"], "kind": "never"}]}))
    assert graph_from_sumo_net(GRID).unsafe_phases() == []
    findings = graph_from_sumo_net(GRID, conflicts=path).unsafe_phases()
    assert [(f["tls"], f["phase"], f["kind"], f["movements"]) for f in findings] == [
        ("B1", 2, "never-together", ["B1:A1B1->B1C1", "B1:C1B1->B1A1"])]


def test_upstream_lanes_reach_behind_short_approaches():
    road = graph_from_sumo_net(real_path(REAL_NETS["ingolstadt7"]))
    approach = ("10425609#1_0", "10425609#1_1")  # a 0.92 m edge before light gneJ143
    found = dict(road.upstream_lanes(approach, 60.0))
    assert {"10425609#0_1", "10425609#0_2"} <= set(found)
    assert all(0.0 < d < 60.0 for d in found.values())
    assert not set(found) & set(approach)


def test_upstream_lanes_stop_at_long_lanes_and_signals():
    road = graph_from_sumo_net(GRID)
    assert road.upstream_lanes(("A1B1_0",), 60.0) == ()  # 200 m block: nothing needed
    assert road.upstream_lanes(("A1B1_0",), 1000.0) == ()  # A1 is signalised: no reach through it
