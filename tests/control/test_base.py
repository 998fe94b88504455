"""What several controllers read of a program and an observation (citybrain.control.base helpers)."""

from __future__ import annotations

import pytest

from citybrain.control.base import Observation, green_phase_movements, lane_positions, phases_after
from citybrain.network import graph_from_sumo_net

from ..conftest import NETWORKS


@pytest.fixture(scope="module")
def ped():
    return graph_from_sumo_net(NETWORKS / "grid2x2_ped.net.xml")


def _observation(green, green_phases=(0, 2, 4, 6)):
    return Observation("A0", 0.0, 0, green, 0.0, green_phases, (), (), (), (), (), (), ())


def test_phases_after_the_current_green_end_with_it():
    assert phases_after(_observation(2)) == [4, 6, 0, 2]
    assert phases_after(_observation(6)) == [0, 2, 4, 6]
    assert phases_after(_observation(None)) == [0, 2, 4, 6]  # during a transition: from the first


def test_lane_positions_leave_out_unobserved_lanes():
    lanes = {0: ("a_0", "b_0"), 2: ("c_0", "x_9")}
    assert lane_positions(lanes, ("c_0", "a_0", "b_0")) == {0: [1, 2], 2: [0]}


def test_green_phase_movements_are_the_vehicle_movements_given_green(ped):
    program = ped.programs["A0"]
    served = green_phase_movements(ped, "A0")
    assert list(served) == list(program.green_phases())
    links = program.link_movements()
    for k, movements in served.items():
        state = program.phases[k].state
        green = {m for i, c in enumerate(state) if c in "Gg" for m in links.get(i, ())}
        assert movements == sorted(m for m in green if ped.movements[m].turn != "crossing")
        assert movements and all(ped.movements[m].turn != "crossing" for m in movements)
    crossings = {m for ms in links.values() for m in ms if ped.movements[m].turn == "crossing"}
    assert crossings  # the network has crossings, and none of them is counted
