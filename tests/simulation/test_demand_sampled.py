"""``routeSampler`` demand: routes from the network's entries to its exits matching the counted movements."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from citybrain.network import graph_from_sumo_net
from citybrain.sumo_tools import run_sumo_program
from simulation.demand import METHODS, depart_by_first_count, fringe_edges, turn_count_xml, write_demand

from ..conftest import NETWORKS

NET = NETWORKS / "arterial5.net.xml"


def test_fringe_edges_are_where_the_arterial_begins_and_ends():
    entries, exits = fringe_edges(graph_from_sumo_net(NET))
    assert "W_J1" in entries and "E_J5" in entries and "N3_J3" in entries
    assert "J5_E" in exits and "J1_W" in exits and "J3_S3" in exits
    assert not set(entries) & set(exits)
    assert "J1_J2" not in entries and "J1_J2" not in exits  # inner links are neither


def test_turn_counts_sum_the_intervals_of_each_period_before_rounding():
    flows = pd.DataFrame({"interval_start": [0.0, 300.0, 600.0, 900.0], "interval_s": 300.0, "junction": "J1",
                          "from_edge": "W_J1", "to_edge": "J1_J2", "flow_vph": [6.0, 6.0, 6.0, 12.0]})
    root = ET.fromstring(turn_count_xml(flows, 900.0))
    periods = root.findall("interval")
    assert [(p.get("begin"), p.get("end")) for p in periods] == [("0", "900"), ("900", "1200")]
    # 0.5 vehicle per interval: 1.5 over the first period, where rounding each would give 0 or 3
    assert [float(p.find("edgeRelation").get("count")) for p in periods] == [1.5, 1.0]


def test_an_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown demand method 'od'"):
        write_demand(pd.DataFrame(), graph_from_sumo_net(NET), ".", method="od")
    assert set(METHODS) == {"jtrrouter", "routesampler"}


@pytest.mark.sumo
def test_sampled_routes_run_from_entries_to_exits_and_match_the_counts(tmp_path):
    net = graph_from_sumo_net(NET)
    rows = []
    for start in (0.0, 300.0, 600.0):  # the arterial's through traffic and one side street's left turn
        rows += [(start, "J1", "W_J1", "J1_J2", 600.0), (start, "J2", "J1_J2", "J2_J3", 600.0),
                 (start, "J2", "N2_J2", "J2_J3", 120.0), (start, "J3", "J2_J3", "J3_J4", 720.0)]
    flows = pd.DataFrame(rows, columns=["interval_start", "junction", "from_edge", "to_edge", "flow_vph"])
    flows["interval_s"] = 300.0
    paths = write_demand(flows, net, tmp_path, method="routesampler", seed=1, begin_offset_s=100.0)
    entries, exits = fringe_edges(net)
    routes = [v.find("route").get("edges").split() for v in ET.parse(paths["routes"]).getroot().iter("vehicle")]
    departs = [float(v.get("depart")) for v in ET.parse(paths["routes"]).getroot().iter("vehicle")]
    assert all(r[0] in entries and r[-1] in exits for r in routes)
    assert min(departs) >= 100.0 and max(departs) < 1000.0
    through = sum(1 for r in routes if "J2_J3" in r and "J3_J4" in r)
    side = sum(1 for r in routes if r[:2] == ["N2_J2", "J2_J3"])
    assert abs(through - 180) <= 9  # 720 veh/h for 900 s, within 5 %
    assert abs(side - 30) <= 3


@pytest.mark.sumo
def test_candidate_routes_u_turn_only_where_the_flows_see_u_turns(tmp_path):
    """A line of two unsignalised junctions with a side street, built with netconvert's turnarounds."""
    (tmp_path / "n.nod.xml").write_text(
        '<nodes><node id="W" x="0" y="0"/><node id="J1" x="200" y="0" type="priority"/>'
        '<node id="J2" x="400" y="0" type="priority"/><node id="E" x="600" y="0"/><node id="N" x="200" y="200"/>'
        '<node id="S" x="400" y="-200"/></nodes>')
    pairs = [("W", "J1"), ("J1", "J2"), ("J2", "E"), ("N", "J1"), ("S", "J2")]
    edges = [f'<edge id="{a}_{b}" from="{a}" to="{b}" numLanes="1"/><edge id="{b}_{a}" from="{b}" to="{a}" numLanes="1"/>'
             for a, b in pairs]
    (tmp_path / "n.edg.xml").write_text("<edges>" + "".join(edges) + "</edges>")
    run_sumo_program("netconvert", ["--node-files", str(tmp_path / "n.nod.xml"), "--edge-files",
                                    str(tmp_path / "n.edg.xml"), "-o", str(tmp_path / "n.net.xml")])
    net = graph_from_sumo_net(tmp_path / "n.net.xml")
    uturns = {(m.from_edge, m.to_edge) for m in net.movements if m.turn == "uturn"}
    assert ("J1_J2", "J2_J1") in uturns
    flows = pd.DataFrame({"interval_start": [0.0], "interval_s": [900.0], "junction": ["J1"], "from_edge": ["W_J1"],
                          "to_edge": ["J1_J2"], "flow_vph": [400.0]})
    paths = write_demand(flows, net, tmp_path / "demand", method="routesampler", seed=2)

    def routes(path):
        return [v.find("route").get("edges").split() for v in ET.parse(path).getroot().iter("vehicle")]

    def u_turning(rs):
        return [r for r in rs if any(pair in uturns for pair in zip(r, r[1:]))]

    assert u_turning(routes(tmp_path / "demand" / "candidates_drawn.rou.xml"))  # SUMO's default shares U-turn
    assert routes(paths["candidates"]) and not u_turning(routes(paths["candidates"]))
    sampled = routes(paths["routes"])
    assert 95 <= len(sampled) <= 105 and not u_turning(sampled)  # 400 veh/h for 900 s


def test_vehicles_depart_to_reach_their_first_counted_movement_by_its_demand_profile(tmp_path):
    net = graph_from_sumo_net(NET)
    body = "".join(f'<vehicle id="v{k}" depart="{k}.00"><route edges="W_J1 J1_J2 J2_J3 J3_J4"/></vehicle>'
                   for k in range(4))
    body += '<vehicle id="side" depart="123.00"><route edges="N1_J1 J1_S1"/></vehicle>'
    (tmp_path / "sampled.rou.xml").write_text(f"<routes>{body}</routes>")
    flows = pd.DataFrame({  # 3 then 1 vehicle at J1; J2 sees them later
        "interval_start": [0.0, 300.0, 0.0, 300.0], "interval_s": 300.0, "junction": ["J1", "J1", "J2", "J2"],
        "from_edge": ["W_J1", "W_J1", "J1_J2", "J1_J2"], "to_edge": ["J1_J2", "J1_J2", "J2_J3", "J2_J3"],
        "flow_vph": [36.0, 12.0, 0.0, 48.0]})
    depart_by_first_count(tmp_path / "sampled.rou.xml", tmp_path / "out.rou.xml", flows, net, seed=5)
    vehicles = list(ET.parse(tmp_path / "out.rou.xml").getroot().iter("vehicle"))
    departs = {v.get("id"): float(v.get("depart")) for v in vehicles}
    assert [float(v.get("depart")) for v in vehicles] == sorted(departs.values())
    assert departs["side"] == 123.0  # passes no counted movement
    lead = net.edges["W_J1"]["length_m"] / net.edges["W_J1"]["speed_mps"]  # to J1's stop line at the speed limit
    at_stop_line = sorted(departs[f"v{k}"] + lead for k in range(4))
    assert all(0.0 <= t < 300.0 for t in at_stop_line[:3]) and 300.0 <= at_stop_line[3] < 600.0
