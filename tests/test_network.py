"""RoadNetwork against sumolib on real and generated networks, and its invariants."""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest
import sumolib

from citybrain.conflicts import MERGE, NEVER, NONE, YIELD
from citybrain.exceptions import NetworkError
from citybrain.network import graph_from_sumo_net
from citybrain.sumo_tools import sumo_binary

from .conftest import NETWORKS, REAL_NETS, real_path


def _sumolib_net(path):
    return sumolib.net.readNet(str(path), withPrograms=True, withLatestPrograms=True)


def test_counts_agree_with_sumolib(real_net_path):
    road = graph_from_sumo_net(real_net_path)
    ref = _sumolib_net(real_net_path)
    summary = road.summary()
    assert summary["junctions"] == len(ref.getNodes())
    assert summary["edges"] == len([e for e in ref.getEdges(withInternal=False) if not e.getFunction()])
    assert summary["traffic_lights"] == len(ref.getTrafficLights())
    assert summary["signalised"] == len({c.getJunction().getID() for tls in ref.getTrafficLights() for c in _tls_connections(ref, tls)})


def _tls_connections(net, tls):
    for edge in net.getEdges(withInternal=False):
        for conns in edge.getOutgoing().values():
            for conn in conns:
                if conn.getTLSID() == tls.getID():
                    yield conn


def test_movements_map_to_sumo_link_indices(real_net_path):
    road = graph_from_sumo_net(real_net_path)
    ref = _sumolib_net(real_net_path)
    checked = 0
    for tls in ref.getTrafficLights():
        for conn in _tls_connections(ref, tls):
            m = road.movements[road.movement_index(conn.getJunction().getID(), conn.getFrom().getID(), conn.getTo().getID())]
            assert m.tls == tls.getID()
            assert conn.getTLLinkIndex() in m.link_indices
            assert conn.getFromLane().getID() in m.from_lanes
            checked += 1
    assert checked > 0


def test_invariants(real_net_path):
    road = graph_from_sumo_net(real_net_path)
    ref = _sumolib_net(real_net_path)
    lanes = {lane.getID() for e in ref.getEdges(withInternal=False) for lane in e.getLanes()}
    for m in road.movements:
        if m.turn != "crossing":
            assert set(m.from_lanes) <= lanes and set(m.to_lanes) <= lanes, m.id
            assert m.sat_flow_vph > 0
    for prog in road.programs.values():
        covered = {link.index for link in prog.links}
        assert covered == set(range(prog.n_links)), prog.tls
        for phase in prog.phases:
            assert len(phase.state) == prog.n_links
    for junction in road.signalised_junctions:
        c = road.conflicts(junction)
        assert np.array_equal(c.kind, c.kind.T)
        assert np.array_equal(c.kind == NEVER, (c.kind == NEVER).T)
        pairs = np.isin(c.kind, (YIELD, MERGE))
        # exactly one side of every yield or merge pair gives way
        assert np.array_equal((c.yields ^ c.yields.T)[pairs], np.ones(pairs.sum(), dtype=bool))
        assert not c.yields[~pairs].any()


def _sumo_unsafe_warnings(net_path) -> set[tuple[str, int]]:
    proc = subprocess.run(
        [str(sumo_binary()), "-n", str(net_path), "--begin", "0", "--end", "1", "--no-step-log", "--xml-validation", "never"],
        capture_output=True, text=True, check=True,
    )
    return {(tls, int(phase)) for phase, tls in re.findall(r"Unsafe green phase (\d+) in tlLogic '([^']+)'", proc.stderr)}


@pytest.mark.parametrize("name", ["ingolstadt7", "atlanta"])
def test_unsafe_phases_include_sumo_warnings(name):
    path = real_path(REAL_NETS[name])
    sumo_says = _sumo_unsafe_warnings(path)
    assert sumo_says, "SUMO reports unsafe green phases on this network"
    ours = {(f["tls"], f["phase"]) for f in graph_from_sumo_net(path).unsafe_phases() if f["kind"] == "merge"}
    assert sumo_says <= ours


def test_unsafe_phase_at_ingolstadt7_gnej210():
    findings = graph_from_sumo_net(real_path(REAL_NETS["ingolstadt7"])).unsafe_phases()
    assert [(f["tls"], f["phase"], f["kind"]) for f in findings] == [("gneJ210", 4, "merge")]


def test_atlanta_single_phase_light_is_never_together():
    findings = graph_from_sumo_net(real_path(REAL_NETS["atlanta"])).unsafe_phases()
    assert ("69249210", 0) in {(f["tls"], f["phase"]) for f in findings if f["kind"] == "never-together"}


@pytest.mark.parametrize("name", ["grid4x4.net.xml", "arterial5.net.xml", "grid2x2_ped.net.xml"])
def test_no_unsafe_phases_on_generated_networks(name):
    road = graph_from_sumo_net(NETWORKS / name)
    assert road.unsafe_phases() == []
    assert not _sumo_unsafe_warnings(NETWORKS / name)


def test_conflict_classes_on_a_grid_junction():
    road = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
    junction = "B1"
    c = road.conflicts(junction)
    movs = {(road.movements[i].from_edge, road.movements[i].turn): i for i in c.movements}
    # B1 approaches: from A1 (eastbound), C1 (westbound), B0 (northbound), B2 (southbound)
    left_e, thru_w = movs[("A1B1", "left")], movs[("C1B1", "through")]
    thru_e, thru_n = movs[("A1B1", "through")], movs[("B0B1", "through")]
    assert c.pair(left_e, thru_w) == YIELD
    assert c.yields[c.movements.index(left_e), c.movements.index(thru_w)]
    assert c.pair(thru_e, thru_n) == NEVER
    assert c.pair(thru_e, movs[("A1B1", "right")]) == NONE
    assert c.pair(left_e, movs[("C1B1", "left")]) == NONE  # opposing lefts pass each other


def test_crossings_yield_to_nothing_turns_yield_to_crossings():
    road = graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")
    junction = road.signalised_junctions[0]
    c = road.conflicts(junction)
    crossings = [i for i in c.movements if road.movements[i].turn == "crossing"]
    assert crossings
    kinds = {NEVER: 0, YIELD: 0}
    for x in crossings:
        for m in c.movements:
            mv = road.movements[m]
            k = c.pair(x, m)
            if k in kinds:
                kinds[k] += 1
                assert (k == YIELD) == (mv.turn in ("left", "right")), mv.id
                if k == YIELD:
                    assert c.yields[c.movements.index(m), c.movements.index(x)]
    assert kinds[NEVER] > 0 and kinds[YIELD] > 0


def test_to_arrays_is_consistent():
    road = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
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


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (None, "no such file"),
        ("this is not xml <", "not an XML file"),
        ("<routes><vehicle id='a' depart='0'/></routes>", "expected a SUMO network"),
    ],
)
def test_bad_network_files(tmp_path, content, match):
    path = tmp_path / "bad.net.xml"
    if content is not None:
        path.write_text(content)
    with pytest.raises(NetworkError, match=match) as info:
        graph_from_sumo_net(path)
    assert str(path) in str(info.value)


def test_upstream_lanes_reach_behind_short_approaches():
    road = graph_from_sumo_net(real_path(REAL_NETS["ingolstadt7"]))
    approach = ("10425609#1_0", "10425609#1_1")  # a 0.92 m edge before light gneJ143
    found = dict(road.upstream_lanes(approach, 60.0))
    assert {"10425609#0_1", "10425609#0_2"} <= set(found)
    assert all(0.0 < d < 60.0 for d in found.values())
    assert not set(found) & set(approach)


def test_upstream_lanes_stop_at_long_lanes_and_signals():
    road = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
    assert road.upstream_lanes(("A1B1_0",), 60.0) == ()  # 200 m block: nothing needed
    assert road.upstream_lanes(("A1B1_0",), 1000.0) == ()  # A1 is signalised: no reach through it
