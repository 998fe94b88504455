"""The controllers of a run: the spec's, the plan controller on the lights a plan covers, their SUMO files."""

from __future__ import annotations

from dataclasses import replace

import pytest

from citybrain.control import FixedController, make_controller
from citybrain.control.plan import PlanController
from citybrain.exceptions import SimulationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import plans_from_network, write_plans_json
from citybrain.plans import read_sumo_additional
from citybrain.plans.formats.sumo import sumo_phases
from citybrain.plans.safety import check_plan
from simulation.controllers import (
    checked_program_plan,
    controller_files,
    is_baseline,
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
    controllers, network = make_controllers(RunSpec(fake_scenario(GRID, 60.0), plan=str(path)), grid, lights)
    assert isinstance(controllers["B1"], PlanController)
    assert all(isinstance(c, FixedController) for t, c in controllers.items() if t != "B1")
    assert not needs_detectors(controllers)
    # the plan runs as its exact SUMO states, written to plan.add.xml as for plain sumo
    b1 = one.periods[0].by_tls["B1"]
    assert [(p.duration_s, p.state) for p in network.programs["B1"].phases] == [(d, s) for d, s, _ in sumo_phases(b1)]
    layout = LaneLayout(grid, lights)
    (add,) = controller_files(controllers, network, layout, tmp_path)
    assert add.name == "plan.add.xml" and read_sumo_additional(add, network=grid).periods[0].by_tls["B1"].phases == b1.phases


def test_adaptive_controllers_run_the_checked_network_program(grid):
    """A program without yellow is run with the profile's clearances added, then checked."""
    prog = grid.programs["B1"]
    bare = replace(prog, phases=tuple(p for p in prog.phases if not p.is_transition))
    unsafe = replace(grid, programs={**grid.programs, "B1": bare})
    plan = checked_program_plan(unsafe, "B1")
    assert all(ph.yellow_s >= 3.0 for ph in plan.phases)
    assert not [v for v in check_plan(plan, unsafe) if v.severity == "error"]
    controllers, network = make_controllers(RunSpec(fake_scenario(GRID, 60.0), controller="maxpressure"), unsafe,
                                            tuple(sorted(unsafe.programs)))
    states = [p.state for p in network.programs["B1"].phases]
    assert any("y" in s for s in states) and states != [p.state for p in bare.phases]
    assert not is_baseline(controllers["B1"])
    fixed, same = make_controllers(RunSpec(fake_scenario(GRID, 60.0)), unsafe, tuple(sorted(unsafe.programs)))
    assert same is unsafe and all(is_baseline(c) for c in fixed.values())


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


def test_an_adaptive_controller_given_a_plan_chooses_among_its_phases(grid, tmp_path):
    plan = plans_from_network(grid)
    b1 = plan.periods[0].by_tls["B1"]
    one = replace(plan, periods=(replace(plan.periods[0], plans=(b1,)),))
    path = write_plans_json(one, tmp_path / "b1.json")
    lights = tuple(sorted(grid.programs))
    controllers, network = make_controllers(RunSpec(fake_scenario(GRID, 60.0), controller="actuated", plan=str(path)),
                                            grid, lights)
    assert controllers["B1"].name == "actuated" and not is_baseline(controllers["B1"])
    assert all(is_baseline(c) for t, c in controllers.items() if t != "B1")
    greens = [network.programs["B1"].phases[k].state for k in network.programs["B1"].green_phases()]
    assert set(greens) <= {ph.state for ph in b1.phases}


def test_a_program_with_protected_merges_runs_with_the_merging_streams_yielding():
    """ingolstadt7's gneJ210 gives G to two lanes entering one lane: checked, all but the first give way (g)."""
    from ..conftest import real_path

    net = graph_from_sumo_net(real_path("resco/ingolstadt7/ingolstadt7.net.xml"))
    prog = net.programs["gneJ210"]
    plan = checked_program_plan(net, "gneJ210")
    assert not [v for v in check_plan(plan, net) if v.severity == "error"]
    own = [ph.state for ph in prog.phases]
    demoted = [(i, ph.state) for ph in plan.phases for i, c in enumerate(ph.state) if c == "g"
               and not any(s[i] == "g" for s in own)]
    assert demoted  # some G became g
    for ph in plan.phases:
        by_lane: dict[str, set[str]] = {}
        for link in prog.links:
            if ph.state[link.index] == "G":
                by_lane.setdefault(link.to_lane, set()).add(link.from_lane)
        assert all(len(src) == 1 for src in by_lane.values())
