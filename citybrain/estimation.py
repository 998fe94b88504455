"""Estimate every movement's flow at every junction from partial camera counts.

:func:`estimate_flows` turns a :class:`~citybrain.counts.CountTable` into a
:class:`FlowEstimate`: per interval and movement the flow (veh/h) and its standard error, the
turning ratios, the link flows with their conservation residuals, and per observed count the
fitted value and GEH.

The model (per interval, all intervals solved in parallel)
----------------------------------------------------------
Unknowns are the hourly flows ``x_m`` (veh/h) of every vehicle movement of every junction of
the network (unsignalised ones too: they carry conservation between signals). The estimate
minimises a weighted sum of squares, each row weighted by ``1 / sd^2``:

* **counts** -- a movement count ``x_m = y`` or an approach total ``sum_{m in approach} x_m = y``
  with ``sd^2 = (noise_rel * y)^2 + y * 3600 / interval_s + count_sd_floor_vph^2``
  (multiplicative camera error plus Poisson counting noise), ``y`` being the camera's mean rate
  over the table (``count_sd_from="camera"``, default: no pull towards low counts, and one
  weight per camera) or each count itself (``count_sd_from="count"``);
* **flow conservation** on every link with movements at both ends: what the upstream junction
  sends into the link equals what the downstream junction takes from it,
  ``sum_{m into e} x_m - sum_{m out of e} x_m = 0``, sd ``conservation_sd_vph`` (mid-block
  sources, sinks and storage);
* **turning-ratio prior** per approach: ``x_m - r_m sum_{approach} x = 0``. ``r_m`` comes from
  ``turning_ratios`` (history) when given, else from lane use: the movement's saturation flow
  (its lanes, shared lanes split, turn factor) over the approach's, with U-turns scaled by
  ``uturn_prior_factor``, each turn type by a factor learnt from the table's own
  per-movement cameras, and each exit edge by its attraction at those cameras (the column
  factor of a Furness model, pooled towards 1). The row's variance is proportional to the
  movement's prior flow ``x0_m`` (the level prior below),
  ``sd^2 = turn_prior_sd_vph^2 * x0_m / median(x0)`` (``turn_prior_variance="flow"``,
  default), so a movement at the median prior flow has sd ``turn_prior_sd_vph``: a movement
  count scatters around its share like a count, variance proportional to its mean. This is
  the chi-square weighting of the second-order expansion of the entropy-maximising
  turning-movement estimate (Van Zuylen 1979; Van Zuylen and Willumsen 1980): what the counts
  and conservation leave open is split in proportion to the prior flows instead of in equal
  absolute amounts. ``turn_prior_variance="constant"``: sd ``turn_prior_sd_vph`` for every
  movement;
* **level prior** ``x_m = r_m * q * lanes`` with ``q`` the median observed flow per lane of
  the approach's road class (speed limit and lane count; of all counted approaches where
  fewer than two of its class are counted), sd ``level_prior_sd_vph``: weak, it only fixes
  flows nothing else determines; sd ``entry_level_sd_vph`` on an uncounted entry approach
  (no modelled movement feeds it): nothing else holds its flow, and least squares would
  otherwise let it absorb every residual of the counts around it;

subject to ``0 <= x_m <= lanes_m * max_lane_flow_vph``.

Network boundary. A link entered only by a U-turn (a dead end at the edge of the map) is where
vehicles enter the model; its conservation row, chained through the dead end's U-turn with the
row of the opposite link, acts as a directional-balance prior (inbound flow of a boundary road
about equal to its outbound flow, sd ``conservation_sd_vph * sqrt(2)``). Sources and sinks
inside the network (car parks, side streets the network omits) are only covered by
``conservation_sd_vph``.

What the counts can determine. Movements in the row space of the camera rows and the (exact)
conservation rows of interior links are recovered whatever the priors say; the others are
fixed only up to a direction that no count sees, and their split follows the turning and level
priors. On the RESCO and Atlanta networks with the issue-4 camera protocol that is 55-70% of the
movements (``benchmarks/bench_estimation_accuracy.py`` reports the share), and their accuracy
is bounded by how well a turn-type prior predicts route choice.

Why this design: every piece of knowledge enters as one linear row with an explicit standard
deviation, so the solution is the maximum a-posteriori flow of a Gaussian model with bounds,
and the inverse information matrix gives an honest standard error
(``se_vph``; computed per junction block, conditional on the neighbouring junctions).

Solvers. ``method="direct"`` (default): with one weight per camera the normal-equations
matrix ``A^T W A`` is the same for every interval that has the same counts present, so it is
factorised once, and every interval's right-hand side is solved at once. Only the
link-conservation rows couple junctions, so the junction blocks are inverted apart (numba
kernel :func:`citybrain._kernels.estimation._invert_blocks`) and the system is condensed onto
the links, which :func:`scipy.sparse.linalg.splu` factorises (minimum-degree ordering; the
kernels ``_block_multiply``, ``_add_csr_product``, ``_solve_triangular_pair`` and
``_block_multiply_transposed`` apply it); intervals whose solution leaves
the bounds (or whose matrix differs: missing counts) are finished by coordinate descent on a
work list (:func:`citybrain._kernels.estimation._polish_bounded_lsq`), which visits only the
variables near the change. Cyclic coordinate descent over whole sweeps
(``method="coordinate-descent"``, kernel :func:`citybrain._kernels.estimation._solve_bounded_lsq`)
needs no factorisation but ~200 sweeps on a 100 x 100 grid, because conservation must
propagate across the network. ``method="lsq_linear"`` solves the same
problems with :func:`scipy.optimize.lsq_linear` (reference; slow).
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .counts import CountTable, counts_from_frame
from .exceptions import ConvergenceError, ValidationError
from .network import TURN_CODES, RoadNetwork

__all__ = [
    "FLOW_COLUMNS",
    "FlowEstimate",
    "EstimationProblem",
    "estimate_flows",
    "build_problem",
    "prior_turning_ratios",
    "geh",
    "aggregate_hourly",
    "read_flows",
    "write_flows",
    "estimate_to_json",
]

#: Columns of a flows table (``flows.csv``), shared with the timing engine.
FLOW_COLUMNS: tuple[str, ...] = ("interval_start", "interval_s", "junction", "from_edge", "to_edge", "flow_vph", "se_vph")

_CROSSING = TURN_CODES.index("crossing")
_UTURN = TURN_CODES.index("uturn")
_METHODS = ("direct", "coordinate-descent", "lsq_linear")
_COUNT_SD_FROM = ("camera", "count")
_TURN_PRIOR_VARIANCE = ("flow", "constant")
#: Pseudo-count of approaches pulling learnt turn factors towards 1 (partial pooling).
_TURN_FACTOR_POOL = 10.0


def geh(model, count):
    """Return the GEH statistic of hourly flows (veh/h): ``sqrt(2 (M - C)^2 / (M + C))``.

    Parameters
    ----------
    model, count
        Modelled and counted hourly flows (veh/h), scalars or arrays.

    Returns
    -------
    float or ndarray
        GEH (0 where ``M + C == 0``). A scalar input gives a Python float.

    Examples
    --------
    >>> round(geh(450.0, 400.0), 2)
    2.43
    >>> geh(0.0, 0.0)
    0.0
    """
    m = np.asarray(model, dtype=np.float64)
    c = np.asarray(count, dtype=np.float64)
    total = np.atleast_1d(m + c)
    value = np.atleast_1d(m - c)  # a fresh array, worked on in place
    np.multiply(value, value, out=value)
    value *= 2.0
    positive = total > 0
    np.divide(value, total, out=value, where=positive)
    value[~positive] = 0.0
    np.sqrt(value, out=value)
    if m.ndim == 0 and c.ndim == 0:
        return float(value[0])
    return value


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


@dataclass(frozen=True, eq=False)
class FlowEstimate:
    """Estimated movement flows per interval.

    Attributes
    ----------
    flows : pandas.DataFrame
        Columns exactly :data:`FLOW_COLUMNS`: ``interval_start`` (seconds from the counts'
        origin, or ISO 8601 text when the counts used times), ``interval_s``, ``junction``,
        ``from_edge``, ``to_edge``, ``flow_vph`` and ``se_vph`` (veh/h), one row per interval
        and movement of the reported junctions.
    fit : pandas.DataFrame
        One row per observed count: ``interval_start, interval_s, camera_id, junction,
        from_edge, to_edge, observed_vph, fitted_vph, geh`` (GEH of the hourly rates).
    interval_s : float
        Interval length (seconds).
    origin : pandas.Timestamp or None
        Time of second 0 when the counts used ISO 8601 times.
    sweeps : numpy.ndarray
        Solver sweeps (coordinate descent) or iterations (lsq_linear) per interval.
    settings : dict
        The parameters used.
    """

    flows: pd.DataFrame
    fit: pd.DataFrame
    interval_s: float
    origin: pd.Timestamp | None
    sweeps: np.ndarray
    settings: dict[str, Any]
    _x: np.ndarray = field(repr=False)
    _problem: EstimationProblem = field(repr=False)
    _network: RoadNetwork = field(repr=False)

    # -- derived tables --------------------------------------------------------------------
    def _times(self) -> np.ndarray:
        return _format_times(self._problem.intervals, self.origin)

    def turning_ratios(self) -> pd.DataFrame:
        """Return turning ratios per interval: share of each movement in its approach's flow.

        Returns
        -------
        pandas.DataFrame
            ``interval_start, interval_s, junction, from_edge, to_edge, ratio`` for the
            reported movements; ``ratio`` is NaN when the approach carries no flow.
        """
        frame = self.flows[["interval_start", "interval_s", "junction", "from_edge", "to_edge", "flow_vph"]].copy()
        total = frame.groupby(["interval_start", "junction", "from_edge"], observed=True, sort=False)["flow_vph"].transform("sum")
        with np.errstate(invalid="ignore", divide="ignore"):
            frame["ratio"] = np.where(total > 0, frame["flow_vph"] / total.where(total > 0, 1.0), np.nan)
        return frame.drop(columns="flow_vph")

    def link_flows(self) -> pd.DataFrame:
        """Return link flows (veh/h) per interval with their conservation residual.

        Returns
        -------
        pandas.DataFrame
            ``interval_start, interval_s, edge, inflow_vph, outflow_vph, residual_vph`` for
            every link with movements at both ends: ``inflow_vph`` is what the upstream
            junction sends into the link, ``outflow_vph`` what the downstream junction takes
            from it, ``residual_vph = inflow_vph - outflow_vph`` (mid-block sources and sinks
            the estimate implies).
        """
        p = self._problem
        arrays = self._network.to_arrays()
        edges = p.conservation_edges
        var_of_mov = np.full(len(self._network.movements), -1, dtype=np.int64)
        var_of_mov[p.mov] = np.arange(p.n_var)
        n_t = self._x.shape[0]
        inflow = np.zeros((n_t, len(edges)))
        outflow = np.zeros((n_t, len(edges)))
        for k, e in enumerate(edges):
            vin = var_of_mov[arrays.edge_in_mov[arrays.edge_in_ptr[e] : arrays.edge_in_ptr[e + 1]]]
            vout = var_of_mov[arrays.edge_out_mov[arrays.edge_out_ptr[e] : arrays.edge_out_ptr[e + 1]]]
            inflow[:, k] = self._x[:, vin[vin >= 0]].sum(axis=1)
            outflow[:, k] = self._x[:, vout[vout >= 0]].sum(axis=1)
        times = self._times()
        return pd.DataFrame(
            {
                "interval_start": np.repeat(times, len(edges)),
                "interval_s": self.interval_s,
                "edge": np.tile(np.array([arrays.edge_ids[e] for e in edges], dtype=object), n_t),
                "inflow_vph": inflow.ravel(),
                "outflow_vph": outflow.ravel(),
                "residual_vph": (inflow - outflow).ravel(),
            }
        )

    def hourly(self) -> pd.DataFrame:
        """Return the flows aggregated to whole hours (see :func:`aggregate_hourly`)."""
        return aggregate_hourly(self.flows, origin=self.origin)

    def summary(self) -> dict[str, Any]:
        """Return headline figures: sizes, sweeps, fit GEH and conservation residuals."""
        fit_geh = self.fit["geh"].to_numpy()
        links = self.link_flows()
        return {
            "intervals": int(self._x.shape[0]),
            "interval_s": self.interval_s,
            "movements": int(self.flows.groupby(["junction", "from_edge", "to_edge"], observed=True).ngroups),
            "counts": len(self.fit),
            "sweeps_max": int(self.sweeps.max()) if len(self.sweeps) else 0,
            "fit_geh_below_5": float(np.mean(fit_geh < 5)) if len(fit_geh) else float("nan"),
            "fit_geh_mean": float(np.mean(fit_geh)) if len(fit_geh) else float("nan"),
            "conservation_residual_abs_mean_vph": float(np.abs(links["residual_vph"]).mean()) if len(links) else 0.0,
            "settings": self.settings,
        }


# -- priors -------------------------------------------------------------------------------
def prior_turning_ratios(
    network: RoadNetwork,
    history: pd.DataFrame | None = None,
    *,
    uturn_prior_factor: float = 0.05,
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
    weight[arrays.mov_turn == _UTURN] *= uturn_prior_factor
    weight[arrays.mov_turn == _CROSSING] = 0.0
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
        use = covered[arrays.mov_from_edge] & (arrays.mov_turn != _CROSSING)
        weight[use] = np.nan_to_num(hist[use]) + 1e-3  # keep every movement possible
    total = np.zeros(len(arrays.edge_ids))
    valid = arrays.mov_from_edge >= 0
    np.add.at(total, arrays.mov_from_edge[valid], weight[valid])
    ratio = np.zeros(n)
    denom = np.where(valid, total[np.maximum(arrays.mov_from_edge, 0)], 0.0)
    ok = denom > 0
    ratio[ok] = weight[ok] / denom[ok]
    return ratio


_KEY_COLUMNS = ["camera_id", "junction", "from_edge", "to_edge"]


def _count_keys(frame: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
    """Number the distinct ``(camera_id, junction, from_edge, to_edge)`` of a count frame.

    Returns the key number of every frame row (in order of first appearance) and the keys
    as a frame (one row per key). The columns' UTF-8 bytes are hashed row by row and the
    rows numbered by hash in numba (kernels ``_row_hashes``, ``_number_rows``); every row is
    then checked byte by byte against its key's first row (``_rows_match``), and numbered
    again comparing bytes if two distinct keys shared a hash. No sort.
    """
    import pyarrow as pa

    from ._kernels.estimation import _number_rows, _row_hashes, _rows_match

    offsets, data = [], []
    for col in _KEY_COLUMNS:
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
    keys = frame[_KEY_COLUMNS].iloc[first].reset_index(drop=True)
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
    base = arrays.mov_sat_flow_vph[idx].astype(np.float64) * np.where(turn == _UTURN, uturn_prior_factor, 1.0)
    observed = np.bincount(turn, weights=share, minlength=n_codes)
    for _ in range(20):
        w = base * factor[turn]
        model = w / np.bincount(grp, weights=w)[grp]
        modelled = np.bincount(turn, weights=model, minlength=n_codes)
        seen = modelled > 0
        factor[seen] *= (observed[seen] + 1e-3) / (modelled[seen] + 1e-3)
        factor = np.clip(factor / factor[0], 0.05, 20.0)
    # partial pooling towards the plain lane-use prior: few approaches, little trust
    return factor ** (n_groups / (n_groups + _TURN_FACTOR_POOL))


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


# -- building the problem -------------------------------------------------------------------
def build_problem(
    network: RoadNetwork,
    counts: CountTable,
    *,
    noise_rel: float = 0.1,
    count_sd_floor_vph: float = 10.0,
    count_poisson: bool = True,
    conservation_sd_vph: float = 60.0,
    turn_prior_sd_vph: float = 120.0,
    level_prior_sd_vph: float = 600.0,
    entry_level_sd_vph: float = 400.0,
    max_lane_flow_vph: float = 2000.0,
    turning_ratios: pd.DataFrame | None = None,
    uturn_prior_factor: float = 0.05,
    learn_turn_factors: bool = True,
    count_sd_from: str = "camera",
    turn_prior_variance: str = "flow",
) -> EstimationProblem:
    """Build the per-interval least-squares problem of :func:`estimate_flows` (see there).

    Returns
    -------
    EstimationProblem

    Raises
    ------
    ValidationError
        If a count names a movement or approach the network does not have.
    """
    from ._kernels.estimation import _count_rates, _order_by_pairs

    arrays = network.to_arrays()
    n_mov = len(network.movements)
    vehicle = (arrays.mov_turn != _CROSSING) & (arrays.mov_from_edge >= 0) & (arrays.mov_to_edge >= 0)
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
    hi = lanes * max_lane_flow_vph
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
    if learn_turn_factors:
        counted = _counted_movement_totals(np.bincount(rowi, weights=count, minlength=n_count), var, is_move, n_var)
        turn_factors = _learn_turn_factors(arrays, mov, counted, seg_start, seg_end, uturn_prior_factor)
    ratio = prior_turning_ratios(
        network, turning_ratios, uturn_prior_factor=uturn_prior_factor, turn_factors=turn_factors
    )[mov]
    if turn_factors is not None and turning_ratios is None:
        # exit factors only on top of fitted turn-type factors: without them an exit's factor
        # would absorb the difference between the turn types that reach it (on a lone
        # junction each exit is reached by one movement of each approach, all of other types)
        ratio = _apply_exit_factors(counted, ratio, vto, seg_start, seg_end, n_e)
    with np.errstate(invalid="ignore"):
        seen = ~np.isnan(count_y)
        if count_sd_from == "camera":
            # the variance of a count follows the camera's mean rate, not the (noisy) count
            # itself: no bias towards low counts, and one weight per camera for every interval
            # (computed per count row, spread over the intervals by the last step)
            yy = np.nansum(count_y, axis=0) / np.maximum(seen.sum(axis=0), 1)
        else:
            yy = np.nan_to_num(count_y)
        var_y = (noise_rel * yy) ** 2 + count_sd_floor_vph**2
        if count_poisson:
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

    if turn_prior_variance == "flow":
        turn_var = _flow_turn_variance(x_level, turn_prior_sd_vph)[row_var_self]
    else:
        turn_var = np.full(n_turn, turn_prior_sd_vph**2)
    # uncounted entry approaches: no conservation row on their edge, no count
    counted = np.zeros(len(seg_start), dtype=bool)
    counted[seg] = True
    entry = np.repeat((cons_row[vfrom[seg_start]] < 0) & ~counted, seg_end - seg_start)
    static_w = np.concatenate(
        [
            np.full(n_cons, 1.0 / conservation_sd_vph**2),
            1.0 / turn_var,
            np.where(entry, 1.0 / entry_level_sd_vph**2, 1.0 / level_prior_sd_vph**2),
        ]
    )
    static_y = np.concatenate([np.zeros(n_cons + n_turn), x_level])
    row_kind = np.array(
        ["count"] * n_count + ["conservation"] * n_cons + ["turn"] * n_turn + ["level"] * n_var, dtype=object
    )

    rows_all = np.concatenate(c_rows + [x + n_count for x in s_rows])
    vars_all = np.concatenate(c_vars + s_vars)
    coef_all = np.concatenate([np.ones(len(v)) for v in c_vars] + s_coef)
    n_rows = n_count + r
    # CSR and CSC by counting sorts (entries of a row by variable, of a column by row)
    order = _order_by_pairs(rows_all, vars_all, np.int64(n_rows), np.int64(n_var))
    row_var = vars_all[order].astype(np.int64)
    row_coef = coef_all[order].astype(np.float64)
    row_ptr = np.concatenate([[0], np.cumsum(np.bincount(rows_all, minlength=n_rows))]).astype(np.int64)
    corder = _order_by_pairs(vars_all, rows_all, np.int64(n_var), np.int64(n_rows))
    col_row = rows_all[corder].astype(np.int64)
    col_coef = coef_all[corder].astype(np.float64)
    col_ptr = np.concatenate([[0], np.cumsum(np.bincount(vars_all, minlength=n_var))]).astype(np.int64)

    # starting point: the level prior
    x0 = np.broadcast_to(np.clip(x_level, lo, hi), (n_slots, n_var))  # read-only, one row in memory
    return EstimationProblem(
        mov=mov,
        block_ptr=block_ptr,
        row_ptr=row_ptr,
        row_var=row_var,
        row_coef=row_coef,
        col_ptr=col_ptr,
        col_row=col_row,
        col_coef=col_coef,
        n_count=n_count,
        count_w=np.ascontiguousarray(count_w),
        count_y=np.ascontiguousarray(count_y),
        static_w=static_w,
        static_y=static_y,
        lo=lo,
        hi=hi,
        x0=x0,
        row_kind=row_kind,
        count_keys=keys,
        intervals=intervals,
        interval_s=interval_s,
        conservation_edges=np.array(cons_edges, dtype=np.int64),
    )


#: Counted approaches a road class needs before its own median flow per lane is used.
LEVEL_CLASS_MIN_APPROACHES = 2


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
    its small share, a major one may move further (see the module docstring).
    """
    positive = x_level[x_level > 0]
    scale = float(np.median(positive)) if len(positive) else 1.0
    return turn_prior_sd_vph**2 * np.maximum(x_level, 1.0) / scale


# -- solving --------------------------------------------------------------------------------
#: Below this many flows x intervals the kernels run on one numba thread: waking the pool
#: costs more than the work (on a loaded machine up to ~10 ms a parallel region).
_PARALLEL_MIN_WORK = 1_000_000


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
    from ._kernels.estimation import _solve_bounded_lsq

    return _solve_bounded_lsq(
        p.row_ptr,
        p.row_var,
        p.row_coef,
        p.col_ptr,
        p.col_row,
        p.col_coef,
        np.int64(p.n_count),
        p.count_w,
        p.count_y,
        p.static_w,
        p.static_y,
        p.lo,
        p.hi,
        p.x0,
        np.int64(max_sweeps),
        np.float64(tol_vph),
    )



@_threads_by_size
def _solve_direct(p: EstimationProblem, max_sweeps: int, tol_vph: float) -> tuple[np.ndarray, np.ndarray]:
    """Solve every interval by one sparse factorisation, then polish the bounds.

    The normal equations ``(A^T W A) x = A^T W y`` share their matrix across intervals
    whenever the same counts are present (count weights are per camera, see
    ``count_sd_from``), so the matrix of the most common pattern of present counts is
    factorised once. Every row but the link-conservation rows lies inside one junction, so
    ``A^T W A = D + C^T S C`` with ``D`` block-diagonal by junction (inverted block by block,
    kernel ``_invert_blocks``) and ``C`` the conservation rows (weights ``S``). Static
    condensation onto the links:

        (S^-1 + C D^-1 C^T) u = C D^-1 b,    x = D^-1 (b - C^T u)

    The link system has a third of the unknowns and a tenth of the fill of the full one; it
    is factorised by :func:`scipy.sparse.linalg.splu` (minimum-degree ordering) and every
    interval's right-hand side is solved at once (kernels ``_block_multiply``,
    ``_add_csr_product`` and ``_solve_triangular_pair``; ``C`` is permuted to the factor's
    order instead of the right-hand sides, and ``x`` comes out one row per interval from
    ``_block_multiply_transposed``). Then work-list coordinate descent
    (``_polish_bounded_lsq``, in place) clips ``x`` to the bounds and finishes the intervals
    whose solution left them, or whose present counts differ from the factorised pattern:
    the correction is local, so it needs few updates.

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

    from ._kernels.estimation import (
        _add_csr_product,
        _block_multiply,
        _block_multiply_transposed,
        _invert_blocks,
        _normal_rhs,
        _polish_bounded_lsq,
        _solve_triangular_pair,
    )

    n_t = p.count_y.shape[0]
    n_var = p.n_var
    threads = np.int64(numba.get_num_threads())
    present = ~np.isnan(p.count_y) & (p.count_w > 0)
    # most common pattern of present counts (rows packed to bytes, then counted)
    packed = np.packbits(present, axis=1)
    _, first, inverse, freq = np.unique(
        packed.view(np.dtype((np.void, packed.shape[1]))).ravel() if packed.shape[1] else np.zeros(n_t, np.int8),
        return_index=True, return_inverse=True, return_counts=True,
    )
    inverse = np.asarray(inverse).ravel()
    common = int(np.argmax(freq))
    mask = present[first[common]]
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
        z = np.zeros((c.shape[0], n_t))
        _add_csr_product(c_rows.indptr, c_rows.indices, c_rows.data, _block_multiply(inv_ptr, inv, p.block_ptr, b), z)
        _solve_triangular_pair(l_mat.indptr, l_mat.indices, l_mat.data, u_mat.indptr, u_mat.indices, u_mat.data, z, threads)
        ct = c.T.tocsr()
        _add_csr_product(ct.indptr, lu.perm_c[ct.indices], -ct.data, z, b)  # b -= C^T u
    x = _block_multiply_transposed(inv_ptr, inv, p.block_ptr, b)  # (n_t, n_var)
    # intervals whose matrix differs from the factorised one: other counts present, or other
    # weights (count_sd_from="count"); the others start from their unconstrained optimum
    other = (inverse != common) | (present & (p.count_w != w_count)).any(axis=1)
    used = _polish_bounded_lsq(
        p.row_ptr,
        p.row_var,
        p.row_coef,
        p.col_ptr,
        p.col_row,
        p.col_coef,
        np.int64(p.n_count),
        p.count_w,
        p.count_y,
        p.static_w,
        p.static_y,
        p.lo,
        p.hi,
        x,
        ~other,
        np.int64(max_sweeps) * n_var,
        np.float64(tol_vph),
    )
    # report work as whole-sweep equivalents (max_sweeps + 1 still flags no convergence)
    sweeps = np.where(used > np.int64(max_sweeps) * n_var, max_sweeps + 1, -(-used // n_var))
    return x, sweeps


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


def _format_times(seconds: np.ndarray, origin: pd.Timestamp | None) -> np.ndarray:
    if origin is None:
        return np.asarray(seconds, dtype=np.float64)
    return np.array([(origin + pd.Timedelta(seconds=float(s))).isoformat() for s in seconds], dtype=object)


def _check_positive(**values: float) -> None:
    problems = [
        f"The {name!r} parameter of estimate_flows must be positive. Got {value!r} instead."
        for name, value in values.items()
        if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value))
    ]
    if problems:
        raise ValidationError(" ".join(problems), problems)


def estimate_flows(
    network: RoadNetwork,
    counts: CountTable | pd.DataFrame,
    *,
    method: str = "direct",
    junctions: str | list[str] = "signalised",
    turning_ratios: pd.DataFrame | None = None,
    noise_rel: float = 0.1,
    count_sd_floor_vph: float = 10.0,
    count_poisson: bool = True,
    conservation_sd_vph: float = 60.0,
    turn_prior_sd_vph: float = 120.0,
    level_prior_sd_vph: float = 600.0,
    entry_level_sd_vph: float = 400.0,
    max_lane_flow_vph: float = 2000.0,
    uturn_prior_factor: float = 0.05,
    learn_turn_factors: bool = True,
    count_sd_from: str = "camera",
    turn_prior_variance: str = "flow",
    standard_errors: bool = True,
    max_sweeps: int = 500,
    tol_vph: float = 0.05,
    raise_on_nonconvergence: bool = False,
) -> FlowEstimate:
    """Estimate the flow (veh/h) of every movement per interval from camera counts.

    Parameters
    ----------
    network
        The road network the counts refer to.
    counts
        Validated counts (:func:`citybrain.counts.read_counts`); a raw frame is validated
        strictly first.
    method
        ``"direct"`` (default: one factorisation for all intervals, numba triangular solves
        and work-list coordinate descent for the bounds), ``"coordinate-descent"`` (numba
        kernel ``_solve_bounded_lsq``) or ``"lsq_linear"`` (scipy reference; same problem,
        slow).
    junctions
        Which junctions' movements to report: ``"signalised"`` (default), ``"all"``, or a
        list of junction ids. Every junction takes part in the estimate either way.
    turning_ratios
        History for the turning-ratio prior: ``junction, from_edge, to_edge`` and ``ratio``
        or ``flow_vph`` (e.g. an earlier estimate's flows). Default: the lane-use prior.
    noise_rel
        Relative standard deviation of a camera count (0.1 = 10%).
    count_sd_floor_vph
        Standard deviation (veh/h) added to every count's.
    count_poisson
        Add Poisson counting noise (``y * 3600 / interval_s``) to each count's variance; turn
        off (with ``noise_rel=0`` and a tiny floor) to reproduce exact counts.
    conservation_sd_vph
        Standard deviation (veh/h) of the mid-block gain or loss on a link.
    turn_prior_sd_vph
        Standard deviation (veh/h) of a movement around its prior share of the approach (of a
        movement at the median prior flow when ``turn_prior_variance="flow"``).
    level_prior_sd_vph
        Standard deviation (veh/h) of the weak prior on each movement's level.
    entry_level_sd_vph
        Standard deviation (veh/h) of the level prior of a movement from an uncounted entry
        approach (one no modelled movement feeds).
    max_lane_flow_vph
        Upper bound of a movement's flow per lane it uses (veh/h).
    uturn_prior_factor
        Scale of U-turns' lane-use prior share.
    learn_turn_factors
        Scale the lane-use prior per turn type (through, left, right ...) and per exit edge
        to fit the cameras of this count table that count per movement (empirical Bayes;
        uses only the input counts). The exit factors are skipped when ``turning_ratios``
        is given; the turn-type factors are ignored for approaches it covers.
    standard_errors
        Compute ``se_vph`` (kernel ``_block_standard_errors``); NaN when ``False``.
    count_sd_from
        ``"camera"`` (default): a count's variance follows its camera's mean rate over the
        table; ``"count"``: the count itself.
    turn_prior_variance
        ``"flow"`` (default): a turning-prior row's variance is proportional to the
        movement's prior flow (entropy model); ``"constant"``: ``turn_prior_sd_vph`` for all.
    max_sweeps, tol_vph
        Coordinate descent stops after ``max_sweeps`` sweeps (the direct solver's bound step:
        ``max_sweeps * n_flows`` updates) or when no flow moved more than ``tol_vph`` (veh/h).
    raise_on_nonconvergence
        Raise :class:`~citybrain.exceptions.ConvergenceError` when an interval used every sweep.

    Returns
    -------
    FlowEstimate

    Raises
    ------
    ValidationError
        If the counts are invalid or do not fit the network, or a parameter is out of range.
    ConvergenceError
        If ``raise_on_nonconvergence`` and coordinate descent did not reach ``tol_vph``.

    Notes
    -----
    The model is described in the module docstring. GEH is the statistic of the UK Design
    Manual for Roads and Bridges (TA 46/97), computed on hourly rates.
    """
    if method not in _METHODS:
        msg = f"The 'method' parameter of estimate_flows must be one of {', '.join(_METHODS)}. Got {method!r} instead."
        raise ValidationError(msg)
    _check_positive(
        conservation_sd_vph=conservation_sd_vph,
        turn_prior_sd_vph=turn_prior_sd_vph,
        level_prior_sd_vph=level_prior_sd_vph,
        entry_level_sd_vph=entry_level_sd_vph,
        count_sd_floor_vph=count_sd_floor_vph,
        max_lane_flow_vph=max_lane_flow_vph,
        tol_vph=tol_vph,
        max_sweeps=max_sweeps,
    )
    if count_sd_from not in _COUNT_SD_FROM:
        msg = (
            f"The 'count_sd_from' parameter of estimate_flows must be one of {', '.join(_COUNT_SD_FROM)}. "
            f"Got {count_sd_from!r} instead."
        )
        raise ValidationError(msg)
    if turn_prior_variance not in _TURN_PRIOR_VARIANCE:
        msg = (
            f"The 'turn_prior_variance' parameter of estimate_flows must be one of "
            f"{', '.join(_TURN_PRIOR_VARIANCE)}. Got {turn_prior_variance!r} instead."
        )
        raise ValidationError(msg)
    if not noise_rel >= 0:
        msg = f"The 'noise_rel' parameter of estimate_flows must be >= 0. Got {noise_rel!r} instead."
        raise ValidationError(msg)
    if not isinstance(counts, CountTable):
        counts = counts_from_frame(counts, network, strict=True)
    if len(counts.frame) == 0:
        msg = "estimate_flows needs at least one count; the count table is empty."
        raise ValidationError(msg)
    settings = {
        "method": method,
        "noise_rel": noise_rel,
        "count_sd_floor_vph": count_sd_floor_vph,
        "count_poisson": count_poisson,
        "conservation_sd_vph": conservation_sd_vph,
        "turn_prior_sd_vph": turn_prior_sd_vph,
        "level_prior_sd_vph": level_prior_sd_vph,
        "entry_level_sd_vph": entry_level_sd_vph,
        "max_lane_flow_vph": max_lane_flow_vph,
        "uturn_prior_factor": uturn_prior_factor,
        "max_sweeps": max_sweeps,
        "tol_vph": tol_vph,
        "turning_ratio_prior": "history" if turning_ratios is not None else "lane-use",
        "learn_turn_factors": learn_turn_factors,
        "count_sd_from": count_sd_from,
        "turn_prior_variance": turn_prior_variance,
    }
    p = build_problem(
        network,
        counts,
        noise_rel=noise_rel,
        count_sd_floor_vph=count_sd_floor_vph,
        count_poisson=count_poisson,
        conservation_sd_vph=conservation_sd_vph,
        turn_prior_sd_vph=turn_prior_sd_vph,
        level_prior_sd_vph=level_prior_sd_vph,
        entry_level_sd_vph=entry_level_sd_vph,
        max_lane_flow_vph=max_lane_flow_vph,
        turning_ratios=turning_ratios,
        uturn_prior_factor=uturn_prior_factor,
        learn_turn_factors=learn_turn_factors,
        count_sd_from=count_sd_from,
        turn_prior_variance=turn_prior_variance,
    )
    if method in ("direct", "coordinate-descent"):
        solve = _solve_direct if method == "direct" else _solve_coordinate_descent
        x, sweeps = solve(p, int(max_sweeps), float(tol_vph))
        if raise_on_nonconvergence and np.any(sweeps > max_sweeps):
            bad = np.flatnonzero(sweeps > max_sweeps)
            msg = (
                f"estimate_flows: the {method} solver did not reach tol_vph={tol_vph} in {max_sweeps} sweeps "
                f"for {len(bad)} interval(s); raise max_sweeps or tol_vph."
            )
            raise ConvergenceError(msg)
    else:
        x, sweeps = _solve_lsq_linear(p)
    if standard_errors:
        se, se_row = _standard_errors(p)
    else:
        se, se_row = np.full((1, p.n_var), np.nan), np.zeros(x.shape[0], dtype=np.int64)
    return _package(network, counts, p, x, se, se_row, sweeps, junctions, settings)



@_threads_by_size
def _standard_errors(p: EstimationProblem) -> tuple[np.ndarray, np.ndarray]:
    """Return ``se_vph`` per distinct interval and each interval's row (kernel ``_block_standard_errors``).

    The information matrix of an interval depends only on which counts are present and on
    their weights, so intervals that share both share their standard errors: the kernel runs
    once per distinct interval, and interval ``t`` has ``se[se_row[t]]`` (veh/h).
    """
    from ._kernels.estimation import _block_standard_errors

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


def _small_codes(codes: np.ndarray, n_categories: int) -> np.ndarray:
    """Category codes in the integer type pandas keeps for ``n_categories`` (no later copy)."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_categories < np.iinfo(dtype).max:
            return codes.astype(dtype, copy=False)
    return codes.astype(np.int64, copy=False)


def _categorical(codes: np.ndarray, categories) -> pd.Categorical:
    """A categorical column from valid codes, built without re-checking them."""
    dtype = pd.CategoricalDtype(pd.Index(categories))
    return pd.Categorical.from_codes(codes, dtype=dtype, validate=False)


def _package(network, counts, p, x, se, se_row, sweeps, junctions, settings) -> FlowEstimate:
    from ._kernels.estimation import _count_fit, _flow_columns

    arrays = network.to_arrays()
    vj = arrays.mov_junction[p.mov]
    if isinstance(junctions, str) and junctions == "all":
        sel = np.arange(p.n_var)
    else:
        if isinstance(junctions, str):
            if junctions != "signalised":
                msg = (
                    "The 'junctions' parameter of estimate_flows must be 'signalised', 'all' or a list of "
                    f"junction ids. Got {junctions!r} instead."
                )
                raise ValidationError(msg)
            wanted = set(network.signalised_junctions)
        else:
            wanted = set(junctions)
            unknown = sorted(wanted - set(arrays.junction_ids))
            if unknown:
                msg = f"estimate_flows: unknown junction id(s) {', '.join(unknown[:10])}."
                raise ValidationError(msg)
        jmask = np.array([j in wanted for j in arrays.junction_ids], dtype=bool)
        sel = np.flatnonzero(jmask[vj])
    times = _format_times(p.intervals, counts.origin)
    junction_ids = np.array(arrays.junction_ids, dtype=object)
    edge_ids = np.array(arrays.edge_ids, dtype=object)
    mj = _small_codes(vj[sel], len(junction_ids))
    mf = _small_codes(arrays.mov_from_edge[p.mov][sel], len(edge_ids))
    mt = _small_codes(arrays.mov_to_edge[p.mov][sel], len(edge_ids))

    start, length, flow, err, cj, cf, ct = _flow_columns(
        np.asarray(p.intervals, dtype=np.float64), float(p.interval_s), x, se, se_row, sel.astype(np.int64), mj, mf, mt
    )
    if counts.origin is not None:  # ISO 8601 text instead of seconds
        start = np.repeat(times, len(sel))
    # every column is a fresh array: the frame is built without copying them
    flows = pd.DataFrame(
        {
            "interval_start": start,
            "interval_s": length,
            "junction": _categorical(cj, junction_ids),
            "from_edge": _categorical(cf, edge_ids),
            "to_edge": _categorical(ct, edge_ids),
            "flow_vph": flow,
            "se_vph": err,
        },
        copy=False,
    )
    # fit to every observed count, in order of interval then count row, with its key's codes
    key_codes, key_values = [], []
    for col in _KEY_COLUMNS:
        codes, uniques = pd.factorize(p.count_keys[col], sort=False)
        key_codes.append(_small_codes(codes, len(uniques)))
        key_values.append(np.asarray(uniques, dtype=object))
    fit_start, fit_length, observed, fitted, fit_geh, *fit_codes = _count_fit(
        p.row_ptr, p.row_var, p.row_coef, np.int64(p.n_count), x, p.count_y,
        np.asarray(p.intervals, dtype=np.float64), float(p.interval_s), *key_codes,
    )
    if counts.origin is not None:  # ISO 8601 text instead of seconds
        fit_start = np.repeat(times, (~np.isnan(p.count_y)).sum(axis=1))
    key_columns = {
        col: _categorical(codes, values) for col, codes, values in zip(_KEY_COLUMNS, fit_codes, key_values, strict=True)
    }
    fit = pd.DataFrame(
        {
            "interval_start": fit_start,
            "interval_s": fit_length,
            **key_columns,
            "observed_vph": observed,
            "fitted_vph": fitted,
            "geh": fit_geh,
        },
        copy=False,
    )
    return FlowEstimate(
        flows=flows,
        fit=fit,
        interval_s=p.interval_s,
        origin=counts.origin,
        sweeps=np.asarray(sweeps),
        settings=settings,
        _x=x,
        _problem=p,
        _network=network,
    )


# -- aggregation and files ----------------------------------------------------------------
def aggregate_hourly(flows: pd.DataFrame, *, origin: pd.Timestamp | None = None) -> pd.DataFrame:
    """Aggregate a flows table to whole hours.

    Each hour's flow (veh/h) is the number of vehicles of its intervals (``flow_vph *
    interval_s / 3600``, summed); ``se_vph`` combines the intervals' errors as independent.
    Hours are counted from second 0 (numeric times) or from the clock hour (ISO times). An
    hour only partly covered by intervals is scaled to a full hour.

    Parameters
    ----------
    flows
        A table with :data:`FLOW_COLUMNS`.
    origin
        Unused for ISO times (they carry their own clock); kept for symmetry.

    Returns
    -------
    pandas.DataFrame
        Same columns, ``interval_s == 3600``.

    Raises
    ------
    ValidationError
        If a column is missing or an interval is longer than an hour.
    """
    missing = [c for c in FLOW_COLUMNS if c not in flows.columns]
    if missing:
        msg = f"aggregate_hourly: flows table lacks column(s) {', '.join(missing)}."
        raise ValidationError(msg)
    frame = flows[list(FLOW_COLUMNS)].copy()
    if (frame["interval_s"] > 3600).any():
        msg = "aggregate_hourly: intervals longer than an hour cannot be split into hours."
        raise ValidationError(msg)
    iso = len(frame) > 0 and not pd.api.types.is_numeric_dtype(frame["interval_start"])
    if iso:
        stamps = pd.to_datetime(frame["interval_start"], format="ISO8601")
        hour = stamps.dt.floor("h")
        frame["_hour"] = hour.map(lambda h: h.isoformat())
    else:
        frame["_hour"] = np.floor(frame["interval_start"].to_numpy(dtype=np.float64) / 3600.0) * 3600.0
    share = frame["interval_s"].to_numpy(dtype=np.float64) / 3600.0
    frame["_veh"] = frame["flow_vph"] * share
    frame["_var"] = (frame["se_vph"] * share) ** 2
    frame["_cover"] = share
    group = frame.groupby(["_hour", "junction", "from_edge", "to_edge"], observed=True, sort=True)
    agg = group.agg(_veh=("_veh", "sum"), _var=("_var", "sum"), _cover=("_cover", "sum")).reset_index()
    cover = agg["_cover"].clip(upper=1.0)
    out = pd.DataFrame(
        {
            "interval_start": agg["_hour"],
            "interval_s": 3600.0,
            "junction": agg["junction"],
            "from_edge": agg["from_edge"],
            "to_edge": agg["to_edge"],
            "flow_vph": agg["_veh"] / cover,
            "se_vph": np.sqrt(agg["_var"]) / cover,
        }
    )
    return out


def write_flows(flows: FlowEstimate | pd.DataFrame, path: str | Path) -> Path:
    """Write a flows table (``flows.csv``: :data:`FLOW_COLUMNS`) and return its path."""
    frame = flows.flows if isinstance(flows, FlowEstimate) else flows
    path = Path(path)
    frame[list(FLOW_COLUMNS)].to_csv(path, index=False, float_format="%.3f")
    return path


def read_flows(path: str | Path) -> pd.DataFrame:
    """Read a ``flows.csv`` written by :func:`write_flows` (or by another tool).

    Returns
    -------
    pandas.DataFrame
        :data:`FLOW_COLUMNS`; ``interval_start`` float seconds, or text for ISO 8601 times.

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, non-numeric or negative flows, bad intervals.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such file."
        raise ValidationError(msg)
    try:
        frame = pd.read_csv(path, dtype={"junction": str, "from_edge": str, "to_edge": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        msg = f"{path}: cannot read as CSV: {exc}."
        raise ValidationError(msg) from exc
    missing = [c for c in FLOW_COLUMNS if c not in frame.columns]
    if missing:
        msg = f"{path}: missing column(s) {', '.join(missing)}; a flows file needs {', '.join(FLOW_COLUMNS)}."
        raise ValidationError(msg)
    problems = []
    rows = np.arange(len(frame)) + 2
    for col, allow_nan in (("interval_s", False), ("flow_vph", False), ("se_vph", True)):
        values = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
        bad = values.isna() & (frame[col].astype(str) != "" if allow_nan else True) & ~(
            frame[col].astype(str).str.lower().eq("nan") & allow_nan
        )
        bad |= values < 0
        if bad.any():
            problems.append(f"{path}: rows {', '.join(map(str, rows[bad.to_numpy()][:10]))} field {col!r}: expected a number >= 0")
        frame[col] = values
    start = pd.to_numeric(frame["interval_start"], errors="coerce")
    if start.notna().all():
        frame["interval_start"] = start.astype(np.float64)
    else:
        stamps = pd.to_datetime(frame["interval_start"], errors="coerce", format="ISO8601")
        bad = stamps.isna().to_numpy()
        if bad.any():
            problems.append(
                f"{path}: rows {', '.join(map(str, rows[bad][:10]))} field 'interval_start': expected seconds or ISO 8601"
            )
    if problems:
        raise ValidationError("\n".join(problems), problems)
    return frame[list(FLOW_COLUMNS)]


def estimate_to_json(estimate: FlowEstimate) -> str:
    """Return the estimate's flows and summary as one JSON document."""
    flows = estimate.flows.astype({"junction": str, "from_edge": str, "to_edge": str})
    return json.dumps({"summary": estimate.summary(), "flows": flows.to_dict(orient="records")}, default=float)
