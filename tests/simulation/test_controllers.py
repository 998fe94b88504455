"""The controllers of a run: the spec's, the plan controller on the lights a plan covers, their SUMO files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from citybrain.control import FixedController, make_controller
from citybrain.control.plan import PlanController
from citybrain.exceptions import SimulationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import plans_from_network, write_plans_json
from simulation.controllers import (
    controller_files,
    load_checked_plan,
    make_controllers,
    needs_detectors,
)
from simulation.run import RunSpec
from simulation.signals import LaneLayout

from ..conftest import NETWORKS
from .fake_backend import fake_scenario

GRID = NETWORKS / "grid4x4.net.xml"


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(GRID)


def test_a_plan_drives_the_lights_it_covers(grid, tmp_path):
    plan = plans_from_network(grid)
    one = replace(plan, periods=(replace(plan.periods[0], plans=(plan.periods[0].by_tls["B1"],)),))
    path = write_plans_json(one, tmp_path / "b1.json")
    assert load_checked_plan(path, grid).tls_ids == ("B1",)
    lights = tuple(sorted(grid.programs))
    controllers = make_controllers(RunSpec(fake_scenario(GRID, 60.0), plan=str(path)), grid, lights)
    assert isinstance(controllers["B1"], PlanController)
    assert all(isinstance(c, FixedController) for t, c in controllers.items() if t != "B1")
    assert not needs_detectors(controllers)


def test_controllers_get_the_files_they_need(grid, tmp_path):
    lights = tuple(sorted(grid.programs))
    layout = LaneLayout(grid, lights)
    actuated = {t: make_controller("actuated", grid, t) for t in lights}
    assert needs_detectors(actuated)
    (detectors,) = controller_files(actuated, grid, layout, tmp_path)
    text = detectors.read_text()
    assert text.count("<inductionLoop") == layout.n_in and layout.detector_ids[0] in text
    programs = {t: make_controller("sumo-actuated", grid, t) for t in lights}
    assert [p.name for p in controller_files(programs, grid, layout, tmp_path)] == ["programs.add.xml"]
    mixed = {**programs, lights[0]: make_controller("sumo-delay-based", grid, lights[0])}
    with pytest.raises(SimulationError, match="several SUMO program types"):
        controller_files(mixed, grid, layout, tmp_path)
    assert controller_files({t: make_controller("fixed", grid, t) for t in lights}, grid, layout, tmp_path) == []
