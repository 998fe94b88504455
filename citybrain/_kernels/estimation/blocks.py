"""Numba kernels for the junction blocks of the normal equations: inverses and block products.

Every row of the problem but the link-conservation rows lies inside one junction, so
``A^T W A`` minus those rows is block-diagonal by junction; the direct solver of
:func:`citybrain.estimation.estimate_flows` inverts the blocks apart (Cholesky) and applies
them to many right-hand sides. Pure-numpy references: ``tests/naive/estimation.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ... import config

__all__ = ["_invert_blocks", "_block_multiply", "_block_multiply_transposed", "_cholesky", "_invert_lower"]


@njit(cache=config.NUMBA_CACHE, fastmath=config.FASTMATH_FLAGS)
def _cholesky(hmat, low, m):
    """Numba kernel for the junction blocks of :func:`citybrain.estimation.estimate_flows`: Cholesky factor.

    The lower factor of ``hmat[:m, :m]`` into ``low[:m, :m]``; ``False`` if not positive definite.
    """
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
    """Numba kernel for the junction blocks of :func:`citybrain.estimation.estimate_flows`: inverse of a triangular factor.

    The lower triangle of ``L^-1`` into ``linv[:m, :m]`` for the lower triangular ``low[:m, :m]``.
    """
    for q in range(m):
        for p in range(q, m):
            acc = 1.0 if p == q else 0.0
            for k in range(q, p):
                acc -= low[p, k] * linv[k, q]
            linv[p, q] = acc / low[p, p]


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
    """Numba kernel for the direct solver of :func:`citybrain.estimation.estimate_flows`: one block product.

    ``out += inv_b @ b[s:s+m]`` for the ``m x m`` row-major block of ``inv`` starting at ``base``.
    """
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
