"""Kernels of the junction blocks (inverses, block products) against numpy's inverse and dense products."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.estimation.blocks import _block_multiply, _block_multiply_transposed, _invert_blocks

from ..naive import estimation as naive
from .estimation_cases import sparse_rows

def _block_problem(rng, sizes):
    """Rows inside one block each (counts, priors, a ridge), as the wrapper gives ``_invert_blocks``."""
    block_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_var = int(block_ptr[-1])
    rows = []
    for s, e in itertools.pairwise(block_ptr):
        for _ in range(2 * (e - s)):
            r = np.zeros(n_var)
            r[s:e] = np.where(rng.random(e - s) < 0.5, rng.choice([-1.0, 1.0, 0.3], e - s), 0.0)
            rows.append(r)
    a = np.vstack([*rows, np.eye(n_var)]) if rows else np.eye(n_var)
    w = rng.uniform(1e-3, 1.0, a.shape[0])
    return a, w, block_ptr


@pytest.mark.parametrize("sizes", [[3, 1, 4], [12, 12, 5], [0, 2, 0, 7], [1]])
def test_invert_blocks_matches_numpy(sizes):
    rng = np.random.default_rng(len(sizes))
    a, w, block_ptr = _block_problem(rng, sizes)
    sizes = np.diff(block_ptr)
    inv_ptr = np.concatenate([[0], np.cumsum(sizes * sizes)]).astype(np.int64)
    row_ptr, row_var, row_coef, *_ = sparse_rows(a)
    inv = _invert_blocks(row_ptr, row_var, row_coef, w, block_ptr, inv_ptr)
    ref = naive.invert_blocks(a.T @ (w[:, None] * a), block_ptr)
    for b, m in enumerate(sizes):
        npt.assert_allclose(inv[inv_ptr[b] : inv_ptr[b + 1]].reshape(m, m), ref[b], rtol=1e-8, atol=1e-12)


def test_invert_blocks_flags_singular_block():
    a = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # block 0 (two variables) has rank 1
    row_ptr, row_var, row_coef, *_ = sparse_rows(a)
    block_ptr = np.array([0, 2, 3], dtype=np.int64)
    inv = _invert_blocks(row_ptr, row_var, row_coef, np.ones(2), block_ptr, np.array([0, 4, 5], dtype=np.int64))
    assert np.isnan(inv[:4]).all()
    assert inv[4] == pytest.approx(1.0)


@pytest.mark.parametrize("n_rhs", [1, 5])
def test_block_multiply_matches_numpy(n_rhs):
    rng = np.random.default_rng(n_rhs)
    sizes = np.array([2, 0, 3, 1], dtype=np.int64)
    block_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    inv_ptr = np.concatenate([[0], np.cumsum(sizes * sizes)]).astype(np.int64)
    inv = rng.normal(size=int(inv_ptr[-1]))
    b = rng.normal(size=(int(block_ptr[-1]), n_rhs))
    blocks = [inv[inv_ptr[k] : inv_ptr[k + 1]].reshape(m, m) for k, m in enumerate(sizes)]
    ref = naive.block_multiply(blocks, block_ptr, b)
    npt.assert_allclose(_block_multiply(inv_ptr, inv, block_ptr, b), ref, rtol=1e-12)
    got = _block_multiply_transposed(inv_ptr, inv, block_ptr, b)
    assert got.flags.c_contiguous
    npt.assert_allclose(got, ref.T, rtol=1e-12)
