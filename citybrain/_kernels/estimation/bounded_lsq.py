"""Numba kernels for bounded weighted least squares by coordinate descent, one problem per interval.

The problem of one interval ``t`` is

    minimise  sum_i w_ti (a_i . x - y_ti)^2   subject to  lo <= x <= hi

over movement flows ``x`` (veh/h). Rows ``i < n_count`` are camera counts whose weight and
target change with the interval (``w = 0`` or ``y = NaN`` marks a missing count); the other
rows (flow conservation on links, turning-ratio priors, level priors) have fixed weights and
targets. ``A`` is passed twice: by row (CSR) and by column (CSC).

Public wrapper: :func:`citybrain.estimation.estimate_flows` (through
:mod:`citybrain.estimation.solvers`). Pure-numpy references: ``tests/naive/estimation.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config
from .rows import _row_residual, _row_weight

__all__ = ["_solve_bounded_lsq", "_polish_bounded_lsq"]


# "(i8, i8[:], i8[:], f8[:], i8, f8[:, :], f8[:], f8[:], f8[:], f8[:, :])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _start_point(t, row_ptr, row_var, row_coef, n_count, count_y, static_y, lo, hi, x0):
    """Numba kernel for the start of one interval's solve: clipped ``x`` and row residuals ``r``."""
    n_var = x0.shape[1]
    n_rows = row_ptr.shape[0] - 1
    x = np.empty(n_var)
    for j in range(n_var):
        v = x0[t, j]
        if v < lo[j]:
            v = lo[j]
        if v > hi[j]:
            v = hi[j]
        x[j] = v
    r = np.empty(n_rows)
    for i in range(n_rows):
        r[i] = _row_residual(i, t, x, row_ptr, row_var, row_coef, n_count, count_y, static_y)
    return x, r


# "(i8, i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _curvatures(t, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w):
    """Numba kernel for the curvature ``h_j = sum_i w_ti a_ij^2`` of every variable in interval ``t``."""
    n_var = col_ptr.shape[0] - 1
    h = np.zeros(n_var)
    for j in range(n_var):
        hj = 0.0
        for k in range(col_ptr[j], col_ptr[j + 1]):
            a = col_coef[k]
            hj += _row_weight(col_row[k], t, n_count, count_w, count_y, static_w) * a * a
        h[j] = hj
    return h


# "(i8, i8[:], i8[:], f8[:], i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:], f8[:], f8[:], f8[:], f8[:, :])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _start_interval(t, row_ptr, row_var, row_coef, col_ptr, col_row, col_coef, n_count, count_w, count_y,
                    static_w, static_y, lo, hi, x0):
    """Numba kernel for the start of one interval's solve: clipped ``x``, residuals ``r``, curvatures ``h``.

    Used by :func:`_solve_bounded_lsq`; the curvature of every variable is fixed within an
    interval.
    """
    x, r = _start_point(t, row_ptr, row_var, row_coef, n_count, count_y, static_y, lo, hi, x0)
    h = _curvatures(t, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w)
    return x, r, h


# "(i8[:], i8[:], f8[:], i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:], f8[:], f8[:], f8[:], f8[:, :], i8, f8)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _solve_bounded_lsq(
    row_ptr, row_var, row_coef, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w, static_y, lo, hi, x0,
    max_sweeps, tol,
):
    """Numba kernel for :func:`citybrain.estimation.estimate_flows`: cyclic coordinate descent.

    Solves every interval's bounded weighted least-squares problem (module docstring) by
    exact minimisation along one variable at a time, clipped to its bounds, keeping the
    row residuals up to date. Intervals run in parallel (``prange``); each owns its output
    row and residual buffer.

    Parameters
    ----------
    row_ptr, row_var, row_coef : ndarray
        ``A`` in CSR form (``n_rows + 1``, ``nnz``, ``nnz``).
    col_ptr, col_row, col_coef : ndarray
        ``A`` in CSC form (``n_var + 1``, ``nnz``, ``nnz``).
    n_count : int
        Rows ``0 .. n_count - 1`` are per-interval count rows.
    count_w, count_y : ndarray
        ``(n_t, n_count)`` weights (1/variance, (h/veh)^2) and targets (veh/h); NaN target =
        missing.
    static_w, static_y : ndarray
        ``(n_rows - n_count,)`` weights and targets of the fixed rows.
    lo, hi : ndarray
        ``(n_var,)`` bounds (veh/h).
    x0 : ndarray
        ``(n_t, n_var)`` starting point (clipped to the bounds).
    max_sweeps : int
        Most sweeps over all variables.
    tol : float
        Stop when no variable moved more than ``tol`` (veh/h) in a sweep.

    Returns
    -------
    x : ndarray
        ``(n_t, n_var)`` solution (veh/h).
    sweeps : ndarray
        ``(n_t,)`` sweeps used; ``max_sweeps + 1`` flags no convergence.
    """
    n_t = x0.shape[0]
    n_var = x0.shape[1]
    x_out = np.empty((n_t, n_var))
    sweeps = np.zeros(n_t, dtype=np.int64)
    for t in prange(n_t):
        x, r, h = _start_interval(t, row_ptr, row_var, row_coef, col_ptr, col_row, col_coef, n_count,
                                  count_w, count_y, static_w, static_y, lo, hi, x0)
        used = max_sweeps + 1
        for sweep in range(max_sweeps):
            biggest = 0.0
            for j in range(n_var):
                if h[j] <= 0.0:
                    continue
                g = 0.0
                for k in range(col_ptr[j], col_ptr[j + 1]):
                    i = col_row[k]
                    g += _row_weight(i, t, n_count, count_w, count_y, static_w) * col_coef[k] * r[i]
                new = x[j] - g / h[j]
                if new < lo[j]:
                    new = lo[j]
                if new > hi[j]:
                    new = hi[j]
                d = new - x[j]
                if d != 0.0:
                    x[j] = new
                    for k in range(col_ptr[j], col_ptr[j + 1]):
                        r[col_row[k]] += col_coef[k] * d
                    if abs(d) > biggest:
                        biggest = abs(d)
            if biggest <= tol:
                used = sweep + 1
                break
        sweeps[t] = used
        for j in range(n_var):
            x_out[t, j] = x[j]
    return x_out, sweeps


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _ring_slot(k, n):
    """Numba kernel for the work list of :func:`citybrain.estimation.estimate_flows`: position ``k`` (< 2 n) of a ring of length ``n``."""
    return k - n if k >= n else k


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, inline="always")
def _axis_optimum(
    j, t, xt, r, known, h, lo, hi, col_ptr, col_row, col_coef, row_ptr, row_var, row_coef,
    n_count, count_w, count_y, static_w, static_y,
):
    """Numba kernel for the bound step of :func:`citybrain.estimation.estimate_flows`: the best value of one flow.

    The exact minimiser (veh/h) of interval ``t``'s objective along variable ``j``, clipped to
    its bounds; the residuals ``r`` of ``j``'s rows are computed when first needed (``known``).
    """
    g = 0.0
    for k in range(col_ptr[j], col_ptr[j + 1]):
        i = col_row[k]
        if not known[i]:
            r[i] = _row_residual(i, t, xt, row_ptr, row_var, row_coef, n_count, count_y, static_y)
            known[i] = True
        g += _row_weight(i, t, n_count, count_w, count_y, static_w) * col_coef[k] * r[i]
    new = xt[j] - g / h[j]
    if new < lo[j]:
        new = lo[j]
    if new > hi[j]:
        new = hi[j]
    return new


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, inline="always")
def _queue_row_neighbours(
    j, t, queue, queued, head, size, h, col_ptr, col_row, row_ptr, row_var, n_count, count_w, count_y, static_w
):
    """Numba kernel for the bound step of :func:`citybrain.estimation.estimate_flows`: wake the neighbours of one flow.

    Appends to the ring buffer every free variable not yet queued that shares a weighted row
    of interval ``t`` with variable ``j``; returns the new queue size.
    """
    n_var = queue.shape[0]
    for k in range(col_ptr[j], col_ptr[j + 1]):
        i = col_row[k]
        if _row_weight(i, t, n_count, count_w, count_y, static_w) == 0.0:
            continue
        for kk in range(row_ptr[i], row_ptr[i + 1]):
            v = row_var[kk]
            if not queued[v] and h[v] > 0.0:
                queue[_ring_slot(head + size, n_var)] = v
                size += 1
                queued[v] = True
    return size


# "(i8[:], i8[:], f8[:], i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:], f8[:], f8[:], f8[:], f8[:, :], b1[:], i8, f8)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _polish_bounded_lsq(
    row_ptr, row_var, row_coef, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w, static_y, lo, hi, x,
    seeded, max_updates, tol,
):
    """Numba kernel for the bound step of :func:`citybrain.estimation.estimate_flows`.

    Same problem and arguments as :func:`_solve_bounded_lsq`, but ``x`` is clipped to the
    bounds and solved in place, and coordinate descent runs on a work list instead of whole
    sweeps: after one pass that queues every variable whose exact (clipped) update exceeds
    ``tol``, a variable is revisited only when a variable sharing a row with it moved by
    more than ``tol``. A row's residual is computed when a queued variable first needs it.
    Started from a point that is optimal except near a few variables (the clipped direct
    solution), the work stays local: an interval inside the bounds costs one pass over its
    flows. Intervals run in parallel (``prange``); each owns its row of ``x`` and its buffers.

    Parameters
    ----------
    x : ndarray
        ``(n_t, n_var)`` start (veh/h), overwritten by the solution.
    seeded : ndarray
        ``(n_t,)`` bool: ``x[t]`` is the unconstrained optimum of interval ``t``, so only the
        variables outside the bounds and those sharing a row with them are looked at first
        (else every variable is). Seeded intervals must share their row weights (the
        factorised problem's); their curvatures are computed once.
    max_updates : int
        Most variable updates per interval.
    tol : float
        A variable whose update is at most ``tol`` (veh/h) does not wake its neighbours.

    Returns
    -------
    ndarray
        ``(n_t,)`` variable updates used; ``max_updates + 1`` flags no convergence.
    """
    n_t = x.shape[0]
    n_var = x.shape[1]
    n_rows = row_ptr.shape[0] - 1
    used = np.zeros(n_t, dtype=np.int64)
    # seeded intervals share the factorised problem's weights, hence their curvatures
    h_seeded = np.zeros(n_var)
    for t in range(n_t):
        if seeded[t]:
            h_seeded = _curvatures(t, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w)
            break
    for t in prange(n_t):
        xt = x[t]
        if seeded[t]:
            h = h_seeded
        else:
            h = _curvatures(t, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w)
        r = np.empty(n_rows)
        known = np.zeros(n_rows, dtype=np.bool_)  # r[i] is up to date
        queue = np.empty(n_var, dtype=np.int64)
        queued = np.zeros(n_var, dtype=np.bool_)
        head = 0
        size = 0
        # clip to the bounds; from an unconstrained optimum only the clipped variables and
        # their row neighbours can be off their optimum: queue those
        for j in range(n_var):
            if xt[j] >= lo[j] and xt[j] <= hi[j]:
                continue
            xt[j] = lo[j] if xt[j] < lo[j] else hi[j]
            if not seeded[t] or h[j] <= 0.0 or queued[j]:
                continue
            size = _queue_row_neighbours(
                j, t, queue, queued, head, size, h, col_ptr, col_row, row_ptr, row_var, n_count, count_w, count_y, static_w
            )
        # else: queue every variable that is not optimal along its own axis
        for j in range(n_var):
            if seeded[t]:
                break
            if h[j] <= 0.0 or queued[j]:
                continue
            new = _axis_optimum(
                j, t, xt, r, known, h, lo, hi, col_ptr, col_row, col_coef, row_ptr, row_var, row_coef,
                n_count, count_w, count_y, static_w, static_y,
            )
            if abs(new - xt[j]) > tol:
                queue[_ring_slot(head + size, n_var)] = j
                size += 1
                queued[j] = True
        n_up = 0
        while size > 0:
            if n_up >= max_updates:
                n_up = max_updates + 1
                break
            j = queue[head]
            head = _ring_slot(head + 1, n_var)
            size -= 1
            queued[j] = False
            new = _axis_optimum(
                j, t, xt, r, known, h, lo, hi, col_ptr, col_row, col_coef, row_ptr, row_var, row_coef,
                n_count, count_w, count_y, static_w, static_y,
            )
            d = new - xt[j]
            n_up += 1
            if d == 0.0:
                continue
            xt[j] = new
            for k in range(col_ptr[j], col_ptr[j + 1]):
                r[col_row[k]] += col_coef[k] * d  # every row of j is known: _axis_optimum read them all
            if abs(d) > tol:
                size = _queue_row_neighbours(
                    j, t, queue, queued, head, size, h, col_ptr, col_row, row_ptr, row_var, n_count, count_w, count_y, static_w
                )
        used[t] = n_up
    return used
