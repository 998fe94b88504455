"""Emergency vehicles: the scenario's [emergency] section, the trips it makes, and their metrics apart."""

from __future__ import annotations

import pytest

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from simulation import load_scenario
from simulation.emergency import EMERGENCY_TYPE, EmergencyConfig, emergency_routes_xml, emergency_trips, fringe_edges
from simulation.metrics import read_tripinfo
from tests.conftest import NETWORKS

NET = NETWORKS / "arterial5.net.xml"


def _scenario(tmp_path, body: str):
    path = tmp_path / "s.toml"
    path.write_text(f'network = "{NET}"\nend_s = 3600.0\n[[flows]]\nfrom_edge = "W_J1"\nto_edge = "J5_E"\n'
                    f"veh_per_hour = 100.0\n{body}")
    return load_scenario(path)


def test_the_section_is_read(tmp_path):
    sc = _scenario(tmp_path, '[emergency]\nevery_min = 10\nedges = ["W_J1", "J5_E", "E_J5", "J1_W"]\n'
                   '[[emergency.vehicles]]\norigin = "E_J5"\ndestination = "J1_W"\ndepart_s = 90.0\n')
    assert sc.emergency == EmergencyConfig(vehicles=(sc.emergency.vehicles[0],), every_min=10.0,
                                           edges=("W_J1", "J5_E", "E_J5", "J1_W"))
    assert (sc.emergency.vehicles[0].origin, sc.emergency.vehicles[0].depart_s) == ("E_J5", 90.0)


@pytest.mark.parametrize("body, match", [
    ("[emergency]\n", "needs 'every_min'"),
    ("[emergency]\nevery_min = 10\nspeed = 3\n", "speed"),
    ("[emergency]\nevery_min = 0\n", "every_min"),
    ('[emergency]\nevery_min = 10\nedges = ["nowhere"]\n', "'nowhere' is not an edge of arterial5.net.xml"),
    ('[emergency]\nedges = ["W_J1"]\n[[emergency.vehicles]]\norigin = "W_J1"\ndestination = "J5_E"\ndepart_s = 1\n',
     "give 'every_min' too"),
    ('[emergency]\n[[emergency.vehicles]]\norigin = "J5_E"\ndestination = "W_J1"\ndepart_s = 10\n',
     r"vehicles\[0\]: no route from 'J5_E' to 'W_J1'"),
    ('[emergency]\n[[emergency.vehicles]]\norigin = "W_J1"\ndepart_s = 10\n', "destination"),
])
def test_bad_sections_are_named(tmp_path, body, match):
    with pytest.raises(ValidationError, match=match):
        _scenario(tmp_path, body)


def test_random_runs_are_periodic_joined_and_fixed_by_the_seed():
    net = graph_from_sumo_net(NET)
    config = EmergencyConfig(every_min=10.0)
    trips = emergency_trips(config, net, 0.0, 3600.0, seed=3)
    assert [t.depart_s for t in trips] == [600.0, 1200.0, 1800.0, 2400.0, 3000.0]
    fringe = set(fringe_edges(net))
    assert {"W_J1", "J5_E", "N1_J1", "J1_S1"} <= fringe and "J1_J2" not in fringe
    assert all(t.origin in fringe and t.destination in fringe and t.origin != t.destination for t in trips)
    assert trips == emergency_trips(config, net, 0.0, 3600.0, seed=3)
    others = [emergency_trips(config, net, 0.0, 3600.0, seed=s) for s in range(4, 8)]
    assert any(o != trips for o in others)
    xml = emergency_routes_xml(trips)
    assert 'vClass="emergency"' in xml and xml.count("<trip ") == 5 and f'type="{EMERGENCY_TYPE}"' in xml
    assert "bluelight" not in xml  # it stops at red: only pre-emption clears its way


def test_emergency_trips_are_reported_apart_and_left_out_of_the_delay(tmp_path):
    path = tmp_path / "tripinfo.xml"
    path.write_text(
        "<tripinfos>\n"
        '<tripinfo id="a" vType="car" depart="0" arrival="100" duration="100" timeLoss="20" departDelay="0" '
        'waitingTime="10" waitingCount="1"/>\n'
        '<tripinfo id="b" vType="car" depart="0" arrival="200" duration="200" timeLoss="40" departDelay="0" '
        'waitingTime="30" waitingCount="3"/>\n'
        f'<tripinfo id="emergency_0" vType="{EMERGENCY_TYPE}" depart="5" arrival="95" duration="90" timeLoss="30" '
        'departDelay="2" waitingTime="12" waitingCount="2"/>\n'
        f'<tripinfo id="emergency_1" vType="{EMERGENCY_TYPE}" depart="50" arrival="-1" duration="40" timeLoss="9" '
        'departDelay="0" waitingTime="0" waitingCount="0"/>\n'
        "</tripinfos>\n")
    stats = read_tripinfo(path, emergency_type=EMERGENCY_TYPE)
    assert stats.delay_s == 30.0 and stats.entries == 2 and stats.trip_time_s == 150.0
    assert stats.emergency == {"count": 2, "finished": 1, "trip_time_s": 90.0, "delay_s": 32.0,
                               "waiting_s": 12.0, "stops": 2.0}
    plain = read_tripinfo(path)
    assert plain.entries == 4 and plain.emergency is None
