"""Slow, obvious references for flow estimation (dense numpy + scipy).

Same names as the public API and the kernels they check:

* :func:`solve_bounded_lsq` -- one interval's bounded weighted least squares with
  :func:`scipy.optimize.lsq_linear` (reference of ``_solve_bounded_lsq``);
* :func:`solve_normal_equations` -- ``H x = b`` with ``numpy.linalg.solve`` (reference of
  ``_solve_triangular_pair`` applied to the factors of :func:`scipy.sparse.linalg.splu`);
* :func:`block_standard_errors` -- ``sqrt(diag(inv(H_bb)))`` per block with ``numpy.linalg.inv``
  (reference of ``_block_standard_errors``);
* :func:`invert_blocks` and :func:`block_multiply` -- the diagonal blocks of ``H`` inverted
  with ``numpy.linalg.inv`` and applied block by block (references of ``_invert_blocks`` and
  ``_block_multiply``);
* :func:`estimate_flows` -- the whole estimate, its rows built again with plain loops over the
  network and the counts (reference of ``citybrain.estimation.estimate_flows``);
* :func:`learn_turn_factors` -- the turn-type factors fitted with a loop over the fully
  counted approaches (reference of ``citybrain.estimation.priors._learn_turn_factors``);
* :func:`count_keys` -- distinct count keys numbered with a dict (reference of ``_row_hashes``,
  ``_number_rows`` and ``_rows_match`` behind ``citybrain.estimation.problem._count_keys``);
* :func:`count_rates` -- the table of counted rates by numpy's fancy assignment (reference of
  ``_count_rates``);
* :func:`count_fit` and :func:`normal_rhs` -- the fit of every observed count and the
  right-hand sides ``A^T W y``, densely (references of ``_count_fit`` and ``_normal_rhs``);
* :func:`order_by_pairs` -- :func:`numpy.lexsort` (reference of ``_order_by_pairs``);
* :func:`flow_columns` -- the flows table's columns by ``numpy.repeat``, ``numpy.tile`` and a
  gather (reference of ``_flow_columns``);
* :func:`block_multiply` also checks ``_block_multiply_transposed`` (its transpose);
* :func:`add_csr_product` -- ``out + S @ dense`` with ``S`` densified (reference of
  ``_add_csr_product``).
"""

from __future__ import annotations

import itertools

import numpy as np
from scipy.optimize import lsq_linear

from citybrain.estimation import EstimationSettings, prior_turning_ratios
from citybrain.estimation.priors import TURN_FACTOR_POOL
from citybrain.network import TURN_CODES


def solve_bounded_lsq(a, w, y, lo, hi):
    """Minimise sum w (a x - y)^2 subject to lo <= x <= hi (rows with w == 0 or NaN y ignored)."""
    a = np.asarray(a, dtype=float)
    y = np.asarray(y, dtype=float)
    w = np.asarray(w, dtype=float)
    keep = (w > 0) & ~np.isnan(y)
    sw = np.sqrt(w[keep])
    res = lsq_linear(a[keep] * sw[:, None], y[keep] * sw, bounds=(lo, hi), method="bvls", tol=1e-12)
    return np.clip(res.x, lo, hi)


def solve_normal_equations(h, b):
    """Solve ``H x = b`` densely (reference of ``_solve_triangular_pair`` with splu's factors)."""
    return np.linalg.solve(np.asarray(h, dtype=float), np.asarray(b, dtype=float))


def invert_blocks(h, block_ptr):
    """Inverse of every diagonal block ``H[s:e, s:e]`` (reference of ``_invert_blocks``)."""
    h = np.asarray(h, dtype=float)
    return [np.linalg.inv(h[s:e, s:e]) for s, e in itertools.pairwise(block_ptr)]


def block_multiply(blocks, block_ptr, b):
    """``blockdiag(blocks) @ b`` with a dense block-diagonal matrix (reference of ``_block_multiply``)."""
    n = int(block_ptr[-1])
    dense = np.zeros((n, n))
    for blk, s, e in zip(blocks, block_ptr[:-1], block_ptr[1:], strict=True):
        dense[s:e, s:e] = blk
    return dense @ np.asarray(b, dtype=float)


def block_standard_errors(a, w, y, blocks):
    """Standard errors from the inverse of each diagonal block of A^T W A."""
    a = np.asarray(a, dtype=float)
    w = np.where(np.isnan(y), 0.0, np.asarray(w, dtype=float))
    h = a.T @ (w[:, None] * a)
    se = np.empty(a.shape[1])
    for s, e in blocks:
        if e > s:
            se[s:e] = np.sqrt(np.diag(np.linalg.inv(h[s:e, s:e])))
    return se


def estimate_flows(network, counts, settings=None):
    """Return ``{(interval_start, junction, from_edge, to_edge): flow_vph}`` for every vehicle movement.

    Builds every row with loops and solves each interval with :func:`solve_bounded_lsq`.
    Takes the same :class:`~citybrain.estimation.EstimationSettings` as the estimate; the
    model options are read from it, except ``learn_turn_factors`` (the reference has no
    lane-use factor learning: compare with ``learn_turn_factors=False``) and the solver's.
    """
    s = EstimationSettings() if settings is None else settings
    movs = [i for i, m in enumerate(network.movements) if m.turn != "crossing" and m.from_edge in network.edges and m.to_edge in network.edges]
    var = {i: k for k, i in enumerate(movs)}
    n = len(movs)
    ratio_all = prior_turning_ratios(network, uturn_prior_factor=s.uturn_prior_factor)
    frame = counts.frame
    T = counts.interval_s
    times = np.unique(frame["interval_start"].to_numpy(dtype=float))
    approach = {}
    for i in movs:
        m = network.movements[i]
        approach.setdefault((m.junction, m.from_edge), []).append(var[i])
    lanes = np.array([max(len(network.movements[i].from_lanes), 1) for i in movs], dtype=float)
    # level: median observed flow per lane of approach totals, per road class (speed, lanes)
    def road_class(edge):
        return round(network.edges[edge]["speed_mps"] * 3.6), network.edges[edge]["lanes"]

    per_lane, by_class, seen_in_class = [], {}, {}
    for row in frame.itertuples():
        if row.to_edge == "":
            v = row.count * 3600 / T / max(lanes[k] for k in approach[(row.junction, row.from_edge)])
            per_lane.append(v)
            by_class.setdefault(road_class(row.from_edge), []).append(v)
            seen_in_class.setdefault(road_class(row.from_edge), set()).add((row.junction, row.from_edge))
    q_all = float(np.median(per_lane)) if per_lane else 300.0

    def q_of(edge):
        c = road_class(edge)
        return float(np.median(by_class[c])) if len(seen_in_class.get(c, ())) >= 2 else q_all

    # prior flow of each movement (the level prior's target)
    level = np.zeros(n)
    for (_, e), ks in approach.items():
        for k in ks:
            level[k] = ratio_all[movs[k]] * q_of(e) * max(lanes[ks])
    median_level = float(np.median(level[level > 0])) if (level > 0).any() else 1.0

    static_rows, static_w, static_y = [], [], []
    for e in network.edges:
        into = [var[i] for i in movs if network.movements[i].to_edge == e]
        out = [var[i] for i in movs if network.movements[i].from_edge == e]
        if into and out:
            r = np.zeros(n)
            r[into] += 1.0
            r[out] -= 1.0
            static_rows.append(r)
            static_w.append(1 / s.conservation_sd_vph**2)
            static_y.append(0.0)
    for ks in approach.values():
        if len(ks) < 2:
            continue
        for k in ks:
            r = np.zeros(n)
            r[ks] -= ratio_all[movs[k]]
            r[k] += 1.0
            static_rows.append(r)
            if s.turn_prior_variance == "flow":  # variance proportional to the prior flow
                static_w.append(1 / (s.turn_prior_sd_vph**2 * max(level[k], 1.0) / median_level))
            else:
                static_w.append(1 / s.turn_prior_sd_vph**2)
            static_y.append(0.0)
    counted = {(row.junction, row.from_edge) for row in frame.itertuples()}
    for (j, e), ks in approach.items():
        entry = not any(network.movements[i].to_edge == e for i in movs) and (j, e) not in counted
        for k in ks:
            r = np.zeros(n)
            r[k] = 1.0
            static_rows.append(r)
            static_w.append(1 / (s.entry_level_sd_vph if entry else s.level_prior_sd_vph) ** 2)
            static_y.append(level[k])
    lo = np.zeros(n)
    hi = lanes * s.max_lane_flow_vph
    camera_mean = {}
    for key, g in frame.groupby(["camera_id", "junction", "from_edge", "to_edge"]):
        camera_mean[key] = float(g["count"].mean()) * 3600 / T
    out = {}
    for t in times:
        rows, ws, ys = list(static_rows), list(static_w), list(static_y)
        for row in frame[frame["interval_start"] == t].itertuples():
            r = np.zeros(n)
            if row.to_edge:
                r[var[network.movement_index(row.junction, row.from_edge, row.to_edge)]] = 1.0
            else:
                r[approach[(row.junction, row.from_edge)]] = 1.0
            yv = row.count * 3600 / T
            # variance from the camera's mean rate over all intervals, or from the count itself
            ys_var = camera_mean[(row.camera_id, row.junction, row.from_edge, row.to_edge)] if s.count_sd_from == "camera" else yv
            rows.append(r)
            ys.append(yv)
            poisson = ys_var * 3600 / T if s.count_poisson else 0.0
            ws.append(1 / ((s.noise_rel * ys_var) ** 2 + poisson + s.count_sd_floor_vph**2))
        x = solve_bounded_lsq(np.array(rows), np.array(ws), np.array(ys), lo, hi)
        for i, k in var.items():
            m = network.movements[i]
            out[(float(t), m.junction, m.from_edge, m.to_edge)] = float(x[k])
    return out


def learn_turn_factors(network, counts, settings=None):
    """Turn-type factors of the lane-use prior fitted to the fully counted approaches (loops)."""
    uturn_prior_factor = (EstimationSettings() if settings is None else settings).uturn_prior_factor
    frame = counts.frame
    per = frame[frame["to_edge"] != ""].groupby(["junction", "from_edge", "to_edge"])["count"].sum()
    approach = {}
    for i, m in enumerate(network.movements):
        if m.turn != "crossing":
            approach.setdefault((m.junction, m.from_edge), []).append(i)
    groups = []
    for (j, f), idx in approach.items():
        vals = [per.get((j, f, network.movements[i].to_edge), np.nan) for i in idx]
        if len(idx) >= 2 and not np.any(np.isnan(vals)) and np.sum(vals) > 0:
            groups.append((idx, np.array(vals) / np.sum(vals)))
    if len(groups) < 3:
        return None
    codes = {name: k for k, name in enumerate(TURN_CODES)}
    factor = np.ones(len(TURN_CODES))
    for _ in range(20):
        observed = np.zeros(len(TURN_CODES))
        modelled = np.zeros(len(TURN_CODES))
        for idx, share in groups:
            turns = [codes[network.movements[i].turn] for i in idx]
            w = np.array([
                network.movements[i].sat_flow_vph * (uturn_prior_factor if network.movements[i].turn == "uturn" else 1.0)
                * factor[k]
                for i, k in zip(idx, turns)
            ])
            for k, sh, mo in zip(turns, share, w / w.sum()):
                observed[k] += sh
                modelled[k] += mo
        for k in range(len(TURN_CODES)):
            if modelled[k] > 0:
                factor[k] *= (observed[k] + 1e-3) / (modelled[k] + 1e-3)
        factor = np.clip(factor / factor[0], 0.05, 20.0)
    return factor ** (len(groups) / (len(groups) + TURN_FACTOR_POOL))


def count_keys(frame, columns=("camera_id", "junction", "from_edge", "to_edge")):
    """Number the distinct rows of ``frame[columns]`` in order of first appearance with a dict.

    Reference of ``citybrain.estimation.problem._count_keys`` (kernels ``_row_hashes``,
    ``_number_rows``, ``_rows_match``): returns every row's key number and each key's first row.
    """
    seen = {}
    code = []
    first = []
    for r, key in enumerate(zip(*(frame[c].astype(str) for c in columns), strict=True)):
        if key not in seen:
            seen[key] = len(seen)
            first.append(r)
        code.append(seen[key])
    return np.array(code, dtype=np.int64), np.array(first, dtype=np.int64)


def count_rates(start_s, t0, interval_s, key, count, n_slots, n_keys):
    """Counted rates (veh/h) per interval slot and key, NaN where missing (reference of ``_count_rates``)."""
    out = np.full((n_slots, n_keys), np.nan)
    slot = np.rint((np.asarray(start_s) - t0) / interval_s).astype(np.int64)
    out[slot, key] = np.asarray(count, dtype=float) * (3600.0 / interval_s)
    return out


def count_fit(a, n_count, x, count_y, seconds, interval_s, *codes):
    """Observed counts with their fitted rate ``a_i . x_t``, GEH and key codes, interval by interval (dense).

    Reference of ``_count_fit``: returns ``(start, length, observed, fitted, geh, *codes)``.
    """
    from citybrain.estimation import geh

    fitted = np.asarray(x, dtype=float) @ np.asarray(a, dtype=float)[:n_count].T  # (n_t, n_count)
    obs = ~np.isnan(count_y)
    t, rows = np.nonzero(obs)
    return (
        seconds[t], np.full(len(t), interval_s), count_y[obs], fitted[obs], geh(fitted[obs], count_y[obs]),
        *(c[rows] for c in codes),
    )


def normal_rhs(a, n_count, count_w, count_y, static_w, static_y):
    """``A^T W_t y_t`` of every interval, missing counts left out, as columns (reference of ``_normal_rhs``)."""
    a = np.asarray(a, dtype=float)
    out = []
    for w_t, y_t in zip(count_w, count_y, strict=True):
        w = np.concatenate([np.where(np.isnan(y_t), 0.0, w_t), static_w])
        y = np.concatenate([np.nan_to_num(y_t), static_y])
        out.append(a.T @ (w * y))
    return np.array(out).T


def order_by_pairs(major, minor):
    """Permutation sorting entries by ``(major, minor)``, ties in input order (reference of ``_order_by_pairs``)."""
    return np.lexsort((minor, major))


def flow_columns(seconds, interval_s, x, se, se_row, sel, junction, from_edge, to_edge):
    """Flows-table columns, interval by interval (reference of ``_flow_columns``)."""
    n_t, m = x.shape[0], len(sel)
    return (
        np.repeat(seconds, m), np.full(n_t * m, interval_s), x[:, sel].reshape(-1), se[se_row][:, sel].reshape(-1),
        np.tile(junction, n_t), np.tile(from_edge, n_t), np.tile(to_edge, n_t),
    )


def add_csr_product(s, dense, out):
    """``out + S @ dense`` with ``S`` densified, as a new array (reference of ``_add_csr_product``)."""
    return out + s.toarray() @ np.asarray(dense, dtype=float)
