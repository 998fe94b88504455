"""Scenario files: TOML, .sumocfg, RESCO defaults, and validation that lists every problem."""

from __future__ import annotations

import pytest

from citybrain.exceptions import ValidationError
from simulation.scenario import load_scenario, scenario_from_sumocfg

from ..conftest import ROOT, real_path


def test_grid_demo_scenario_loads():
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    assert sc.name == "grid4x4"
    assert sc.network.name == "grid4x4.net.xml" and sc.network.is_file()
    assert (sc.begin_s, sc.end_s, sc.step_s, sc.seeds) == (0.0, 3600.0, 1.0, 3)
    args = sc.sumo_args(7)
    for opt in ("--time-to-teleport", "--tripinfo-output.write-unfinished", "--xml-validation"):
        assert opt in args
    assert args[args.index("--seed") + 1] == "7"
    assert args[args.index("--time-to-teleport") + 1] == "-1"
    assert args[args.index("--xml-validation") + 1] == "never"
    assert args[args.index("--step-length") + 1] == "1"


def test_sumocfg_runs_as_it_is():
    cfg = real_path("resco/cologne1/cologne1.sumocfg")
    sc = scenario_from_sumocfg(cfg)
    assert (sc.begin_s, sc.end_s) == (25200.0, 28800.0)
    assert sc.network.name == "cologne1.net.xml"
    assert sc.sumo_args(0)[:2] == ["-c", str(cfg.resolve())]
    toml = load_scenario(ROOT / "scenarios" / "resco_cologne1.toml")
    assert toml.sumocfg == cfg.resolve() and toml.seeds == 10 and toml.end_s == 28800.0


def test_bad_scenario_lists_every_problem(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'network = "missing.net.xml"\n'
        'demand = ["nope.rou.xml"]\n'
        "begin_s = 100\n"
        "end_s = 50\n"
        'step_s = "one"\n'
        "seeds = 0\n"
        "colour = 3\n"
        "[[flows]]\n"
        'from_edge = "a"\n'
        "[cameras]\n"
        "detection_rate = 1.5\n"
    )
    with pytest.raises(ValidationError) as info:
        load_scenario(bad)
    problems = info.value.problems
    text = "\n".join(problems)
    assert all(p.startswith("bad.toml") for p in problems)
    for needle in (
        "'colour': unknown key",
        "'network': file 'missing.net.xml' not found",
        "'demand'[0]: file 'nope.rou.xml' not found",
        "'end_s': must be after begin_s=100",
        "'step_s': must be a number",
        "'seeds': must be a whole number >= 1",
        "flows[0]: 'to_edge': required",
        "flows[0]: 'veh_per_hour': required",
        "cameras: 'detection_rate': must be in [0, 1]",
    ):
        assert needle in text, needle
    assert str(bad) in str(info.value)


def test_missing_and_unparsable_files(tmp_path):
    with pytest.raises(ValidationError, match="scenario file not found"):
        load_scenario(tmp_path / "none.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(ValidationError, match="not valid TOML"):
        load_scenario(broken)
    cfg = tmp_path / "x.sumocfg"
    cfg.write_text('<configuration><input><route-files value="r.xml"/></input></configuration>')
    with pytest.raises(ValidationError) as info:
        load_scenario(cfg)
    assert len(info.value.problems) == 3  # no net-file, missing route file, no end


def test_flows_become_a_route_file(tmp_path):
    toml = tmp_path / "f.toml"
    toml.write_text(
        f'network = "{ROOT / "networks" / "grid4x4.net.xml"}"\nend_s = 600\n'
        '[[flows]]\nfrom_edge = "left0A0"\nto_edge = "A0B0"\nveh_per_hour = 300\n'
    )
    sc = load_scenario(toml)
    assert 'vehsPerHour="300.0"' in sc.flows_xml() and 'end="600"' in sc.flows_xml()


def test_flows_checked_against_the_network_at_load(tmp_path):
    toml = tmp_path / "flows.toml"
    toml.write_text(
        f'network = "{ROOT / "networks" / "arterial5.net.xml"}"\nend_s = 600\n'
        '[[flows]]\nfrom_edge = "W_J1"\nto_edge = "J5_E"\nveh_per_hour = 100\n'
        '[[flows]]\nfrom_edge = "nope"\nto_edge = "J5_E"\nveh_per_hour = 100\n'
        '[[flows]]\nfrom_edge = "J5_E"\nto_edge = "W_J1"\nveh_per_hour = 100\n'
    )
    with pytest.raises(ValidationError) as info:
        load_scenario(toml)
    problems = info.value.problems
    assert len(problems) == 2
    assert problems[0].startswith("flows.toml: [[flows]] entry 1 (from_edge 'nope', to_edge 'J5_E'): from_edge 'nope' "
                                  "is not an edge of arterial5.net.xml")
    assert problems[1].startswith("flows.toml: [[flows]] entry 2 (from_edge 'J5_E', to_edge 'W_J1'): no route")
    assert str(toml) in str(info.value)


def test_a_network_that_is_not_a_sumo_network_is_refused_at_load(tmp_path):
    (tmp_path / "map.osm").write_text('<?xml version="1.0"?>\n<osm version="0.6"><node id="1" lat="0" lon="0"/></osm>\n')
    toml = tmp_path / "osm.toml"
    toml.write_text('network = "map.osm"\nend_s = 600\n[[flows]]\nfrom_edge = "a"\nto_edge = "b"\nveh_per_hour = 1\n')
    with pytest.raises(ValidationError) as info:
        load_scenario(toml)
    assert info.value.problems == [
        f"osm.toml: 'network': {tmp_path / 'map.osm'}: is XML with root <osm>, expected a SUMO network (<net>). "
        "A scenario's network must be a SUMO .net.xml (netconvert makes one)."
    ]


FLOW = '[[flows]]\nfrom_edge = "W_J1"\nto_edge = "J5_E"\nveh_per_hour = 100\n'


def _problems(tmp_path, text: str) -> list[str]:
    (tmp_path / "a5.net.xml").write_bytes((ROOT / "networks" / "arterial5.net.xml").read_bytes())
    toml = tmp_path / "s.toml"
    toml.write_text(text)
    with pytest.raises(ValidationError) as info:
        load_scenario(toml)
    return info.value.problems


def test_infinite_times_and_rates_are_refused(tmp_path):
    problems = _problems(tmp_path, 'network = "a5.net.xml"\nend_s = inf\n' + FLOW.replace("100", "inf"))
    assert problems == ["s.toml: 'end_s': must be in [0, 1000000000], got inf",
                        "s.toml: flows[0]: 'veh_per_hour': must be in [0, 3600000], got inf"]


def test_times_and_rates_sumo_refuses_are_refused_at_load(tmp_path):
    problems = _problems(tmp_path, 'network = "a5.net.xml"\nbegin_s = -100\nend_s = 1e300\n'
                                   + FLOW.replace("100", "1e9"))
    assert problems == ["s.toml: 'begin_s': must be in [0, 1000000000], got -100",
                        "s.toml: 'end_s': must be in [0, 1000000000], got 1e+300",
                        "s.toml: flows[0]: 'veh_per_hour': must be in [0, 3600000], got 1000000000.0"]


def test_an_invalid_flow_is_not_also_reported_as_no_demand(tmp_path):
    problems = _problems(tmp_path, 'network = "a5.net.xml"\nend_s = 600\n' + FLOW.replace("100", "-1"))
    assert problems == ["s.toml: flows[0]: 'veh_per_hour': must be in [0, 3600000], got -1"]


def test_folders_and_wrong_xml_files_name_the_file_expected(tmp_path):
    (tmp_path / "routes").mkdir()
    (tmp_path / "empty.add.xml").write_text("")
    problems = _problems(tmp_path, 'network = "a5.net.xml"\nend_s = 600\n'
                                   'demand = ["routes", "a5.net.xml"]\nadditional = ["empty.add.xml"]\n')
    assert problems[0] == (f"s.toml: 'demand'[0]: 'routes' is a folder (resolved to {tmp_path / 'routes'}); "
                           "expected a SUMO route file (.rou.xml)")
    assert problems[1] == ("s.toml: 'demand'[1]: 'a5.net.xml': is XML with root <net>, "
                           "expected a SUMO route file (.rou.xml) (<routes>)")
    assert problems[2].startswith("s.toml: 'additional'[0]: 'empty.add.xml': not an XML file (no element found")
    assert len(problems) == 3


def test_a_sumocfg_whose_network_is_not_a_sumo_network_is_refused_at_load(tmp_path):
    (tmp_path / "map.osm").write_text('<osm version="0.6"><node id="1" lat="0" lon="0"/></osm>\n')
    cfg = tmp_path / "x.sumocfg"
    cfg.write_text('<configuration><input><net-file value="map.osm"/></input><time><end value="60"/></time>'
                   "</configuration>")
    with pytest.raises(ValidationError) as info:
        load_scenario(cfg)
    assert info.value.problems == [f"{cfg}: net-file 'map.osm': is XML with root <osm>, expected a SUMO network "
                                   "(.net.xml) (<net>)"]


def test_flows_added_to_a_sumocfg_are_checked_against_its_network(tmp_path):
    cfg = tmp_path / "x.sumocfg"
    cfg.write_text('<configuration><input><net-file value="a5.net.xml"/></input><time><end value="60"/></time>'
                   "</configuration>")
    problems = _problems(tmp_path, 'sumocfg = "x.sumocfg"\n' + FLOW.replace("J5_E", "nowhere"))
    assert problems == ["s.toml: [[flows]] entry 0 (from_edge 'W_J1', to_edge 'nowhere'): to_edge 'nowhere' is not "
                        "an edge of a5.net.xml; expected the id of one of its 32 road edges"]


def test_a_file_that_is_not_toml_says_what_a_scenario_is(tmp_path):
    with pytest.raises(ValidationError, match=r"net.xml: not valid TOML \(.*\); expected a .toml scenario or a .sumocfg"):
        load_scenario(ROOT / "networks" / "arterial5.net.xml")


def test_a_flow_of_zero_vehicles_is_refused_at_load(tmp_path):
    problems = _problems(tmp_path, 'network = "a5.net.xml"\nend_s = 600\n' + FLOW.replace("100", "0"))
    assert problems == ["s.toml: flows[0]: 'veh_per_hour': must be > 0 (leave out a flow with no vehicles), got 0"]
