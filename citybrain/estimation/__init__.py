"""Estimate every movement's flow at every junction from partial camera counts.

:func:`estimate_flows` turns a :class:`~citybrain.counts.CountTable` into a
:class:`FlowEstimate` under one :class:`EstimationSettings`: per interval and movement the flow (veh/h) and its standard error, the
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

Demand. The counts measure discharge; where they carry queue readings (``queue_veh``) the
estimate adds each movement's demand (``demand_vph``: discharge plus queue growth, with the
queue held when the readings start) and flags where the queue filled the camera's range
(``queue_capped``: demand is a lower bound there); see :mod:`~citybrain.estimation.demand`.

Network boundary. A link entered only by a U-turn (a dead end at the edge of the map) is where
vehicles enter the model; its conservation row, chained through the dead end's U-turn with the
row of the opposite link, acts as a directional-balance prior (inbound flow of a boundary road
about equal to its outbound flow, sd ``conservation_sd_vph * sqrt(2)``). Sources and sinks
inside the network (car parks, side streets the network omits) are only covered by
``conservation_sd_vph``.

What the counts can determine. Movements in the row space of the camera rows and the (exact)
conservation rows of interior links are recovered whatever the priors say; the others are
fixed only up to a direction that no count sees, and their split follows the turning and level
priors: their accuracy is bounded by how well a turn-type prior predicts route choice
(``benchmarks/bench_estimation_accuracy.py`` reports their share).

Why this design: every piece of knowledge enters as one linear row with an explicit standard
deviation, so the solution is the maximum a-posteriori flow of a Gaussian model with bounds,
and the inverse information matrix gives an honest standard error
(``se_vph``; computed per junction block, conditional on the neighbouring junctions).

The package: :mod:`~citybrain.estimation.settings` (:class:`EstimationSettings`),
:mod:`~citybrain.estimation.priors` (turning-ratio and level priors),
:mod:`~citybrain.estimation.problem` (:func:`build_problem`: the rows as arrays),
:mod:`~citybrain.estimation.solvers` (direct, coordinate descent, lsq_linear; standard errors),
:mod:`~citybrain.estimation.results` (:class:`FlowEstimate`, :data:`FLOW_COLUMNS`, flow files).
The numba kernels are in :mod:`citybrain._kernels.estimation`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from ..counts import CountTable, counts_from_frame
from ..exceptions import ValidationError
from ..network import RoadNetwork
from .demand import DEMAND_COLUMNS, movement_demand
from .plates import FRAGMENT_COLUMNS, PathFragments, PlateSettings, fragment_turn_shares, link_fragments, link_travel_times
from .pooling import pooled_flows
from .priors import prior_turning_ratios
from .problem import EstimationProblem, build_problem
from .results import (
    FLOW_COLUMNS,
    FlowEstimate,
    aggregate_hourly,
    estimate_to_json,
    geh,
    junction_mask,
    package_estimate,
    read_flows,
    write_flows,
)
from .settings import METHODS, EstimationSettings
from .solvers import solve, standard_errors

__all__ = [
    "DEMAND_COLUMNS",
    "FLOW_COLUMNS",
    "FRAGMENT_COLUMNS",
    "PathFragments",
    "PlateSettings",
    "fragment_turn_shares",
    "link_fragments",
    "link_travel_times",
    "METHODS",
    "EstimationProblem",
    "EstimationSettings",
    "FlowEstimate",
    "aggregate_hourly",
    "build_problem",
    "estimate_flows",
    "estimate_to_json",
    "geh",
    "prior_turning_ratios",
    "read_flows",
    "write_flows",
]


def estimate_flows(
    network: RoadNetwork,
    counts: CountTable | pd.DataFrame,
    settings: EstimationSettings | None = None,
    *,
    turning_ratios: pd.DataFrame | None = None,
    fragments: PathFragments | None = None,
    registry: pd.DataFrame | None = None,
) -> FlowEstimate:
    """Estimate the flow (veh/h) of every movement per interval from camera counts.

    Parameters
    ----------
    network
        The road network the counts refer to.
    counts
        Validated counts (:func:`citybrain.counts.read_counts`); a raw frame is validated
        strictly first.
    settings
        The options (default :class:`EstimationSettings` ()); kept on the result.
    turning_ratios
        History for the turning-ratio prior: ``junction, from_edge, to_edge`` and ``ratio``
        or ``flow_vph`` (e.g. an earlier estimate's flows). Default: the lane-use prior.
    fragments
        Path fragments from plate sightings (:func:`link_fragments`): each period's turn
        shares (:func:`fragment_turn_shares`) enter as rows of their own.
    registry
        The camera registry the fragments' cameras are in (needed with ``fragments``).

    Returns
    -------
    FlowEstimate

    Raises
    ------
    ValidationError
        If the counts are invalid or do not fit the network, or ``settings.junctions`` names
        a junction the network does not have.
    ConvergenceError
        If ``settings.raise_on_nonconvergence`` and coordinate descent did not reach
        ``tol_vph``.

    Notes
    -----
    The model is described in the module docstring. GEH is the statistic of the UK Design
    Manual for Roads and Bridges (TA 46/97), computed on hourly rates.

    Pooled turning ratios (``settings.ratio_period_s > 0``): within each period the flows
    are estimated with constant turning ratios and varying approach flows, all intervals at
    once (:func:`~citybrain.estimation.pooling.pooled_flows`, where the method is described
    and justified).
    """
    settings = EstimationSettings() if settings is None else settings
    if not isinstance(settings, EstimationSettings):
        msg = f"estimate_flows: settings must be an EstimationSettings. Got {type(settings).__name__} instead."
        raise TypeError(msg)
    report = junction_mask(network, settings.junctions)
    if not isinstance(counts, CountTable):
        counts = counts_from_frame(counts, network, strict=True)
    if len(counts.frame) == 0:
        msg = "estimate_flows needs at least one count; the count table is empty."
        raise ValidationError(msg)
    if fragments is not None and registry is None:
        msg = "estimate_flows: fragments need the camera registry their cameras are in (registry=...)."
        raise ValidationError(msg)
    p = build_problem(network, counts, settings, turning_ratios=turning_ratios)
    prior = "history" if turning_ratios is not None else "lane-use"
    if settings.ratio_period_s <= 0 and fragments is None:
        x, sweeps = solve(p, settings)
        demand = movement_demand(network, counts, p, x, settings.jam_spacing_m)
        return package_estimate(network, counts, p, x, standard_errors(p, settings), sweeps, report, settings, prior,
                                demand=demand)
    x = np.empty((len(p.intervals), p.n_var))
    sweeps = np.zeros(len(p.intervals), dtype=np.int64)
    se_parts, se_rows = [], np.zeros(len(p.intervals), dtype=np.int64)
    for period in _periods(p.intervals, settings.ratio_period_s):
        start, end = p.intervals[period[0]], p.intervals[period[-1]] + p.interval_s
        frame = counts.frame
        sub = replace(counts, frame=frame[(frame["interval_start"] >= start) & (frame["interval_start"] < end)])
        shares = None if fragments is None else fragment_turn_shares(network, fragments, sub, registry)
        pp, xp, sw = _pooled(network, sub, settings, turning_ratios, shares)
        rows = np.searchsorted(p.intervals, pp.intervals)
        x[rows], sweeps[rows] = xp, sw
        se, se_row = standard_errors(pp, settings)
        se_rows[rows] = se_row + sum(len(s) for s in se_parts)
        se_parts.append(se)
    prior += ", pooled" if settings.ratio_period_s > 0 else ""
    prior += ", plates" if fragments is not None else ""
    se_all = (np.concatenate(se_parts), se_rows)
    demand = movement_demand(network, counts, p, x, settings.jam_spacing_m)
    return package_estimate(network, counts, p, x, se_all, sweeps, report, settings, prior, demand=demand)


def _periods(intervals: np.ndarray, period_s: float) -> list[np.ndarray]:
    """Indices of the intervals of each period of ``period_s`` seconds (all in one when 0)."""
    if period_s <= 0:
        return [np.arange(len(intervals))]
    k = np.floor((intervals - intervals[0]) / period_s + 1e-9).astype(np.int64)
    return [np.flatnonzero(k == v) for v in np.unique(k)]


def _pooled(network, counts, settings, turning_ratios, shares):
    """The estimate of one period: per interval, then on constant ratios when pooling (:mod:`.pooling`)."""
    p = build_problem(network, counts, settings, turning_ratios=turning_ratios, turn_shares=shares)
    x, sweeps = solve(p, settings)
    if settings.ratio_period_s > 0:
        x, _ = pooled_flows(p, x)
    return p, x, sweeps
