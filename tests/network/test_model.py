"""The plain network data: movements, program phases and programs (no SUMO, no files)."""

from __future__ import annotations

import pytest

from citybrain.network.model import TURN_CODES, TURN_SAT_FACTOR, TURNS, Link, Movement, ProgramPhase, SignalProgram


def _program(states: list[str], links: tuple[Link, ...]) -> SignalProgram:
    phases = tuple(ProgramPhase(duration_s=d, state=s) for d, s in zip((30.0, 4.0, 25.0, 3.0), states))
    return SignalProgram(tls="J", program_id="0", type="static", offset_s=0.0, junctions=("J",),
                         phases=phases, links=links)


def test_movement_id_names_junction_and_edges():
    m = Movement("J", "a", "b", "left", ("a_0",), ("b_0",), "J", (0,), 1714.3)
    assert m.id == "J:a->b"


@pytest.mark.parametrize(("state", "transition"), [("GGrr", False), ("ggrr", False), ("yyrr", True),
                                                   ("yyyGG", True), ("rrrr", True), ("GgrY", True)])
def test_a_transition_has_yellow_or_no_green(state, transition):
    assert ProgramPhase(duration_s=5.0, state=state).is_transition is transition


def test_program_links_cycle_and_green_phases():
    links = (Link(0, "a_0", "b_0", 0), Link(0, "a_0", "c_0", 1), Link(1, "d_0", "b_0", 2), Link(1, "d_0", "b_0", 2))
    prog = _program(["Gr", "yr", "rG", "ry"], links)
    assert prog.n_links == 2
    assert prog.cycle_s == 62.0
    assert prog.green_phases() == (0, 2)
    assert prog.link_movements() == {0: (0, 1), 1: (2,)}  # the repeated link counts once


def test_every_turn_has_a_code_and_a_saturation_factor():
    assert set(TURNS.values()) <= set(TURN_CODES)
    assert set(TURN_SAT_FACTOR) == set(TURN_CODES)
    assert TURN_SAT_FACTOR["through"] == 1.0 and TURN_SAT_FACTOR["crossing"] == 0.0
