"""Efficient-MP, Advanced-MP, Greedy and the guarded controller on the fake junction (no SUMO).

Serving the heavier approach and never cutting a minimum green or a transition are checked for
every controller in ``test_adaptive.py``; here: what each rule reads, the starvation guard
(no queue red beyond the maximum), clearing a junction whose exits are jammed, and the twin
reporting a lane that never moves as a gridlock.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from citybrain.control import (
    AdvancedPressureController,
    EfficientPressureController,
    GreedyController,
    GuardedPressureController,
    Observation,
    make_controller,
)
from citybrain.control.demand import PhaseDemand
from citybrain.network import graph_from_sumo_net
from simulation.run import RunSpec
from simulation.twin import Twin

from ..conftest import NETWORKS
from ..simulation.fake_backend import FakeBackend, fake_scenario, run_fake
from .test_adaptive import HEAVY, LIGHT

#: the inner lanes' through exits, jammed from downstream, and the lanes that feed them (east-west)
JAMMED_EXITS = {"B1C1_1": 48, "B1A1_1": 48}
EAST_WEST_INNER = {"A1B1_1": 0.25, "C1B1_1": 0.25}
NORTH_SOUTH_OUTER = {"B0B1_0": 0.05, "B2B1_0": 0.05}


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


def _observation(grid, green, *, halting=None, out_halting=None, near=None, near_halting=None, vehicles=None,
                 gaps=None, time_s=100.0, interval_s=1.0):
    """An observation of B1 with per-movement queues and per-lane counts and detector gaps given by dicts (default 0, gaps 99 s)."""
    demand = PhaseDemand(grid, "B1")
    movements = tuple(sorted({m for ms in demand.phase_movements.values() for m in ms}))
    lanes = tuple(dict.fromkeys(x for m in movements for x in grid.movements[m].from_lanes))
    zeros_m = (0,) * len(movements)

    def per(values, keys):
        return tuple((values or {}).get(k, 0) for k in keys)

    return Observation(
        "B1", time_s, green, green, 20.0, tuple(demand.phase_movements), movements,
        per(halting, movements), per(halting, movements), zeros_m, lanes, per(vehicles, lanes), (0,) * len(lanes),
        lane_gap_s=tuple((gaps or {}).get(x, 99.0) for x in lanes),
        movement_out_halting=per(out_halting, movements), lane_near_vehicles=per(near, lanes),
        lane_near_halting=per(near_halting, lanes), decision_interval_s=interval_s,
    )


def test_recommended_is_the_guarded_controller(grid):
    assert isinstance(make_controller("recommended", grid, "B1"), GuardedPressureController)
    assert GuardedPressureController(grid, "B1").max_red_s == 180.0  # the US profile's maximum red


def test_efficient_pressure_subtracts_the_mean_exit_queue(grid):
    demand = PhaseDemand(grid, "B1")
    (k0, ms0), (k1, ms1) = list(demand.phase_movements.items())[:2]
    m = ms1[0]
    # the second phase has a 6-vehicle queue but its exit holds 6 per lane: mean exit queue 6 cancels it
    obs = _observation(grid, k0, halting={ms0[0]: 3, m: 6}, out_halting={m: 6 * demand.exit_lanes[m]})
    assert EfficientPressureController(grid, "B1").decide(obs) is None  # keeps k0: 3 > 0
    obs = _observation(grid, k0, halting={ms0[0]: 3, m: 6})
    assert EfficientPressureController(grid, "B1").decide(obs) == k1


def test_advanced_mp_keeps_the_phase_while_running_vehicles_outweigh_pressures(grid):
    demand = PhaseDemand(grid, "B1")
    (k0, ms0), (k1, ms1) = list(demand.phase_movements.items())[:2]
    lane = grid.movements[ms0[0]].from_lanes[0]
    ctl = AdvancedPressureController(grid, "B1")
    assert ctl.near_range_m > 0  # the twin emulates its lane-area detectors
    busy = _observation(grid, k0, halting={ms1[0]: 4}, near={lane: 5})
    assert ctl.decide(busy) is None  # 5 running near the stop line >= pressure 4
    idle = _observation(grid, k0, halting={ms1[0]: 4}, near={lane: 2})
    assert ctl.decide(idle) == k1
    with pytest.raises(ValueError, match="near-range"):
        ctl.decide(Observation("B1", 0.0, k0, k0, 0.0, busy.green_phases, busy.movements, busy.movement_vehicles,
                               busy.movement_halting, busy.movement_out_vehicles, busy.lanes, busy.lane_vehicles,
                               busy.lane_halting, movement_out_halting=busy.movement_out_halting))


def test_the_guarded_controller_gaps_out_under_frequent_decisions_and_switches_only_for_more(grid):
    """Decisions 1 s apart: between reviews the green goes on while its detectors see moving vehicles;
    gapped out, it goes to a phase only when that one has more vehicles than the green's own running ones."""
    demand = PhaseDemand(grid, "B1")
    (k0, ms0), (k1, ms1) = list(demand.phase_movements.items())[:2]
    lane = grid.movements[ms0[0]].from_lanes[0]
    ctl = GuardedPressureController(grid, "B1")
    assert ctl.needs_detectors  # the twin emulates its approach detectors

    def decide(t, **kw):
        return ctl.decide(_observation(grid, k0, time_s=t, **kw))

    assert decide(100.0, halting={ms1[0]: 2}, vehicles={lane: 3}, near={lane: 3}, gaps={lane: 1.0}) is None  # flowing
    assert decide(101.0, halting={ms1[0]: 2}, vehicles={lane: 3}, near={lane: 3}) is None  # 2 waiting < 3 coming
    assert decide(102.0, halting={ms1[0]: 4}, vehicles={lane: 3}, near={lane: 3}) == k1  # 4 waiting > 3 coming
    # decisions 10 s apart (RESCO's): near running vehicles keep the green, detector gaps do not matter
    slow = GuardedPressureController(grid, "B1")
    assert slow.decide(_observation(grid, k0, time_s=100.0, halting={ms1[0]: 4}, near={lane: 5}, interval_s=10.0)) is None
    assert slow.decide(_observation(grid, k0, time_s=110.0, halting={ms1[0]: 4}, near={lane: 2}, gaps={lane: 1.0},
                                    interval_s=10.0)) == k1


def test_greedy_serves_the_largest_wave_first_in_order_on_ties(grid):
    demand = PhaseDemand(grid, "B1")
    phases = list(demand.phase_lanes)
    ctl = GreedyController(grid, "B1")
    last = demand.phase_lanes[phases[-1]][0]
    assert ctl.decide(_observation(grid, phases[0], near={last: 3})) == phases[-1]
    assert ctl.decide(_observation(grid, phases[-1])) == phases[0]  # all empty: the first phase, as RESCO's argmax


@pytest.mark.parametrize("protocol", ["native", "resco"])
def test_the_guard_serves_a_queue_before_its_red_reaches_the_maximum(grid, protocol):
    heavy = {x: 0.45 for x in HEAVY}  # near saturation all run long
    trickle = {x: 0.01 for x in LIGHT}
    backend = FakeBackend(grid, {**heavy, **trickle})
    spec = RunSpec(fake_scenario(Path("fake.net.xml"), 900.0), protocol=protocol)
    with tempfile.TemporaryDirectory() as work:
        Twin(spec, work, network=grid, backend=backend,
             controllers={"B1": GuardedPressureController(grid, "B1", max_red_s=90.0)}).run()
    trickled = [v for v in [*backend.finished, *(v for x in LIGHT for v in backend.queues[x])] if v.id.split(".")[0] in LIGHT]
    assert trickled and max(v.waiting_s for v in trickled) <= 90.0
    assert sum(backend.green_s[x] for x in HEAVY) > 2 * sum(backend.green_s[x] for x in LIGHT)  # still mostly E-W


@pytest.mark.parametrize("protocol", ["native", "resco"])
def test_the_guarded_controller_clears_a_junction_whose_exits_are_jammed(grid, protocol):
    """East-west through exits full (spill-back): serving east-west moves nobody; north-south must flow."""
    arrivals = {**EAST_WEST_INNER, **NORTH_SOUTH_OUTER}
    runs = {name: run_fake(grid, "B1", make_controller(name, grid, "B1"), arrivals, seconds=900, protocol=protocol,
                           blocked_exits=JAMMED_EXITS) for name in ("guarded-pressure", "efficient-mp")}
    ns_green = {name: sum(out["green_s"][x] for x in NORTH_SOUTH_OUTER) for name, out in runs.items()}
    ew_green = {name: sum(out["green_s"][x] for x in EAST_WEST_INNER) for name, out in runs.items()}
    guarded = runs["guarded-pressure"]
    assert ns_green["guarded-pressure"] > ew_green["guarded-pressure"]
    assert sum(guarded["queue"][x] for x in NORTH_SOUTH_OUTER) < 4  # north-south is kept clear
    # the queue rule alone keeps feeding the jam
    assert ns_green["guarded-pressure"] > 2 * ns_green["efficient-mp"]


class _Stubborn:
    """Controller that never leaves its first green."""

    name = "stubborn"
    program_driven = False

    def decide(self, observation):
        return None


def test_a_lane_that_never_moves_is_reported_as_a_gridlock(grid):
    backend = FakeBackend(grid, {**HEAVY, **LIGHT})
    spec = RunSpec(fake_scenario(Path("fake.net.xml"), 400.0), gridlock_s=120.0)
    with tempfile.TemporaryDirectory() as work:
        result = Twin(spec, work, network=grid, backend=backend, controllers={"B1": _Stubborn()}).run()
    assert result.gridlocked and result.gridlock_lane is not None
    assert result.gridlock_at_s is not None and result.gridlock_at_s < 400.0 - 120.0
    assert result.to_json()["gridlock_lane"] == result.gridlock_lane
