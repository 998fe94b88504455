"""Kernels of the condensed link system (right-hand sides, sparse products, triangular solves) against dense numpy."""

from __future__ import annotations

import numpy as np
import numpy.testing as npt
import pytest

from citybrain._kernels.estimation.normal_equations import _add_csr_product, _normal_rhs, _solve_triangular_pair

from ..naive import estimation as naive
from .estimation_cases import random_problem, sparse_rows

@pytest.mark.parametrize("seed", range(3))
def test_triangular_pair_matches_dense_solve(seed):
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    rng = np.random.default_rng(seed)
    n, n_rhs = 30, 7
    a = sp.random(60, n, density=0.1, random_state=seed) + sp.eye(60, n)
    h = (a.T @ a + 1e-3 * sp.eye(n)).tocsc()
    b = rng.normal(size=(n, n_rhs))
    lu = spla.splu(h, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    pb = np.empty_like(b)
    pb[lu.perm_r] = b
    lm, um = lu.L.tocsc(), lu.U.tocsc()
    for blocks in (1, 2, 3):
        z = pb.copy()
        _solve_triangular_pair(lm.indptr, lm.indices, lm.data, um.indptr, um.indices, um.data, z, np.int64(blocks))
        npt.assert_allclose(z[lu.perm_c], naive.solve_normal_equations(h.toarray(), b), rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_normal_rhs_matches_dense(seed):
    rng = np.random.default_rng(seed)
    a, count_w, count_y, static_w, static_y, *_ = random_problem(rng, 8, 5, 4, 6, missing=0.3)
    count_w[1, 2] = 0.0  # a zero weight leaves its count out too
    count_y[1, 2] = 123.0
    *_, col_ptr, col_row, col_coef = sparse_rows(a)
    got = _normal_rhs(col_ptr, col_row, col_coef, np.int64(5), count_w, count_y, static_w, static_y)
    w_ref = np.where(count_w > 0, count_w, 0.0)
    ref = naive.normal_rhs(a, 5, w_ref, np.where(count_w > 0, count_y, np.nan), static_w, static_y)
    npt.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("n_out", "n_in", "n_rhs"), [(1, 1, 1), (6, 9, 4), (40, 30, 96), (3, 5, 0)])
def test_add_csr_product_matches_numpy(n_out, n_in, n_rhs):
    import scipy.sparse as sparse

    rng = np.random.default_rng(n_out)
    s = sparse.random(n_out, n_in, density=0.3, format="csr", random_state=n_out)  # rows without entries too
    dense = rng.normal(size=(n_in, n_rhs))
    out = rng.normal(size=(n_out, n_rhs))
    ref = naive.add_csr_product(s, dense, out)
    _add_csr_product(s.indptr, s.indices, s.data, dense, out)
    npt.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
