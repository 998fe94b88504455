"""Pre-emption in the twin: an emergency vehicle's route through 3 lights is green at each before it arrives."""

from __future__ import annotations

import pandas as pd
import pytest

from citybrain.control.preempt import EVENT_CODES, PreemptionSettings, route_lights
from citybrain.generate import generate_arterial
from citybrain.network import graph_from_sumo_net
from simulation import RunSpec
from simulation.backend import make_backend
from simulation.emergency import EmergencyConfig, EmergencyTrip
from simulation.scenario import Flow, Scenario
from simulation.twin import Twin

pytestmark = pytest.mark.sumo

ROUTE = ("W_J1", "J1_J2", "J2_J3", "J3_E")
END_S = 420.0
DEPART_S = 150.0


@pytest.fixture(scope="module")
def arterial(tmp_path_factory):
    return generate_arterial(tmp_path_factory.mktemp("net") / "arterial3.net.xml", signals=3)


def _scenario(net, preempt: bool) -> Scenario:
    # side streets busy enough that the arterial is red about half the time
    flows = (Flow("W_J1", "J3_E", 500.0, 0.0, END_S), Flow("E_J3", "J1_W", 400.0, 0.0, END_S),
             *(Flow(f"N{i}_J{i}", f"J{i}_S{i}", 300.0, 0.0, END_S) for i in (1, 2, 3)),
             *(Flow(f"S{i}_J{i}", f"J{i}_N{i}", 250.0, 0.0, END_S) for i in (1, 2, 3)))
    emergency = EmergencyConfig(vehicles=(EmergencyTrip("W_J1", "J3_E", DEPART_S),))
    return Scenario(name="arterial3", source=net, network=net, flows=flows, end_s=END_S, emergency=emergency)


class Watch:
    """Every step: where the emergency vehicle is and what the lights on its route show."""

    def __init__(self, backend, lights):
        self.backend, self.lights = backend, lights
        self.rows = []

    def __call__(self, twin, t):
        api = self.backend.api
        if "emergency_0" not in api.vehicle.getIDList():
            return
        road, pos, index = self.backend.vehicle_place("emergency_0")
        states = {x.tls: self.backend.state(x.tls) for x in self.lights}
        self.rows.append((t, road, index, api.vehicle.getSpeed("emergency_0"), states))


def _run(net, tmp_path, preempt: bool, controller: str = "fixed"):
    lights = route_lights(graph_from_sumo_net(net), ROUTE)
    backend = make_backend("libsumo")
    watch = Watch(backend, lights)
    spec = RunSpec(scenario=_scenario(net, preempt), controller=controller, events=True,
                   preempt=PreemptionSettings() if preempt else None)
    result = Twin(spec, tmp_path / f"{controller}-{preempt}", backend=backend, on_step=watch).run()
    return result, lights, watch.rows


def _arrivals(lights, rows):
    """Per light on the route: the last step before the vehicle crosses its stop line, and what the light showed."""
    out = {}
    for light in lights:
        before = [r for r in rows if r[2] < light.route_index or (r[2] == light.route_index and not r[1].startswith(":"))]
        after = [r for r in rows if r not in before]
        assert after, f"the vehicle never crossed {light.tls}'s stop line"
        out[light.tls] = (before, after[0])
    return out


@pytest.mark.parametrize("controller", ["fixed", "actuated"])
def test_the_route_is_green_at_each_light_before_the_vehicle_arrives(arterial, tmp_path, controller):
    result, lights, rows = _run(arterial, tmp_path, True, controller)
    assert [x.tls for x in lights] == ["J1", "J2", "J3"]
    assert result.monitor["total"] == 0, result.monitor  # no conflicting green, no short yellow while switching
    for light in lights:
        before, crossing = _arrivals(lights, rows)[light.tls]
        shown = [r[4][light.tls] for r in before[-6:]]
        # green for the vehicle's movement over the last steps before it crossed: it did not wait at the line
        assert all(s[k] in "Gg" for s in shown for k in light.links), (light.tls, shown)
        assert min(r[3] for r in before[-6:]) > 3.0, "the vehicle slowed to a stop at the light"
    records = {p.tls: p for p in result.preemptions}
    assert sorted(records) == ["J1", "J2", "J3"]
    calls = [records[x.tls].call_s for x in lights]
    assert calls == sorted(calls) and calls[0] < calls[-1]  # cleared in sequence along the route
    assert all(p.reason == "passed" and p.dwell_s <= p.release_s <= p.exit_s for p in records.values())
    assert result.emergency["count"] == 1 and result.emergency["stops"] == 0
    ev = result.events.events
    pre = ev[ev["event_code"].isin(EVENT_CODES.values())]
    for tls in ("J1", "J2", "J3"):
        codes = list(pre[pre["signal_id"] == tls]["event_code"])
        assert codes == [102, 105, 107, 104, 111], (tls, codes)
        assert set(pre[pre["signal_id"] == tls]["event_param"]) == {1}
    times = pd.to_datetime(pre[pre["event_code"] == 102]["timestamp"])
    assert times.is_monotonic_increasing


def test_without_preemption_the_vehicle_meets_a_red(arterial, tmp_path):
    result, lights, rows = _run(arterial, tmp_path, False)
    assert result.preemptions == ()
    arrivals = _arrivals(lights, rows)
    stopped_at_red = [tls for tls, (before, _) in arrivals.items()
                      if any(r[3] < 0.1 for r in before[-30:])]
    assert stopped_at_red, "this check could not fail: the vehicle met no red without pre-emption either"
    assert result.emergency["stops"] >= 1
