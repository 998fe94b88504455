"""Priors of the estimate: turning ratios (lane use, history, learnt factors) and flow levels.

Every prior enters :func:`~citybrain.estimation.problem.build_problem` as rows of the
least-squares problem; the model is described in :mod:`citybrain.estimation`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import ValidationError
from ..network import TURN_CODES, RoadNetwork
from .settings import EstimationSettings

__all__ = ["prior_turning_ratios", "LEVEL_CLASS_MIN_APPROACHES", "TURN_FACTOR_POOL"]

CROSSING = TURN_CODES.index("crossing")
UTURN = TURN_CODES.index("uturn")
#: Pseudo-count of approaches pulling learnt turn factors towards 1 (partial pooling).
TURN_FACTOR_POOL = 10.0
#: Counted approaches a road class needs before its own median flow per lane is used.
LEVEL_CLASS_MIN_APPROACHES = 2


def prior_turning_ratios(
    network: RoadNetwork,
    history: pd.DataFrame | None = None,
    *,
    uturn_prior_factor: float = EstimationSettings.uturn_prior_factor,
    turn_factors: np.ndarray | None = None,
) -> np.ndarray:
    """Return the prior turning ratio of every movement (share of its approach's flow).

    Parameters
    ----------
    network
        The road network.
    history
        Optional frame with ``junction, from_edge, to_edge`` and ``ratio`` or ``flow_vph``
        (e.g. an earlier estimate's flows); approaches it covers take its shares (normalised),
        the others the lane-use prior.
    uturn_prior_factor
        Scale of a U-turn's lane-use share (U-turns are rare).
    turn_factors
        Optional scale of the lane-use share per turn type (indexed by the turn codes of
        :data:`citybrain.network.TURN_CODES`), e.g. learnt by ``estimate_flows`` from the
        cameras that count per movement.

    Returns
    -------
    numpy.ndarray
        ``(len(network.movements),)`` ratios; 0 for crossings; each approach sums to 1.

    Raises
    ------
    ValidationError
        If ``history`` lacks the needed columns or names unknown movements.
    """
    arrays = network.to_arrays()
    n = len(network.movements)
    weight = arrays.mov_sat_flow_vph.astype(np.float64).copy()
    weight[arrays.mov_turn == UTURN] *= uturn_prior_factor
    weight[arrays.mov_turn == CROSSING] = 0.0
    if turn_factors is not None:
        weight = weight * np.asarray(turn_factors, dtype=np.float64)[arrays.mov_turn]
    if history is not None:
        value_col = "ratio" if "ratio" in history.columns else "flow_vph"
        need = ["junction", "from_edge", "to_edge", value_col]
        missing = [c for c in need if c not in history.columns]
        if missing:
            msg = (
                f"turning_ratios history needs columns junction, from_edge, to_edge and ratio (or flow_vph); "
                f"missing {', '.join(missing)}."
            )
            raise ValidationError(msg)
        agg = history.groupby(["junction", "from_edge", "to_edge"], observed=True)[value_col].mean()
        problems = []
        hist = np.full(n, np.nan)
        for (j, f, t), v in agg.items():
            if not network.has_movement(str(j), str(f), str(t)):
                problems.append(f"turning_ratios history: {j}: {f} -> {t} is not a movement of the network")
                continue
            hist[network.movement_index(str(j), str(f), str(t))] = max(float(v), 0.0)
        if problems:
            msg = "; ".join(problems[:10]) + (f" and {len(problems) - 10} more" if len(problems) > 10 else "")
            raise ValidationError(msg, problems)
        covered = np.zeros(len(arrays.edge_ids), dtype=bool)
        has = ~np.isnan(hist)
        covered[arrays.mov_from_edge[has]] = True
        use = covered[arrays.mov_from_edge] & (arrays.mov_turn != CROSSING)
        weight[use] = np.nan_to_num(hist[use]) + 1e-3  # keep every movement possible
    total = np.zeros(len(arrays.edge_ids))
    valid = arrays.mov_from_edge >= 0
    np.add.at(total, arrays.mov_from_edge[valid], weight[valid])
    ratio = np.zeros(n)
    denom = np.where(valid, total[np.maximum(arrays.mov_from_edge, 0)], 0.0)
    ok = denom > 0
    ratio[ok] = weight[ok] / denom[ok]
    return ratio


def _counted_movement_totals(key_total, key_var, is_move, n_var: int) -> np.ndarray:
    """Sum of each flow's per-movement counts over the table (NaN: no camera counts it).

    ``key_total`` is each count key's sum over the intervals, ``key_var`` its flow (for the
    keys ``is_move``, which count one movement).
    """
    var = key_var[is_move]
    counted = np.bincount(var, minlength=n_var) > 0
    total = np.bincount(var, weights=key_total[is_move], minlength=n_var)
    return np.where(counted, total, np.nan)


def _fully_counted(counted: np.ndarray, seg_start: np.ndarray, seg_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which approaches have at least two movements, all counted, with a positive total; and each total."""
    missing = np.add.reduceat(np.isnan(counted).astype(np.int64), seg_start)
    total = np.add.reduceat(np.nan_to_num(counted), seg_start)
    return (seg_end - seg_start >= 2) & (missing == 0) & (total > 0), total


def _learn_turn_factors(
    arrays, mov: np.ndarray, counted: np.ndarray, seg_start: np.ndarray, seg_end: np.ndarray, uturn_prior_factor: float
) -> np.ndarray | None:
    """Scale of the lane-use share per turn type, fitted to the cameras that count per movement.

    Empirical Bayes: over the approaches (segments ``seg_start .. seg_end`` of the flows
    ``mov``) whose every movement is counted (``counted``: :func:`_counted_movement_totals`),
    find one factor per turn type (through, left, right ...) so that ``sat_m * factor_turn``
    normalised per approach matches the counted shares (multiplicative fitting, 20 rounds).
    Returns ``None`` when fewer than three such approaches exist.
    """
    seg_len = seg_end - seg_start
    full, total = _fully_counted(counted, seg_start, seg_end)
    n_groups = int(full.sum())
    if n_groups < 3:
        return None
    member = np.repeat(full, seg_len)
    grp = np.repeat(np.arange(len(seg_start)), seg_len)[member]
    share = counted[member] / np.repeat(total, seg_len)[member]
    idx = mov[member]
    turn = arrays.mov_turn[idx]
    n_codes = len(TURN_CODES)
    factor = np.ones(n_codes)
    base = arrays.mov_sat_flow_vph[idx].astype(np.float64) * np.where(turn == UTURN, uturn_prior_factor, 1.0)
    observed = np.bincount(turn, weights=share, minlength=n_codes)
    for _ in range(20):
        w = base * factor[turn]
        model = w / np.bincount(grp, weights=w)[grp]
        modelled = np.bincount(turn, weights=model, minlength=n_codes)
        seen = modelled > 0
        factor[seen] *= (observed[seen] + 1e-3) / (modelled[seen] + 1e-3)
        factor = np.clip(factor / factor[0], 0.05, 20.0)
    # partial pooling towards the plain lane-use prior: few approaches, little trust
    return factor ** (n_groups / (n_groups + TURN_FACTOR_POOL))


def _apply_exit_factors(counted: np.ndarray, ratio, vto, seg_start, seg_end, n_edges: int) -> np.ndarray:
    """Scale prior shares by how strongly each exit edge attracts traffic at its junction.

    The column factor of a Furness (bi-proportional) turning-movement model: over the
    approaches whose every movement is counted, an exit edge ``e`` gets the ratio of the
    counted shares into ``e`` to the prior shares into ``e``; with ``n_e`` such approaches the
    factor is pooled towards 1 as ``ratio ** (n_e / (n_e + 1))`` (the prior weighs as much as
    one counted approach). Every approach's shares are then scaled by their exit's factor and
    renormalised, so an uncounted approach at the same junction inherits the attraction of
    its exits (a side street nobody turns into stays minor). Applied only when the turn-type
    factors could be fitted (at least three fully counted approaches), so that the exit
    factor is a residual after turn type, not a proxy for it. Uses only the input counts
    (``counted``: :func:`_counted_movement_totals`, NaN where no camera counts a flow).
    """
    seg_len = seg_end - seg_start
    full, total = _fully_counted(counted, seg_start, seg_end)
    use = np.repeat(full, seg_len)
    if not use.any():
        return ratio
    share = np.nan_to_num(counted) / np.repeat(np.where(total > 0, total, 1.0), seg_len)
    observed = np.bincount(vto[use], weights=share[use], minlength=n_edges)
    modelled = np.bincount(vto[use], weights=ratio[use], minlength=n_edges)
    n_app = np.bincount(vto[use], minlength=n_edges).astype(np.float64)
    factor = np.exp(n_app / (n_app + 1.0) * np.log((observed + 0.02) / (modelled + 0.02)))
    scaled = ratio * factor[vto]
    norm = np.add.reduceat(scaled, seg_start)
    return scaled / np.repeat(np.where(norm > 0, norm, 1.0), seg_len)


def _level_per_lane(arrays, seg_edge: np.ndarray, count_seg: np.ndarray, per_lane: np.ndarray) -> np.ndarray:
    """Prior flow per lane (veh/h) of every approach segment.

    ``per_lane`` holds the approach-total counts per lane (intervals x approach count keys,
    NaN where missing) and ``count_seg`` each key's segment. A segment gets the median over
    the counted approaches of its road class (speed limit and lane count), where at least
    :data:`LEVEL_CLASS_MIN_APPROACHES` of them are counted, else the median over all (300
    veh/h without any count): a side street gets a side street's level, not the main road's.
    """
    finite = np.isfinite(per_lane)
    overall = float(np.median(per_lane[finite])) if finite.any() else 300.0
    road_class = np.rint(arrays.edge_speed_mps[seg_edge] * 3.6).astype(np.int64) * 1000 + arrays.edge_lanes[seg_edge]
    classes, of_seg = np.unique(road_class, return_inverse=True)
    of_key = of_seg[count_seg]
    seen_key = finite.any(axis=0)
    q = np.full(len(classes), overall)
    for c in range(len(classes)):
        keys = np.flatnonzero(of_key == c)
        if len(np.unique(count_seg[keys[seen_key[keys]]])) >= LEVEL_CLASS_MIN_APPROACHES:
            values = per_lane[:, keys]
            q[c] = float(np.median(values[np.isfinite(values)]))
    return q[np.asarray(of_seg).ravel()]


def _flow_turn_variance(x_level: np.ndarray, turn_prior_sd_vph: float) -> np.ndarray:
    """Variance (veh/h)^2 of each movement's turning-prior row, proportional to its prior flow.

    ``turn_prior_sd_vph^2 * max(x0, 1) / median(x0 > 0)``: a movement at the median prior flow
    keeps ``turn_prior_sd_vph``; a rare movement (a U-turn, a minor right turn) is held close to
    its small share, a major one may move further (see :mod:`citybrain.estimation`).
    """
    positive = x_level[x_level > 0]
    scale = float(np.median(positive)) if len(positive) else 1.0
    return turn_prior_sd_vph**2 * np.maximum(x_level, 1.0) / scale
