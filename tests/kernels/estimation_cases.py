"""Random least-squares problems for the estimation kernels' tests, and the bounded-LSQ reference check."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt

from citybrain._kernels.estimation.bounded_lsq import _solve_bounded_lsq

from ..naive import estimation as naive

__all__ = ["sparse_rows", "random_problem", "run_coordinate_descent", "assert_matches_reference"]


def sparse_rows(a):
    """``A`` in CSR then CSC form, as the kernels take it (``row_ptr, row_var, row_coef, col_ptr, col_row, col_coef``)."""
    rows, cols = np.nonzero(a)
    row_ptr = np.searchsorted(rows, np.arange(a.shape[0] + 1)).astype(np.int64)
    order = np.lexsort((rows, cols))
    col_ptr = np.searchsorted(cols[order], np.arange(a.shape[1] + 1)).astype(np.int64)
    return (
        row_ptr, cols.astype(np.int64), a[rows, cols].astype(np.float64),
        col_ptr, rows[order].astype(np.int64), a[rows[order], cols[order]].astype(np.float64),
    )


def random_problem(rng, n_var, n_count, n_static, n_t, missing=0.2):
    """Count rows with random 0/1 entries, static rows with +-1 and fractional entries, plus a ridge.

    ``rng`` is a ``numpy.random.Generator`` or a seed. Returns ``(a, count_w, count_y,
    static_w, static_y, lo, hi)``: dense ``A``, per-interval count weights and rates (NaN:
    missing), the fixed rows' weights and targets, and the bounds (veh/h).
    """
    rng = np.random.default_rng(rng)
    a_c = (rng.random((n_count, n_var)) < 0.3).astype(float)
    a_c[np.arange(n_count), rng.integers(0, n_var, n_count)] = 1.0
    a_s = np.where(rng.random((n_static, n_var)) < 0.3, rng.choice([-1.0, 1.0, -0.4, 0.7], (n_static, n_var)), 0.0)
    a = np.vstack([a_c, a_s, np.eye(n_var)])
    truth = rng.uniform(0, 500, (n_t, n_var))
    count_y = truth @ a_c.T * rng.lognormal(0, 0.1, (n_t, n_count))
    count_y[rng.random(count_y.shape) < missing] = np.nan
    count_w = 1.0 / (np.nan_to_num(count_y) + 100.0)
    static_w = np.concatenate([rng.uniform(1e-4, 1e-3, n_static), np.full(n_var, 1e-6)])
    static_y = np.concatenate([np.zeros(n_static), np.full(n_var, 200.0)])
    lo = np.zeros(n_var)
    hi = rng.uniform(300, 1500, n_var)
    return a, count_w, count_y, static_w, static_y, lo, hi


def run_coordinate_descent(a, n_count, count_w, count_y, static_w, static_y, lo, hi, sweeps=20000, tol=1e-9):
    """``_solve_bounded_lsq`` on dense ``a`` from ``x0 = 0``; returns ``(x, sweeps)``."""
    sp = sparse_rows(a)
    x0 = np.zeros((count_y.shape[0], a.shape[1]))
    return _solve_bounded_lsq(*sp, np.int64(n_count), count_w, count_y, static_w, static_y, lo, hi, x0, np.int64(sweeps), np.float64(tol))


def assert_matches_reference(x, a, cw, cy, sw, sy, lo, hi, *, bound_tol):
    """Every interval's solution ``x[t]`` matches the bounded least-squares reference."""
    for t in range(len(x)):
        w = np.concatenate([np.where(np.isnan(cy[t]), 0.0, cw[t]), sw])
        y = np.concatenate([cy[t], sy])
        ref = naive.solve_bounded_lsq(a, w, y, lo, hi)
        obj = lambda v: np.sum(np.where(w > 0, w * (a @ v - np.nan_to_num(y)) ** 2, 0.0))  # noqa: E731
        assert obj(x[t]) <= obj(ref) * (1 + 1e-6) + 1e-9
        npt.assert_allclose(x[t], ref, atol=1e-3 * max(1.0, np.abs(ref).max()))
        assert (x[t] >= lo - bound_tol).all() and (x[t] <= hi + bound_tol).all()
