"""Tests of the front function, its registry of methods and the options they share."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from citybrain.app.cli import cli
from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.plans import check_network_plan
from citybrain.plans.safety import EU_RILSA
from citybrain.timing import METHODS, TimingOptions, choose_method, optimise_plan

from .. import invariants
from ..conftest import NETWORKS
from .helpers import make_flows

ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")
GRID = graph_from_sumo_net(NETWORKS / "grid4x4.net.xml")


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_method_satisfies_the_invariants(name):
    plan = optimise_plan(ART, make_flows(ART, share=0.1), METHODS[name], TimingOptions(seed=0))
    invariants.assert_safe_network_plan(plan, ART)
    assert [v for v in check_network_plan(plan, ART) if v.severity == "error"] == []
    assert plan.meta["options"] == TimingOptions(seed=0).to_dict()


def test_methods_by_name_and_their_errors():
    flows = make_flows(GRID)
    with pytest.raises(ValidationError, match=r"'method' of optimise_plan must be one of \['auto', 'coordinated'"):
        optimise_plan(GRID, flows, "magic")
    with pytest.raises(ValidationError, match=r"'cycle_bounds_s', 'profile' of optimise_plan belong in its options"):
        optimise_plan(GRID, flows, "webster", profile="eu", cycle_bounds_s=(30, 90))
    with pytest.raises(ValidationError, match="'options' of optimise_plan must be a TimingOptions"):
        optimise_plan(GRID, flows, "webster", {"profile": "eu"})


@pytest.mark.parametrize(("field", "value", "expected"), [
    ("tls", 5, "None, a traffic-light id or a list of ids"),
    ("tls", [], "None, a traffic-light id or a non-empty list of ids"),
    ("profile", "mars", "one of ['eu', 'us'], a SafetyProfile or None"),
    ("cycle_bounds_s", (90, 60), "(min, max) seconds with 0 < min <= max"),
    ("cycle_bounds_s", (0, 60), "(min, max) seconds with 0 < min <= max"),
    ("cycle_bounds_s", 60, "(min, max) seconds with 0 < min <= max"),
    ("permissive_factor", 1.5, "a number in [0, 1]"),
    ("permissive_factor", float("nan"), "a number in [0, 1]"),
    ("aggregate", "sum", "one of ['mean', 'max', 'median', 'peak15']"),
    ("min_green_s", -2.0, "None or a number of seconds > 0"),
    ("seed", -1, "None or an int >= 0"),
    ("seed", 1.5, "None or an int >= 0"),
])
def test_options_refuse_each_bad_value_naming_it(field, value, expected):
    with pytest.raises(ValidationError) as info:
        TimingOptions(**{field: value})
    message = str(info.value)
    assert f"The '{field}' of TimingOptions must be {expected}. Got {value!r} instead." == message


def test_options_list_every_problem_and_normalise_good_values():
    with pytest.raises(ValidationError) as info:
        TimingOptions(profile="mars", aggregate="sum")
    assert len(info.value.problems) == 2 and "2 problems" in str(info.value)
    options = TimingOptions(tls="J1", profile=EU_RILSA, cycle_bounds_s=(40, 120), seed=3)
    assert options.tls == ("J1",) and options.cycle_bounds_s == (40.0, 120.0)
    assert options.to_dict() == {"tls": ["J1"], "profile": "eu", "cycle_bounds_s": [40.0, 120.0],
                                 "permissive_factor": 0.5, "aggregate": "mean", "min_green_s": None, "seed": 3}
    with pytest.raises(AttributeError):
        options.seed = 4  # frozen


def test_options_reach_the_plans():
    flows = make_flows(ART, share=0.1)
    narrow = optimise_plan(ART, flows, "webster", TimingOptions(tls=["J1", "J2"], cycle_bounds_s=(70, 75)))
    assert sorted(narrow.tls_ids) == ["J1", "J2"]
    assert all(70.0 <= p.cycle_s <= 75.0 for _, p in narrow.all_plans())
    with pytest.raises(ValidationError, match="'tls' must name traffic lights"):
        optimise_plan(ART, flows, "hcm", TimingOptions(tls="nosuch"))


def test_auto_picks_what_choose_method_picks():
    # arterial5's signals are 200 m apart: coordinated; with no light close to another: Webster
    assert choose_method(ART) == "coordinated"
    assert choose_method(ART, travel_s=1.0) == "webster"
    flows = make_flows(ART, share=0.1)
    options = TimingOptions(seed=2)
    auto = optimise_plan(ART, flows, "auto", options, n_restarts=1)
    coordinated = optimise_plan(ART, flows, "coordinated", options, n_restarts=1)
    assert auto.meta["method"] == "coordinated"
    assert auto.periods == coordinated.periods


def test_the_cli_offers_the_registered_methods(tmp_path):
    (tmp_path / "f.csv").write_text("")  # it must exist; the method is refused before it is read
    result = CliRunner().invoke(cli, ["optimise", "--network", str(NETWORKS / "arterial5.net.xml"), "--flows",
                                       str(tmp_path / "f.csv"), "--method", "nosuch", "--out", str(tmp_path / "p.json")])
    assert result.exit_code == 2
    assert "'nosuch' is not one of" in result.output
    assert all(f"'{name}'" in result.output for name in METHODS)
    result = CliRunner().invoke(cli, ["run", "--help"])
    assert all(name in result.output for name in METHODS)
