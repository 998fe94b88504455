"""Tests of coordinated timing: common cycle, offsets that lower the modelled delay."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from citybrain.exceptions import ValidationError
from citybrain.network import graph_from_sumo_net
from citybrain.timing import TimingOptions, optimise_plan
from citybrain.timing.coordination import _fit_greens, normalise_seed
from citybrain.timing.delay_model import delay_model, network_delay, random_delay
from citybrain.timing.flows import movement_flows

from .. import invariants
from ..conftest import NETWORKS
from .helpers import make_flows

ART = graph_from_sumo_net(NETWORKS / "arterial5.net.xml")


@pytest.fixture(scope="module")
def flows():
    return make_flows(ART, share=0.12)


@pytest.fixture(scope="module")
def plan(flows):
    return optimise_plan(ART, flows, "coordinated", TimingOptions(seed=3))


def test_common_cycle_and_safe(plan):
    cycles = {p.cycle_s for _, p in plan.all_plans()}
    common = plan.meta["cycle_s"]
    assert float(common).is_integer() and cycles <= {common, common / 2}
    assert {p.tls for _, p in plan.all_plans() if p.cycle_s != common} == set(plan.meta["half_cycle_tls"])
    invariants.assert_safe_network_plan(plan, ART)


def test_offsets_lower_the_modelled_delay(plan, flows):
    meta = plan.meta
    assert meta["model_delay_vehh_per_h"] <= meta["model_delay_zero_offsets_vehh_per_h"]
    assert network_delay(ART, plan, flows) == pytest.approx(meta["model_delay_vehh_per_h"], rel=1e-9)
    # and beat random offsets
    rng = np.random.default_rng(0)
    plans = plan.periods[0].by_tls
    for _ in range(5):
        shuffled = {t: replace(p, offset_s=float(rng.integers(0, int(p.cycle_s)))) for t, p in plans.items()}
        assert network_delay(ART, shuffled, flows) >= meta["model_delay_vehh_per_h"] - 1e-9


def test_same_seed_same_plan(plan, flows):
    again = optimise_plan(ART, flows, "coordinated", TimingOptions(seed=3))
    assert [p.offset_s for _, p in again.all_plans()] == [p.offset_s for _, p in plan.all_plans()]


def test_fixed_cycle_and_argument_errors(flows):
    fixed = optimise_plan(ART, flows, "coordinated", cycle_s=90, n_restarts=1, half_cycles=False)
    assert {p.cycle_s for _, p in fixed.all_plans()} == {90.0}
    halves = optimise_plan(ART, flows, "coordinated", cycle_s=90, n_restarts=1)
    assert {p.cycle_s for _, p in halves.all_plans()} <= {90.0, 45.0}
    with pytest.raises(ValidationError, match="'cycle_s' of coordinated must be in"):
        optimise_plan(ART, flows, "coordinated", cycle_s=500)
    with pytest.raises(ValidationError, match="must be >= 1"):
        optimise_plan(ART, flows, "coordinated", n_restarts=0)
    with pytest.raises(ValidationError, match="must be >= 1"):
        optimise_plan(ART, flows, "coordinated", cycle_step_s=0)
    with pytest.raises(ValidationError, match="'seed' must be an int"):
        normalise_seed("x")


def test_cycle_scan_prefers_shorter_cycles_on_light_demand_and_longer_near_saturation():
    light = optimise_plan(ART, make_flows(ART, share=0.05), "coordinated", TimingOptions(seed=0))
    heavy = optimise_plan(ART, make_flows(ART, share=0.3), "coordinated", TimingOptions(seed=0))
    assert light.meta["cycle_s"] < heavy.meta["cycle_s"]
    assert light.meta["cycle_s"] <= 60


def test_split_rebalancing_never_raises_the_modelled_delay(flows):
    kw = dict(method="coordinated", options=TimingOptions(seed=1), cycle_s=80, half_cycles=False)
    plain = optimise_plan(ART, flows, rebalance_splits=False, **kw)
    balanced = optimise_plan(ART, flows, **kw)
    q = movement_flows(ART, flows)

    def total(plan):
        model = delay_model(ART, plan.periods[0].by_tls, q)
        return plan.meta["model_delay_vehh_per_h"] + random_delay(model)

    assert total(balanced) <= total(plain) + 1e-6
    invariants.assert_safe_network_plan(balanced, ART)


def test_own_program_start_never_rated_worse(flows):
    kept = optimise_plan(ART, flows, "coordinated", TimingOptions(seed=3))
    plain = optimise_plan(ART, flows, "coordinated", TimingOptions(seed=3), own_program=False)
    assert kept.meta["start"] in ("equal saturation", "own program", "own splits")
    assert plain.meta["start"] == "equal saturation"

    def rated(p):
        return p.meta["model_delay_vehh_per_h"] + p.meta["model_random_delay_vehh_per_h"]

    assert rated(kept) <= rated(plain) + 1e-9 * (1 + rated(plain))
    invariants.assert_safe_network_plan(kept, ART)


def test_fit_greens_keeps_proportions_and_minimums():
    g = _fit_greens(np.array([30.0, 6.0, 30.0, 6.0]), np.full(4, 5.0), 50.0)
    assert g.sum() == pytest.approx(50.0)
    assert np.all(g >= 5.0 - 1e-9)
    assert g[0] == pytest.approx(g[2])
    assert _fit_greens(np.array([1.0, 1.0]), np.full(2, 5.0), 9.0) is None


def test_left_turn_treatment_is_checked_and_reported(flows):
    with pytest.raises(ValidationError, match="'left_turns' of coordinated must be"):
        optimise_plan(ART, flows, "coordinated", TimingOptions(seed=0), left_turns="split")
    plan = optimise_plan(ART, flows, "coordinated", TimingOptions(seed=0), cycle_s=40, left_turns="permissive")
    assert plan.meta["left_turns"] == "permissive"
    invariants.assert_safe_network_plan(plan, ART)
