"""The live plan endpoint's JSON reader (the HTTP round trip runs SUMO: test_simulation_runner)."""

from __future__ import annotations

import pytest

from citybrain.exceptions import ValidationError
from simulation.live import plan_from_json
from simulation.run import PlanUpdate


def test_a_json_plan_becomes_a_plan_update():
    body = {"tls": "A0", "program_id": "p7", "phases": [{"duration_s": 30, "state": "GGrr"}, {"duration_s": 3.5,
                                                                                              "state": "yyrr"}]}
    assert plan_from_json(body) == PlanUpdate("A0", ((30.0, "GGrr"), (3.5, "yyrr")), "p7")
    assert plan_from_json({"tls": "A0", "phases": [{"duration_s": 1, "state": "G"}]}).program_id == "citybrain"


def test_every_problem_of_a_bad_plan_is_listed():
    with pytest.raises(ValidationError, match="expected a JSON object, got list"):
        plan_from_json([])
    with pytest.raises(ValidationError) as info:
        plan_from_json({"tls": "", "phases": [{"duration_s": "x", "state": "G"}, {"duration_s": True}],
                        "program_id": 3})
    assert info.value.problems == [
        "plan: 'tls': must be a non-empty string, got ''",
        "plan: phases[0]: 'duration_s': must be a number, got 'x'",
        "plan: phases[1]: 'duration_s': must be a number, got True",
        "plan: phases[1]: 'state': required (a non-empty string)",
        "plan: 'program_id': must be a non-empty string, got 3",
    ]
    with pytest.raises(ValidationError, match="'phases': must be a non-empty list"):
        plan_from_json({"tls": "A0", "phases": []})
