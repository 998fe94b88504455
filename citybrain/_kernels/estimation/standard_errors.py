"""Numba kernel for the standard errors (``se_vph``) of the estimated flows, per junction block.

Pure-numpy reference: ``tests/naive/estimation.py`` (``block_standard_errors``).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config
from .blocks import _cholesky, _invert_lower
from .rows import _row_weight

__all__ = ["_block_standard_errors"]


# "(i8[:], i8[:], f8[:], i8[:], i8[:], f8[:], i8, f8[:, :], f8[:, :], f8[:], i8[:])"
@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS, parallel=True)
def _block_standard_errors(
    row_ptr, row_var, row_coef, col_ptr, col_row, col_coef, n_count, count_w, count_y, static_w, block_ptr
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
