"""EstimationSettings: defaults, validation once (every bad value named with its range), frozen, passed whole."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from citybrain.estimation import METHODS, EstimationSettings, estimate_flows
from citybrain.exceptions import ValidationError

# one bad value per field, and what the message must say about it
BAD = [
    ("method", "magic", "one of direct, coordinate-descent, lsq_linear"),
    ("method", ["direct"], "one of direct, coordinate-descent, lsq_linear"),
    ("junctions", "some", "'signalised', 'all' or a list of junction ids"),
    ("junctions", ["J1", 7], "'signalised', 'all' or a list of junction ids"),
    ("junctions", np.array([["J1"]]), "'signalised', 'all' or a list of junction ids"),
    ("noise_rel", -0.1, "a number >= 0"),
    ("noise_rel", math.nan, "a number >= 0"),
    ("count_sd_floor_vph", 0.0, r"a positive number \(veh/h\)"),
    ("count_poisson", "yes", "True or False"),
    ("conservation_sd_vph", 0, r"a positive number \(veh/h\)"),
    ("turn_prior_sd_vph", -5.0, r"a positive number \(veh/h\)"),
    ("level_prior_sd_vph", math.inf, r"a positive number \(veh/h\)"),
    ("entry_level_sd_vph", "400", r"a positive number \(veh/h\)"),
    ("max_lane_flow_vph", 0.0, r"a positive number \(veh/h\)"),
    ("uturn_prior_factor", -1.0, "a number >= 0"),
    ("learn_turn_factors", 1, "True or False"),
    ("count_sd_from", "counts", "one of camera, count"),
    ("turn_prior_variance", "poisson", "one of flow, constant"),
    ("standard_errors", None, "True or False"),
    ("max_sweeps", 2.5, "an integer >= 1"),
    ("max_sweeps", 0, "an integer >= 1"),
    ("max_sweeps", True, "an integer >= 1"),
    ("tol_vph", 0.0, r"a positive number \(veh/h\)"),
    ("jam_spacing_m", 0.0, r"a positive number \(m\)"),
    ("raise_on_nonconvergence", "no", "True or False"),
    ("ratio_period_s", -900.0, "a number >= 0"),
]


def test_every_field_has_a_bad_value_case():
    assert {name for name, _, _ in BAD} == {f.name for f in dataclasses.fields(EstimationSettings)}


@pytest.mark.parametrize(("name", "value", "expected"), BAD)
def test_a_bad_value_is_refused_with_its_name_and_range(name, value, expected):
    with pytest.raises(ValidationError, match=rf"The '{name}' field of EstimationSettings must be {expected}\. Got ") as info:
        EstimationSettings(**{name: value})
    assert info.value.problems == [str(info.value)]  # one problem: the message itself


def test_every_problem_is_reported_at_once():
    with pytest.raises(ValidationError) as info:
        EstimationSettings(noise_rel=-1.0, method="magic", tol_vph=0.0)
    assert len(info.value.problems) == 3
    assert all(f"'{name}'" in str(info.value) for name in ("noise_rel", "method", "tol_vph"))


def test_defaults_and_accepted_values():
    s = EstimationSettings()
    assert (s.method, s.junctions, s.noise_rel, s.max_sweeps, s.tol_vph) == ("direct", "signalised", 0.1, 500, 0.05)
    for method in METHODS:
        assert EstimationSettings(method=method).method == method
    assert EstimationSettings(junctions=["J1", "J2"]).junctions == ("J1", "J2")  # a list is kept as a tuple
    assert EstimationSettings(junctions=()).junctions == ()
    assert EstimationSettings(noise_rel=0, uturn_prior_factor=0.0).noise_rel == 0


def test_settings_are_frozen_and_replaced_whole():
    s = EstimationSettings(noise_rel=0.2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.noise_rel = 0.3  # type: ignore[misc]
    t = dataclasses.replace(s, tol_vph=0.5)
    assert (t.noise_rel, t.tol_vph) == (0.2, 0.5)
    with pytest.raises(ValidationError, match="'tol_vph'"):
        dataclasses.replace(s, tol_vph=-1.0)  # validated again
    assert s.as_dict()["noise_rel"] == 0.2
    assert EstimationSettings(junctions=("J1",)).as_dict()["junctions"] == ["J1"]


def test_estimate_flows_takes_only_a_settings_object(grid, partial):
    with pytest.raises(TypeError):
        estimate_flows(grid, partial, noise_rel=0.2)  # keyword options are gone: one EstimationSettings
    with pytest.raises(TypeError, match="EstimationSettings"):
        estimate_flows(grid, partial, {"noise_rel": 0.2})


def test_unknown_junction_ids_are_refused_before_any_work(grid, partial, monkeypatch):
    import citybrain.estimation as estimation

    def no_work(*args, **kwargs):
        raise AssertionError("build_problem ran")

    monkeypatch.setattr(estimation, "build_problem", no_work)
    with pytest.raises(ValidationError, match=r"unknown junction id\(s\) nowhere\."):
        estimate_flows(grid, partial, EstimationSettings(junctions=[grid.signalised_junctions[0], "nowhere"]))
