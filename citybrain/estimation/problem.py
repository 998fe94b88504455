"""The weighted least-squares problem of the estimate, built as arrays from a network and counts.

:func:`build_problem` numbers the count keys, lays every count, conservation and prior row
(:mod:`citybrain.estimation.priors`) on the vehicle movements, and stores the matrix by row
(CSR) and by column (CSC) in an :class:`EstimationProblem`; the model is described in
:mod:`citybrain.estimation`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    (``block_ptr``). ``row_kind`` is ``"count"``, ``"conservation"``, ``"turn"`` or ``"level"``
    for every row. Units: veh/h; weights (h/veh)^2.
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

    Returns
    -------
    EstimationProblem

    Raises
    ------
    ValidationError
        If a count names a movement or approach the network does not have.
    """
    settings = EstimationSettings() if settings is None else settings
    from .._kernels.estimation.tables import _count_rates

    arrays = network.to_arrays()
    n_mov = len(network.movements)
    vehicle = (arrays.mov_turn != CROSSING) & (arrays.mov_from_edge >= 0) & (arrays.mov_to_edge >= 0)
    mov = np.flatnonzero(vehicle).astype(np.int64)
    n_var = len(mov)
    if n_var == 0:
        msg = f"{network.path}: the network has no vehicle movements to estimate."
        raise ValidationError(msg)
    var_of_mov = np.full(n_mov, -1, dtype=np.int64)
    var_of_mov[mov] = np.arange(n_var)
    vjunc = arrays.mov_junction[mov]
    vfrom = arrays.mov_from_edge[mov]
    vto = arrays.mov_to_edge[mov]
    block_ptr = np.searchsorted(vjunc, np.arange(len(arrays.junction_ids) + 1)).astype(np.int64)

    # approach segments: movements are sorted by (junction, from_edge, to_edge) so one
    # approach's variables are consecutive
    change = np.flatnonzero(np.diff(vfrom) != 0) + 1
    seg_start = np.concatenate([[0], change]).astype(np.int64)
    seg_end = np.concatenate([change, [n_var]]).astype(np.int64)
    if len(np.unique(vfrom[seg_start])) != len(seg_start):  # pragma: no cover - guaranteed by the sort order
        msg = "movements of one approach are not consecutive"
        raise ValidationError(msg)

    frame = counts.frame
    coded = _count_keys(frame)
    lanes = np.maximum(arrays.mov_lanes[mov], 1).astype(np.float64)
    hi = lanes * settings.max_lane_flow_vph
    lo = np.zeros(n_var)

    # ---- count rows
    interval_s = float(counts.interval_s)
    start_s = frame["interval_start"].to_numpy(dtype=np.float64)
    t0 = float(start_s.min())
    n_slots = int(np.rint((start_s.max() - t0) / interval_s)) + 1
    intervals = t0 + interval_s * np.arange(n_slots)
    rowi, keys = coded
    # each key's variables, looked up by integer keys (no loop over counts)
    n_e = len(arrays.edge_ids)
    fe = _positions(keys["from_edge"], arrays.edge_ids)
    te = np.where((keys["to_edge"] == "").to_numpy(), -1, _positions(keys["to_edge"], arrays.edge_ids))
    je = _positions(keys["junction"], arrays.junction_ids)
    seg_of = np.full(n_e + 1, -1, dtype=np.int64)
    seg_of[vfrom[seg_start]] = np.arange(len(seg_start))
    seg = seg_of[fe]  # fe == -1 reads the sentinel slot
    approach_ok = (seg >= 0) & (vjunc[seg_start[np.maximum(seg, 0)]] == je)
    pair = vfrom.astype(np.int64) * n_e + vto
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
    n_count = len(keys)
    size = np.where(is_move, 1, (seg_end - seg_start)[seg])
    c_rows = [np.repeat(np.arange(n_count, dtype=np.int64), size)]
    within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    c_vars = [np.where(np.repeat(is_move, size), np.repeat(var, size), np.repeat(seg_start[seg], size) + within)]
    seg_max_lanes = np.maximum.reduceat(lanes, seg_start)
    c_lanes = np.where(is_move, lanes[var], seg_max_lanes[seg])
    count = frame["count"].to_numpy(dtype=np.float64)
    count_y = _count_rates(start_s, t0, interval_s, rowi, count, np.int64(n_slots), np.int64(n_count))

    # ---- turning-ratio prior shares: history, or lane use with turn-type and exit factors
    turn_factors = None
    if settings.learn_turn_factors:
        counted = _counted_movement_totals(np.bincount(rowi, weights=count, minlength=n_count), var, is_move, n_var)
        turn_factors = _learn_turn_factors(arrays, mov, counted, seg_start, seg_end, settings.uturn_prior_factor)
    ratio = prior_turning_ratios(
        network, turning_ratios, uturn_prior_factor=settings.uturn_prior_factor, turn_factors=turn_factors
    )[mov]
    if turn_factors is not None and turning_ratios is None:
        # exit factors only on top of fitted turn-type factors: without them an exit's factor
        # would absorb the difference between the turn types that reach it (on a lone
        # junction each exit is reached by one movement of each approach, all of other types)
        ratio = _apply_exit_factors(counted, ratio, vto, seg_start, seg_end, n_e)
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
        count_w = np.where(seen, 1.0 / var_y, 0.0)

    # ---- level of flow: median observed flow per lane, per road class
    approach_rows = (keys["to_edge"] == "").to_numpy()
    with np.errstate(invalid="ignore"):
        per_lane = count_y[:, approach_rows] / c_lanes[approach_rows]
    q_seg = _level_per_lane(arrays, vfrom[seg_start], seg[approach_rows], per_lane)
    x_level = ratio * np.repeat(q_seg * seg_max_lanes, seg_end - seg_start)

    # ---- conservation rows (vectorised over the CSR lists of movements into / out of edges)

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
    cons_edges = cons
    s_rows: list[np.ndarray] = []
    s_vars: list[np.ndarray] = []
    s_coef: list[np.ndarray] = []
    keep_in = cons_row[in_edge] >= 0
    keep_out = cons_row[out_edge] >= 0
    s_rows.append(np.concatenate([cons_row[in_edge[keep_in]], cons_row[out_edge[keep_out]]]))
    s_vars.append(np.concatenate([in_var[keep_in], out_var[keep_out]]).astype(np.int64))
    s_coef.append(np.concatenate([np.ones(int(keep_in.sum())), -np.ones(int(keep_out.sum()))]))
    r = len(cons)
    n_cons = r

    # ---- turning-ratio prior rows (one per movement of an approach with >= 2 movements)
    seg_len = seg_end - seg_start
    multi = seg_len >= 2
    ms, ml = seg_start[multi], seg_len[multi]
    owner = np.repeat(np.arange(len(ms)), ml)  # segment of each prior row
    row_var_self = (np.arange(int(ml.sum())) - np.repeat(np.cumsum(ml) - ml - ms, ml)).astype(np.int64)  # ms[k] .. ms[k] + ml[k] - 1
    n_turn = len(row_var_self)
    reps = ml[owner]  # entries per prior row
    turn_rows = np.repeat(np.arange(n_turn), reps) + r
    first = np.repeat(ms[owner], reps)
    within = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    turn_vars = (first + within).astype(np.int64)
    self_var = np.repeat(row_var_self, reps)
    turn_coef = -ratio[self_var] + (turn_vars == self_var)
    s_rows.append(turn_rows.astype(np.int64))
    s_vars.append(turn_vars)
    s_coef.append(turn_coef)
    r += n_turn

    # ---- level rows
    s_rows.append(np.arange(r, r + n_var, dtype=np.int64))
    s_vars.append(np.arange(n_var, dtype=np.int64))
    s_coef.append(np.ones(n_var))
    r += n_var

    if settings.turn_prior_variance == "flow":
        turn_var = _flow_turn_variance(x_level, settings.turn_prior_sd_vph)[row_var_self]
    else:
        turn_var = np.full(n_turn, settings.turn_prior_sd_vph**2)
    # uncounted entry approaches: no conservation row on their edge, no count
    counted = np.zeros(len(seg_start), dtype=bool)
    counted[seg] = True
    entry = np.repeat((cons_row[vfrom[seg_start]] < 0) & ~counted, seg_end - seg_start)
    static_w = np.concatenate(
        [
            np.full(n_cons, 1.0 / settings.conservation_sd_vph**2),
            1.0 / turn_var,
            np.where(entry, 1.0 / settings.entry_level_sd_vph**2, 1.0 / settings.level_prior_sd_vph**2),
        ]
    )
    static_y = np.concatenate([np.zeros(n_cons + n_turn), x_level])
    row_kind = np.array(
        ["count"] * n_count + ["conservation"] * n_cons + ["turn"] * n_turn + ["level"] * n_var, dtype=object
    )

    rows_all = np.concatenate(c_rows + [x + n_count for x in s_rows])
    vars_all = np.concatenate(c_vars + s_vars)
    coef_all = np.concatenate([np.ones(len(v)) for v in c_vars] + s_coef)
    matrix = _by_row_and_column(rows_all, vars_all, coef_all, n_count + r, n_var)

    # starting point: the level prior
    x0 = np.broadcast_to(np.clip(x_level, lo, hi), (n_slots, n_var))  # read-only, one row in memory
    return EstimationProblem(
        mov=mov, block_ptr=block_ptr, **matrix, n_count=n_count,
        count_w=np.ascontiguousarray(count_w), count_y=np.ascontiguousarray(count_y), static_w=static_w,
        static_y=static_y, lo=lo, hi=hi, x0=x0, row_kind=row_kind, count_keys=keys, intervals=intervals,
        interval_s=interval_s, conservation_edges=np.array(cons_edges, dtype=np.int64),
    )


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
