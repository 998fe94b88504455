"""The weighted least-squares problem of the estimate, built as arrays from a network and counts.

:func:`build_problem` numbers the count keys, lays every count, conservation and prior row
(:mod:`citybrain.estimation.priors`) on the vehicle movements, and stores the matrix by row
(CSR) and by column (CSC) in an :class:`EstimationProblem`; the model is described in
:mod:`citybrain.estimation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..counts import CountTable
from ..exceptions import ValidationError
from ..network import RoadNetwork
from .priors import (
    CROSSING,
    _apply_exit_factors,
    _counted_movement_totals,
    _flow_turn_variance,
    _learn_turn_factors,
    _level_per_lane,
    prior_turning_ratios,
)
from .settings import EstimationSettings

__all__ = ["EstimationProblem", "build_problem", "KEY_COLUMNS"]

#: Columns that identify one count series (a count key).
KEY_COLUMNS = ["camera_id", "junction", "from_edge", "to_edge"]


@dataclass(frozen=True, eq=False)
class EstimationProblem:
    """The sparse least-squares problem of :func:`estimate_flows`, as arrays.

    Rows ``0 .. n_count - 1`` are camera counts (``count_w``/``count_y`` per interval), the
    rest fixed rows (``static_w``/``static_y``); ``A`` is stored as CSR and CSC. Variables are
    the vehicle movements ``mov`` (indices into ``RoadNetwork.movements``), grouped by junction
    (``block_ptr``) and by approach (``seg_start[k]:seg_end[k]``), ``turn_ratio`` the ratio of
    each one's turning-prior row. ``row_kind`` is ``"count"``, ``"conservation"``, ``"turn"``,
    ``"share"`` (observed turn shares) or ``"level"`` for every row. Units: veh/h; weights (h/veh)^2.
    """

    mov: np.ndarray
    block_ptr: np.ndarray
    row_ptr: np.ndarray
    row_var: np.ndarray
    row_coef: np.ndarray
    col_ptr: np.ndarray
    col_row: np.ndarray
    col_coef: np.ndarray
    n_count: int
    count_w: np.ndarray
    count_y: np.ndarray
    static_w: np.ndarray
    static_y: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    x0: np.ndarray
    row_kind: np.ndarray
    count_keys: pd.DataFrame
    intervals: np.ndarray
    interval_s: float
    conservation_edges: np.ndarray
    turn_ratio: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray

    @property
    def n_var(self) -> int:
        """Number of unknown flows."""
        return len(self.mov)

    @property
    def n_rows(self) -> int:
        """Number of rows of ``A``."""
        return len(self.row_ptr) - 1

    def dense(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return ``(A, w, y)`` of interval ``t`` as dense arrays (rows with ``w = 0`` kept)."""
        a = np.zeros((self.n_rows, self.n_var))
        for i in range(self.n_rows):
            s, e = self.row_ptr[i], self.row_ptr[i + 1]
            a[i, self.row_var[s:e]] += self.row_coef[s:e]
        y = np.concatenate([self.count_y[t], self.static_y])
        w = np.concatenate([self.count_w[t], self.static_w])
        missing = np.isnan(y)
        w[missing] = 0.0
        y[missing] = 0.0
        return a, w, y

    def system(self) -> tuple:
        """The rows every solver kernel takes: ``A`` by row and by column, counts and fixed rows.

        ``(row_ptr, row_var, row_coef, col_ptr, col_row, col_coef, n_count, count_w, count_y,
        static_w, static_y)``, in the kernels' order and types.
        """
        return (
            self.row_ptr, self.row_var, self.row_coef, self.col_ptr, self.col_row, self.col_coef,
            np.int64(self.n_count), self.count_w, self.count_y, self.static_w, self.static_y,
        )


def _count_keys(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Number the distinct ``(camera_id, junction, from_edge, to_edge)`` of a count frame.

    Returns the key number of every frame row (in order of first appearance) and the keys
    as a frame (one row per key). The columns' UTF-8 bytes are hashed row by row and the
    rows numbered by hash in numba (kernels ``_row_hashes``, ``_number_rows``); every row is
    then checked byte by byte against its key's first row (``_rows_match``), and numbered
    again comparing bytes if two distinct keys shared a hash. No sort.
    """
    import pyarrow as pa

    from .._kernels.estimation.keys import _number_rows, _row_hashes, _rows_match

    offsets, data = [], []
    for col in KEY_COLUMNS:
        values = pa.array(frame[col])
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if not pa.types.is_large_string(values.type):
            values = values.cast(pa.large_string())
        if values.null_count:
            values = values.fill_null("")
        _, off, buf = values.buffers()
        offsets.append(np.frombuffer(off, dtype=np.int64)[values.offset : values.offset + len(values) + 1])
        data.append(np.frombuffer(buf, dtype=np.uint8) if buf is not None else np.zeros(0, np.uint8))
    offsets_t, data_t = tuple(offsets), tuple(data)
    hashes = _row_hashes(offsets_t, data_t)
    code, first = _number_rows(hashes, offsets_t, data_t, False)
    if not _rows_match(code, first, offsets_t, data_t):
        code, first = _number_rows(hashes, offsets_t, data_t, True)
    keys = frame[KEY_COLUMNS].iloc[first].reset_index(drop=True)
    return code, keys


def _positions(values: pd.Series, ids) -> np.ndarray:
    """Position of every value in the sequence ``ids`` (-1 where absent).

    Text is looked up in Arrow's hash table (:func:`pyarrow.compute.index_in`), without
    making a Python string of every value; other types by :meth:`pandas.Index.get_indexer`.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    arrow = pa.array(values)
    if not (pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type)):
        return pd.Index(ids).get_indexer(values)
    found = pc.index_in(arrow, value_set=pa.array(list(ids), type=arrow.type))
    return found.fill_null(-1).to_numpy().astype(np.int64)


def build_problem(
    network: RoadNetwork,
    counts: CountTable,
    settings: EstimationSettings | None = None,
    *,
    turning_ratios: pd.DataFrame | None = None,
    ratios: np.ndarray | None = None,
    turn_shares: pd.DataFrame | None = None,
) -> EstimationProblem:
    """Build the per-interval least-squares problem of :func:`~citybrain.estimation.estimate_flows`.

    Parameters
    ----------
    network
        The road network the counts refer to.
    counts
        Validated counts.
    settings
        The model's options (default: :class:`EstimationSettings` ()); the solver options
        (``method``, ``max_sweeps`` ...) are not used here.
    turning_ratios
        History for the turning-ratio prior (see :func:`prior_turning_ratios`), or ``None``.
    ratios
        Turning ratios per flow (``EstimationProblem.turn_ratio`` order) that replace the prior
        (the ratio step of the pooled estimate), or ``None``.
    turn_shares
        Observed turn shares among some movements of an approach
        (:func:`~citybrain.estimation.fragment_turn_shares`: ``junction, from_edge, to_edge,
        share, share_sd`` and optionally ``scope, approach_vph``): one row ``x_m - s_m sum_S x =
        0`` per listed movement ``m``, ``S`` the approach's listed movements (all of them when
        ``scope`` is ``"approach"``), sd ``share_sd * X_S`` with ``X_S`` the ``approach_vph``
        where given, else the level prior's flow into ``S``.

    Returns
    -------
    EstimationProblem

    Raises
    ------
    ValidationError
        If a count names a movement or approach the network does not have.
    """
    from .._kernels.estimation.tables import _count_rates

    settings = EstimationSettings() if settings is None else settings
    arrays = network.to_arrays()
    v = _flows(network, arrays)
    n_var = len(v.mov)
    hi = v.lanes * settings.max_lane_flow_vph
    lo = np.zeros(n_var)

    # ---- count rows: one per count key, over the key's movement or the approach's movements
    frame = counts.frame
    rowi, keys = _count_keys(frame)
    interval_s = float(counts.interval_s)
    start_s = frame["interval_start"].to_numpy(dtype=np.float64)
    t0 = float(start_s.min())
    n_slots = int(np.rint((start_s.max() - t0) / interval_s)) + 1
    intervals = t0 + interval_s * np.arange(n_slots)
    seg, var, is_move = _count_targets(keys, arrays, v)
    n_count = len(keys)
    size = np.where(is_move, 1, (v.seg_end - v.seg_start)[seg])
    c_rows = np.repeat(np.arange(n_count, dtype=np.int64), size)
    within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    c_vars = np.where(np.repeat(is_move, size), np.repeat(var, size), np.repeat(v.seg_start[seg], size) + within)
    seg_max_lanes = np.maximum.reduceat(v.lanes, v.seg_start)
    c_lanes = np.where(is_move, v.lanes[var], seg_max_lanes[seg])
    count = frame["count"].to_numpy(dtype=np.float64)
    count_y = _count_rates(start_s, t0, interval_s, rowi, count, np.int64(n_slots), np.int64(n_count))
    count_w = _count_weights(count_y, interval_s, settings)

    # ---- turning-ratio prior shares: history, or lane use with turn-type and exit factors
    n_e = len(arrays.edge_ids)
    turn_factors = None
    if settings.learn_turn_factors:
        counted = _counted_movement_totals(np.bincount(rowi, weights=count, minlength=n_count), var, is_move, n_var)
        turn_factors = _learn_turn_factors(arrays, v.mov, counted, v.seg_start, v.seg_end, settings.uturn_prior_factor)
    ratio = prior_turning_ratios(
        network, turning_ratios, uturn_prior_factor=settings.uturn_prior_factor, turn_factors=turn_factors
    )[v.mov]
    if turn_factors is not None and turning_ratios is None:
        # exit factors only on top of fitted turn-type factors: without them an exit's factor
        # would absorb the difference between the turn types that reach it (on a lone
        # junction each exit is reached by one movement of each approach, all of other types)
        ratio = _apply_exit_factors(counted, ratio, v.vto, v.seg_start, v.seg_end, n_e)
    if ratios is not None:
        ratio = np.asarray(ratios, dtype=np.float64)

    # ---- level of flow: median observed flow per lane, per road class
    approach_rows = (keys["to_edge"] == "").to_numpy()
    with np.errstate(invalid="ignore"):
        per_lane = count_y[:, approach_rows] / c_lanes[approach_rows]
    q_seg = _level_per_lane(arrays, v.vfrom[v.seg_start], seg[approach_rows], per_lane)
    x_level = ratio * np.repeat(q_seg * seg_max_lanes, v.seg_end - v.seg_start)

    # ---- fixed rows: conservation, then turning-ratio priors, then levels
    cons_rows, cons_vars, cons_coef, cons_edges = _conservation_rows(arrays, v.var_of_mov)
    n_cons = len(cons_edges)
    turn_rows, turn_vars, turn_coef, turn_self = _turn_rows(v.seg_start, v.seg_end, ratio)
    n_turn = len(turn_self)
    if settings.turn_prior_variance == "flow":
        turn_var = _flow_turn_variance(x_level, settings.turn_prior_sd_vph)[turn_self]
    else:
        turn_var = np.full(n_turn, settings.turn_prior_sd_vph**2)
    # uncounted entry approaches: no conservation row on their edge, no count
    cons_row = np.full(n_e, -1, dtype=np.int64)
    cons_row[cons_edges] = np.arange(n_cons)
    seg_counted = np.zeros(len(v.seg_start), dtype=bool)
    seg_counted[seg] = True
    entry = np.repeat((cons_row[v.vfrom[v.seg_start]] < 0) & ~seg_counted, v.seg_end - v.seg_start)
    share_rows, share_vars, share_coef, share_var = _share_rows(network, v, turn_shares, x_level)
    n_share = len(share_var)
    static_w = np.concatenate(
        [
            np.full(n_cons, 1.0 / settings.conservation_sd_vph**2),
            1.0 / turn_var,
            1.0 / share_var,
            np.where(entry, 1.0 / settings.entry_level_sd_vph**2, 1.0 / settings.level_prior_sd_vph**2),
        ]
    )
    n_fixed = n_cons + n_turn + n_share
    static_y = np.concatenate([np.zeros(n_fixed), x_level])
    row_kind = np.array(
        ["count"] * n_count + ["conservation"] * n_cons + ["turn"] * n_turn + ["share"] * n_share + ["level"] * n_var,
        dtype=object,
    )
    level_rows = np.arange(n_fixed, n_fixed + n_var, dtype=np.int64)
    rows_all = np.concatenate(
        [c_rows, cons_rows + n_count, turn_rows + n_cons + n_count, share_rows + n_cons + n_turn + n_count, level_rows + n_count]
    )
    vars_all = np.concatenate([c_vars, cons_vars, turn_vars, share_vars, np.arange(n_var, dtype=np.int64)])
    coef_all = np.concatenate([np.ones(len(c_vars)), cons_coef, turn_coef, share_coef, np.ones(n_var)])
    matrix = _by_row_and_column(rows_all, vars_all, coef_all, n_count + n_fixed + n_var, n_var)

    # starting point: the level prior
    x0 = np.broadcast_to(np.clip(x_level, lo, hi), (n_slots, n_var))  # read-only, one row in memory
    return EstimationProblem(
        mov=v.mov, block_ptr=v.block_ptr, **matrix, n_count=n_count,
        count_w=np.ascontiguousarray(count_w), count_y=np.ascontiguousarray(count_y), static_w=static_w,
        static_y=static_y, lo=lo, hi=hi, x0=x0, row_kind=row_kind, count_keys=keys, intervals=intervals,
        interval_s=interval_s, conservation_edges=np.array(cons_edges, dtype=np.int64), turn_ratio=ratio,
        seg_start=v.seg_start, seg_end=v.seg_end,
    )


class _Flows(NamedTuple):
    """The unknowns: vehicle movements, by junction (blocks) and by approach (segments)."""

    mov: np.ndarray  # index into network.movements of each flow
    var_of_mov: np.ndarray  # flow of each movement (-1: not estimated)
    vjunc: np.ndarray  # junction, from edge and to edge of each flow
    vfrom: np.ndarray
    vto: np.ndarray
    block_ptr: np.ndarray  # flows of junction k: block_ptr[k] .. block_ptr[k + 1]
    seg_start: np.ndarray  # flows of approach k: seg_start[k] .. seg_end[k]
    seg_end: np.ndarray
    lanes: np.ndarray  # lanes each flow uses (at least 1)


def _flows(network: RoadNetwork, arrays) -> _Flows:
    """Number the flows to estimate: every vehicle movement (not crossings) of every junction."""
    vehicle = (arrays.mov_turn != CROSSING) & (arrays.mov_from_edge >= 0) & (arrays.mov_to_edge >= 0)
    mov = np.flatnonzero(vehicle).astype(np.int64)
    n_var = len(mov)
    if n_var == 0:
        msg = f"{network.path}: the network has no vehicle movements to estimate."
        raise ValidationError(msg)
    var_of_mov = np.full(len(network.movements), -1, dtype=np.int64)
    var_of_mov[mov] = np.arange(n_var)
    vjunc = arrays.mov_junction[mov]
    vfrom = arrays.mov_from_edge[mov]
    block_ptr = np.searchsorted(vjunc, np.arange(len(arrays.junction_ids) + 1)).astype(np.int64)
    # approach segments: movements are sorted by (junction, from_edge, to_edge) so one
    # approach's variables are consecutive
    change = np.flatnonzero(np.diff(vfrom) != 0) + 1
    seg_start = np.concatenate([[0], change]).astype(np.int64)
    seg_end = np.concatenate([change, [n_var]]).astype(np.int64)
    if len(np.unique(vfrom[seg_start])) != len(seg_start):  # pragma: no cover - guaranteed by the sort order
        msg = "movements of one approach are not consecutive"
        raise ValidationError(msg)
    lanes = np.maximum(arrays.mov_lanes[mov], 1).astype(np.float64)
    return _Flows(mov, var_of_mov, vjunc, vfrom, arrays.mov_to_edge[mov], block_ptr, seg_start, seg_end, lanes)


def _count_targets(keys: pd.DataFrame, arrays, v: _Flows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What each count key counts: its approach segment, its flow, and whether it counts one movement.

    Looked up by integer keys (no loop over counts).

    Raises
    ------
    ValidationError
        Listing every key whose approach or movement the network does not have.
    """
    n_e = len(arrays.edge_ids)
    n_var = len(v.mov)
    fe = _positions(keys["from_edge"], arrays.edge_ids)
    te = np.where((keys["to_edge"] == "").to_numpy(), -1, _positions(keys["to_edge"], arrays.edge_ids))
    je = _positions(keys["junction"], arrays.junction_ids)
    seg_of = np.full(n_e + 1, -1, dtype=np.int64)
    seg_of[v.vfrom[v.seg_start]] = np.arange(len(v.seg_start))
    seg = seg_of[fe]  # fe == -1 reads the sentinel slot
    approach_ok = (seg >= 0) & (v.vjunc[v.seg_start[np.maximum(seg, 0)]] == je)
    pair = v.vfrom.astype(np.int64) * n_e + v.vto
    pair_order = np.argsort(pair, kind="stable")
    want = fe.astype(np.int64) * n_e + te
    pos = np.minimum(np.searchsorted(pair[pair_order], want), n_var - 1)
    var = pair_order[pos]
    is_move = (keys["to_edge"] != "").to_numpy()
    move_ok = (te >= 0) & (pair[var] == want)
    problems: list[str] = []
    for i in np.flatnonzero(~approach_ok | (is_move & ~move_ok)):
        _, j, f, t = keys.iloc[i]
        if not approach_ok[i]:
            problems.append(f"count for {j}: {f} -> {t or '(approach)'}: not an approach of that junction")
        else:
            problems.append(f"count for {j}: {f} -> {t}: not a movement of that junction")
    if problems:
        msg = "Counts do not fit the network: " + "; ".join(problems[:10])
        raise ValidationError(msg, problems)
    return seg, var, is_move


def _count_weights(count_y: np.ndarray, interval_s: float, settings: EstimationSettings) -> np.ndarray:
    """Weight (1 / variance, (h/veh)^2) of every count, ``(n_t, n_count)``; 0 where missing."""
    with np.errstate(invalid="ignore"):
        seen = ~np.isnan(count_y)
        if settings.count_sd_from == "camera":
            # the variance of a count follows the camera's mean rate, not the (noisy) count
            # itself: no bias towards low counts, and one weight per camera for every interval
            # (computed per count row, spread over the intervals by the last step)
            yy = np.nansum(count_y, axis=0) / np.maximum(seen.sum(axis=0), 1)
        else:
            yy = np.nan_to_num(count_y)
        var_y = (settings.noise_rel * yy) ** 2 + settings.count_sd_floor_vph**2
        if settings.count_poisson:
            var_y = var_y + yy * (3600.0 / interval_s)
        return np.where(seen, 1.0 / var_y, 0.0)


def _conservation_rows(arrays, var_of_mov: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One row per link with modelled movements at both ends: flow in minus flow out.

    Vectorised over the CSR lists of movements into / out of edges. Returns the entries'
    rows, flows and coefficients (+1 in, -1 out) and the links (edge indices) of the rows.
    """
    n_e = len(arrays.edge_ids)

    def members(ptr, mov_list):
        owner = np.repeat(np.arange(n_e), np.diff(ptr))
        v = var_of_mov[mov_list] if len(mov_list) else np.zeros(0, np.int64)
        ok = v >= 0
        return owner[ok], v[ok]

    in_edge, in_var = members(arrays.edge_in_ptr, arrays.edge_in_mov)
    out_edge, out_var = members(arrays.edge_out_ptr, arrays.edge_out_mov)
    has_in = np.bincount(in_edge, minlength=n_e) > 0
    has_out = np.bincount(out_edge, minlength=n_e) > 0
    cons = np.flatnonzero(has_in & has_out)
    cons_row = np.full(n_e, -1, dtype=np.int64)
    cons_row[cons] = np.arange(len(cons))
    keep_in = cons_row[in_edge] >= 0
    keep_out = cons_row[out_edge] >= 0
    rows = np.concatenate([cons_row[in_edge[keep_in]], cons_row[out_edge[keep_out]]])
    flows = np.concatenate([in_var[keep_in], out_var[keep_out]]).astype(np.int64)
    coef = np.concatenate([np.ones(int(keep_in.sum())), -np.ones(int(keep_out.sum()))])
    return rows, flows, coef, np.array(cons, dtype=np.int64)


def _turn_rows(seg_start: np.ndarray, seg_end: np.ndarray, ratio: np.ndarray) -> tuple[np.ndarray, ...]:
    """One row per movement of an approach with >= 2 movements: ``x_m - r_m sum_approach x``.

    Returns the entries' rows (from 0), flows and coefficients, and each row's own flow ``m``.
    """
    seg_len = seg_end - seg_start
    multi = seg_len >= 2
    ms, ml = seg_start[multi], seg_len[multi]
    owner = np.repeat(np.arange(len(ms)), ml)  # segment of each prior row
    row_var_self = (np.arange(int(ml.sum())) - np.repeat(np.cumsum(ml) - ml - ms, ml)).astype(np.int64)  # ms[k] .. ms[k] + ml[k] - 1
    n_turn = len(row_var_self)
    reps = ml[owner]  # entries per prior row
    rows = np.repeat(np.arange(n_turn), reps).astype(np.int64)
    first = np.repeat(ms[owner], reps)
    within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    flows = (first + within).astype(np.int64)
    self_var = np.repeat(row_var_self, reps)
    coef = -ratio[self_var] + (flows == self_var)
    return rows, flows, coef, row_var_self


def _share_rows(network: RoadNetwork, v: _Flows, shares: pd.DataFrame | None, x_level: np.ndarray) -> tuple[np.ndarray, ...]:
    """Rows of observed turn shares: ``x_m - s_m sum_S x`` for every listed movement ``m``.

    ``S`` is the approach's listed movements, or all its movements where the share's
    ``scope`` is ``"approach"``. Returns the entries' rows (from 0), flows and coefficients,
    and each row's variance ((veh/h)^2): ``(share_sd * X_S)^2`` plus 1, ``X_S`` the listed
    ``approach_vph`` where given, else the level prior's flow into ``S``.

    Raises
    ------
    ValidationError
        If a listed movement is not a movement of the network.
    """
    empty = np.zeros(0, dtype=np.int64)
    if shares is None or len(shares) == 0:
        return empty, empty, np.zeros(0), np.zeros(0)
    problems = [f"turn shares: {j}: {f} -> {t} is not a movement of the network"
                for j, f, t in shares[["junction", "from_edge", "to_edge"]].itertuples(index=False)
                if not network.has_movement(str(j), str(f), str(t))]
    if problems:
        raise ValidationError("; ".join(problems[:10]), problems)
    idx = np.array([network.movement_index(str(j), str(f), str(t))
                    for j, f, t in shares[["junction", "from_edge", "to_edge"]].itertuples(index=False)], dtype=np.int64)
    flow = v.var_of_mov[idx]
    group = pd.factorize(shares["junction"].astype(str) + "\0" + shares["from_edge"].astype(str))[0]
    share = shares["share"].to_numpy(dtype=np.float64)
    sd = shares["share_sd"].to_numpy(dtype=np.float64)
    whole = (shares["scope"] == "approach").to_numpy() if "scope" in shares else np.zeros(len(shares), dtype=bool)
    base = shares["approach_vph"].to_numpy(dtype=np.float64) if "approach_vph" in shares else np.full(len(shares), np.nan)
    seg = np.searchsorted(v.seg_start, flow, side="right") - 1
    rows, flows, coef, variance = [], [], [], []
    for r, (g, m, s_m, sd_m) in enumerate(zip(group, flow, share, sd, strict=True)):
        members = np.arange(v.seg_start[seg[r]], v.seg_end[seg[r]]) if whole[r] else flow[group == g]
        rows.extend([r] * len(members))
        flows.extend(members.tolist())
        coef.extend(((members == m) - s_m).tolist())
        x_s = base[r] if np.isfinite(base[r]) else x_level[members].sum()
        variance.append((sd_m * x_s) ** 2 + 1.0)
    return (np.array(rows, dtype=np.int64), np.array(flows, dtype=np.int64), np.array(coef, dtype=np.float64),
            np.array(variance, dtype=np.float64))


def _by_row_and_column(rows: np.ndarray, cols: np.ndarray, coef: np.ndarray, n_rows: int, n_var: int) -> dict:
    """The matrix of entries ``(rows, cols, coef)`` in CSR and CSC form (:class:`EstimationProblem`'s fields).

    Two counting sorts (kernel ``_order_by_pairs``): entries of a row by variable, of a column
    by row, ties in input order.
    """
    from .._kernels.estimation.tables import _order_by_pairs

    order = _order_by_pairs(rows, cols, np.int64(n_rows), np.int64(n_var))
    corder = _order_by_pairs(cols, rows, np.int64(n_var), np.int64(n_rows))
    return {
        "row_ptr": np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))]).astype(np.int64),
        "row_var": cols[order].astype(np.int64),
        "row_coef": coef[order].astype(np.float64),
        "col_ptr": np.concatenate([[0], np.cumsum(np.bincount(cols, minlength=n_var))]).astype(np.int64),
        "col_row": rows[corder].astype(np.int64),
        "col_coef": coef[corder].astype(np.float64),
    }
