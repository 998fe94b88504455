"""Demand from discharge and queues: what arrived at each movement, not only what crossed.

Under an oversaturated program a stop-line camera counts the discharge, which the green caps;
the vehicles that could not cross wait in the queue. With queue readings (``queue_veh``, the
vehicles queued on an approach at each interval's end) the demand of an approach over an
interval is its discharge plus the growth of its queue:

    demand_k = discharge_k + Q_k - Q_{k-1}     (vehicles)

with ``Q_{k-1}`` the last reading before interval ``k``, and 0 before an approach's first
reading: the queue it already held when the readings start is demand still to serve, so it
counts in the first interval it is read. Over a table the demand sums to the discharge plus
the queue left at its end. An approach's queue growth is shared among its movements in
proportion to their estimated discharge in the interval (by the level prior where the
approach discharged nothing), and a movement's demand is never below zero.

A queue that filled the camera's range (``range_m``, default
:data:`~citybrain.counts.DEFAULT_CAMERA_RANGE_M`: ``queue_veh * jam_spacing_m >= lanes *
range_m``, lanes of the approach edge) may reach farther back than the camera sees: the
demand of that approach's movements is then a lower bound (``queue_capped``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..counts import DEFAULT_CAMERA_RANGE_M, QUEUE_COLUMN, CountTable
from ..network import RoadNetwork
from .problem import EstimationProblem

__all__ = ["DEMAND_COLUMNS", "approach_queues", "movement_demand"]

#: Optional columns of a flows table, present when the counts carried queue readings.
DEMAND_COLUMNS: tuple[str, ...] = ("demand_vph", "queue_capped")


def approach_queues(
    network: RoadNetwork, counts: CountTable, p: EstimationProblem, jam_spacing_m: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return each approach's queue reading per interval and whether it filled the camera's range.

    The reading of an approach is its approach-total row's ``queue_veh``, else the largest of its
    movement rows' (a camera reports the approach's queue).

    Returns
    -------
    (queue, full) or None
        ``(n_intervals, n_approaches)`` arrays over the approach segments of ``p`` (vehicles,
        NaN where not read; bool); ``None`` when the counts carry no queue reading.
    """
    frame = counts.frame
    if QUEUE_COLUMN not in frame.columns or not frame[QUEUE_COLUMN].notna().any():
        return None
    arrays = network.to_arrays()
    seg_start = _segments(p, arrays)
    seg_edge = arrays.mov_from_edge[p.mov[seg_start]]
    seg_of_edge = np.full(len(arrays.edge_ids), -1, dtype=np.int64)
    seg_of_edge[seg_edge] = np.arange(len(seg_start))
    edge_index = pd.Index(arrays.edge_ids)
    read = frame[frame[QUEUE_COLUMN].notna()]
    edge = edge_index.get_indexer(read["from_edge"].astype(str))
    seg = np.where(edge >= 0, seg_of_edge[np.maximum(edge, 0)], -1)
    slot = np.rint((read["interval_start"].to_numpy(dtype=np.float64) - p.intervals[0]) / p.interval_s).astype(np.int64)
    reach = read["range_m"].to_numpy(dtype=np.float64) if "range_m" in read else np.full(len(read), np.nan)
    reach = np.where(np.isfinite(reach), reach, DEFAULT_CAMERA_RANGE_M)
    readings = pd.DataFrame({
        "slot": slot, "seg": seg, "total": (read["to_edge"] == "").to_numpy(), "queue": read[QUEUE_COLUMN].to_numpy(),
        "reach": reach,
    })
    readings = readings[readings["seg"] >= 0]
    # an approach total's reading first, then the largest movement row's
    readings = readings.sort_values(["slot", "seg", "total", "queue"], ascending=[True, True, False, False])
    readings = readings.drop_duplicates(["slot", "seg"])
    n_t = len(p.intervals)
    queue = np.full((n_t, len(seg_start)), np.nan)
    queue[readings["slot"].to_numpy(), readings["seg"].to_numpy()] = readings["queue"].to_numpy(dtype=np.float64)
    lanes = np.array([network.edges[arrays.edge_ids[e]]["lanes"] for e in seg_edge], dtype=np.float64)
    holds = np.full((n_t, len(seg_start)), np.inf)  # vehicles the camera's range holds
    holds[readings["slot"].to_numpy(), readings["seg"].to_numpy()] = (
        lanes[readings["seg"].to_numpy()] * readings["reach"].to_numpy() / jam_spacing_m
    )
    full = np.isfinite(queue) & (queue >= holds - 1e-9)
    return queue, full


def movement_demand(
    network: RoadNetwork, counts: CountTable, p: EstimationProblem, x: np.ndarray, jam_spacing_m: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Return the demand (veh/h) of every estimated movement per interval, and where it is a lower bound.

    Parameters
    ----------
    network, counts, p
        The estimate's network, counts and problem.
    x
        ``(n_intervals, n_flows)`` estimated discharge (veh/h).
    jam_spacing_m
        Road length a queued vehicle takes (m), to tell a queue that filled the camera's range.

    Returns
    -------
    (demand_vph, queue_capped) or None
        Arrays shaped like ``x``; ``None`` when the counts carry no queue reading.
    """
    found = approach_queues(network, counts, p, jam_spacing_m)
    if found is None:
        return None
    queue, full = found
    arrays = network.to_arrays()
    seg_start = _segments(p, arrays)
    n_seg = len(seg_start)
    size = np.diff(np.append(seg_start, p.n_var))
    seg_of_var = np.repeat(np.arange(n_seg), size)
    before = pd.DataFrame(queue).ffill().shift(1).fillna(0.0).to_numpy()  # last reading before each interval
    growth = np.where(np.isfinite(queue), queue - before, 0.0)  # vehicles per interval and approach
    total = np.add.reduceat(x, seg_start, axis=1)[:, seg_of_var]
    prior = np.asarray(p.x0[0], dtype=np.float64)
    prior_total = np.add.reduceat(prior, seg_start)[seg_of_var]
    fallback = np.where(prior_total > 0, prior / np.where(prior_total > 0, prior_total, 1.0), 1.0 / size[seg_of_var])
    share = np.where(total > 0, x / np.where(total > 0, total, 1.0), fallback[None, :])
    demand = np.maximum(x + share * growth[:, seg_of_var] * 3600.0 / p.interval_s, 0.0)
    return demand, full[:, seg_of_var]


def _segments(p: EstimationProblem, arrays) -> np.ndarray:
    """First flow of every approach (flows of one approach are consecutive in ``p``)."""
    vfrom = arrays.mov_from_edge[p.mov]
    return np.concatenate([[0], np.flatnonzero(np.diff(vfrom) != 0) + 1]).astype(np.int64)
