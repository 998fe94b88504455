"""The controller protocol and the fixed controller (the twin's signal driver: tests/simulation/test_signals.py)."""

from __future__ import annotations

import pytest

from citybrain.control import CONTROLLERS, RESCO, FixedController, get_protocol, make_controller
from citybrain.network import graph_from_sumo_net

from ..conftest import NETWORKS

GRID = NETWORKS / "grid4x4.net.xml"


@pytest.fixture(scope="module")
def grid():
    return graph_from_sumo_net(GRID)


def test_fixed_controller_keeps_the_program():
    ctrl = FixedController(None, "A0")
    assert ctrl.program_driven is True
    assert ctrl.decide(None) is None
    assert "fixed" in CONTROLLERS


def test_make_controller_rejects_unknown_names(grid):
    assert isinstance(make_controller("fixed", grid, "A0"), FixedController)
    with pytest.raises(ValueError, match="Unknown controller 'nope'"):
        make_controller("nope", grid, "A0")
    with pytest.raises(ValueError, match="Traffic light 'Z9'"):
        make_controller("fixed", grid, "Z9")
    with pytest.raises(ValueError, match="Unknown decision protocol"):
        get_protocol("fast")
    assert get_protocol("resco") is RESCO
