"""Solvers of the estimation problem: direct (one factorisation), coordinate descent, lsq_linear.

``method="direct"`` (default): with one weight per camera the normal-equations matrix
``A^T W A`` is the same for every interval that has the same counts present, so it is
factorised once (for the counts present in most intervals) and every interval's right-hand
side is solved at once. Only the
link-conservation rows couple junctions, so the junction blocks are inverted apart
(kernels of :mod:`citybrain._kernels.estimation.blocks`) and the system is condensed onto
the links, which :func:`scipy.sparse.linalg.splu` factorises (kernels of
:mod:`citybrain._kernels.estimation.normal_equations` apply it); intervals whose solution
leaves the bounds are finished by coordinate descent on a work list (``_polish_bounded_lsq``),
which visits only the variables near the change. An interval whose matrix differs by a few
rows (missing counts) is first solved by conjugate gradients preconditioned by the factorised
matrix (``_conjugate_gradients``): the difference is of low rank, so few steps suffice.
Cyclic coordinate descent over whole sweeps (``method="coordinate-descent"``, kernel
``_solve_bounded_lsq``) needs no factorisation but many sweeps on a large grid, because
conservation must propagate across the network. ``method="lsq_linear"`` solves the same
problems with :func:`scipy.optimize.lsq_linear` (reference; slow).
"""

from __future__ import annotations

import functools

import numpy as np

from ..exceptions import ConvergenceError
from .problem import EstimationProblem
from .settings import EstimationSettings

__all__ = ["solve", "standard_errors"]

#: Below this many flows x intervals the kernels run on one numba thread: waking the pool
#: costs more than the work.
_PARALLEL_MIN_WORK = 1_000_000


def solve(p: EstimationProblem, settings: EstimationSettings) -> tuple[np.ndarray, np.ndarray]:
    """Solve every interval of ``p`` by ``settings.method``.

    Returns
    -------
    x : ndarray
        ``(n_t, n_var)`` flows (veh/h).
    sweeps : ndarray
        ``(n_t,)`` sweeps (coordinate descent, in whole-sweep equivalents for the direct
        solver's bound step) or iterations (lsq_linear) per interval; ``max_sweeps + 1`` flags
        no convergence.

    Raises
    ------
    ConvergenceError
        If ``settings.raise_on_nonconvergence`` and coordinate descent did not reach
        ``tol_vph``, or a junction's block of the normal equations is singular (direct).
    """
    if settings.method == "lsq_linear":
        return _solve_lsq_linear(p)
    run = _solve_direct if settings.method == "direct" else _solve_coordinate_descent
    x, sweeps = run(p, int(settings.max_sweeps), float(settings.tol_vph))
    if settings.raise_on_nonconvergence and np.any(sweeps > settings.max_sweeps):
        bad = np.flatnonzero(sweeps > settings.max_sweeps)
        msg = (
            f"estimate_flows: the {settings.method} solver did not reach tol_vph={settings.tol_vph} in "
            f"{settings.max_sweeps} sweeps for {len(bad)} interval(s); raise max_sweeps or tol_vph."
        )
        raise ConvergenceError(msg)
    return x, sweeps


def standard_errors(p: EstimationProblem, settings: EstimationSettings) -> tuple[np.ndarray, np.ndarray]:
    """Return ``se_vph`` per distinct interval and each interval's row (NaN unless ``settings.standard_errors``)."""
    if settings.standard_errors:
        return _standard_errors(p)
    return np.full((1, p.n_var), np.nan), np.zeros(p.count_y.shape[0], dtype=np.int64)


def _threads_by_size(solver):
    """Run ``solver(p, ...)`` on one numba thread when ``p`` is small (``_PARALLEL_MIN_WORK``)."""

    @functools.wraps(solver)
    def run(p: EstimationProblem, *args):
        import numba

        before = numba.get_num_threads()
        if p.n_var * p.count_y.shape[0] < _PARALLEL_MIN_WORK:
            numba.set_num_threads(1)
        try:
            return solver(p, *args)
        finally:
            numba.set_num_threads(before)

    return run


@_threads_by_size
def _solve_coordinate_descent(p: EstimationProblem, max_sweeps: int, tol_vph: float) -> tuple[np.ndarray, np.ndarray]:
    from .._kernels.estimation.bounded_lsq import _solve_bounded_lsq

    return _solve_bounded_lsq(*p.system(), p.lo, p.hi, p.x0, np.int64(max_sweeps), np.float64(tol_vph))


@_threads_by_size
def _solve_direct(p: EstimationProblem, max_sweeps: int, tol_vph: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve every interval by one sparse factorisation, then polish the bounds.

    The normal equations ``(A^T W A) x = A^T W y`` share their matrix across intervals
    whenever the same counts are present (count weights are per camera, see
    ``count_sd_from``), so the matrix of the counts present in at least half of the intervals
    is factorised once. Every row but the link-conservation rows lies inside one junction, so
    ``A^T W A = D + C^T S C`` with ``D`` block-diagonal by junction (inverted block by block,
    kernel ``_invert_blocks``) and ``C`` the conservation rows (weights ``S``). Static
    condensation onto the links:

        (S^-1 + C D^-1 C^T) u = C D^-1 b,    x = D^-1 (b - C^T u)

    The link system has a third of the unknowns and a tenth of the fill of the full one; it
    is factorised by :func:`scipy.sparse.linalg.splu` (minimum-degree ordering) and every
    interval's right-hand side is solved at once (kernels ``_block_multiply``,
    ``_add_csr_product`` and ``_solve_triangular_pair``; ``C`` is permuted to the factor's
    order instead of the right-hand sides, and ``x`` comes out one row per interval from
    ``_block_multiply_transposed``). The intervals whose present counts (or weights) differ
    from the factorised ones are solved by conjugate gradients with that factorisation as
    the preconditioner (``_conjugate_gradients``). Then work-list coordinate descent
    (``_polish_bounded_lsq``, in place) clips ``x`` to the bounds and finishes the intervals
    whose solution left them: the correction is local, so it needs few updates.

    Returns
    -------
    x : ndarray
        ``(n_t, n_var)`` flows (veh/h).
    sweeps : ndarray
        ``(n_t,)`` coordinate-descent work per interval in whole-sweep equivalents (0 when
        the direct solution was feasible and exact); ``max_sweeps + 1`` flags no convergence.

    Raises
    ------
    ConvergenceError
        If a junction's block of the normal equations is not positive definite.
    """
    import numba
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    from .._kernels.estimation.blocks import _block_multiply, _block_multiply_transposed, _invert_blocks
    from .._kernels.estimation.bounded_lsq import _polish_bounded_lsq
    from .._kernels.estimation.normal_equations import _add_csr_product, _normal_rhs, _solve_triangular_pair

    n_t = p.count_y.shape[0]
    n_var = p.n_var
    threads = np.int64(numba.get_num_threads())
    present = ~np.isnan(p.count_y) & (p.count_w > 0)
    # the factorised pattern: the counts present in at least half of the intervals
    mask = 2 * present.sum(axis=0) >= n_t
    # one weight per count row for the factorised pattern: the camera's weight where present
    w_count = np.where(mask, np.max(p.count_w, axis=0, where=present, initial=0.0), 0.0)
    w = np.concatenate([w_count, p.static_w])
    # rows whose variables span two junctions couple the blocks
    var_block = np.repeat(np.arange(len(p.block_ptr) - 1), np.diff(p.block_ptr))[p.row_var]
    starts = p.row_ptr[:-1]
    coupling = np.flatnonzero(
        (np.minimum.reduceat(var_block, starts) != np.maximum.reduceat(var_block, starts)) & (w > 0)
    )
    w_block = w.copy()
    w_block[coupling] = 0.0
    sizes = np.diff(p.block_ptr)
    inv_ptr = np.concatenate([[0], np.cumsum(sizes * sizes)]).astype(np.int64)
    inv = _invert_blocks(p.row_ptr, p.row_var, p.row_coef, w_block, p.block_ptr, inv_ptr)
    if not np.isfinite(inv).all():
        msg = "estimate_flows: a junction's normal equations are singular; give level_prior_sd_vph a finite value."
        raise ConvergenceError(msg)
    # D^-1 as a sparse matrix (for the link system): the blocks' row-major entries are its
    # CSR data as they stand; and C, the coupling rows
    blk = np.repeat(np.arange(len(sizes)), sizes * sizes)
    cols = p.block_ptr[blk] + (np.arange(inv_ptr[-1]) - inv_ptr[blk]) % sizes[blk]
    row_ptr = np.concatenate([[0], np.cumsum(np.repeat(sizes, sizes))])
    d_inv = sp.csr_matrix((inv, cols, row_ptr), shape=(n_var, n_var))
    a = sp.csr_matrix((p.row_coef, p.row_var, p.row_ptr), shape=(p.n_rows, n_var))
    c = a[coupling]
    link = (sp.diags(1.0 / w[coupling]) + c @ d_inv @ c.T).tocsc()
    link.sum_duplicates()
    # right-hand sides A^T W y of every interval (own weights, missing counts left out)
    b = _normal_rhs(p.col_ptr, p.col_row, p.col_coef, np.int64(p.n_count), p.count_w, p.count_y, p.static_w, p.static_y)
    if len(coupling):
        lu = spla.splu(link, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
        l_mat = lu.L.tocsc()
        u_mat = lu.U.tocsc()
        # C's rows in the factor's row order and C^T's columns in its column order, so that
        # the right-hand sides and the solution need no permuted copies
        row_of = np.empty_like(lu.perm_r)
        row_of[lu.perm_r] = np.arange(len(row_of), dtype=row_of.dtype)
        c_rows = c[row_of]
        ct = c.T.tocsr()
        ct_cols = lu.perm_c[ct.indices]

    def shared_solve(rhs: np.ndarray) -> np.ndarray:
        """``(n_rhs, n_var)`` solutions of the factorised system for ``(n_var, n_rhs)`` right-hand sides (overwritten)."""
        if len(coupling):
            z = np.zeros((c.shape[0], rhs.shape[1]))
            _add_csr_product(c_rows.indptr, c_rows.indices, c_rows.data, _block_multiply(inv_ptr, inv, p.block_ptr, rhs), z)
            _solve_triangular_pair(l_mat.indptr, l_mat.indices, l_mat.data, u_mat.indptr, u_mat.indices, u_mat.data, z, threads)
            _add_csr_product(ct.indptr, ct_cols, -ct.data, z, rhs)  # rhs -= C^T u
        return _block_multiply_transposed(inv_ptr, inv, p.block_ptr, rhs)

    # intervals whose matrix differs from the factorised one: other counts present, or other
    # weights (count_sd_from="count"); the others start from their unconstrained optimum
    other = (present != mask).any(axis=1) | (present & (p.count_w != w_count)).any(axis=1)
    b_other = b[:, other]  # a copy: shared_solve overwrites b
    x = shared_solve(b)  # (n_t, n_var)
    if other.any():
        w_other = np.concatenate([np.where(present[other], p.count_w[other], 0.0).T, np.repeat(p.static_w[:, None], other.sum(), axis=1)])
        x[other] = _conjugate_gradients(a, w_other, b_other, x[other], shared_solve, max_sweeps, tol_vph)
    used = _polish_bounded_lsq(*p.system(), p.lo, p.hi, x, ~other, np.int64(max_sweeps) * n_var, np.float64(tol_vph))
    # report work as whole-sweep equivalents (max_sweeps + 1 still flags no convergence)
    sweeps = np.where(used > np.int64(max_sweeps) * n_var, max_sweeps + 1, -(-used // n_var))
    return x, sweeps


def _conjugate_gradients(a, w, b, x, shared_solve, max_iter: int, tol_vph: float) -> np.ndarray:
    """Unconstrained optimum of the intervals whose matrix differs from the factorised one.

    Conjugate gradients on each interval's normal equations ``(A^T W_t A) x = b_t``,
    preconditioned by the factorised matrix (``shared_solve``): the two differ by the rows of
    the counts missing (or weighted otherwise) in that interval, a low-rank difference, so
    the iteration needs few steps. The intervals iterate together (one preconditioner solve
    per step for all that are left); an interval stops when its preconditioned residual, an
    estimate of its error, is at most ``tol_vph`` in every flow, or after ``max_iter`` steps
    (the bound step finishes it either way).

    Parameters
    ----------
    a : scipy.sparse.csr_matrix
        ``(n_rows, n_var)`` the problem's matrix.
    w : ndarray
        ``(n_rows, n_o)`` row weights of each interval ((h/veh)^2; 0 for a missing count).
    b : ndarray
        ``(n_var, n_o)`` right-hand sides ``A^T W_t y_t`` (1/h).
    x : ndarray
        ``(n_o, n_var)`` start (veh/h), the factorised system's solution.

    Returns
    -------
    ndarray
        ``(n_o, n_var)`` solutions (veh/h).
    """
    at = a.T.tocsr()
    out = np.ascontiguousarray(x.T)  # (n_var, n_o): one column per interval, like b
    left = np.arange(out.shape[1])  # intervals still iterating; their columns of x, r, w, d
    x = out.copy()
    r = b - at @ (w * (a @ x))
    d = rz = None
    for _ in range(max_iter):
        z = np.ascontiguousarray(shared_solve(r.copy()).T)  # preconditioned residuals
        go = np.abs(z).max(axis=0) > tol_vph
        if not go.all():
            out[:, left[~go]] = x[:, ~go]
            left, x, r, z, w = left[go], x[:, go], r[:, go], z[:, go], w[:, go]
            if d is not None:
                d, rz = d[:, go], rz[go]
        if not len(left):
            break
        rz_new = np.einsum("ij,ij->j", r, z)
        if d is None:
            d = z
        else:
            d *= rz_new / rz
            d += z
        rz = rz_new
        q = at @ (w * (a @ d))
        step = rz / np.einsum("ij,ij->j", d, q)
        x += step * d
        r -= step * q
    out[:, left] = x
    return out.T


def _solve_lsq_linear(p: EstimationProblem, tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Solve every interval with :func:`scipy.optimize.lsq_linear` (reference method)."""
    import scipy.sparse as sp
    from scipy.optimize import lsq_linear

    n_rows = p.n_rows
    rows = np.repeat(np.arange(n_rows), np.diff(p.row_ptr))
    a = sp.csr_matrix((p.row_coef, (rows, p.row_var)), shape=(n_rows, p.n_var))
    dense = p.n_var <= 3000
    x = np.empty((len(p.intervals), p.n_var))
    iters = np.zeros(len(p.intervals), dtype=np.int64)
    for t in range(len(p.intervals)):
        y = np.concatenate([p.count_y[t], p.static_y])
        w = np.concatenate([p.count_w[t], p.static_w])
        keep = ~np.isnan(y) & (w > 0)
        sw = np.sqrt(w[keep])
        at = sp.diags(sw) @ a[keep]
        b = sw * y[keep]
        res = lsq_linear(
            at.toarray() if dense else at.tocsr(),
            b,
            bounds=(p.lo, p.hi),
            method="bvls" if dense else "trf",
            tol=tol,
            lsmr_tol="auto" if not dense else None,
            max_iter=None,
        )
        x[t] = np.clip(res.x, p.lo, p.hi)
        iters[t] = res.nit
    return x, iters


@_threads_by_size
def _standard_errors(p: EstimationProblem) -> tuple[np.ndarray, np.ndarray]:
    """Return ``se_vph`` per distinct interval and each interval's row (kernel ``_block_standard_errors``).

    The information matrix of an interval depends only on which counts are present and on
    their weights, so intervals that share both share their standard errors: the kernel runs
    once per distinct interval, and interval ``t`` has ``se[se_row[t]]`` (veh/h).
    """
    from .._kernels.estimation.standard_errors import _block_standard_errors

    w = np.where(np.isnan(p.count_y), 0.0, p.count_w)
    # distinct rows of weights, in order of first appearance (a dict of their bytes)
    distinct: dict[bytes, int] = {}
    inverse = np.array([distinct.setdefault(row.tobytes(), len(distinct)) for row in w], dtype=np.int64)
    _, first = np.unique(inverse, return_index=True)
    se = _block_standard_errors(
        p.row_ptr,
        p.row_var,
        p.row_coef,
        p.col_ptr,
        p.col_row,
        p.col_coef,
        np.int64(p.n_count),
        np.ascontiguousarray(w[first]),
        np.ascontiguousarray(np.where(w[first] > 0, 0.0, np.nan)),
        p.static_w,
        p.block_ptr,
    )
    return se, inverse
