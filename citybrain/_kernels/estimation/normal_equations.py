"""Numba kernels for the condensed link system of the direct solver: right-hand sides and solves.

The direct solver of :func:`citybrain.estimation.estimate_flows` forms ``A^T W y`` for every
interval, condenses the normal equations onto the link-conservation rows and solves them
with the triangular factors of :func:`scipy.sparse.linalg.splu`, every interval at once.
Pure-numpy references: ``tests/naive/estimation.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config

__all__ = ["_normal_rhs", "_add_csr_product", "_solve_triangular_pair"]


# "(i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:], f8[:])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _normal_rhs(col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w, static_y):
    """Numba kernel for the direct solver of :func:`citybrain.estimation.estimate_flows`.

    The right-hand sides ``b_t = A^T W_t y_t`` of the normal equations of every interval,
    missing counts (NaN or ``w = 0``) left out. The weighted counts are first transposed to
    one row per count, then every variable sums its column of ``A``; both loops run in
    parallel (``prange``), each writing its own rows.

    Parameters
    ----------
    col_ptr, col_row, col_coef : ndarray
        ``A`` in CSC form.
    n_count : int
        Rows ``0 .. n_count - 1`` are the counts.
    count_w, count_y : ndarray
        ``(n_t, n_count)`` weights ((h/veh)^2) and rates (veh/h).
    static_w, static_y : ndarray
        Weights and targets of the fixed rows.

    Returns
    -------
    ndarray
        ``(n_var, n_t)`` right-hand sides (1/h).
    """
    n_t = count_y.shape[0]
    n_var = col_ptr.shape[0] - 1
    wy = np.empty((n_count, n_t))
    for i in prange(n_count):
        for t in range(n_t):
            w = count_w[t, i]
            y = count_y[t, i]
            wy[i, t] = w * y if w > 0.0 and not np.isnan(y) else 0.0
    b = np.empty((n_var, n_t))
    for j in prange(n_var):
        fixed = 0.0
        for t in range(n_t):
            b[j, t] = 0.0
        for k in range(col_ptr[j], col_ptr[j + 1]):
            i = col_row[k]
            a = col_coef[k]
            if i < n_count:
                for t in range(n_t):
                    b[j, t] += a * wy[i, t]
            else:
                fixed += a * static_w[i - n_count] * static_y[i - n_count]
        for t in range(n_t):
            b[j, t] += fixed
    return b


# "(i4[:], i4[:], f8[:], f8[:, :], f8[:, :])" (scipy's index dtype; i8 works too)
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _add_csr_product(ptr, idx, val, dense, out):
    """Numba kernel for the direct solver of :func:`citybrain.estimation.estimate_flows`.

    ``out += S @ dense`` in place for a sparse ``S`` in CSR form (``ptr``, ``idx``, ``val``)
    and a dense ``(n, n_rhs)`` array: rows of ``out`` in parallel (``prange``), each a
    contiguous loop over the right-hand sides.
    """
    n_out = ptr.shape[0] - 1
    n_rhs = dense.shape[1]
    for r in prange(n_out):
        for k in range(ptr[r], ptr[r + 1]):
            a = val[k]
            i = idx[k]
            for c in range(n_rhs):
                out[r, c] += a * dense[i, c]


# "(i4[:], i4[:], f8[:], i4[:], i4[:], f8[:], f8[:, :], i8)" (scipy's index dtype; i8 works too)
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _solve_triangular_pair(l_ptr, l_row, l_val, u_ptr, u_row, u_val, z, n_blocks):
    """Numba kernel for the direct solver of :func:`citybrain.estimation.estimate_flows`.

    Solves ``L U z = b`` in place for many right-hand sides at once: forward substitution with the
    unit lower triangle ``L``, then back substitution with the upper triangle ``U`` (both in
    CSC form, as :func:`scipy.sparse.linalg.splu` returns them). ``b`` holds one right-hand
    side per column (one per interval), so every update of a row is a contiguous loop over
    intervals. The columns are split into one block per thread (``prange``); each thread
    owns its block of ``z``.

    Parameters
    ----------
    l_ptr, l_row, l_val : ndarray
        ``L`` in CSC form (``n + 1``, ``nnz``, ``nnz``); its diagonal is taken as 1.
    u_ptr, u_row, u_val : ndarray
        ``U`` in CSC form; every column holds its diagonal entry.
    z : ndarray
        ``(n, n_rhs)`` right-hand sides ``b``, overwritten by the solutions ``z``.
    n_blocks : int
        Number of column blocks run in parallel (the number of threads).
    """
    n = z.shape[0]
    n_rhs = z.shape[1]
    n_blocks = max(1, min(n_rhs, n_blocks))
    for blk in prange(n_blocks):
        c0 = (blk * n_rhs) // n_blocks
        c1 = ((blk + 1) * n_rhs) // n_blocks
        for j in range(n):
            for k in range(l_ptr[j], l_ptr[j + 1]):
                i = l_row[k]
                if i > j:
                    a = l_val[k]
                    for c in range(c0, c1):
                        z[i, c] -= a * z[j, c]
        for j in range(n - 1, -1, -1):
            d = 0.0
            for k in range(u_ptr[j], u_ptr[j + 1]):
                if u_row[k] == j:
                    d = u_val[k]
            for c in range(c0, c1):
                z[j, c] /= d
            for k in range(u_ptr[j], u_ptr[j + 1]):
                i = u_row[k]
                if i < j:
                    a = u_val[k]
                    for c in range(c0, c1):
                        z[i, c] -= a * z[j, c]
