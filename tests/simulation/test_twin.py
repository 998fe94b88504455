"""The twin loop driven over the fake backend (no SUMO): plans, pushed plans, controllers, results."""

from __future__ import annotations

from dataclasses import replace

import pytest

from citybrain.exceptions import SimulationError, ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import plans_from_network, write_plans_json
from simulation import PlanUpdate, RunSpec, Twin

from ..conftest import NETWORKS
from .fake_backend import FakeBackend, fake_scenario

GRID = NETWORKS / "grid4x4.net.xml"
G0, Y0, G1, Y1 = "GGGgrrrrGGGgrrrr", "yyyyrrrryyyyrrrr", "rrrrGGGgrrrrGGGg", "rrrryyyyrrrryyyy"  # A0's program
ALL_RED = "r" * 16


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(GRID)


def _run(grid, tmp_path, seconds: float, arrivals=None, *, on_step=None, controllers=None, **spec):
    backend = FakeBackend(grid, arrivals or {})
    twin = Twin(RunSpec(fake_scenario(GRID, seconds), **spec), tmp_path, network=grid, backend=backend,
                controllers=controllers, on_step=on_step)
    return twin, twin.run(), backend


def test_fixed_program_runs_untouched(grid, tmp_path):
    assert [(p.duration_s, p.state) for p in grid.programs["A0"].phases] == [(42, G0), (3, Y0), (42, G1), (3, Y1)]
    _, result, backend = _run(grid, tmp_path, 200.0)
    assert backend.commands == []  # program-driven: the twin only watches
    assert backend.intervals("A0")[:5] == [(0, 42, G0), (42, 3, Y0), (45, 42, G1), (87, 3, Y1), (90, 42, G0)]
    assert result.ok and result.backend == "fake" and result.sumo_version == "fake" and result.plans_applied == ()


def test_a_plan_runs_its_phases_in_order_with_its_durations(grid, tmp_path):
    network_plan = plans_from_network(grid)
    own = network_plan.periods[0].by_tls["A0"]
    first, second = own.phases
    retimed = replace(own, phases=(replace(first, green_s=30.0), replace(second, green_s=54.0)))
    plan = replace(network_plan, periods=(replace(network_plan.periods[0], plans=(retimed,)),))
    path = write_plans_json(plan, tmp_path / "plan.json")
    _, result, backend = _run(grid, tmp_path, 300.0, plan=str(path))
    expected = [(0, 30, G0), (30, 3, Y0), (33, 54, G1), (87, 3, Y1)] * 3
    starts = [90 * (k // 4) for k in range(12)]
    expected = [(t + s, d, state) for (t, d, state), s in zip(expected, starts, strict=True)]
    assert backend.intervals("A0")[:12] == expected
    assert backend.commands == []  # SUMO runs the plan's states itself (plan.add.xml); the twin sends nothing
    assert backend.intervals("B0")[:2] == [(0, 42, G0), (42, 3, Y0)]
    assert result.ok


def test_an_unsafe_plan_is_refused_before_the_run(grid, tmp_path):
    network_plan = plans_from_network(grid)
    own = network_plan.periods[0].by_tls["A0"]
    both_green = replace(own, phases=(replace(own.phases[0], state="G" * 16), own.phases[1]))
    plan = replace(network_plan, periods=(replace(network_plan.periods[0], plans=(both_green,)),))
    path = write_plans_json(plan, tmp_path / "unsafe.json")
    with pytest.raises(ValidationError, match="unsafe.json: the plan is unsafe and will not run"):
        Twin(RunSpec(fake_scenario(GRID, 60.0), plan=str(path)), tmp_path, network=grid, backend=FakeBackend(grid))


def test_a_pushed_plan_switches_at_the_cycle_boundary_and_keeps_its_offset(grid, tmp_path):
    own = plans_from_network(grid).periods[0].by_tls["A0"]
    first, second = own.phases
    pushed = replace(own, phases=(replace(first, green_s=30.0), replace(second, green_s=54.0)))

    def push(twin: Twin, t: float) -> None:
        if t == 10.0:
            twin.push_plan(pushed)

    twin, result, backend = _run(grid, tmp_path, 300.0, on_step=push)
    shown = backend.intervals("A0")
    # the program's cycle ends at 90 after its full yellow and the fake shows its next green from 90 (the
    # monitor sees it): that green runs its 5 s minimum, then 3.5 s yellow (4 whole steps), 2 s all-red;
    # the plan is entered at its phase due next (phase 1 at 33 s of the cycle, by offset 0), green
    # lengthened to its scheduled end (177 s); from then on its exact states with its offset (phase 0 at 180 = 2 x 90)
    assert shown[3:10] == [(87, 3, Y1), (90, 5, G0), (95, 4, Y0), (99, 2, ALL_RED), (101, 76, G1), (177, 3, Y1),
                           (180, 30, G0)]
    assert result.monitor["total"] == 0, result.monitor["events"]
    (applied,) = result.plans_applied
    update = PlanUpdate.of(pushed)
    assert (applied.tls, applied.time_s, applied.sha256) == ("A0", 101.0, update.sha256)
    assert backend.program("A0") == update.program_id and update.phases == ((30.0, G0), (3.0, Y0), (54.0, G1),
                                                                            (3.0, Y1))
    assert twin.status() == {"time_s": 300.0, "pending": [], "applied": [applied.to_json()]}


def test_push_plan_refuses_unknown_lights_and_unsafe_plans(grid, tmp_path):
    from citybrain.exceptions import UnsafePlanError

    twin = Twin(RunSpec(fake_scenario(GRID, 60.0)), tmp_path, network=grid, backend=FakeBackend(grid))
    own = plans_from_network(grid).periods[0].by_tls["A0"]
    with pytest.raises(ValidationError, match="plan for 'Z9': unknown traffic light"):
        twin.push_plan(replace(own, tls="Z9"))
    no_yellow = replace(own, phases=tuple(replace(p, yellow_s=0.0) for p in own.phases), cycle_s=84.0)
    with pytest.raises(UnsafePlanError) as info:
        twin.push_plan(no_yellow)
    assert len(info.value.problems) == 2 and all(": yellow: " in p for p in info.value.problems)
    assert twin.status()["pending"] == []


class NextGreen:
    """Asks for the next green phase at every decision, and records what it saw."""

    name = "next-green"
    program_driven = False

    def __init__(self) -> None:
        self.seen: list = []

    def decide(self, observation):
        self.seen.append(observation)
        greens = observation.green_phases
        return None if observation.green is None else greens[(greens.index(observation.green) + 1) % len(greens)]


def test_the_controllers_decisions_are_applied(grid, tmp_path):
    ctrl = NextGreen()
    _, result, backend = _run(grid, tmp_path, 30.0, {"A1A0_0": 0.5}, controllers={"A0": ctrl})
    # every second it asks; the twin keeps each green its 5 s minimum, then runs the program's yellow
    assert backend.intervals("A0")[:5] == [(0, 5, G0), (5, 3, Y0), (8, 5, G1), (13, 3, Y1), (16, 5, G0)]
    assert [c.state for _, c in backend.commands][:3] == [G0, Y0, G1]
    first = ctrl.seen[0]
    assert (first.tls, first.time_s, first.green, first.time_in_phase_s) == ("A0", 1.0, 0, 1.0)
    lane = first.lanes.index("A1A0_0")
    # one vehicle every 2 s, served on green at 0.5 veh/s: each one waits 1 s at the stop line
    assert [int(o.lane_vehicles[lane]) for o in ctrl.seen[:4]] == [0, 1, 0, 1]
    assert result.ok and result.controller == "fixed"


class Outside:
    """A light whose choices come from outside the twin (an RL environment's)."""

    name, program_driven, external = "outside", False, True

    def decide(self, observation):
        raise AssertionError("never called")


def test_episode_pauses_at_external_decisions_and_runs_the_same_as_run(grid, tmp_path):
    backend = FakeBackend(grid, {"A1A0_0": 0.5})
    twin = Twin(RunSpec(fake_scenario(GRID, 30.0)), tmp_path, network=grid, backend=backend,
                controllers={"A0": Outside()})
    with pytest.raises(SimulationError, match="drive the run with Twin.episode"):
        twin.run()
    backend = FakeBackend(grid, {"A1A0_0": 0.5})
    twin = Twin(RunSpec(fake_scenario(GRID, 30.0)), tmp_path / "e", network=grid, backend=backend,
                controllers={"A0": Outside()})
    episode, times = twin.episode(), []
    seen = next(episode)
    try:
        while True:
            obs = seen["A0"]
            times.append(obs.time_s)
            greens = obs.green_phases
            seen = episode.send({"A0": None if obs.green is None else greens[(greens.index(obs.green) + 1) % 2]})
    except StopIteration as stop:
        result = stop.value
    # the same schedule as NextGreen's through run(): the twin keeps minimum greens and inserts the yellows
    assert backend.intervals("A0")[:5] == [(0, 5, G0), (5, 3, Y0), (8, 5, G1), (13, 3, Y1), (16, 5, G0)]
    assert times[:2] == [1.0, 2.0] and result.ok


def test_an_out_of_protocol_answer_stops_the_run(grid, tmp_path):
    class Yellow(NextGreen):
        def decide(self, observation):
            return 1  # a transition phase

    with pytest.raises(SimulationError, match="chose phase 1 for light 'A0'"):
        _run(grid, tmp_path, 30.0, controllers={"A0": Yellow()})


def test_results_and_cameras_come_from_the_backend(grid, tmp_path):
    _, result, backend = _run(grid, tmp_path, 600.0, {"A1A0_0": 0.1, "A1A0_1": 0.05}, cameras=True)
    crossed = [v for v in backend.finished if v.from_edge == "A1A0"]
    queued = [v for q in backend.queues.values() for v in q]
    assert result.arrived == len(crossed) > 80 and result.loaded == len(crossed) + len(queued) + len(backend.crossing)
    losses = [v.crossed_s - v.depart_s for v in backend.finished]
    unfinished = [600.0 - v.depart_s for v in queued] + [v.crossed_s - v.depart_s for v in backend.crossing]
    assert result.delay_s == pytest.approx(sum(losses + unfinished) / len(losses + unfinished))
    assert result.junction_delay_s["A0"] == pytest.approx(result.delay_s) and result.junction_delay_s["B1"] == 0.0
    assert result.queue_veh > 0 and result.junction_queue_veh["A0"] == pytest.approx(result.queue_veh)
    counts = result.cameras.counts
    seen = counts[(counts["camera_id"] == "cam_A0_A1A0") & (counts["to_edge"] != "")]["count"].sum()
    assert seen == len(crossed) and counts[counts["camera_id"] != "cam_A0_A1A0"]["count"].sum() == 0
