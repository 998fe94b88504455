"""The dict-shaped input reader shared by the scenario, plan, override and registry readers."""

from __future__ import annotations

import doctest

import pytest

import citybrain._validate as validate
from citybrain._validate import Fields, Problems
from citybrain.exceptions import ValidationError


def test_doctests():
    assert doctest.testmod(validate).failed == 0


def test_every_problem_is_collected_and_raised_once():
    problems = Problems("plan.json")
    top = Fields({"cycle_s": -3, "name": "", "phases": [{"green_s": "x"}, 7]}, "plan.json", problems)
    assert top.number("cycle_s", 90.0, low=0) == 90.0
    assert top.string("name", required=True) is None
    assert top.integer("seeds", 1, low=1) == 1
    greens = [phase.number("green_s", required=True) for phase in top.tables("phases")]
    assert greens == [None, None]
    with pytest.raises(ValidationError) as info:
        problems.raise_if_any("plan file")
    assert info.value.problems == [
        "plan.json: 'cycle_s': must be in [0, inf], got -3",
        "plan.json: 'name': must be a non-empty string, got ''",
        "plan.json: phases[0]: 'green_s': must be a number, got 'x'",
        "plan.json: phases[1]: expected a table of fields, got 7",
        "plan.json: phases[1]: 'green_s': required (a number)",
    ]
    assert str(info.value).startswith("plan.json: 5 problem(s) in the plan file:")


def test_good_input_raises_nothing():
    problems = Problems("s.toml")
    table = Fields({"seeds": 3, "demand": "a.rou.xml", "mode": "eu"}, "s.toml", problems)
    assert table.integer("seeds", low=1) == 3
    assert table.strings("demand") == ["a.rou.xml"]
    assert table.string("mode", choices={"us", "eu"}) == "eu"
    assert table.table("missing") is None
    problems.raise_if_any("scenario")
    assert not problems


def test_read_json_names_the_file_and_its_kind(tmp_path):
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_text('{"a": [1, 2]}')
    bad.write_text("{not json")
    assert validate.read_json(good, "plan file") == {"a": [1, 2]}
    for path in (bad, tmp_path / "missing.json"):
        with pytest.raises(ValidationError, match=rf"{path.name}: not a readable JSON plan file"):
            validate.read_json(path, "plan file")
