"""Our online controllers on a tiny deterministic fake junction (no SUMO).

Each must serve the heavier approach, never end a green before its minimum, and never take
green away without a yellow.
"""

from __future__ import annotations

import pytest

from citybrain.control import DEFAULT_MIN_GREEN_S, make_controller
from citybrain.control.adaptive import rebalance_greens
from citybrain.network import graph_from_sumo_net

from ..conftest import NETWORKS
from ..simulation.fake_backend import run_fake

CONTROLLERS = ["maxpressure", "maxpressure-cyclic", "actuated", "actuated-pressure", "adaptive-plan",
               "efficient-mp", "advanced-mp", "greedy", "guarded-pressure"]
HEAVY = {"A1B1_0": 0.25, "A1B1_1": 0.25, "C1B1_0": 0.25, "C1B1_1": 0.25}  # east-west, veh/s per lane
LIGHT = {"B0B1_0": 0.04, "B0B1_1": 0.04, "B2B1_0": 0.04, "B2B1_1": 0.04}  # north-south


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def _intervals(states, end):
    """(start, duration, state) of every shown state."""
    times = [t for t, _ in states] + [end]
    return [(t, times[i + 1] - t, s) for i, (t, s) in enumerate(states)]


@pytest.mark.parametrize("name", CONTROLLERS)
@pytest.mark.parametrize("protocol", ["native", "resco"])
def test_serves_the_heavier_approach(grid, name, protocol):
    out = run_fake(grid, "B1", make_controller(name, grid, "B1"), {**HEAVY, **LIGHT}, seconds=1200, protocol=protocol)
    heavy = sum(out["green_s"][x] for x in HEAVY)
    light = sum(out["green_s"][x] for x in LIGHT)
    assert heavy > 1.3 * light, (heavy, light)


@pytest.mark.parametrize("name", CONTROLLERS)
@pytest.mark.parametrize("protocol", ["native", "resco"])
def test_min_green_and_yellow_are_never_cut(grid, name, protocol):
    out = run_fake(grid, "B1", make_controller(name, grid, "B1"), {**HEAVY, **LIGHT}, seconds=1200, protocol=protocol)
    shown = _intervals(out["states"], 1200.0)
    assert len(shown) > 6  # it did switch
    min_green = 0.0 if protocol == "resco" else DEFAULT_MIN_GREEN_S
    for (t0, dur, state), (_, _, nxt) in zip(shown, shown[1:]):
        lost = [i for i, c in enumerate(state) if c in "Gg" and nxt[i] not in "Gg"]
        for i in lost:
            assert nxt[i] == "y", f"t={t0}: link {i} went {state[i]} -> {nxt[i]} without yellow"
        if "y" in state:
            assert dur >= 3.0, f"t={t0}: yellow shown {dur} s"
        elif lost:
            assert dur >= min_green, f"t={t0}: green ended after {dur} s"


def test_resting_green_without_demand(grid):
    """Actuated controllers move the green to the only demand once, then rest there."""
    for name in ("actuated", "actuated-pressure"):
        out = run_fake(grid, "B1", make_controller(name, grid, "B1"), HEAVY, seconds=600)
        states = [s for _, s in out["states"]]
        assert len(states) == 3, (name, states)  # NS green, yellow, then EW green for good
        assert out["green_s"]["A1B1_0"] > 580


def test_rebalance_moves_green_to_the_saturated_phase():
    greens = rebalance_greens({0: 40.0, 2: 40.0}, {0: 1.0, 2: 0.2}, gain=0.5, min_green_s=5.0, max_green_s=90.0)
    assert sum(greens.values()) == pytest.approx(80.0)
    assert greens[0] > 50.0 > greens[2] >= 5.0
    bounded = rebalance_greens({0: 40.0, 2: 40.0}, {0: 1.0, 2: 0.0}, gain=1.0, min_green_s=10.0, max_green_s=60.0)
    assert bounded == {0: 60.0, 2: 20.0}


def test_adaptive_plan_follows_a_given_plans_cycle_and_offset(grid):
    from citybrain.control.adaptive import AdaptivePlanController
    from citybrain.plans import plans_from_network

    from simulation.controllers import checked_network

    plan = plans_from_network(grid).plan_at("B1", 0.0)
    controller = AdaptivePlanController(checked_network(grid, {"B1": plan}), "B1", plan=plan)
    assert controller.cycle_s == plan.cycle_s
    assert controller.offset_s == plan.sumo_offset_s()
    assert controller.scheduled_phase(0.0) in controller.order
    assert set(controller.order) <= set(checked_network(grid, {"B1": plan}).programs["B1"].green_phases())
