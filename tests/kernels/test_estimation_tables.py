"""Kernels of the estimate's tables (counted rates, CSR/CSC order, fit and flows columns) against numpy."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.estimation.tables import _count_fit, _count_rates, _flow_columns, _order_by_pairs

from ..naive import estimation as naive
from .estimation_cases import random_problem, sparse_rows

@pytest.mark.parametrize(("n_rows", "n_slots", "n_keys"), [(0, 1, 0), (1, 1, 1), (40, 5, 6), (3000, 96, 20)])
def test_count_rates_match_fancy_assignment(n_rows, n_slots, n_keys):
    rng = np.random.default_rng(n_rows)
    t0 = 1800.0
    start_s = t0 + 900.0 * rng.integers(0, n_slots, n_rows) + rng.uniform(-1e-6, 1e-6, n_rows)  # float noise
    key = rng.integers(0, max(n_keys, 1), n_rows)  # repeated (interval, key) pairs too: the later count stays
    count = rng.integers(0, 400, n_rows).astype(float)
    got = _count_rates(start_s, t0, 900.0, key, count, np.int64(n_slots), np.int64(n_keys))
    npt.assert_array_equal(got, naive.count_rates(start_s, t0, 900.0, key, count, n_slots, n_keys))


@pytest.mark.parametrize("seed", range(3))
def test_count_fit_matches_dense(seed):
    rng = np.random.default_rng(seed)
    a, _, count_y, *_ = random_problem(rng, 9, 6, 4, 5, missing=0.4)
    count_y[0] = 0.0  # GEH 0 where model and count are both 0
    x = rng.uniform(0, 500, (5, 9))
    x[0] = 0.0
    row_ptr, row_var, row_coef, *_ = sparse_rows(a)
    seconds = 900.0 * np.arange(5) + 3600.0
    codes = [rng.integers(0, 100, 6).astype(dtype) for dtype in (np.int8, np.int16, np.int32, np.int16)]
    got = _count_fit(row_ptr, row_var, row_coef, np.int64(6), x, count_y, seconds, 900.0, *codes)
    ref = naive.count_fit(a, 6, x, count_y, seconds, 900.0, *codes)
    for g, r in zip(got, ref, strict=True):
        assert g.dtype == r.dtype
        npt.assert_allclose(g, r, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize(("n", "n_major", "n_minor"), [(0, 3, 2), (1, 1, 1), (500, 7, 40), (20_000, 300, 5)])
def test_order_by_pairs_matches_lexsort(n, n_major, n_minor):
    rng = np.random.default_rng(n)
    major = rng.integers(0, n_major, n)  # repeated pairs too: ties stay in input order
    minor = rng.integers(0, n_minor, n)
    npt.assert_array_equal(
        _order_by_pairs(major, minor, np.int64(n_major), np.int64(n_minor)), naive.order_by_pairs(major, minor)
    )


@pytest.mark.parametrize(("n_t", "sel"), [(1, [0]), (4, [0, 1, 2, 3, 4]), (3, [4, 1]), (2, [])])
def test_flow_columns_match_numpy(n_t, sel):
    rng = np.random.default_rng(n_t)
    x = rng.uniform(0, 900, (n_t, 5))
    sel = np.array(sel, dtype=np.int64)
    codes = [rng.integers(0, 100, len(sel)).astype(dtype) for dtype in (np.int8, np.int16, np.int32)]
    seconds = 900.0 * np.arange(n_t)
    se = rng.uniform(1, 50, (2, 5))  # two distinct intervals' standard errors
    se_row = rng.integers(0, 2, n_t)
    got = _flow_columns(seconds, 900.0, x, se, se_row, sel, *codes)
    for g, r in zip(got, naive.flow_columns(seconds, 900.0, x, se, se_row, sel, *codes), strict=True):
        assert g.dtype == r.dtype
        npt.assert_array_equal(g, r)
