"""The RESCO delay and its companions: hand-made tripinfo, and the SUMO 1.28 fixed-time pins."""

from __future__ import annotations

import math

import pytest

from simulation.metrics import junction_delay, read_tripinfo, resco_delay, summarise
from simulation.run import RunSpec
from simulation.runner import run_seeds
from simulation.scenario import load_scenario

from ..conftest import ROOT, real_path

TRIPINFO = """<tripinfos>
    <tripinfo id="a" depart="10.00" departDelay="2.00" arrival="70.00" duration="60.00"
        waitingTime="20.00" waitingCount="2" timeLoss="30.00"/>
    <tripinfo id="b" depart="20.00" departDelay="0.00" arrival="-1.00" duration="40.00"
        waitingTime="10.00" waitingCount="1" timeLoss="18.00" vaporized="end"/>
    <tripinfo id="c" depart="-1" departDelay="50.00" arrival="-1.00" duration="0.00"
        waitingTime="0.00" waitingCount="0" timeLoss="0.00" vaporized="end"/>
</tripinfos>
"""


def test_delay_counts_unfinished_and_leaves_out_never_inserted(tmp_path):
    path = tmp_path / "tripinfo.xml"
    path.write_text(TRIPINFO)
    s = read_tripinfo(path)
    assert s.delay_s == pytest.approx((32 + 18) / 2)
    assert s.delay_all_s == pytest.approx((32 + 18 + 50) / 3)
    assert s.trip_time_s == pytest.approx(50)
    assert s.waiting_s == pytest.approx(15)
    assert s.stops == pytest.approx(1.5)
    assert (s.entries, s.finished, s.never_inserted) == (2, 1, 1)
    assert read_tripinfo(path, has_undeparted=False).delay_all_s is None


ROUTES = """<routes>
    <vType id="car"/>
    <vehicle id="a" depart="8.00"><route edges="x y"/></vehicle>
    <vehicle id="g" depart="12.00"><route edges="x y"/></vehicle>
    <vehicle id="b" depart="15.00"><route edges="x y"/></vehicle>
    <vehicle id="c" depart="16.00"><route edges="x y"/></vehicle>
    <vehicle id="d" depart="30.00"><route edges="x y"/></vehicle>
    <trip id="e" depart="40.00" from="x" to="y"/>
    <vehicle id="f" depart="200.00"><route edges="x y"/></vehicle>
</routes>
"""


def test_resco_delay_adds_the_vehicles_scheduled_after_the_last_inserted_one(tmp_path):
    """RESCO's readXML.py: inserted entries, plus each later-scheduled <vehicle>'s wait to the window's end."""
    trips = tmp_path / "tripinfo.xml"
    trips.write_text(TRIPINFO.replace('id="b" depart="20.00" departDelay="0.00"', 'id="b" depart="20.00" departDelay="5.00"'))
    routes = tmp_path / "r.rou.xml"
    routes.write_text(ROUTES)
    # a: 30 + 2, b: 18 + 5 (scheduled at 15); after b's schedule: c (100 - 16) and d (100 - 30); the
    # undeparted entry c, the trip e, f (after the window) and g (scheduled before b) add nothing
    assert resco_delay(trips, [routes], 100.0) == pytest.approx((32 + 23 + 84 + 70) / 4)
    assert resco_delay(trips, [], 100.0) == pytest.approx((32 + 23) / 2)
    trips.write_text("<tripinfos/>")
    assert math.isnan(resco_delay(trips, [routes], 100.0))


def test_unfinished_tripinfo_is_a_simulation_error(tmp_path):
    from citybrain.exceptions import SimulationError

    path = tmp_path / "t.xml"
    path.write_text("<tripinfos><tripinfo id='a'")
    with pytest.raises(SimulationError, match="not valid XML"):
        read_tripinfo(path)
    with pytest.raises(SimulationError, match="was not written"):
        read_tripinfo(tmp_path / "none.xml")


def test_summary_and_junction_delay():
    s = summarise([40.0, 42.0, 44.0])
    assert s["mean"] == pytest.approx(42.0) and s["sd"] == pytest.approx(2.0)
    assert s["ci95"] == pytest.approx(4.303 * 2 / math.sqrt(3), rel=1e-3)
    assert math.isnan(summarise([1.0])["sd"])
    assert junction_delay({"e1": (100.0, 10), "e2": (50.0, 5)}, {"J": ("e1", "e2")}) == {"J": 10.0}


@pytest.mark.sumo
@pytest.mark.parametrize(
    ("name", "expected", "tolerance"),
    [("cologne1", 42.3, 2.0), ("ingolstadt1", 29.1, 2.0)],
)
def test_fixed_time_pins_sumo_128(name, expected, tolerance):
    """SUMO 1.28, the shipped programs, seeds 0-1 (measured: cologne1 42.30, ingolstadt1 29.06)."""
    real_path(f"resco/{name}/{name}.sumocfg")
    sc = load_scenario(ROOT / "scenarios" / f"resco_{name}.toml")
    results = run_seeds(RunSpec(sc, controller="fixed"), [0, 1], workers=2)
    assert all(r.ok and not r.gridlocked for r in results), [r.error for r in results]
    mean = sum(r.delay_s for r in results) / 2
    assert mean == pytest.approx(expected, abs=tolerance)
    for r in results:
        assert r.sumo_version.startswith("1.28")
        assert r.teleports == 0 and r.never_inserted <= 5
        assert r.arrived <= r.loaded and r.trip_time_s > r.delay_s - 1
        assert set(r.junction_delay_s) == set(r.junction_queue_veh) and r.queue_veh > 0
