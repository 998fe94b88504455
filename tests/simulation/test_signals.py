"""The twin's signal driver: safe transitions, protocols, minimum greens (a recording backend)."""

from __future__ import annotations

import numpy as np
import pytest

from citybrain.control import NATIVE, RESCO, Observation
from citybrain.exceptions import SimulationError
from citybrain.network import graph_from_sumo_net
from simulation.backend import SetState, StepData
from citybrain.plans.safety import LightGeometry
from simulation.signals import LaneLayout, SignalDriver, safe_transition

from ..conftest import NETWORKS

GRID = NETWORKS / "grid4x4.net.xml"


class FakeBackend:
    """Records signal commands; nothing else (a controller unit-test double)."""

    def __init__(self) -> None:
        self.commands: list = []

    def apply(self, command) -> None:
        self.commands.append(command)


class RoundRobin:
    """Asks for the next green phase at every decision (deterministic)."""

    name = "round-robin"
    program_driven = False

    def __init__(self) -> None:
        self.asked: list[Observation] = []

    def decide(self, observation: Observation) -> int | None:
        self.asked.append(observation)
        greens = observation.green_phases
        if observation.green is None:
            return None
        return greens[(greens.index(observation.green) + 1) % len(greens)]


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(GRID)


def _data(layout, t: float) -> tuple[StepData, tuple]:
    n = len(layout.lanes)
    veh = np.arange(n, dtype=np.int64)
    halt = veh // 2
    data = StepData(t, veh, halt, {}, (), 0, 0, 0, 0, 0, {})
    vectors = layout.vectors(veh, halt, np.empty(0))
    return data, vectors


def _step(sig, backend, t: float, data, vectors) -> None:
    """One step of the twin's signal logic for one light."""
    if sig.advance(backend, t, data):
        sig.apply_choice(backend, t, sig.controller.decide(sig.observation(t, *vectors)))


def _drive(grid, protocol, seconds: int):
    layout = LaneLayout(grid, ("A0",))
    ctrl = RoundRobin()
    sig = SignalDriver("A0", grid.programs["A0"], ctrl, protocol, layout, 0.0, LightGeometry.of(grid, "A0"))
    backend = FakeBackend()
    sig.start(backend, 0)
    shown = []  # (time, state) of every change
    for t in range(1, seconds + 1):
        before = len(backend.commands)
        data, vectors = _data(layout, float(t))
        _step(sig, backend, float(t), data, vectors)
        shown += [(t, c.state) for c in backend.commands[before:]]
    return grid.programs["A0"], ctrl, backend, shown


def test_safe_transition_yellow_then_all_red():
    steps = safe_transition("GGrr", "rrGG", 3.0, 2.0)
    assert steps == [("yyrr", 3.0), ("rrrr", 2.0)]
    assert safe_transition("GGrr", "GGGG", 3.0, 2.0) == []
    assert safe_transition("Ggrr", "Grrr", 3.0, 0.0) == [("Gyrr", 3.0)]


def test_native_protocol_uses_program_transitions_and_min_greens(grid):
    program, ctrl, backend, shown = _drive(grid, NATIVE, 40)
    phases = program.phases
    # starts on phase 0, then every change goes green -> program yellow (3 s) -> next green
    assert shown[0] == (0, phases[0].state) or backend.commands[0] == SetState("A0", phases[0].state)
    states = [s for _, s in shown]
    assert states[:2] == [phases[1].state, phases[2].state]
    times = [t for t, _ in shown]
    # min green 5 s (no minDur in the program): green at t, yellow asked no sooner than t+5
    assert times[0] >= 5 and times[1] - times[0] == 3
    assert times[2] - times[1] >= 5
    obs = ctrl.asked[0]
    assert obs.tls == "A0" and obs.green == 0 and obs.green_phases == program.green_phases()
    assert len(obs.movement_vehicles) == len(obs.movements) == len(obs.movement_halting)
    assert len(obs.lane_vehicles) == len(obs.lanes)


def test_resco_protocol_decides_every_10_s_with_3_s_yellow(grid):
    program, ctrl, backend, shown = _drive(grid, RESCO, 60)
    assert {o.time_s % 10 for o in ctrl.asked} == {0.0}
    yellow_times = [t for t, s in shown if "y" in s]
    green_times = [t for t, s in shown if "y" not in s]
    assert yellow_times == [10, 20, 30, 40, 50, 60][: len(yellow_times)]
    assert all(g - y == 3 for y, g in zip(yellow_times, green_times, strict=False))


def test_out_of_protocol_answer_is_an_error(grid):
    class Bad(RoundRobin):
        def decide(self, observation):
            return 1  # a yellow phase

    layout = LaneLayout(grid, ("A0",))
    sig = SignalDriver("A0", grid.programs["A0"], Bad(), NATIVE, layout, 0.0, LightGeometry.of(grid, "A0"))
    sig.start(FakeBackend(), 0)
    data, vectors = _data(layout, 10.0)
    with pytest.raises(SimulationError, match="chose phase 1 for light 'A0'"):
        _step(sig, FakeBackend(), 10.0, data, vectors)
