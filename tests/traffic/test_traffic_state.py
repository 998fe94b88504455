"""The traffic state: per link travel times against SUMO's own, the GeoJSON it writes, the CLI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

import geojson
import numpy as np
import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.network import graph_from_sumo_net
from citybrain.network.geometry import link_geometry
from citybrain.plans import plans_from_network
from citybrain.timing.flows import movement_flows
from citybrain.traffic_state import LEVELS, STATE_COLUMNS, congestion_index, level_of, link_states, state_geojson

from ..conftest import NETWORKS, ROOT, real_path

NET = NETWORKS / "arterial5.net.xml"


@pytest.fixture(scope="module")
def network():
    return graph_from_sumo_net(NET)


def test_levels_follow_the_documented_bands():
    assert [level_of(x) for x in (1.0, 1.49, 1.5, 1.79, 1.8, 1.99, 2.0, 9.0)] == [
        "free", "free", "slow", "slow", "congested", "congested", "jammed", "jammed"]
    assert [b for _, b in LEVELS][:-1] == sorted(b for _, b in LEVELS[:-1])


def test_more_flow_means_more_delay_and_an_empty_network_is_free_flowing_between_signals(network):
    plans = plans_from_network(network).periods[0].by_tls
    empty = link_states(network, np.zeros(len(network.movements)), plans)
    busy = link_states(network, np.full(len(network.movements), 300.0), plans)
    assert list(busy.columns) == list(STATE_COLUMNS)
    assert (busy["travel_s"] >= empty["travel_s"] - 1e-9).all() and (busy["travel_s"] > empty["travel_s"]).any()
    # links into a signal wait for it even when empty; links out of the network only accelerate
    into_signal = empty["control_delay_s"] > 0
    assert into_signal.any() and (empty.loc[~into_signal, "tti"] < 1.2).all()
    assert congestion_index(empty)["index"] == 1.0
    assert congestion_index(busy)["index"] > 1.0


def test_a_permissive_turn_waits_longer_against_more_opposing_traffic(network):
    plans = plans_from_network(network).periods[0].by_tls
    left = network.movement_index("J3", "J4_J3", "J3_S3")
    opposing = network.movement_index("J3", "J2_J3", "J3_J4")
    delays = []
    for against in (0.0, 450.0, 900.0):
        q = np.zeros(len(network.movements))
        q[left], q[opposing] = 100.0, against
        delays.append(link_states(network, q, plans).set_index("edge").loc["J4_J3", "control_delay_s"])
    assert delays[0] < delays[1] < delays[2], delays


def test_a_queue_longer_than_its_link_spills_onto_the_links_feeding_it():
    """Ingolstadt's 10 m stub before a light: its queue reaches back over the link feeding it."""
    network = graph_from_sumo_net(real_path("resco/ingolstadt7/ingolstadt7.net.xml"))
    plans = plans_from_network(network).periods[0].by_tls
    stub, feeder = "168702040#4", "168702040#3"
    assert network.edges[stub]["length_m"] < 15
    by_flow = {}
    for flow in (0.0, 400.0):
        q = np.array([0.0 if m.turn == "crossing" else flow for m in network.movements])
        by_flow[flow] = link_states(network, q, plans, period_h=1.0).set_index("edge")
    assert by_flow[0.0].loc[feeder, "control_delay_s"] == 0.0 < by_flow[0.0].loc[stub, "control_delay_s"]
    busy = by_flow[400.0]
    assert busy.loc[feeder, "control_delay_s"] > 0 and busy.loc[feeder, "flow_vph"] > 0


def test_a_queue_longer_than_its_link_spills_back_across_the_light_feeding_it(network):
    """J2_J3's overloaded turns queue past J2: J1_J2, whose own movements are unchanged, takes delay
    that J2_J3 no longer carries alone."""
    plans = plans_from_network(network).periods[0].by_tls
    by_load = {}
    for load in (200.0, 900.0):
        q = np.array([0.0 if m.turn in ("crossing", "uturn") else load if m.from_edge == "J2_J3" else 200.0
                      for m in network.movements])
        by_load[load] = link_states(network, q, plans, period_h=1.0).set_index("edge")["control_delay_s"]
    light, loaded = by_load[200.0], by_load[900.0]
    assert loaded["J1_J2"] > light["J1_J2"] + 60.0
    # every feeder of J2 holds part of the spilled queue, and past J1_J2 it reaches J1's feeders
    assert loaded["N2_J2"] > light["N2_J2"] and loaded["S2_J2"] > light["S2_J2"]
    assert loaded["W_J1"] > light["W_J1"]
    # the delay spent upstream is taken off the link holding the head of the queue
    assert loaded["J2_J3"] < 3600.0 * 0.5


def test_a_queue_s_delay_is_shared_out_along_it_and_reaches_past_its_mean_length():
    """Cars per cycle vary (Poisson), so some delay lies beyond the mean reach, relatively more for a short queue."""
    from citybrain.traffic_state import _queue_share
    for mean_m in (7.5, 30.0, 300.0):
        edges = sorted([0.0, 5.0, mean_m / 2, mean_m, 2 * mean_m, 10 * mean_m + 100.0])
        shares = [_queue_share(a, b, mean_m) for a, b in zip(edges, edges[1:])]
        assert all(x >= 0 for x in shares) and sum(shares) == pytest.approx(1.0, abs=1e-9)
    beyond = [1.0 - _queue_share(0.0, mean_m, mean_m) for mean_m in (15.0, 300.0)]
    assert beyond[0] > beyond[1] > 0.0
    assert _queue_share(0.0, 1.0, 0.0) == 1.0 and _queue_share(1.0, 2.0, 0.0) == 0.0


def test_plate_measured_travel_times_replace_the_model_where_enough_plates_matched(network):
    plans = plans_from_network(network).periods[0].by_tls
    q = np.full(len(network.movements), 200.0)
    states = link_states(network, q, plans, measured={"J1_J2": (99.0, 25), "J2_J3": (99.0, 3)})
    by = states.set_index("edge")
    assert by.loc["J1_J2", "travel_s"] == 99.0 and by.loc["J1_J2", "source"] == "plates"
    assert by.loc["J2_J3", "source"] == "model" and by.loc["J2_J3", "travel_s"] != 99.0


def test_geojson_is_valid_with_one_feature_per_link_in_metres_without_a_projection(network):
    plans = plans_from_network(network).periods[0].by_tls
    states = link_states(network, np.full(len(network.movements), 100.0), plans)
    state = state_geojson(states, link_geometry(NET))
    parsed = geojson.loads(json.dumps(state))
    assert parsed.is_valid, parsed.errors()
    assert len(parsed["features"]) == len(network.edges)
    assert set(parsed["features"][0]["properties"]) == set(STATE_COLUMNS)
    assert "metres" in state["crs_note"] and state["areas"]["network"]["level"] in dict(LEVELS)


def test_projected_networks_are_written_in_wgs84():
    path = real_path("resco/ingolstadt7/ingolstadt7.net.xml")
    geometry = link_geometry(path)
    lon, lat = np.array([p for pts in geometry.shapes_lonlat.values() for p in pts]).T
    # Ingolstadt, Bavaria
    assert (abs(lon - 11.4) < 0.1).all() and (abs(lat - 48.76) < 0.1).all()


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """Half an hour of the demo in the twin under its own programs, and flows estimated from its cameras.

    Returns the run folder: ``flows.csv`` (as ``citybrain run`` writes it) and SUMO's ``edgedata.xml``.
    """
    from simulation import RunSpec, load_scenario
    from simulation.runner import run_one

    from citybrain.estimation import estimate_flows, write_flows

    folder = tmp_path_factory.mktemp("demo_run")
    sc = load_scenario(ROOT / "scenarios" / "demo.toml")
    sc = replace(sc, end_s=sc.begin_s + 1800.0)
    res = run_one(RunSpec(scenario=sc, controller="fixed", seed=0, cameras=True), folder)
    assert res.ok, res.error
    network = graph_from_sumo_net(sc.network)
    write_flows(estimate_flows(network, res.cameras.count_table(network, strict=False, source="cameras")).flows,
                folder / "flows.csv")
    return folder


def _valid_state(path, network):
    """The GeoJSON at ``path``, checked: valid, one feature per link, every property of the state."""
    parsed = geojson.loads(path.read_text())
    assert parsed.is_valid, parsed.errors()
    features = parsed["features"]
    assert sorted(f["id"] for f in features) == sorted(network.edges)
    for f in features:
        props = f["properties"]
        assert set(props) == set(STATE_COLUMNS), f["id"]
        assert props["level"] == level_of(props["tti"]) and props["tti"] >= 1.0 - 1e-9
        assert props["travel_s"] >= props["free_flow_s"] > 0 and props["flow_vph"] >= 0
    assert parsed["areas"]["network"]["level"] in dict(LEVELS)
    return parsed


@pytest.mark.sumo
def test_travel_times_agree_with_sumo_on_the_demo(network, demo_run):
    """Flows estimated from the twin's cameras, the own programs: modelled vs SUMO's edge travel times.

    Links with traffic: at least 20 vehicles drove onto them. Measured on the shipped demo
    (1800 s, seed 0): 95% within 15%, median error 3.0%.
    """
    from citybrain.estimation import read_flows

    flows = read_flows(demo_run / "flows.csv")
    states = link_states(network, movement_flows(network, flows), plans_from_network(network).periods[0].by_tls,
                         period_h=0.5).set_index("edge")
    sumo = {e.get("id"): (float(e.get("traveltime")), float(e.get("entered", 0)))
            for e in ET.parse(demo_run / "edgedata.xml").iter("edge") if e.get("traveltime")}
    busy = [e for e, (_, n) in sumo.items() if n >= 20 and e in states.index]
    err = np.array([states.loc[e, "travel_s"] / sumo[e][0] - 1 for e in busy])
    assert len(busy) >= 15
    assert np.mean(np.abs(err) <= 0.15) >= 0.85, dict(zip(busy, err.round(2)))
    assert np.median(np.abs(err)) <= 0.06


@pytest.mark.sumo
def test_cli_writes_the_state_of_a_demo_run(network, demo_run, tmp_path):
    out = tmp_path / "state.geojson"
    r = CliRunner().invoke(cli, ["traffic-state", "--network", str(NET), "--run", str(demo_run), "--out", str(out)])
    assert r.exit_code == 0, r.output
    state = _valid_state(out, network)
    # the arterial carries the demo's heaviest flows and waits at its lights
    by = {f["id"]: f["properties"] for f in state["features"]}
    assert by["J2_J3"]["flow_vph"] > 500 and by["J2_J3"]["control_delay_s"] > 5
    assert state["areas"]["network"]["index"] > 1.0


def test_cli_writes_the_state_of_ingolstadt7_in_wgs84(tmp_path):
    net = real_path("resco/ingolstadt7/ingolstadt7.net.xml")
    network = graph_from_sumo_net(net)
    flows = tmp_path / "flows.csv"
    rows = ["junction,from_edge,to_edge,interval_start,interval_s,flow_vph,se_vph"]
    rows += [f"{m.junction},{m.from_edge},{m.to_edge},0,3600,120,5" for m in network.movements
             if m.turn != "crossing" and m.tls]
    flows.write_text("\n".join(rows) + "\n")
    out = tmp_path / "state.geojson"
    r = CliRunner().invoke(cli, ["traffic-state", "--network", str(net), "--flows", str(flows), "--out", str(out)])
    assert r.exit_code == 0, r.output
    state = _valid_state(out, network)
    assert "WGS84" in state["crs_note"]
    assert any(f["properties"]["control_delay_s"] > 0 for f in state["features"])


def test_cli_writes_geojson_and_a_map_and_refuses_bad_flows(tmp_path):
    flows = tmp_path / "flows.csv"
    network = graph_from_sumo_net(NET)
    rows = ["junction,from_edge,to_edge,interval_start,interval_s,flow_vph,se_vph"]
    rows += [f"{m.junction},{m.from_edge},{m.to_edge},0,3600,150,5" for m in network.movements
             if m.turn != "crossing" and m.tls]
    flows.write_text("\n".join(rows) + "\n")
    out = tmp_path / "state.geojson"
    r = CliRunner().invoke(cli, ["traffic-state", "--network", str(NET), "--flows", str(flows), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert geojson.loads(out.read_text()).is_valid and out.with_suffix(".png").stat().st_size > 10_000
    bad = tmp_path / "bad.csv"
    bad.write_text(rows[0] + "\nJ1,nowhere,J1_J2,0,3600,10,1\n")
    r = CliRunner().invoke(cli, ["traffic-state", "--network", str(NET), "--flows", str(bad), "--out", str(out)])
    assert r.exit_code == 2 and "nowhere" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(cli, ["traffic-state", "--network", str(NET), "--out", str(out)])
    assert r.exit_code == 2 and "exactly one of --flows" in r.output
