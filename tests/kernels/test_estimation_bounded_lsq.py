"""The estimation kernels against the dense numpy/scipy references on random problems."""

from __future__ import annotations

import itertools

import numpy as np
import numpy.testing as npt
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from citybrain._kernels.estimation import (
    _add_csr_product,
    _block_multiply,
    _block_multiply_transposed,
    _block_standard_errors,
    _count_fit,
    _count_rates,
    _flow_columns,
    _invert_blocks,
    _normal_rhs,
    _number_rows,
    _order_by_pairs,
    _polish_bounded_lsq,
    _row_hashes,
    _rows_match,
    _solve_bounded_lsq,
    _solve_triangular_pair,
)
from citybrain.estimation import _count_keys

from .naive import estimation as naive


def _sparse(a):
    rows, cols = np.nonzero(a)
    row_ptr = np.searchsorted(rows, np.arange(a.shape[0] + 1)).astype(np.int64)
    order = np.lexsort((rows, cols))
    col_ptr = np.searchsorted(cols[order], np.arange(a.shape[1] + 1)).astype(np.int64)
    return (
        row_ptr, cols.astype(np.int64), a[rows, cols].astype(np.float64),
        col_ptr, rows[order].astype(np.int64), a[rows[order], cols[order]].astype(np.float64),
    )


def _random_problem(rng, n_var, n_count, n_static, n_t, missing=0.2):
    """Count rows with random 0/1 entries, static rows with +-1 and fractional entries, plus a ridge."""
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


def _run(a, n_count, count_w, count_y, static_w, static_y, lo, hi, sweeps=20000, tol=1e-9):
    sp = _sparse(a)
    x0 = np.zeros((count_y.shape[0], a.shape[1]))
    return _solve_bounded_lsq(*sp, np.int64(n_count), count_w, count_y, static_w, static_y, lo, hi, x0, np.int64(sweeps), np.float64(tol))


def _assert_matches_reference(x, a, cw, cy, sw, sy, lo, hi, *, bound_tol):
    """Every interval's solution ``x[t]`` matches the bounded least-squares reference."""
    for t in range(len(x)):
        w = np.concatenate([np.where(np.isnan(cy[t]), 0.0, cw[t]), sw])
        y = np.concatenate([cy[t], sy])
        ref = naive.solve_bounded_lsq(a, w, y, lo, hi)
        obj = lambda v: np.sum(np.where(w > 0, w * (a @ v - np.nan_to_num(y)) ** 2, 0.0))  # noqa: E731
        assert obj(x[t]) <= obj(ref) * (1 + 1e-6) + 1e-9
        npt.assert_allclose(x[t], ref, atol=1e-3 * max(1.0, np.abs(ref).max()))
        assert (x[t] >= lo - bound_tol).all() and (x[t] <= hi + bound_tol).all()


@pytest.mark.parametrize("seed", range(4))
def test_solver_matches_lsq_linear(seed):
    rng = np.random.default_rng(seed)
    n_var, n_count, n_static, n_t = 12, 9, 6, 3
    a, cw, cy, sw, sy, lo, hi = _random_problem(rng, n_var, n_count, n_static, n_t)
    x, sweeps = _run(a, n_count, cw, cy, sw, sy, lo, hi)
    assert (sweeps <= 20000).all()
    _assert_matches_reference(x, a, cw, cy, sw, sy, lo, hi, bound_tol=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n_var=st.integers(1, 8),
    n_count=st.integers(0, 6),
    n_static=st.integers(0, 4),
    n_t=st.integers(1, 3),
    missing=st.sampled_from([0.0, 0.5, 1.0]),
)
@example(seed=706595, n_var=8, n_count=2, n_static=0, n_t=3, missing=0.0)  # a flat valley of five flows
def test_solver_odd_shapes(seed, n_var, n_count, n_static, n_t, missing):
    rng = np.random.default_rng(seed)
    a, cw, cy, sw, sy, lo, hi = _random_problem(rng, n_var, max(n_count, 0), n_static, n_t, missing)
    x, _ = _run(a, n_count, cw[:, :n_count], cy[:, :n_count], sw, sy, lo, hi)
    assert np.isfinite(x).all()
    for t in range(n_t):
        w = np.concatenate([np.where(np.isnan(cy[t, :n_count]), 0.0, cw[t, :n_count]), sw])
        y = np.concatenate([cy[t, :n_count], sy])
        ref = naive.solve_bounded_lsq(a, w, y, lo, hi)
        # flat directions (tiny ridge) make x converge slowly; the objective must match
        # (to 1e-4: the example above stops 1.8e-5 above it after 20,000 sweeps)
        obj = lambda v: np.sum(np.where(w > 0, w * (a @ v - np.nan_to_num(y)) ** 2, 0.0))  # noqa: E731
        assert obj(x[t]) <= obj(ref) * (1 + 1e-4) + 1e-7
        assert (x[t] >= lo - 1e-12).all() and (x[t] <= hi + 1e-12).all()


def test_solver_zero_and_saturated():
    # one approach total of 0 -> all flows 0; a count far above the bound -> flow at the bound
    a = np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    cy = np.array([[0.0, 5000.0]])
    cw = np.array([[1.0, 1.0]])
    x, _ = _run(a, 2, cw, cy, np.array([1e-6, 1e-6]), np.array([0.0, 0.0]), np.zeros(2), np.array([800.0, 900.0]))
    assert x[0, 1] == pytest.approx(900.0)
    assert x[0, 0] == 0.0


def test_solver_all_nan_counts_falls_back_to_priors():
    a = np.array([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    cy = np.array([[np.nan]])
    x, _ = _run(a, 1, np.array([[1.0]]), cy, np.array([1.0, 1.0]), np.array([100.0, 300.0]), np.zeros(2), np.full(2, 1e4))
    npt.assert_allclose(x[0], [100.0, 300.0], atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_block_standard_errors_match_numpy(seed):
    rng = np.random.default_rng(seed)
    n_var, n_count, n_static, n_t = 9, 7, 5, 2
    a, cw, cy, sw, sy, lo, hi = _random_problem(rng, n_var, n_count, n_static, n_t)
    sp = _sparse(a)
    blocks = np.array([0, 3, 4, 9], dtype=np.int64)
    se = _block_standard_errors(*sp, np.int64(n_count), cw, cy, sw, blocks)
    for t in range(n_t):
        w = np.concatenate([cw[t], sw])
        y = np.concatenate([cy[t], sy])
        ref = naive.block_standard_errors(a, w, y, list(zip(blocks[:-1], blocks[1:], strict=True)))
        npt.assert_allclose(se[t], ref, rtol=1e-8)


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


@pytest.mark.parametrize("seed", range(4))
def test_polish_matches_lsq_linear_from_any_start(seed):
    rng = np.random.default_rng(seed)
    n_var, n_count, n_static, n_t = 12, 9, 6, 3
    a, cw, cy, sw, sy, lo, hi = _random_problem(rng, n_var, n_count, n_static, n_t)
    sparse = _sparse(a)
    x = rng.uniform(-200, 2000, (n_t, n_var))  # far from the optimum and outside the bounds
    seeded = np.zeros(n_t, dtype=np.bool_)
    used = _polish_bounded_lsq(*sparse, np.int64(n_count), cw, cy, sw, sy, lo, hi, x, seeded, np.int64(10**7), np.float64(1e-9))
    assert (used <= 10**7).all()
    _assert_matches_reference(x, a, cw, cy, sw, sy, lo, hi, bound_tol=0.0)


def test_polish_does_nothing_at_the_optimum():
    rng = np.random.default_rng(7)
    a, cw, cy, sw, sy, lo, hi = _random_problem(rng, 10, 8, 5, 2, missing=0.0)
    x_opt, _ = _run(a, 8, cw, cy, sw, sy, lo, hi)
    seeded = np.zeros(2, dtype=np.bool_)
    x = x_opt.copy()
    used = _polish_bounded_lsq(*_sparse(a), np.int64(8), cw, cy, sw, sy, lo, hi, x, seeded, np.int64(10**6), np.float64(1e-3))
    npt.assert_allclose(x, x_opt, atol=1e-3)
    assert used.max() <= 10


@pytest.mark.parametrize("seed", range(4))
def test_polish_from_unconstrained_optimum_matches_lsq_linear(seed):
    # seeded start: x0 is the unbounded optimum, so only clipped variables and their row
    # neighbours are looked at first; the result must still be the bounded optimum
    rng = np.random.default_rng(seed)
    n_var, n_count, n_static, n_t = 12, 9, 6, 3
    a, cw, cy, sw, sy, lo, hi = _random_problem(rng, n_var, n_count, n_static, n_t, missing=0.0)
    cw = np.repeat(cw[:1], n_t, axis=0)  # seeded intervals share the factorised weights
    hi = hi * 0.5  # make some bounds bind
    x0 = np.empty((n_t, n_var))
    for t in range(n_t):
        w = np.concatenate([np.where(np.isnan(cy[t]), 0.0, cw[t]), sw])
        y = np.nan_to_num(np.concatenate([cy[t], sy]))
        x0[t] = naive.solve_normal_equations(a.T @ (w[:, None] * a), a.T @ (w * y))
    seeded = np.ones(n_t, dtype=np.bool_)
    x = x0.copy()
    used = _polish_bounded_lsq(*_sparse(a), np.int64(n_count), cw, cy, sw, sy, lo, hi, x, seeded, np.int64(10**7), np.float64(1e-9))
    assert (used <= 10**7).all()
    for t in range(n_t):
        w = np.concatenate([np.where(np.isnan(cy[t]), 0.0, cw[t]), sw])
        ref = naive.solve_bounded_lsq(a, w, np.concatenate([cy[t], sy]), lo, hi)
        npt.assert_allclose(x[t], ref, atol=1e-3 * max(1.0, np.abs(ref).max()))


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
    row_ptr, row_var, row_coef, *_ = _sparse(a)
    inv = _invert_blocks(row_ptr, row_var, row_coef, w, block_ptr, inv_ptr)
    ref = naive.invert_blocks(a.T @ (w[:, None] * a), block_ptr)
    for b, m in enumerate(sizes):
        npt.assert_allclose(inv[inv_ptr[b] : inv_ptr[b + 1]].reshape(m, m), ref[b], rtol=1e-8, atol=1e-12)


def test_invert_blocks_flags_singular_block():
    a = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])  # block 0 (two variables) has rank 1
    row_ptr, row_var, row_coef, *_ = _sparse(a)
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


def _key_frame(rng, n_rows):
    """Count keys with repeats, empty strings, prefixes of each other and non-ASCII names."""
    names = np.array(["", "a", "ab", "b", "ba", "é", "ée", "cam_1", "cam_10", "x" * 40])
    return pd.DataFrame({c: rng.choice(names, n_rows) for c in ("camera_id", "junction", "from_edge", "to_edge")})


def _key_buffers(frame):
    offsets, data = [], []
    for col in frame.columns:
        values = pa.array(frame[col], type=pa.large_string())
        _, off, buf = values.buffers()
        offsets.append(np.frombuffer(off, dtype=np.int64).copy())
        data.append(np.frombuffer(buf, dtype=np.uint8).copy() if buf is not None else np.zeros(0, np.uint8))
    return tuple(offsets), tuple(data)


@pytest.mark.parametrize(("seed", "n_rows"), [(0, 1), (1, 50), (2, 3000), (3, 200_000)])
def test_count_keys_match_dict(seed, n_rows):
    frame = _key_frame(np.random.default_rng(seed), n_rows)
    code, keys = _count_keys(frame)
    ref_code, ref_first = naive.count_keys(frame)
    npt.assert_array_equal(code, ref_code)
    pd.testing.assert_frame_equal(keys, frame.iloc[ref_first].reset_index(drop=True))
    npt.assert_array_equal(_count_keys(frame.astype(object))[0], ref_code)  # not Arrow-backed


def test_count_keys_survive_hash_collisions():
    # every row given the same hash: numbering by hash alone merges distinct keys, the
    # check sees it, and the exact numbering compares bytes
    frame = _key_frame(np.random.default_rng(4), 500)
    offsets, data = _key_buffers(frame)
    hashes = np.zeros(len(frame), dtype=np.uint64)
    code, first = _number_rows(hashes, offsets, data, False)
    assert len(first) == 1
    assert not _rows_match(code, first, offsets, data)
    code, first = _number_rows(hashes, offsets, data, True)
    ref_code, ref_first = naive.count_keys(frame)
    npt.assert_array_equal(code, ref_code)
    npt.assert_array_equal(first, ref_first)
    assert _rows_match(code, first, offsets, data)
    npt.assert_array_equal(_row_hashes(offsets, data)[first[code]], _row_hashes(offsets, data))


@pytest.mark.parametrize(("n_rows", "n_slots", "n_keys"), [(0, 1, 0), (1, 1, 1), (40, 5, 6), (3000, 96, 20)])
def test_count_rates_match_fancy_assignment(n_rows, n_slots, n_keys):
    rng = np.random.default_rng(n_rows)
    t0 = 1800.0
    start_s = t0 + 900.0 * rng.integers(0, n_slots, n_rows) + rng.uniform(-1e-6, 1e-6, n_rows)  # float noise
    key = rng.integers(0, max(n_keys, 1), n_rows)  # repeated (interval, key) pairs too: the later count stays
    count = rng.integers(0, 400, n_rows).astype(float)
    got = _count_rates(start_s, t0, 900.0, key, count, np.int64(n_slots), np.int64(n_keys))
    npt.assert_array_equal(got, naive.count_rates(start_s, t0, 900.0, key, count, n_slots, n_keys))


@pytest.mark.parametrize("seed", range(3))
def test_count_fit_matches_dense(seed):
    rng = np.random.default_rng(seed)
    a, _, count_y, *_ = _random_problem(rng, 9, 6, 4, 5, missing=0.4)
    count_y[0] = 0.0  # GEH 0 where model and count are both 0
    x = rng.uniform(0, 500, (5, 9))
    x[0] = 0.0
    row_ptr, row_var, row_coef, *_ = _sparse(a)
    seconds = 900.0 * np.arange(5) + 3600.0
    codes = [rng.integers(0, 100, 6).astype(dtype) for dtype in (np.int8, np.int16, np.int32, np.int16)]
    got = _count_fit(row_ptr, row_var, row_coef, np.int64(6), x, count_y, seconds, 900.0, *codes)
    ref = naive.count_fit(a, 6, x, count_y, seconds, 900.0, *codes)
    for g, r in zip(got, ref, strict=True):
        assert g.dtype == r.dtype
        npt.assert_allclose(g, r, rtol=1e-12, atol=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_normal_rhs_matches_dense(seed):
    rng = np.random.default_rng(seed)
    a, count_w, count_y, static_w, static_y, *_ = _random_problem(rng, 8, 5, 4, 6, missing=0.3)
    count_w[1, 2] = 0.0  # a zero weight leaves its count out too
    count_y[1, 2] = 123.0
    *_, col_ptr, col_row, col_coef = _sparse(a)
    got = _normal_rhs(col_ptr, col_row, col_coef, np.int64(5), count_w, count_y, static_w, static_y)
    w_ref = np.where(count_w > 0, count_w, 0.0)
    ref = naive.normal_rhs(a, 5, w_ref, np.where(count_w > 0, count_y, np.nan), static_w, static_y)
    npt.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("n", "n_major", "n_minor"), [(0, 3, 2), (1, 1, 1), (500, 7, 40), (20_000, 300, 5)])
def test_order_by_pairs_matches_lexsort(n, n_major, n_minor):
    rng = np.random.default_rng(n)
    major = rng.integers(0, n_major, n)  # repeated pairs too: ties stay in input order
    minor = rng.integers(0, n_minor, n)
    npt.assert_array_equal(
        _order_by_pairs(major, minor, np.int64(n_major), np.int64(n_minor)), naive.order_by_pairs(major, minor)
    )


@pytest.mark.parametrize(("n_t", "sel"), [(1, [0]), (4, [0, 1, 2, 3, 4]), (3, [4, 1]), (2, [])])
def test_flow_columns_match_numpy(n_t, sel):
    rng = np.random.default_rng(n_t)
    x = rng.uniform(0, 900, (n_t, 5))
    sel = np.array(sel, dtype=np.int64)
    codes = [rng.integers(0, 100, len(sel)).astype(dtype) for dtype in (np.int8, np.int16, np.int32)]
    seconds = 900.0 * np.arange(n_t)
    se = rng.uniform(1, 50, (2, 5))  # two distinct intervals' standard errors
    se_row = rng.integers(0, 2, n_t)
    got = _flow_columns(seconds, 900.0, x, se, se_row, sel, *codes)
    for g, r in zip(got, naive.flow_columns(seconds, 900.0, x, se, se_row, sel, *codes), strict=True):
        assert g.dtype == r.dtype
        npt.assert_array_equal(g, r)


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
