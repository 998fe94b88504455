"""The twin reads less per step and sees the same: the lean libsumo reading against whole readings."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from citybrain.network import graph_from_sumo_net
from simulation import RunSpec
from simulation.backend import SetState, make_backend
from simulation.scenario import load_scenario
from simulation.signals import LaneLayout
from simulation.twin import Twin

from ..conftest import ROOT

pytestmark = pytest.mark.sumo


@pytest.fixture(scope="module")
def grid_scenario():
    return load_scenario(ROOT / "scenarios" / "grid4x4.toml")


def test_the_lean_reading_matches_the_whole_one_step_by_step(grid_scenario, tmp_path):
    network = graph_from_sumo_net(grid_scenario.network)
    lights = tuple(sorted(network.programs))
    lanes = (*LaneLayout(network, lights).lanes, ":A0_0_0")  # and an internal lane, read on its own
    backend = make_backend("libsumo")
    backend.load([*replace(grid_scenario, end_s=400.0).sumo_args(0), "--tripinfo-output", str(tmp_path / "t.xml")])
    backend.watch(lanes, lights)
    shown: dict[str, tuple[int, str]] = {}
    every = np.arange(len(lanes))
    try:
        for k in range(400):
            if k == 200:  # a command of ours: the light is read again after the step
                backend.apply(SetState("B1", "r" * len(backend.state("B1"))))
            backend.step()
            lean = backend.observe_lean()
            whole = backend.observe()
            now = {x: (backend.phase(x), backend.state(x)) for x in lights}
            assert lean.lane_vehicles is None and np.array_equal(lean.lane_halting, whole.lane_halting)
            assert np.array_equal(backend.lane_vehicles(every[::3]), whole.lane_vehicles[::3])
            assert lean.tls_phase == {x: p for x, (p, _) in now.items()}
            assert lean.tls_state == whole.tls_state == {x: s for x, (_, s) in now.items()}
            assert set(lean.tls_changed) == {x for x in lights if shown.get(x) != now[x]}
            assert whole.tls_changed == ()  # nothing changed since the lean reading of this step
            if k == 200:
                assert "B1" in lean.tls_changed and set(lean.tls_state["B1"]) == {"r"}
            shown = now
    finally:
        backend.close()


@pytest.mark.parametrize("controller", ["fixed", "maxpressure"])
def test_a_lean_libsumo_run_equals_a_traci_run_reading_everything(grid_scenario, tmp_path, controller):
    scenario = replace(grid_scenario, end_s=900.0)
    runs = {}
    for backend in ("libsumo", "traci"):
        twin = Twin(RunSpec(scenario, controller=controller, protocol="native", backend=backend), tmp_path / backend)
        result = twin.run()
        runs[backend] = (replace(result, wall_s=0.0, backend=""), twin.halting_steps.tolist())
    assert runs["libsumo"] == runs["traci"]
    result, halting = runs["libsumo"]
    assert result.queue_veh > 0 and sum(halting) > 0 and result.monitor["steps"] == 900
