"""Synthetic ground truth for tests and benchmarks, without a simulation.

* :func:`synthetic_movement_flows`: flow-conserving movement flows and counts for any network (a
  Markov chain of turning ratios fed by entry flows);
* :func:`sample_camera_counts`: a partial, noisy camera layout's counts from true movement counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .counts import COUNT_COLUMNS
from .network import TURN_CODES, RoadNetwork

_CROSSING = TURN_CODES.index("crossing")

__all__ = ["synthetic_movement_flows", "sample_camera_counts"]


def synthetic_movement_flows(
    network: RoadNetwork,
    *,
    n_intervals: int = 4,
    interval_s: float = 900.0,
    entry_vph: tuple[float, float] = (150.0, 600.0),
    midblock_share: float = 0.1,
    midblock_vph: float = 40.0,
    profile_amplitude: float = 0.3,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Return flow-conserving true movement flows and Poisson counts for a network.

    Entry links (no movement feeds them) get a flow drawn from ``entry_vph`` per lane,
    ``midblock_share`` of the other links a mid-block source of up to ``midblock_vph``; every
    approach splits its flow by random turning ratios (Dirichlet around its lane use). Link
    flows solve ``f = s + P^T f``. Each interval scales the sources by a smooth time profile
    (``1 +- profile_amplitude``) with 10% noise per source, and counts are Poisson draws.

    Parameters
    ----------
    network
        Any road network.
    n_intervals, interval_s
        Number and length (seconds) of intervals.
    entry_vph
        Range of entry flow per lane (veh/h).
    midblock_share, midblock_vph
        Share of inner links with a mid-block source, and its largest flow (veh/h).
    profile_amplitude
        Relative swing of the time-of-day profile.
    seed
        Seed (int), a ``numpy.random.Generator``, or ``None``.

    Returns
    -------
    pandas.DataFrame
        The twin's truth schema ``interval_start, interval_s, junction, from_edge, to_edge,
        count`` plus ``flow_vph`` (the expected hourly flow), one row per interval and vehicle
        movement.
    """
    import scipy.sparse as sp
    import scipy.sparse.linalg as spla

    rng = np.random.default_rng(seed)
    a = network.to_arrays()
    veh = np.flatnonzero((a.mov_turn != _CROSSING) & (a.mov_from_edge >= 0) & (a.mov_to_edge >= 0))
    n_e = len(a.edge_ids)
    f_edge = a.mov_from_edge[veh]
    t_edge = a.mov_to_edge[veh]
    weight = a.mov_sat_flow_vph[veh] * rng.gamma(4.0, 0.25, size=len(veh))
    weight[a.mov_turn[veh] == TURN_CODES.index("uturn")] *= 0.02
    total = np.zeros(n_e)
    np.add.at(total, f_edge, weight)
    ratio = weight / total[f_edge]
    # a link keeps flowing only through its movements; edges without movements are sinks
    fed = np.zeros(n_e, dtype=bool)
    fed[t_edge] = True
    lanes = np.maximum(a.edge_lanes, 1)
    base = np.where(~fed, rng.uniform(*entry_vph, size=n_e) * lanes, 0.0)
    inner = fed & (rng.random(n_e) < midblock_share)
    base[inner] = rng.uniform(0.0, midblock_vph, size=int(inner.sum()))
    p = sp.csr_matrix((ratio, (t_edge, f_edge)), shape=(n_e, n_e))  # f[to] += ratio * f[from]
    system = sp.identity(n_e, format="csc") - p.tocsc()
    phase = rng.uniform(0, 2 * np.pi)
    profile = 1.0 + profile_amplitude * np.sin(phase + np.arange(n_intervals) * 2 * np.pi / max(n_intervals, 8))
    sources = base[:, None] * profile[None, :] * rng.lognormal(0.0, 0.1, size=(n_e, n_intervals))
    link = spla.splu(system).solve(sources)
    link = np.atleast_2d(link.reshape(n_e, n_intervals))
    flow = (ratio[:, None] * link[f_edge, :]).T  # (n_intervals, n_mov)
    counts = rng.poisson(np.clip(flow, 0, None) * interval_s / 3600.0)
    ids = np.array(a.junction_ids, dtype=object)
    edges = np.array(a.edge_ids, dtype=object)
    n_m = len(veh)
    return pd.DataFrame(
        {
            "interval_start": np.repeat(np.arange(n_intervals) * float(interval_s), n_m),
            "interval_s": float(interval_s),
            "junction": np.tile(ids[a.mov_junction[veh]], n_intervals),
            "from_edge": np.tile(edges[f_edge], n_intervals),
            "to_edge": np.tile(edges[t_edge], n_intervals),
            "count": counts.ravel().astype(np.int64),
            "flow_vph": flow.ravel(),
        }
    )


def sample_camera_counts(
    truth: pd.DataFrame,
    network: RoadNetwork,
    *,
    drop_share: float = 0.3,
    movement_share: float = 0.5,
    noise_rel: float = 0.1,
    seed: int | np.random.Generator | None = None,
) -> pd.DataFrame:
    """Emulate a partial, noisy camera layout from true movement counts.

    Every approach of a signalised junction could hold a camera. ``drop_share`` of them, at
    random, have none; of the rest, ``movement_share`` count per movement and the others only
    the approach total. Each reported count is the true one times ``1 + N(0, noise_rel)``,
    rounded and floored at 0.

    Parameters
    ----------
    truth
        True movement counts: ``interval_start, interval_s, junction, from_edge, to_edge,
        count`` (rows with an empty ``to_edge`` are ignored).
    network
        The road network.
    drop_share, movement_share, noise_rel
        See above.
    seed
        Seed (int), a ``numpy.random.Generator``, or ``None``.

    Returns
    -------
    pandas.DataFrame
        Counts in the count schema (``camera_id`` ``cam_<junction>_<from_edge>``).
    """
    rng = np.random.default_rng(seed)
    movement_rows = truth[truth["to_edge"].astype(str) != ""]
    approaches = sorted(
        {(m.junction, m.from_edge) for m in network.movements if m.tls is not None and m.turn != "crossing"}
    )
    n = len(approaches)
    order = rng.permutation(n)
    keep = order[int(round(drop_share * n)) :]
    per_movement = set(keep[: int(round(movement_share * len(keep)))].tolist())
    mode = {approaches[i]: ("movement" if i in per_movement else "approach") for i in keep}
    key = list(zip(movement_rows["junction"].astype(str), movement_rows["from_edge"].astype(str), strict=True))
    kind = np.array([mode.get(k, "") for k in key], dtype=object)
    seen = movement_rows[kind != ""].copy()
    seen_kind = kind[kind != ""]
    seen["camera_id"] = "cam_" + seen["junction"].astype(str) + "_" + seen["from_edge"].astype(str)
    moves = seen[seen_kind == "movement"]
    totals = (
        seen[seen_kind == "approach"]
        .groupby(["interval_start", "interval_s", "camera_id", "junction", "from_edge"], sort=True)["count"]
        .sum()
        .reset_index()
        .assign(to_edge="")
    )
    out = pd.concat([moves[list(COUNT_COLUMNS)], totals[list(COUNT_COLUMNS)]], ignore_index=True)
    true = out["count"].to_numpy(dtype=np.float64)
    noisy = np.maximum(0.0, np.rint(true * (1.0 + rng.normal(0.0, noise_rel, size=len(true)))))
    out["count"] = noisy.astype(np.int64)
    return out.sort_values(["interval_start", "camera_id", "to_edge"], kind="stable").reset_index(drop=True)
