"""Numba kernels for one row of one interval's least-squares problem: weight, target, residual.

Rows ``i < n_count`` are camera counts whose weight and target change with the interval
(``w = 0`` or ``y = NaN`` marks a missing count); the other rows have fixed weights and
targets (``static_w``, ``static_y``). Used by the kernels of :mod:`.bounded_lsq` and
:mod:`.standard_errors`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ... import config

__all__ = ["_row_weight", "_row_target", "_row_residual"]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _row_weight(i, t, n_count, count_w, count_y, static_w):
    """Numba kernel for the solvers of :func:`citybrain.estimation.estimate_flows`: weight of row ``i`` in interval ``t`` (0: count missing)."""
    if i < n_count:
        w = count_w[t, i]
        y = count_y[t, i]
        if not (w > 0.0) or np.isnan(y):
            return 0.0
        return w
    return static_w[i - n_count]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _row_target(i, t, n_count, count_y, static_y):
    """Numba kernel for the solvers of :func:`citybrain.estimation.estimate_flows`: target (veh/h) of row ``i`` in interval ``t`` (0: missing)."""
    if i < n_count:
        y = count_y[t, i]
        if np.isnan(y):
            return 0.0
        return y
    return static_y[i - n_count]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _row_residual(i, t, x, row_ptr, row_var, row_coef, n_count, count_y, static_y):
    """Numba kernel for the solvers of :func:`citybrain.estimation.estimate_flows`: residual ``a_i . x - y_ti`` of row ``i`` (``x``: interval ``t``'s flows)."""
    s = 0.0
    for k in range(row_ptr[i], row_ptr[i + 1]):
        s += row_coef[k] * x[row_var[k]]
    return s - _row_target(i, t, n_count, count_y, static_y)
