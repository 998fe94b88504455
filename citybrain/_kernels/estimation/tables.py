"""Numba kernels for the tables of an estimate: counted rates, CSR/CSC order, flows and fit columns.

:func:`citybrain.estimation.build_problem` lays the counts out as a rate table
(``_count_rates``) and sorts the matrix entries (``_order_by_pairs``);
:func:`citybrain.estimation.estimate_flows` writes the flows table (``_flow_columns``) and the
fit to every count (``_count_fit``). Pure-numpy references: ``tests/naive/estimation.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config

__all__ = ["_count_rates", "_order_by_pairs", "_flow_columns", "_count_fit"]


# "(f8[:], f8, f8, i8[:], f8[:], i8, i8)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _count_rates(start_s, t0, interval_s, key, count, n_slots, n_keys):
    """Numba kernel for the count rows of :func:`citybrain.estimation.build_problem`.

    The ``(n_slots, n_keys)`` table of counted rates (veh/h): every count (vehicles in
    ``interval_s`` seconds) times ``3600 / interval_s``, at row ``rint((start_s - t0) /
    interval_s)`` (its interval) and column ``key`` (its count key); NaN where nothing was
    counted. Of two counts with the same interval and key the later one stays, as in
    numpy's fancy assignment. One pass, no temporaries.
    """
    out = np.full((n_slots, n_keys), np.nan)
    scale = 3600.0 / interval_s
    for r in range(key.shape[0]):
        t = np.int64(np.rint((start_s[r] - t0) / interval_s))
        out[t, key[r]] = count[r] * scale
    return out


# "(i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:], f8, i2[:], i2[:], i4[:], i4[:])" (code dtypes vary)
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _count_fit(row_ptr, row_var, row_coef, n_count, x, count_y, seconds, interval_s, camera, junction, from_edge, to_edge):
    """Numba kernel for the fit table of :func:`citybrain.estimation.estimate_flows`.

    For every observed count (``count_y`` not NaN), in order of interval then count row:
    the interval's start and length (s), the observed and the fitted rate ``a_i . x_t``
    (veh/h), their GEH, and the count row's key codes (gathered from ``camera``,
    ``junction``, ``from_edge`` and ``to_edge``, one code per count row).
    Intervals run in parallel (``prange``), each writing its own slice of the outputs.

    Parameters
    ----------
    row_ptr, row_var, row_coef : ndarray
        ``A`` in CSR form; rows ``0 .. n_count - 1`` are the counts.
    n_count : int
        Number of count rows.
    x : ndarray
        ``(n_t, n_var)`` flows (veh/h).
    count_y : ndarray
        ``(n_t, n_count)`` counted rates (veh/h), NaN where missing.
    seconds : ndarray
        ``(n_t,)`` interval starts (s).
    interval_s : float
        Interval length (s).
    camera, junction, from_edge, to_edge : ndarray
        ``(n_count,)`` codes of each count row's key columns (any integer types).

    Returns
    -------
    start, length : ndarray
        ``(n_obs,)`` interval start and length (s) of each observation.
    observed, fitted, geh : ndarray
        ``(n_obs,)`` counted and fitted rates (veh/h) and GEH (0 when both are 0).
    camera, junction, from_edge, to_edge : ndarray
        ``(n_obs,)`` key codes of each observation (the input types).
    """
    n_t = count_y.shape[0]
    per_interval = np.zeros(n_t, dtype=np.int64)
    for t in prange(n_t):
        m = 0
        for i in range(n_count):
            if not np.isnan(count_y[t, i]):
                m += 1
        per_interval[t] = m
    start = np.zeros(n_t + 1, dtype=np.int64)
    for t in range(n_t):
        start[t + 1] = start[t] + per_interval[t]
    n_obs = start[n_t]
    start_s = np.empty(n_obs)
    length = np.empty(n_obs)
    observed = np.empty(n_obs)
    fitted = np.empty(n_obs)
    geh = np.empty(n_obs)
    c_camera = np.empty(n_obs, dtype=camera.dtype)
    c_junction = np.empty(n_obs, dtype=junction.dtype)
    c_from = np.empty(n_obs, dtype=from_edge.dtype)
    c_to = np.empty(n_obs, dtype=to_edge.dtype)
    for t in prange(n_t):
        o = start[t]
        for i in range(n_count):
            c = count_y[t, i]
            if np.isnan(c):
                continue
            m = 0.0
            for k in range(row_ptr[i], row_ptr[i + 1]):
                m += row_coef[k] * x[t, row_var[k]]
            start_s[o] = seconds[t]
            length[o] = interval_s
            observed[o] = c
            fitted[o] = m
            total = m + c
            geh[o] = np.sqrt(2.0 * (m - c) * (m - c) / total) if total > 0.0 else 0.0
            c_camera[o] = camera[i]
            c_junction[o] = junction[i]
            c_from[o] = from_edge[i]
            c_to[o] = to_edge[i]
            o += 1
    return start_s, length, observed, fitted, geh, c_camera, c_junction, c_from, c_to


# "(i8[:], i8[:], i8, i8)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _order_by_pairs(major, minor, n_major, n_minor):
    """Numba kernel for the CSR and CSC arrays of :func:`citybrain.estimation.build_problem`.

    The permutation that sorts entries by ``(major, minor)``, ties kept in input order
    (``numpy.lexsort((minor, major))``): two stable counting sorts, by ``minor`` then by
    ``major``; ``O(n + n_major + n_minor)``.
    """
    n = major.shape[0]
    by_minor = np.empty(n, dtype=np.int64)
    start = np.zeros(n_minor + 1, dtype=np.int64)
    for k in range(n):
        start[minor[k] + 1] += 1
    for v in range(n_minor):
        start[v + 1] += start[v]
    for k in range(n):
        by_minor[start[minor[k]]] = k
        start[minor[k]] += 1
    order = np.empty(n, dtype=np.int64)
    start = np.zeros(n_major + 1, dtype=np.int64)
    for k in range(n):
        start[major[k] + 1] += 1
    for v in range(n_major):
        start[v + 1] += start[v]
    for k in by_minor:
        order[start[major[k]]] = k
        start[major[k]] += 1
    return order


# "(f8[:], f8, f8[:, :], f8[:, :], i8[:], i8[:], i2[:], i4[:], i4[:])" (code dtypes vary with the network's size)
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _flow_columns(seconds, interval_s, x, se, se_row, sel, junction, from_edge, to_edge):
    """Numba kernel for the flows table of :func:`citybrain.estimation.estimate_flows`.

    The columns of one row per interval and selected flow, interval by interval:
    ``interval_start`` (s), ``interval_s`` (s), ``flow_vph`` (``x[t, sel]``, veh/h),
    ``se_vph`` (``se[se_row[t], sel]``, veh/h) and the junction and edge codes repeated for
    every interval (``numpy.repeat`` / ``numpy.tile`` / gathers, in one pass). Intervals run
    in parallel (``prange``), each writing its own slice; every column is a fresh array.
    """
    n_t = x.shape[0]
    m = sel.shape[0]
    n = n_t * m
    start = np.empty(n)
    length = np.empty(n)
    flow = np.empty(n)
    err = np.empty(n)
    cj = np.empty(n, dtype=junction.dtype)
    cf = np.empty(n, dtype=from_edge.dtype)
    ct = np.empty(n, dtype=to_edge.dtype)
    for t in prange(n_t):
        base = t * m
        e = se_row[t]
        for k in range(m):
            start[base + k] = seconds[t]
            length[base + k] = interval_s
            flow[base + k] = x[t, sel[k]]
            err[base + k] = se[e, sel[k]]
            cj[base + k] = junction[k]
            cf[base + k] = from_edge[k]
            ct[base + k] = to_edge[k]
    return start, length, flow, err, cj, cf, ct
