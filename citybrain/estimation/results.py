"""What an estimate returns, and flow files: :class:`FlowEstimate`, :data:`FLOW_COLUMNS`, GEH, I/O."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..counts import CountTable
from ..exceptions import ValidationError
from ..network import RoadNetwork
from .demand import DEMAND_COLUMNS
from .problem import KEY_COLUMNS, EstimationProblem
from .settings import EstimationSettings

__all__ = [
    "FLOW_COLUMNS",
    "FlowEstimate",
    "geh",
    "aggregate_hourly",
    "read_flows",
    "write_flows",
    "estimate_to_json",
]

#: Columns of a flows table (``flows.csv``): the one schema of flow tables, read by the timing engine.
FLOW_COLUMNS: tuple[str, ...] = ("interval_start", "interval_s", "junction", "from_edge", "to_edge", "flow_vph", "se_vph")


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
class FlowEstimate:
    """Estimated movement flows per interval.

    Attributes
    ----------
    flows : pandas.DataFrame
        Columns exactly :data:`FLOW_COLUMNS`: ``interval_start`` (seconds from the counts'
        origin, or ISO 8601 text when the counts used times), ``interval_s``, ``junction``,
        ``from_edge``, ``to_edge``, ``flow_vph`` and ``se_vph`` (veh/h), one row per interval
        and movement of the reported junctions; when the counts carried queue readings, also
        :data:`~citybrain.estimation.DEMAND_COLUMNS`: ``demand_vph`` (veh/h) and
        ``queue_capped`` (the demand is a lower bound).
    fit : pandas.DataFrame
        One row per observed count: ``interval_start, interval_s, camera_id, junction,
        from_edge, to_edge, observed_vph, fitted_vph, geh`` (GEH of the hourly rates).
    interval_s : float
        Interval length (seconds).
    origin : pandas.Timestamp or None
        Time of second 0 when the counts used ISO 8601 times.
    sweeps : numpy.ndarray
        Solver sweeps (coordinate descent) or iterations (lsq_linear) per interval.
    settings : EstimationSettings
        The settings used.
    turning_ratio_prior : str
        ``"history"`` when a turning-ratio history was given, else ``"lane-use"``.
    """

    flows: pd.DataFrame
    fit: pd.DataFrame
    interval_s: float
    origin: pd.Timestamp | None
    sweeps: np.ndarray
    settings: EstimationSettings
    turning_ratio_prior: str
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
            "settings": {**self.settings.as_dict(), "turning_ratio_prior": self.turning_ratio_prior},
        }


def _format_times(seconds: np.ndarray, origin: pd.Timestamp | None) -> np.ndarray:
    if origin is None:
        return np.asarray(seconds, dtype=np.float64)
    return np.array([(origin + pd.Timedelta(seconds=float(s))).isoformat() for s in seconds], dtype=object)


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


def junction_mask(network: RoadNetwork, junctions: str | tuple[str, ...]) -> np.ndarray | None:
    """Which junctions (by position in ``network.to_arrays().junction_ids``) to report; ``None``: all.

    Raises
    ------
    ValidationError
        If ``junctions`` lists ids the network does not have.
    """
    arrays = network.to_arrays()
    if junctions == "all":
        return None
    if junctions == "signalised":
        wanted = set(network.signalised_junctions)
    else:
        wanted = set(junctions)
        unknown = sorted(wanted - set(arrays.junction_ids))
        if unknown:
            msg = f"estimate_flows: unknown junction id(s) {', '.join(unknown[:10])}."
            raise ValidationError(msg)
    return np.array([j in wanted for j in arrays.junction_ids], dtype=bool)


def package_estimate(
    network: RoadNetwork,
    counts: CountTable,
    p: EstimationProblem,
    x: np.ndarray,
    se: tuple[np.ndarray, np.ndarray],
    sweeps: np.ndarray,
    report: np.ndarray | None,
    settings: EstimationSettings,
    turning_ratio_prior: str,
    *,
    demand: tuple[np.ndarray, np.ndarray] | None = None,
) -> FlowEstimate:
    """Build the :class:`FlowEstimate` of solution ``x`` (``(n_t, n_var)``, veh/h) of problem ``p``.

    ``se`` is ``(se_vph per distinct interval, each interval's row)``, ``report`` the
    junctions to report (:func:`junction_mask`) and ``demand`` the movements' demand and
    lower-bound flags shaped like ``x`` (:func:`~citybrain.estimation.demand.movement_demand`).
    """
    from .._kernels.estimation.tables import _count_fit, _flow_columns

    se, se_row = se
    arrays = network.to_arrays()
    vj = arrays.mov_junction[p.mov]
    sel = np.arange(p.n_var) if report is None else np.flatnonzero(report[vj])
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
    if demand is not None:
        flows["demand_vph"] = demand[0][:, sel].ravel()
        flows["queue_capped"] = demand[1][:, sel].ravel()
    # fit to every observed count, in order of interval then count row, with its key's codes
    key_codes, key_values = [], []
    for col in KEY_COLUMNS:
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
        col: _categorical(codes, values) for col, codes, values in zip(KEY_COLUMNS, fit_codes, key_values, strict=True)
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
        flows=flows, fit=fit, interval_s=p.interval_s, origin=counts.origin, sweeps=np.asarray(sweeps),
        settings=settings, turning_ratio_prior=turning_ratio_prior, _x=x, _problem=p, _network=network,
    )


def aggregate_hourly(flows: pd.DataFrame, *, origin: pd.Timestamp | None = None) -> pd.DataFrame:
    """Aggregate a flows table to whole hours.

    Each hour's flow (veh/h) is the number of vehicles of its intervals (``flow_vph *
    interval_s / 3600``, summed); ``se_vph`` combines the intervals' errors as independent.
    ``demand_vph`` is summed as the flow, and an hour is ``queue_capped`` when any of its
    intervals is, when the table has them.
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
        Same columns (:data:`FLOW_COLUMNS` and the :data:`DEMAND_COLUMNS` it has), ``interval_s == 3600``.

    Raises
    ------
    ValidationError
        If a column is missing or an interval is longer than an hour.
    """
    missing = [c for c in FLOW_COLUMNS if c not in flows.columns]
    if missing:
        msg = f"aggregate_hourly: flows table lacks column(s) {', '.join(missing)}."
        raise ValidationError(msg)
    optional = [c for c in DEMAND_COLUMNS if c in flows.columns]
    frame = flows[[*FLOW_COLUMNS, *optional]].copy()
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
    extra = {}
    if "demand_vph" in optional:
        frame["_demand"] = frame["demand_vph"] * share
        extra["_demand"] = ("_demand", "sum")
    if "queue_capped" in optional:
        extra["queue_capped"] = ("queue_capped", "any")
    group = frame.groupby(["_hour", "junction", "from_edge", "to_edge"], observed=True, sort=True)
    agg = group.agg(_veh=("_veh", "sum"), _var=("_var", "sum"), _cover=("_cover", "sum"), **extra).reset_index()
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
    if "demand_vph" in optional:
        out["demand_vph"] = agg["_demand"] / cover
    if "queue_capped" in optional:
        out["queue_capped"] = agg["queue_capped"].astype(bool)
    return out


def write_flows(flows: FlowEstimate | pd.DataFrame, path: str | Path) -> Path:
    """Write a flows table (``flows.csv``: :data:`FLOW_COLUMNS`, then the :data:`DEMAND_COLUMNS` it has) and return its path."""
    frame = flows.flows if isinstance(flows, FlowEstimate) else flows
    path = Path(path)
    columns = [*FLOW_COLUMNS, *(c for c in DEMAND_COLUMNS if c in frame.columns)]
    frame[columns].to_csv(path, index=False, float_format="%.3f")
    return path


def read_flows(path: str | Path) -> pd.DataFrame:
    """Read a ``flows.csv`` written by :func:`write_flows` (or by another tool).

    Returns
    -------
    pandas.DataFrame
        :data:`FLOW_COLUMNS`; ``interval_start`` float seconds, or text for ISO 8601 times;
        then the :data:`DEMAND_COLUMNS` the file has (``queue_capped`` as bool).

    Raises
    ------
    ValidationError
        Listing every problem: missing columns, non-numeric or negative flows or demand, a
        ``queue_capped`` other than true/false, bad intervals.
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
    optional = [c for c in DEMAND_COLUMNS if c in frame.columns]
    numeric = [("interval_s", False), ("flow_vph", False), ("se_vph", True)]
    for col, allow_nan in numeric + ([("demand_vph", False)] if "demand_vph" in optional else []):
        values = pd.to_numeric(frame[col].replace("", np.nan), errors="coerce")
        bad = values.isna() & (frame[col].astype(str) != "" if allow_nan else True) & ~(
            frame[col].astype(str).str.lower().eq("nan") & allow_nan
        )
        bad |= values < 0
        if bad.any():
            problems.append(f"{path}: rows {', '.join(map(str, rows[bad.to_numpy()][:10]))} field {col!r}: expected a number >= 0")
        frame[col] = values
    if "queue_capped" in optional:
        flag = frame["queue_capped"].astype(str).str.strip().str.lower()
        bad = ~flag.isin(["true", "false", "1", "0"]).to_numpy()
        if bad.any():
            problems.append(f"{path}: rows {', '.join(map(str, rows[bad][:10]))} field 'queue_capped': expected True or False")
        frame["queue_capped"] = flag.isin(["true", "1"])
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
    return frame[[*FLOW_COLUMNS, *optional]]


def estimate_to_json(estimate: FlowEstimate) -> str:
    """Return the estimate's flows and summary as one JSON document."""
    flows = estimate.flows.astype({"junction": str, "from_edge": str, "to_edge": str})
    return json.dumps({"summary": estimate.summary(), "flows": flows.to_dict(orient="records")}, default=float)
