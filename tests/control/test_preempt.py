"""The pre-emption layer's logic: route lights, the green chosen, detection, release, the gate."""

from __future__ import annotations

import math

import pytest

from citybrain.control.preempt import (
    PreemptionSettings,
    Preemptor,
    VehiclePosition,
    preempt_phase,
    route_lights,
    serves,
)
from citybrain.exceptions import UnsafePlanError
from citybrain.network import graph_from_sumo_net
from citybrain.plans.safety import US_ITE, preemption_violations, require_safe_preemption
from tests.conftest import NETWORKS, real_path

NET = NETWORKS / "arterial5.net.xml"
ROUTE = ("W_J1", "J1_J2", "J2_J3", "J3_J4", "J4_J5", "J5_E")


@pytest.fixture(scope="module")
def net():
    return graph_from_sumo_net(NET)


def test_route_lights_are_in_route_order_with_the_links_of_the_route_movement(net):
    lights = route_lights(net, ROUTE)
    assert [x.tls for x in lights] == ["J1", "J2", "J3", "J4", "J5"]
    edges = net.edges
    for light in lights:
        edge, nxt = ROUTE[light.route_index], ROUTE[light.route_index + 1]
        movs = [m for m in net.movements if m.from_edge == edge and m.to_edge == nxt]
        assert set(light.links) == {k for m in movs for k in m.link_indices}
        length = sum(edges[e]["length_m"] for e in ROUTE[: light.route_index + 1])
        assert light.stop_m == pytest.approx(length)
    assert all(a.stop_m < b.stop_m and a.free_s < b.free_s for a, b in zip(lights, lights[1:]))


def test_the_green_chosen_serves_every_link_protected_first():
    states = {0: "GGgrr", 2: "rrrGG", 4: "GGGrr"}
    assert serves("GGgrr", (0, 1)) == 2 and serves("GGgrr", (1, 2)) == 1 and serves("rrrGG", (0,)) == 0
    assert preempt_phase(states, (0, 1)) == 0  # both serve protected: the one letting fewer other links go
    assert preempt_phase(states, (2,)) == 4  # protected beats permissive
    assert preempt_phase(states, (3, 4)) == 2
    assert preempt_phase(states, (0, 3)) is None  # no green serves both


def _at(route, edges, metres):
    """The position ``metres`` along ``route`` from its start."""
    for i, e in enumerate(route):
        length = edges[e]["length_m"]
        if metres < length or i == len(route) - 1:
            return VehiclePosition(route, i, metres)
        metres -= length
    raise AssertionError


def test_lights_are_called_in_sequence_as_the_vehicle_nears_them_and_released_once_it_passed(net):
    edges = net.edges
    lights = route_lights(net, ROUTE)
    pre = Preemptor(net, PreemptionSettings(detect_time_s=None, detect_distance_m=150.0))
    called, released = {}, {}
    for t in range(0, 200):
        pos = _at(ROUTE, edges, 10.0 * t)
        calls, releases = pre.update(float(t), {"ev": pos})
        for c in calls:
            called[c.tls] = (t, c.distance_m)
        for r in releases:
            released[r.tls] = (t, r.reason)
    assert list(called) == [x.tls for x in lights]
    for light in lights:
        t_call, distance = called[light.tls]
        assert 140.0 <= distance <= 150.0  # called within one step (10 m) of the detection distance
        assert 10.0 * t_call == pytest.approx(light.stop_m - distance)
        t_off, reason = released[light.tls]
        assert reason == "passed" and 10.0 * t_off >= light.stop_m > 10.0 * (t_off - 1)


def test_detection_by_travel_time_uses_the_speed_limits(net):
    lights = route_lights(net, ROUTE)
    pre = Preemptor(net, PreemptionSettings(detect_time_s=20.0))
    first = lights[0]
    speed = net.edges[ROUTE[0]]["speed_mps"]
    start_m = first.stop_m - 20.0 * speed - 5.0
    calls, _ = pre.update(0.0, {"ev": VehiclePosition(ROUTE, 0, start_m)})
    assert calls == []
    calls, _ = pre.update(1.0, {"ev": VehiclePosition(ROUTE, 0, start_m + 10.0)})
    assert [c.tls for c in calls] == [first.tls]


def test_a_call_is_released_at_max_presence_and_when_the_vehicle_leaves(net):
    pre = Preemptor(net, PreemptionSettings(detect_distance_m=400.0, detect_time_s=None, max_hold_s=60.0))
    stuck = VehiclePosition(ROUTE, 0, 100.0)
    calls, _ = pre.update(0.0, {"ev": stuck, "ev2": stuck})
    assert {(c.tls, c.vehicle) for c in calls} == {("J1", "ev"), ("J1", "ev2")}
    _, releases = pre.update(59.0, {"ev": stuck, "ev2": stuck})
    assert releases == []
    _, releases = pre.update(60.0, {"ev": stuck})  # ev2 left the network; ev waited 60 s
    assert sorted((r.vehicle, r.reason) for r in releases) == [("ev", "max-presence"), ("ev2", "gone")]
    calls, releases = pre.update(61.0, {"ev": stuck})
    assert calls == [] and releases == []  # not called again


@pytest.mark.parametrize("kwargs, match", [
    ({"detect_time_s": None}, "detect_time_s or detect_distance_m"),
    ({"detect_time_s": -1.0}, "detect_time_s"),
    ({"detect_distance_m": math.inf}, "detect_distance_m"),
    ({"max_hold_s": 0.0}, "max_hold_s"),
    ({"queue_headway_s": -1.0}, "queue_headway_s"),
    ({"max_lead_s": math.nan}, "max_lead_s"),
    ({"preempt_number": 11}, r"\[1, 10\]"),
])
def test_settings_refuse_bad_values(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PreemptionSettings(**kwargs)


def test_the_gate_keeps_the_clearance_and_the_preemption_minimum_green(net):
    program = net.programs["J1"]
    g0, g1 = (p.state for p in program.phases if "y" not in p.state)
    assert US_ITE.preempt_min_green_s == 5.0
    assert not [v for v in preemption_violations("J1", g0, 5.0, 4.0, 2.0, g1, net) if v.severity == "error"]
    rules = {v.rule for v in preemption_violations("J1", g0, 3.0, 4.0, 2.0, g1, net) if v.severity == "error"}
    assert rules == {"min-green"}
    rules = {v.rule for v in preemption_violations("J1", g0, 8.0, 2.0, 2.0, g1, net) if v.severity == "error"}
    assert rules == {"yellow"}  # never a yellow under 3 s, whatever the emergency
    with pytest.raises(UnsafePlanError, match="pre-emption of light 'J1' is unsafe"):
        require_safe_preemption("J1", g0, 8.0, 2.0, 2.0, g1, net)
    both = "".join("G" if "G" in (a, b) else "r" for a, b in zip(g0, g1))  # crossing streams green together
    assert "conflict" in {v.rule for v in preemption_violations("J1", g0, 8.0, 4.0, 2.0, both, net)}


def test_the_widest_served_set_is_the_whole_approach_then_the_lanes_then_the_movement(net):
    light = route_lights(net, ("W_J1", "J1_N1"))[0]  # a left turn at J1
    program = net.programs["J1"]
    approach = {x.index for x in program.links if x.from_lane.startswith("W_J1_")
                and net.movements[x.movement].turn != "crossing"}
    left = {k for m in net.movements if (m.from_edge, m.to_edge) == ("W_J1", "J1_N1") for k in m.link_indices}
    assert set(light.options[0]) == approach and set(light.options[-1]) == set(light.links) == left
    assert all(set(a) >= set(b) for a, b in zip(light.options, light.options[1:]))


def _queue(net, lanes_n: dict[str, int], full: tuple[str, ...] = ()):
    """``halted(lane)``: ``n`` vehicles halting at the stop line of each lane in ``lanes_n``, and
    ``full`` lanes backed up to their entrance (a vehicle a metre from it)."""
    edges = net.edges

    def halted(lane):
        length = edges[lane.rsplit("_", 1)[0]]["length_m"]
        queue = [7.5 * k + 1.0 for k in range(lanes_n.get(lane, 0))]
        return tuple(queue + ([length - 1.0] if lane in full else []))

    return halted


def test_a_light_is_called_earlier_by_the_time_its_queue_needs_to_discharge(net):
    edges = net.edges
    first = route_lights(net, ROUTE)[0]
    speed = edges[ROUTE[0]]["speed_mps"]
    pos = VehiclePosition(ROUTE, 0, first.stop_m - 30.0 * speed)  # 30 s from J1 at the speed limit
    settings = PreemptionSettings(detect_time_s=20.0, queue_headway_s=2.0, max_hold_s=60.0)
    calls, _ = Preemptor(net, settings).update(0.0, {"ev": pos})
    assert calls == []  # no queue: called at 20 s
    lanes = [f"{ROUTE[0]}_{k}" for k in range(edges[ROUTE[0]]["lanes"])]
    few = _queue(net, {lanes[0]: 4})  # 8 s of discharge: 28 s ahead is not yet enough
    calls, _ = Preemptor(net, settings).update(0.0, {"ev": pos}, few)
    assert calls == []
    many = _queue(net, {lanes[0]: 6, lanes[-1]: 2})  # the longest lane's queue counts: 12 s
    pre = Preemptor(net, settings)
    calls, _ = pre.update(0.0, {"ev": pos}, many)
    assert [c.tls for c in calls] == [first.tls]
    _, releases = pre.update(71.0, {"ev": pos}, many)
    assert releases == []  # max presence counts from the call plus its lead: 60 + 12 s
    _, releases = pre.update(72.0, {"ev": pos}, many)
    assert [(r.tls, r.reason) for r in releases] == [(first.tls, "max-presence")]


def test_a_queue_spilling_back_to_the_light_before_adds_to_the_lead_of_the_light_after(net):
    edges = net.edges
    j1, j2 = route_lights(net, ROUTE)[:2]
    pos = VehiclePosition(ROUTE, 0, 1.0)
    eta_j1, eta_j2 = (x.free_s - 1.0 / edges[ROUTE[0]]["speed_mps"] for x in (j1, j2))
    between, before = f"{ROUTE[1]}_0", f"{ROUTE[0]}_0"
    settings = PreemptionSettings(detect_time_s=5.0, queue_headway_s=2.0)
    queue = {between: 10, before: 10}  # 20 s of discharge at each light
    assert 5.0 + 20.0 < eta_j2 <= 5.0 + 2.0 * (10 + 1 + 10) and eta_j1 <= 5.0 + 20.0
    calls, _ = Preemptor(net, settings).update(0.0, {"ev": pos}, _queue(net, queue))
    assert [c.tls for c in calls] == [j1.tls]  # J2's queue alone leaves in time
    calls, _ = Preemptor(net, settings).update(0.0, {"ev": pos}, _queue(net, queue, full=(between,)))
    assert [c.tls for c in calls] == [j1.tls, j2.tls]  # backed up to J1: J1's queue can only leave after J2's


def test_a_lane_backed_up_off_the_route_gets_a_clearance_call_at_its_next_light():
    grid = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
    route = ("left0A0", "A0B0", "B0C0", "C0D0")  # straight on; at B0 the same lanes also turn left to B1
    pre = Preemptor(grid, PreemptionSettings(detect_time_s=30.0))
    at_b0 = VehiclePosition(route, 1, 100.0)
    calls, _ = pre.update(0.0, {"ev": at_b0}, _queue(grid, {}))
    assert {c.tls for c in calls} >= {"B0"} and not any(c.clearance for c in calls)
    full = _queue(grid, {}, full=("B0B1_1",))  # the left turn's lane backed up from B1 to B0
    calls, _ = pre.update(1.0, {"ev": at_b0}, full)
    clearance = [c for c in calls if c.clearance]
    leaving = {x.index for x in grid.programs["B1"].links if x.from_lane == "B0B1_1"}
    assert [(c.tls, set(c.links)) for c in clearance] == [("B1", leaving)]
    calls, releases = pre.update(2.0, {"ev": at_b0}, full)
    assert calls == [] and releases == []  # one clearance call per light cleared for
    _, releases = pre.update(3.0, {"ev": at_b0}, _queue(grid, {}))
    assert releases == []  # the lane has room, not yet for 10 s
    _, releases = pre.update(13.0, {"ev": at_b0}, _queue(grid, {}))
    assert [(r.tls, r.reason) for r in releases] == [("B1", "cleared")]
    calls, releases = pre.update(14.0, {"ev": VehiclePosition(route, 2, 5.0)}, full)
    assert ("B0", "passed") in {(r.tls, r.reason) for r in releases}
    assert not any(c.clearance and c.tls == "B1" for c in calls)


def test_a_clusters_junctions_are_one_passage_only_if_one_green_serves_the_route_lanes_at_each():
    ingolstadt = graph_from_sumo_net(real_path("resco/ingolstadt7/ingolstadt7.net.xml"))
    # through gneJ143 twice: a left from 201956821#1.68 (its lane also goes straight on), then on from 10425609#1
    route = ("201956821#1.68", "201956811#0", "10425609#0", "10425609#1", "201956819#0")
    greens = {k: ingolstadt.programs["gneJ143"].phases[k].state for k in ingolstadt.programs["gneJ143"].green_phases()}
    assert preempt_phase(greens, (2, 3)) is not None  # one green serves both movements ...
    assert preempt_phase(greens, (2, 3, 4)) is None  # ... but not the straight-on sharing the left's lane
    lights = route_lights(ingolstadt, route)
    assert [(x.tls, x.links) for x in lights] == [("gneJ143", (3,)), ("gneJ143", (2,))]
    assert all(preempt_phase(greens, x.options[-2]) is not None for x in lights)  # each passage's lanes served
