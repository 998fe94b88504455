"""Reading SUMO networks: graph_from_sumo_net against sumolib on real and generated networks."""

from __future__ import annotations

import pytest
import sumolib

from citybrain.exceptions import NetworkError
from citybrain.network import graph_from_sumo_net

from ..conftest import NETWORKS


def _sumolib_net(path):
    return sumolib.net.readNet(str(path), withPrograms=True, withLatestPrograms=True)


def _tls_connections(net, tls):
    for edge in net.getEdges(withInternal=False):
        for conns in edge.getOutgoing().values():
            for conn in conns:
                if conn.getTLSID() == tls.getID():
                    yield conn


def test_counts_agree_with_sumolib(real_net_path):
    road = graph_from_sumo_net(real_net_path)
    ref = _sumolib_net(real_net_path)
    summary = road.summary()
    assert summary["junctions"] == len(ref.getNodes())
    assert summary["edges"] == len([e for e in ref.getEdges(withInternal=False) if not e.getFunction()])
    assert summary["traffic_lights"] == len(ref.getTrafficLights())
    assert summary["signalised"] == len({c.getJunction().getID() for tls in ref.getTrafficLights() for c in _tls_connections(ref, tls)})


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


def test_movements_and_programs_are_consistent(real_net_path):
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


def test_saturation_flow_is_the_base_per_lane_times_the_turn_factor_shared_by_lane():
    path = NETWORKS / "grid4x4.net.xml"
    road = graph_from_sumo_net(path)
    sat = {road.movements[i].turn: road.movements[i].sat_flow_vph
           for i in road.junction_movements("B1") if road.movements[i].from_edge == "A1B1"}
    # two lanes: the right turn shares lane 0 with the through, the left lane 1
    assert sat["through"] == pytest.approx(1800.0 / 2 + 1800.0 / 2)
    assert sat["left"] == pytest.approx(1800.0 / 1.05 / 2)
    assert sat["right"] == pytest.approx(1800.0 / 1.18 / 2)
    doubled = graph_from_sumo_net(path, base_sat_flow_vph=3600.0)
    for a, b in zip(road.movements, doubled.movements, strict=True):
        assert b.sat_flow_vph == pytest.approx(2.0 * a.sat_flow_vph)


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
