"""``citybrain network``: info (table and JSON), generators, OSM import, bad input."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.network import graph_from_sumo_net

from ...conftest import NETWORKS, REAL_NETS, real_path

OSM = """<?xml version="1.0" encoding="UTF-8"?>
<osm version="0.6" generator="citybrain-test">
  <bounds minlat="50.9990" minlon="6.9980" maxlat="51.0010" maxlon="7.0020"/>
  <node id="1" lat="51.0000" lon="6.9980"/>
  <node id="2" lat="51.0000" lon="7.0000"><tag k="highway" v="traffic_signals"/></node>
  <node id="3" lat="51.0000" lon="7.0020"/>
  <node id="4" lat="50.9990" lon="7.0000"/>
  <node id="5" lat="51.0010" lon="7.0000"/>
  <way id="10"><nd ref="1"/><nd ref="2"/><nd ref="3"/><tag k="highway" v="primary"/><tag k="lanes" v="2"/><tag k="name" v="Main Street"/></way>
  <way id="11"><nd ref="4"/><nd ref="2"/><nd ref="5"/><tag k="highway" v="secondary"/><tag k="name" v="Side Street"/></way>
</osm>
"""


def test_info_json_has_the_documented_keys():
    result = CliRunner().invoke(cli, ["network", "info", str(NETWORKS / "grid4x4.net.xml"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for key in ("junctions", "signalised", "traffic_lights", "edges", "movements", "unsafe_phases"):
        assert key in report
    assert report["signalised"] == 16 and report["traffic_lights"] == 16
    assert report["movements"] == 16 * 12
    assert report["unsafe_phases"] == []


def test_info_json_reports_unsafe_phases_of_a_real_network():
    path = real_path(REAL_NETS["ingolstadt7"])
    result = CliRunner().invoke(cli, ["network", "info", str(path), "--json"])
    assert result.exit_code == 0
    unsafe = json.loads(result.output)["unsafe_phases"]
    assert [(u["tls"], u["phase"], u["kind"]) for u in unsafe] == [("gneJ210", 4, "merge")]
    assert all(u["movements"] for u in unsafe)


def test_info_table_is_readable():
    result = CliRunner().invoke(cli, ["network", "info", str(NETWORKS / "arterial5.net.xml")])
    assert result.exit_code == 0
    assert "traffic_lights  5" in result.output
    assert "unsafe phases: none" in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        ("not xml at all <<", "not an XML file"),
        ('<configuration><input/></configuration>', "expected a SUMO network"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, content, message):
    path = tmp_path / "broken.net.xml"
    if content is not None:
        path.write_text(content)
    result = CliRunner().invoke(cli, ["network", "info", str(path)])
    assert result.exit_code == 2
    assert message in result.output and str(path) in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.sumo
def test_network_without_traffic_lights_exits_2(tmp_path):
    osm = tmp_path / "plain.osm"
    osm.write_text(OSM.replace('<tag k="highway" v="traffic_signals"/>', ""))
    net = tmp_path / "plain.net.xml"
    result = CliRunner().invoke(cli, ["network", "import-osm", str(osm), "-o", str(net)])
    assert result.exit_code == 0, result.output
    assert graph_from_sumo_net(net).programs == {}
    result = CliRunner().invoke(cli, ["network", "info", str(net)])
    assert result.exit_code == 2
    assert "no traffic lights" in result.output and str(net) in result.output


@pytest.mark.sumo
def test_import_osm_guesses_the_signal(tmp_path):
    osm = tmp_path / "city.osm"
    osm.write_text(OSM)
    net = tmp_path / "city.net.xml"
    result = CliRunner().invoke(cli, ["network", "import-osm", str(osm), "-o", str(net)])
    assert result.exit_code == 0, result.output
    road = graph_from_sumo_net(net)
    assert len(road.programs) == 1
    assert len(road.signalised_junctions) == 1
    assert road.unsafe_phases() == []


def test_import_osm_missing_file_exits_2(tmp_path):
    result = CliRunner().invoke(cli, ["network", "import-osm", str(tmp_path / "none.osm"), "-o", str(tmp_path / "x.net.xml")])
    assert result.exit_code == 2
    assert "no such file; expected an OpenStreetMap file" in result.output


@pytest.mark.sumo
@pytest.mark.parametrize(("command", "signals"), [(["grid", "--rows", "2", "--cols", "3"], 6), (["arterial", "--signals", "3", "--pedestrians"], 3)])
def test_generators(tmp_path, command, signals):
    out = tmp_path / "gen.net.xml"
    result = CliRunner().invoke(cli, ["network", command[0], str(out), *command[1:]])
    assert result.exit_code == 0, result.output
    road = graph_from_sumo_net(out)
    assert len(road.programs) == signals
    assert road.unsafe_phases() == []
    if "--pedestrians" in command:
        assert road.summary()["crossings"] > 0


def test_generator_rejects_bad_sizes(tmp_path):
    result = CliRunner().invoke(cli, ["network", "grid", str(tmp_path / "g.net.xml"), "--rows", "0"])
    assert result.exit_code == 2
    assert "rows must be positive" in result.output
