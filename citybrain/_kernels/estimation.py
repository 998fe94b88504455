"""numba kernels for flow estimation: bounded weighted least squares, one problem per interval.

The problem of one interval ``t`` is

    minimise  sum_i w_ti (a_i . x - y_ti)^2   subject to  lo <= x <= hi

over movement flows ``x`` (veh/h). Rows ``i < n_count`` are camera counts whose weight and
target change with the interval (``w = 0`` or ``y = NaN`` marks a missing count); the other
rows (flow conservation on links, turning-ratio priors, level priors) have fixed weights and
targets. ``A`` is passed twice: by row (CSR) and by column (CSC).

Public wrapper: :func:`citybrain.estimation.estimate_flows`. Pure-numpy references:
``tests/naive/estimation.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .. import config

__all__ = [
    "_solve_bounded_lsq",
    "_block_standard_errors",
    "_solve_triangular_pair",
    "_polish_bounded_lsq",
    "_invert_blocks",
    "_block_multiply",
    "_row_hashes",
    "_number_rows",
    "_rows_match",
    "_count_rates",
    "_count_fit",
    "_normal_rhs",
    "_order_by_pairs",
    "_flow_columns",
    "_block_multiply_transposed",
    "_add_csr_product",
]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _row_weight(i, t, n_count, count_w, count_y, static_w):
    # weight of row i in interval t, 0 when the count is missing
    if i < n_count:
        w = count_w[t, i]
        y = count_y[t, i]
        if not (w > 0.0) or np.isnan(y):
            return 0.0
        return w
    return static_w[i - n_count]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _row_target(i, t, n_count, count_y, static_y):
    if i < n_count:
        y = count_y[t, i]
        if np.isnan(y):
            return 0.0
        return y
    return static_y[i - n_count]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _row_residual(i, t, x, row_ptr, row_var, row_coef, n_count, count_y, static_y):
    # residual a_i . x - y_ti of row i in interval t (x: that interval's flows)
    s = 0.0
    for k in range(row_ptr[i], row_ptr[i + 1]):
        s += row_coef[k] * x[row_var[k]]
    return s - _row_target(i, t, n_count, count_y, static_y)


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
    row_ptr,
    row_var,
    row_coef,
    col_ptr,
    col_row,
    col_coef,
    n_count,
    count_w,
    count_y,
    static_w,
    static_y,
    lo,
    hi,
    x0,
    max_sweeps,
    tol,
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


# "(i8[:], i8[:], f8[:], i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:], i8[:])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _cholesky(hmat, low, m):
    """Lower Cholesky factor of ``hmat[:m, :m]`` into ``low[:m, :m]``; False if not positive definite."""
    for p in range(m):
        for q in range(p + 1):
            acc = hmat[p, q]
            for k in range(q):
                acc -= low[p, k] * low[q, k]
            if p == q:
                if acc <= 0.0:
                    return False
                low[p, p] = np.sqrt(acc)
            else:
                low[p, q] = acc / low[q, q]
    return True


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _invert_lower(low, linv, m):
    """Lower triangle of ``L^-1`` into ``linv[:m, :m]`` for the lower triangular ``low[:m, :m]``."""
    for q in range(m):
        for p in range(q, m):
            acc = 1.0 if p == q else 0.0
            for k in range(q, p):
                acc -= low[p, k] * linv[k, q]
            linv[p, q] = acc / low[p, p]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _block_standard_errors(
    row_ptr,
    row_var,
    row_coef,
    col_ptr,
    col_row,
    col_coef,
    n_count,
    count_w,
    count_y,
    static_w,
    block_ptr,
):
    """Numba kernel for the ``se_vph`` of :func:`citybrain.estimation.estimate_flows`.

    For every interval and every block of consecutive variables (one junction's movements),
    builds the block of the Gauss-Newton information matrix ``A^T W A`` and returns the
    square root of the diagonal of its inverse: the standard error of each flow given the
    other junctions' flows.

    Parameters
    ----------
    row_ptr, row_var, row_coef, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w
        As in :func:`_solve_bounded_lsq`.
    block_ptr : ndarray
        ``(n_blocks + 1,)`` variable ranges of the blocks.

    Returns
    -------
    ndarray
        ``(n_t, n_var)`` standard errors (veh/h); ``inf`` where a block is singular.
    """
    n_t = count_w.shape[0]
    n_var = col_ptr.shape[0] - 1
    n_blocks = block_ptr.shape[0] - 1
    biggest = 0
    for b in range(n_blocks):
        size = block_ptr[b + 1] - block_ptr[b]
        if size > biggest:
            biggest = size
    se = np.empty((n_t, n_var))
    for t in prange(n_t):
        hmat = np.empty((biggest, biggest))
        low = np.empty((biggest, biggest))
        inv = np.empty((biggest, biggest))
        for b in range(n_blocks):
            s = block_ptr[b]
            m = block_ptr[b + 1] - s
            if m == 0:
                continue
            for p in range(m):
                for q in range(m):
                    hmat[p, q] = 0.0
            for p in range(m):
                j = s + p
                for k in range(col_ptr[j], col_ptr[j + 1]):
                    i = col_row[k]
                    w = _row_weight(i, t, n_count, count_w, count_y, static_w)
                    if w == 0.0:
                        continue
                    wa = w * col_coef[k]
                    for kk in range(row_ptr[i], row_ptr[i + 1]):
                        q = row_var[kk] - s
                        if q >= 0 and q < m:
                            hmat[p, q] += wa * row_coef[kk]
            # Cholesky factor, then the inverse of the factor, then the diagonal of H^-1
            if not _cholesky(hmat, low, m):
                for p in range(m):
                    se[t, s + p] = np.inf
                continue
            _invert_lower(low, inv, m)
            for q in range(m):
                acc = 0.0
                for p in range(q, m):
                    acc += inv[p, q] * inv[p, q]
                se[t, s + q] = np.sqrt(acc)
    return se


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


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _ring_slot(k, n):
    # position k (< 2 n) of a ring buffer of length n, without an integer division
    return k - n if k >= n else k


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, inline="always")
def _axis_optimum(
    j, t, xt, r, known, h, lo, hi, col_ptr, col_row, col_coef, row_ptr, row_var, row_coef,
    n_count, count_w, count_y, static_w, static_y,
):
    # the exact minimiser (veh/h) of interval t's objective along variable j, clipped to its
    # bounds; residuals r of j's rows are computed when first needed (known)
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
    # append to the ring buffer every free variable not yet queued that shares a weighted row
    # of interval t with variable j; returns the new queue size
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
    row_ptr,
    row_var,
    row_coef,
    col_ptr,
    col_row,
    col_coef,
    n_count,
    count_w,
    count_y,
    static_w,
    static_y,
    lo,
    hi,
    x,
    seeded,
    max_updates,
    tol,
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


# "(i8[:], i8[:], f8[:], f8[:], i8[:], i8[:])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _invert_blocks(row_ptr, row_var, row_coef, w, block_ptr, inv_ptr):
    """Numba kernel for the direct solver of :func:`citybrain.estimation.estimate_flows`.

    Inverts the diagonal blocks of ``A^T diag(w) A`` (one block per junction), with every
    row of non-zero weight lying inside one block (the wrapper gives the rows that couple
    junctions weight 0 and treats them apart). Blocks run in parallel (``prange``).

    Parameters
    ----------
    row_ptr, row_var, row_coef : ndarray
        ``A`` in CSR form.
    w : ndarray
        ``(n_rows,)`` row weights; rows with ``w == 0`` are left out.
    block_ptr : ndarray
        ``(n_blocks + 1,)`` variable ranges of the blocks.
    inv_ptr : ndarray
        ``(n_blocks + 1,)`` offsets of each block's ``m * m`` entries in the output.

    Returns
    -------
    ndarray
        ``(inv_ptr[-1],)`` the inverses, row-major per block; NaN for a block that is not
        positive definite.
    """
    n_blocks = block_ptr.shape[0] - 1
    n_var = block_ptr[n_blocks]
    # rows of each block: a row belongs to the block of its first variable
    block_of = np.empty(n_var, dtype=np.int64)
    for b in range(n_blocks):
        for j in range(block_ptr[b], block_ptr[b + 1]):
            block_of[j] = b
    n_rows = row_ptr.shape[0] - 1
    count = np.zeros(n_blocks + 1, dtype=np.int64)
    for i in range(n_rows):
        if w[i] != 0.0 and row_ptr[i + 1] > row_ptr[i]:
            count[block_of[row_var[row_ptr[i]]] + 1] += 1
    for b in range(n_blocks):
        count[b + 1] += count[b]
    rows = np.empty(count[n_blocks], dtype=np.int64)
    fill = count[:n_blocks].copy()
    for i in range(n_rows):
        if w[i] != 0.0 and row_ptr[i + 1] > row_ptr[i]:
            b = block_of[row_var[row_ptr[i]]]
            rows[fill[b]] = i
            fill[b] += 1
    out = np.empty(inv_ptr[n_blocks])
    for b in prange(n_blocks):
        s = block_ptr[b]
        m = block_ptr[b + 1] - s
        if m == 0:
            continue
        hmat = np.zeros((m, m))
        for r in range(count[b], count[b + 1]):
            i = rows[r]
            for k in range(row_ptr[i], row_ptr[i + 1]):
                p = row_var[k] - s
                a = w[i] * row_coef[k]
                for kk in range(row_ptr[i], row_ptr[i + 1]):
                    hmat[p, row_var[kk] - s] += a * row_coef[kk]
        # Cholesky factor, the inverse of the factor, then H^-1 = L^-T L^-1
        low = np.zeros((m, m))
        ok = _cholesky(hmat, low, m)
        base = inv_ptr[b]
        if not ok:
            for k in range(m * m):
                out[base + k] = np.nan
            continue
        linv = np.zeros((m, m))
        _invert_lower(low, linv, m)
        for p in range(m):
            for q in range(p, m):
                acc = 0.0
                for k in range(q, m):
                    acc += linv[k, p] * linv[k, q]
                out[base + p * m + q] = acc
                out[base + q * m + p] = acc
    return out


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, inline="always")
def _add_block_product(inv, base, m, b, s, out):
    # out += inv_b @ b[s:s+m] for the m x m row-major block of inv starting at base
    n_rhs = b.shape[1]
    for p in range(m):
        for q in range(m):
            a = inv[base + p * m + q]
            for c in range(n_rhs):
                out[p, c] += a * b[s + q, c]


# "(i8[:], f8[:], i8[:], f8[:, :])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _block_multiply(inv_ptr, inv, block_ptr, b):
    """Numba kernel for the direct solver of :func:`citybrain.estimation.estimate_flows`.

    Multiplies the block-diagonal matrix of :func:`_invert_blocks` by many right-hand
    sides: ``out[s:e] = inv_b @ b[s:e]`` for every block ``[s, e)``. Blocks run in parallel
    (``prange``), each writing its own rows of the output.

    Parameters
    ----------
    inv_ptr, inv : ndarray
        Offsets and row-major entries of the blocks (as returned by ``_invert_blocks``).
    block_ptr : ndarray
        ``(n_blocks + 1,)`` variable ranges of the blocks.
    b : ndarray
        ``(n_var, n_rhs)`` right-hand sides.

    Returns
    -------
    ndarray
        ``(n_var, n_rhs)`` products.
    """
    n_blocks = block_ptr.shape[0] - 1
    out = np.zeros_like(b)
    for blk in prange(n_blocks):
        s = block_ptr[blk]
        m = block_ptr[blk + 1] - s
        _add_block_product(inv, inv_ptr[blk], m, b, s, out[s : s + m])
    return out


# "(i8[:], f8[:], i8[:], f8[:, :])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _block_multiply_transposed(inv_ptr, inv, block_ptr, b):
    """Numba kernel for the direct solver of :func:`citybrain.estimation.estimate_flows`.

    :func:`_block_multiply` with the product written transposed, one row per right-hand side
    (per interval): ``out[:, s:e] = (inv_b @ b[s:e]).T``. Blocks run in parallel
    (``prange``), each writing its own columns of the output.

    Returns
    -------
    ndarray
        ``(n_rhs, n_var)`` products.
    """
    n_blocks = block_ptr.shape[0] - 1
    n_var = b.shape[0]
    n_rhs = b.shape[1]
    out = np.empty((n_rhs, n_var))
    for blk in prange(n_blocks):
        s = block_ptr[blk]
        m = block_ptr[blk + 1] - s
        block = np.zeros((m, n_rhs))  # this block's rows of the product, then written transposed
        _add_block_product(inv, inv_ptr[blk], m, b, s, block)
        for c in range(n_rhs):
            for p in range(m):
                out[c, s + p] = block[p, c]
    return out


# "(UniTuple(i8[:]), UniTuple(u1[:]))"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _row_hashes(offsets, data):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: row hashes.

    A 64-bit hash (FNV-1a over the bytes and lengths, then MurmurHash3's finaliser) of every
    row of a table of string columns, each column given as Arrow-style ``offsets`` (``(n_rows
    + 1,)``) into its UTF-8 ``data``. Column by column (a column taken from the tuples once,
    not per row), rows in parallel (``prange``).
    """
    n = offsets[0].shape[0] - 1
    hashes = np.full(n, np.uint64(14695981039346656037))
    for c in range(len(offsets)):
        off = offsets[c]
        col = data[c]
        for r in prange(n):
            h = hashes[r]
            for k in range(off[r], off[r + 1]):
                h = (h ^ np.uint64(col[k])) * np.uint64(1099511628211)
            # the value's length ends it, so ("ab", "c") and ("a", "bc") differ
            hashes[r] = (h ^ np.uint64(off[r + 1] - off[r] + 256)) * np.uint64(1099511628211)
    for r in prange(n):
        h = hashes[r]
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xFF51AFD7ED558CCD)
        h ^= h >> np.uint64(33)
        h *= np.uint64(0xC4CEB9FE1A85EC53)
        h ^= h >> np.uint64(33)
        hashes[r] = h
    return hashes


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _same_value(off, col, r, q):
    # rows r and q hold the same bytes in this column
    a = off[r]
    b = off[q]
    m = off[r + 1] - a
    if off[q + 1] - b != m:
        return False
    for k in range(m):
        if col[a + k] != col[b + k]:
            return False
    return True


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _same_row(offsets, data, r, q):
    # rows r and q hold the same bytes in every column
    for c in range(len(offsets)):
        if not _same_value(offsets[c], data[c], r, q):
            return False
    return True


# "(u8[:], UniTuple(i8[:]), UniTuple(u1[:]), b1)"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _number_rows(hashes, offsets, data, exact):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: key numbers.

    Numbers the distinct rows in order of first appearance with an open-addressing table
    keyed by ``hashes`` (from :func:`_row_hashes`). ``exact=False`` takes equal hashes for
    equal rows (check with :func:`_rows_match`); ``exact=True`` also compares the bytes.

    Returns
    -------
    code : ndarray
        ``(n_rows,)`` number of each row's key (0, 1, ... in order of first appearance).
    first : ndarray
        ``(n_keys,)`` the first row of each key.
    """
    n = hashes.shape[0]
    cap = 1 << 16
    slot_key = np.full(cap, -1, dtype=np.int64)
    code = np.empty(n, dtype=np.int64)
    first = np.empty(max(n, 1), dtype=np.int64)
    n_keys = 0
    for r in range(n):
        h = hashes[r]
        s = np.int64(h & np.uint64(cap - 1))
        while True:
            key = slot_key[s]
            if key < 0:
                slot_key[s] = n_keys
                first[n_keys] = r
                code[r] = n_keys
                n_keys += 1
                break
            q = first[key]
            if hashes[q] == h and (not exact or _same_row(offsets, data, r, q)):
                code[r] = key
                break
            s = (s + 1) & (cap - 1)
        if 2 * n_keys > cap:  # grow: re-insert every key by its first row's hash
            cap *= 2
            slot_key = np.full(cap, -1, dtype=np.int64)
            for key in range(n_keys):
                s = np.int64(hashes[first[key]] & np.uint64(cap - 1))
                while slot_key[s] >= 0:
                    s = (s + 1) & (cap - 1)
                slot_key[s] = key
    return code, first[:n_keys].copy()


# "(i8[:], i8[:], UniTuple(i8[:]), UniTuple(u1[:]))"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _rows_match(code, first, offsets, data):
    """Numba kernel for the count keys of :func:`citybrain.estimation.build_problem`: the check.

    ``True`` when every row holds the same bytes as the first row of its key (no two
    distinct rows shared a hash in :func:`_number_rows`). Column by column, rows in parallel
    (``prange``); counts the mismatching values.
    """
    n = code.shape[0]
    bad = 0
    for c in range(len(offsets)):
        off = offsets[c]
        col = data[c]
        for r in prange(n):
            if not _same_value(off, col, r, first[code[r]]):
                bad += 1
    return bad == 0


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
