"""Solving the estimate: every method against the naive reference and lsq_linear, invariants, recovery."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.testing as npt
import pytest

from citybrain.counts import counts_from_frame
from citybrain.estimation import EstimationSettings, estimate_flows, geh
from citybrain.exceptions import ConvergenceError
from citybrain.network import graph_from_sumo_net
from citybrain.synthetic import sample_camera_counts, synthetic_movement_flows

from ..conftest import REAL_NETS, real_path
from ..naive import estimation as naive


def _key(frame):
    return list(zip(frame["junction"].astype(str), frame["from_edge"].astype(str), frame["to_edge"].astype(str), strict=True))


@pytest.mark.parametrize(
    ("method", "count_sd_from", "turn_prior_variance"),
    [
        ("direct", "camera", "flow"),
        ("coordinate-descent", "camera", "flow"),
        ("direct", "count", "flow"),
        ("direct", "camera", "constant"),
    ],
)
def test_matches_naive_reference(grid, partial, method, count_sd_from, turn_prior_variance):
    settings = EstimationSettings(
        method=method, count_sd_from=count_sd_from, learn_turn_factors=False, tol_vph=1e-4,
        max_sweeps=20000, junctions="all", turn_prior_variance=turn_prior_variance,
    )
    ours = estimate_flows(grid, partial, settings)
    ref = naive.estimate_flows(grid, partial, settings)  # the same settings object
    got = dict(zip(zip(ours.flows["interval_start"], *zip(*_key(ours.flows)), strict=True), ours.flows["flow_vph"], strict=True))
    assert set(got) == set(ref)
    keys = sorted(ref)
    npt.assert_allclose([got[k] for k in keys], [ref[k] for k in keys], atol=0.5)


def test_lsq_linear_method_agrees(grid, partial):
    a = estimate_flows(grid, partial, EstimationSettings(tol_vph=1e-4, max_sweeps=20000, standard_errors=False))
    b = estimate_flows(grid, partial, EstimationSettings(method="lsq_linear", standard_errors=False))
    npt.assert_allclose(a.flows["flow_vph"], b.flows["flow_vph"], atol=0.5)


def test_invariants(estimate):
    flows = estimate.flows
    assert (flows["flow_vph"] >= 0).all()
    assert (flows["se_vph"] > 0).all() and np.isfinite(flows["se_vph"]).all()
    links = estimate.link_flows()
    npt.assert_allclose(links["residual_vph"], links["inflow_vph"] - links["outflow_vph"])
    assert np.abs(links["residual_vph"]).mean() < 60.0
    ratios = estimate.turning_ratios()
    sums = ratios.groupby(["interval_start", "junction", "from_edge"], observed=True)["ratio"].sum()
    npt.assert_allclose(sums[sums > 0], 1.0)
    assert (estimate.fit["geh"] < 5).mean() > 0.95


def test_exact_recovery_when_every_movement_counted(grid, truth):
    counts = sample_camera_counts(truth, grid, drop_share=0.0, movement_share=1.0, noise_rel=0.0, seed=0)
    exact = EstimationSettings(noise_rel=0.0, count_poisson=False, count_sd_floor_vph=1e-3, tol_vph=1e-6, max_sweeps=20000)
    est = estimate_flows(grid, counts_from_frame(counts, grid), exact)
    merged = est.flows.astype({"junction": str, "from_edge": str, "to_edge": str}).merge(
        truth.drop(columns="flow_vph").assign(true_vph=truth["count"] * 4.0), on=["interval_start", "junction", "from_edge", "to_edge"]
    )
    assert len(merged) == len(est.flows)
    npt.assert_allclose(merged["flow_vph"], merged["true_vph"], atol=0.05)


def test_unobserved_movements_recovered_on_synthetic_grid(estimate, truth):
    hourly = estimate.hourly().astype({"junction": str, "from_edge": str, "to_edge": str})
    true = truth.groupby(["junction", "from_edge", "to_edge"])["count"].sum().rename("true").reset_index()
    merged = hourly.merge(true, on=["junction", "from_edge", "to_edge"])
    assert (geh(merged["flow_vph"].to_numpy(), merged["true"].to_numpy()) < 5).mean() > 0.6


@pytest.mark.parametrize("name", ["ingolstadt7", "atlanta"])
def test_real_network_runs(name):
    net = graph_from_sumo_net(real_path(REAL_NETS[name]))
    truth = synthetic_movement_flows(net, n_intervals=2, seed=1)
    est = estimate_flows(net, counts_from_frame(sample_camera_counts(truth, net, seed=0), net))
    assert set(est.flows["junction"].astype(str)) == set(net.signalised_junctions)
    assert (est.flows["flow_vph"] >= 0).all()
    assert (est.sweeps <= 500).all()


def _without(table, grid, drop):
    frame = table.frame.drop(index=drop)
    return counts_from_frame(frame[table.frame.columns.drop("row", errors="ignore")], grid, strict=False)


def test_direct_solver_with_counts_missing_in_some_intervals(grid, partial):
    # a camera outage: some counts absent in one interval only -> that interval's matrix
    # differs from the factorised one and conjugate gradients must finish it
    frame = partial.frame
    first = frame["interval_start"] == frame["interval_start"].min()
    gappy = _without(partial, grid, frame.index[first][: max(3, int(first.sum()) // 3)])
    a = estimate_flows(grid, gappy, EstimationSettings(tol_vph=1e-4, max_sweeps=20000, standard_errors=False))
    b = estimate_flows(grid, gappy, EstimationSettings(method="lsq_linear", standard_errors=False))
    npt.assert_allclose(a.flows["flow_vph"], b.flows["flow_vph"], atol=0.5)


@pytest.mark.parametrize("count_sd_from", ["camera", "count"])
def test_direct_solver_with_counts_missing_at_random_in_every_interval(grid, partial, count_sd_from):
    # no interval has the factorised pattern: 10 % of the counts missing at random in every
    # interval, and the counts of one junction present in the first interval only
    frame = partial.frame
    rng = np.random.default_rng(3)
    lone = (frame["junction"] == frame["junction"].iloc[0]) & (frame["interval_start"] != frame["interval_start"].min())
    gappy = _without(partial, grid, frame.index[(rng.random(len(frame)) < 0.1) | lone])
    settings = EstimationSettings(tol_vph=1e-4, max_sweeps=20000, standard_errors=False, count_sd_from=count_sd_from)
    a = estimate_flows(grid, gappy, settings)
    b = estimate_flows(grid, gappy, dataclasses.replace(settings, method="lsq_linear"))
    npt.assert_allclose(a.flows["flow_vph"], b.flows["flow_vph"], atol=0.5)
    # conjugate gradients reached the optimum: the bound step has (almost) nothing left to do
    assert (a.sweeps <= 2).all()


def test_nonconvergence_raises_only_when_asked(grid, partial):
    few = EstimationSettings(method="coordinate-descent", max_sweeps=1, tol_vph=1e-9, standard_errors=False)
    est = estimate_flows(grid, partial, few)
    assert (est.sweeps == 2).all()  # max_sweeps + 1 flags no convergence
    with pytest.raises(ConvergenceError, match="did not reach tol_vph"):
        estimate_flows(grid, partial, dataclasses.replace(few, raise_on_nonconvergence=True))
