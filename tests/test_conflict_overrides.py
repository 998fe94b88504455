"""Per-junction conflict overrides."""

from __future__ import annotations

import json

import pytest

from citybrain.conflicts import NEVER, YIELD, junction_conflicts, load_overrides
from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net

from .conftest import NETWORKS


def test_override_turns_a_permissive_left_into_never(tmp_path):
    road = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
    left = road.movement_index("B1", "A1B1", "B1B2")
    thru = road.movement_index("B1", "C1B1", "B1A1")
    assert road.conflicts("B1").pair(left, thru) == YIELD
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"B1": [{"from": ["A1B1", "B1B2"], "to": ["C1B1", "B1A1"], "kind": "never"}]}))
    overrides = load_overrides(path, road)
    assert junction_conflicts(road, "B1", overrides).pair(left, thru) == NEVER


def test_bad_override_file_lists_every_problem(tmp_path):
    road = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps({"B1": [{"from": ["A1B1", "nowhere"], "to": ["C1B1", "B1A1"], "kind": "never"},
                                       {"from": ["A1B1", "B1B2"], "to": ["C1B1", "B1A1"], "kind": "maybe"}]}))
    with pytest.raises(ValidationError) as info:
        load_overrides(path, road)
    assert len(info.value.problems) == 2
    assert "B1[0]" in str(info.value) and "B1[1]" in str(info.value)
