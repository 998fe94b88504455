"""Kernels of bounded least squares by coordinate descent (whole sweeps, work-list polish) against scipy's lsq_linear."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from citybrain._kernels.estimation.bounded_lsq import _polish_bounded_lsq

from ..naive import estimation as naive
from .estimation_cases import assert_matches_reference, random_problem, run_coordinate_descent, sparse_rows

@pytest.mark.parametrize("seed", range(4))
def test_solver_matches_lsq_linear(seed):
    rng = np.random.default_rng(seed)
    n_var, n_count, n_static, n_t = 12, 9, 6, 3
    a, cw, cy, sw, sy, lo, hi = random_problem(rng, n_var, n_count, n_static, n_t)
    x, sweeps = run_coordinate_descent(a, n_count, cw, cy, sw, sy, lo, hi)
    assert (sweeps <= 20000).all()
    assert_matches_reference(x, a, cw, cy, sw, sy, lo, hi, bound_tol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_var=st.integers(1, 8),
    n_count=st.integers(0, 6),
    n_static=st.integers(0, 4),
    n_t=st.integers(1, 3),
    missing=st.sampled_from([0.0, 0.5, 1.0]),
)
@example(seed=706595, n_var=8, n_count=2, n_static=0, n_t=3, missing=0.0)  # a flat valley of five flows
def test_solver_odd_shapes(seed, n_var, n_count, n_static, n_t, missing):
    rng = np.random.default_rng(seed)
    a, cw, cy, sw, sy, lo, hi = random_problem(rng, n_var, max(n_count, 0), n_static, n_t, missing)
    x, _ = run_coordinate_descent(a, n_count, cw[:, :n_count], cy[:, :n_count], sw, sy, lo, hi)
    assert np.isfinite(x).all()
    for t in range(n_t):
        w = np.concatenate([np.where(np.isnan(cy[t, :n_count]), 0.0, cw[t, :n_count]), sw])
        y = np.concatenate([cy[t, :n_count], sy])
        ref = naive.solve_bounded_lsq(a, w, y, lo, hi)
        # flat directions (tiny ridge) make x converge slowly; the objective must match
        # (to 1e-4: the example above stops 1.8e-5 above it after 20,000 sweeps)
        obj = lambda v: np.sum(np.where(w > 0, w * (a @ v - np.nan_to_num(y)) ** 2, 0.0))  # noqa: E731
        assert obj(x[t]) <= obj(ref) * (1 + 1e-4) + 1e-7
        assert (x[t] >= lo - 1e-12).all() and (x[t] <= hi + 1e-12).all()


def test_solver_zero_and_saturated():
    # one approach total of 0 -> all flows 0; a count far above the bound -> flow at the bound
    a = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    cy = np.array([[0.0, 5000.0]])
    cw = np.array([[1.0, 1.0]])
    x, _ = run_coordinate_descent(a, 2, cw, cy, np.array([1e-6, 1e-6]), np.array([0.0, 0.0]), np.zeros(2), np.array([800.0, 900.0]))
    assert x[0, 1] == pytest.approx(900.0)
    assert x[0, 0] == 0.0


def test_solver_all_nan_counts_falls_back_to_priors():
    a = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    cy = np.array([[np.nan]])
    x, _ = run_coordinate_descent(a, 1, np.array([[1.0]]), cy, np.array([1.0, 1.0]), np.array([100.0, 300.0]), np.zeros(2), np.full(2, 1e4))
    npt.assert_allclose(x[0], [100.0, 300.0], atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_polish_matches_lsq_linear_from_any_start(seed):
    rng = np.random.default_rng(seed)
    n_var, n_count, n_static, n_t = 12, 9, 6, 3
    a, cw, cy, sw, sy, lo, hi = random_problem(rng, n_var, n_count, n_static, n_t)
    sparse = sparse_rows(a)
    x = rng.uniform(-200, 2000, (n_t, n_var))  # far from the optimum and outside the bounds
    seeded = np.zeros(n_t, dtype=np.bool_)
    used = _polish_bounded_lsq(*sparse, np.int64(n_count), cw, cy, sw, sy, lo, hi, x, seeded, np.int64(10**7), np.float64(1e-9))
    assert (used <= 10**7).all()
    assert_matches_reference(x, a, cw, cy, sw, sy, lo, hi, bound_tol=0.0)


def test_polish_does_nothing_at_the_optimum():
    rng = np.random.default_rng(7)
    a, cw, cy, sw, sy, lo, hi = random_problem(rng, 10, 8, 5, 2, missing=0.0)
    x_opt, _ = run_coordinate_descent(a, 8, cw, cy, sw, sy, lo, hi)
    seeded = np.zeros(2, dtype=np.bool_)
    x = x_opt.copy()
    used = _polish_bounded_lsq(*sparse_rows(a), np.int64(8), cw, cy, sw, sy, lo, hi, x, seeded, np.int64(10**6), np.float64(1e-3))
    npt.assert_allclose(x, x_opt, atol=1e-3)
    assert used.max() <= 10


@pytest.mark.parametrize("seed", range(4))
def test_polish_from_unconstrained_optimum_matches_lsq_linear(seed):
    # seeded start: x0 is the unbounded optimum, so only clipped variables and their row
    # neighbours are looked at first; the result must still be the bounded optimum
    rng = np.random.default_rng(seed)
    n_var, n_count, n_static, n_t = 12, 9, 6, 3
    a, cw, cy, sw, sy, lo, hi = random_problem(rng, n_var, n_count, n_static, n_t, missing=0.0)
    cw = np.repeat(cw[:1], n_t, axis=0)  # seeded intervals share the factorised weights
    hi = hi * 0.5  # make some bounds bind
    x0 = np.empty((n_t, n_var))
    for t in range(n_t):
        w = np.concatenate([np.where(np.isnan(cy[t]), 0.0, cw[t]), sw])
        y = np.nan_to_num(np.concatenate([cy[t], sy]))
        x0[t] = naive.solve_normal_equations(a.T @ (w[:, None] * a), a.T @ (w * y))
    seeded = np.ones(n_t, dtype=np.bool_)
    x = x0.copy()
    used = _polish_bounded_lsq(*sparse_rows(a), np.int64(n_count), cw, cy, sw, sy, lo, hi, x, seeded, np.int64(10**7), np.float64(1e-9))
    assert (used <= 10**7).all()
    for t in range(n_t):
        w = np.concatenate([np.where(np.isnan(cy[t]), 0.0, cw[t]), sw])
        ref = naive.solve_bounded_lsq(a, w, np.concatenate([cy[t], sy]), lo, hi)
        npt.assert_allclose(x[t], ref, atol=1e-3 * max(1.0, np.abs(ref).max()))
