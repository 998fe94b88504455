"""Tests of a light's phase structure for timing (citybrain.timing.phases)."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np

from citybrain.network import ProgramPhase, graph_from_sumo_net
from citybrain.plans.model import GREEN, PlanPhase
from citybrain.plans.safety import check_plan
from citybrain.timing.phases import base_plan, drop_redundant_phases

from ..conftest import NETWORKS


def test_redundant_phases_are_dropped_and_protected_lefts_kept():
    # Hangzhou-style: four paired phases, then each approach alone (nothing new)
    states = ["rrrrGGrrrrrrGGrr", "GGrrrrrrGGrrrrrr", "rrrrrrGGrrrrrrGG", "rrGGrrrrrrGGrrrr",
              "rrrrrrrrrrrrGGGG", "rrrrGGGGrrrrrrrr", "rrrrrrrrGGGGrrrr", "GGGGrrrrrrrrrrrr"]
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in states])
    assert [p.state for p in kept] == states[:4]
    # a protected left (G) is not redundant beside a permissive one (g)
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in ("GGggrrr", "rrGGrrr", "rrrrGGG")])
    assert len(kept) == 3
    # ... unless permissive green counts as much: then the left keeps only its permissive green
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in ("GGggrrr", "rrGGrrr", "rrrrGGG")], permissive=True)
    assert [p.state for p in kept] == ["GGggrrr", "rrrrGGG"]
    # a phase with a link green nowhere else stays
    kept = drop_redundant_phases([PlanPhase(s, 10.0) for s in ("GGggrrr", "rrGGGrr", "rrrrrGG")], permissive=True)
    assert len(kept) == 3


def test_no_movement_is_starved_by_sanitising():
    """A stream green only beside a never-together stream (an all-green phase) still gets a phase."""
    art = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    net = copy.copy(art)
    prog = art.programs["J3"]
    n = len(prog.phases[0].state)
    net.programs = {**art.programs, "J3": replace(prog, phases=(ProgramPhase(40.0, "G" * n), ProgramPhase(3.0, "y" * n)))}
    plan = base_plan(net, "J3")
    served = {i for ph in plan.phases for i, c in enumerate(ph.state) if c in GREEN}
    assert served == set(range(n)) and len(plan.phases) == 2
    assert [v for v in check_plan(plan, net) if v.severity == "error"] == []


def _arterial_with_green_left(third_phase: bool):
    """arterial5 with J1's first phase showing the J2_J1 left protected (``G``) against the W_J1
    through, as right-on-red style programs do; optionally a third phase serving W_J1 alone."""
    art = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
    net = copy.copy(art)
    prog = art.programs["J1"]
    phases = [ProgramPhase(30.0, "rrrGGGGrrrGGGg"), ProgramPhase(3.0, "rrryyyyrrryyyy"),
              ProgramPhase(30.0, "GGgrrrrGGgrrrr"), ProgramPhase(3.0, "yyyrrrryyyrrrr")]
    if third_phase:
        phases += [ProgramPhase(10.0, "rrrrrrrrrrGGGG"), ProgramPhase(3.0, "rrrrrrrrrryyyy")]
    net.programs = {**art.programs, "J1": replace(prog, phases=tuple(phases))}
    return net


def test_heavier_stream_keeps_its_protection_when_the_lighter_is_served_elsewhere():
    """With flows, a light stream green in another phase goes red rather than make a heavy one permissive."""
    left, through = (6,), (11, 12)  # J2_J1 -> J1_S1 (left) yields to W_J1 -> J1_J2 (through)
    for third in (False, True):
        net = _arterial_with_green_left(third)
        q = np.zeros(len(net.movements))
        q[net.movement_index("J1", "J2_J1", "J1_S1")] = 500.0
        q[net.movement_index("J1", "W_J1", "J1_J2")] = 100.0
        blind, by_flow = base_plan(net, "J1"), base_plan(net, "J1", flows_vph=q)
        assert all(blind.phases[0].state[i] == "g" for i in left)
        assert all(blind.phases[0].state[i] == "G" for i in through)
        if third:  # the through has a phase of its own: it leaves the left's phase
            assert all(by_flow.phases[0].state[i] == "G" for i in left)
            assert all(by_flow.phases[0].state[i] == "r" for i in through)
        else:  # the only phase of the through: it stays, the left stays permissive
            assert by_flow.phases[0].state == blind.phases[0].state
        assert [v for v in check_plan(by_flow, net) if v.severity == "error"] == []
