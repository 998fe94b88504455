"""Plate re-identification: path fragments from plate sightings, link travel times, turn shares.

Two consecutive sightings of one (hashed) plate, at camera A and then camera B, are a **path
fragment** when B is reachable from A and the time between them is plausible: at least
``min_time_factor`` and at most ``max_time_factor`` times the free-flow time of the shortest
path from A's stop line to B's, plus ``slack_s`` (signals and queues). A camera sits at the stop
line of its approach edge, so the fragment's path is the shortest path on the graph of edges
joined by movements: the movement at A's junction, every junction between (counted or not), up
to B's stop line.

What fragments give:

* **link travel times** (:func:`link_travel_times`): a fragment whose path is one movement
  (B's approach is the edge A's movement enters) timed the whole of B's approach edge, from
  leaving A's stop line to leaving B's; the median over the fragments, with their number;
* **turn shares** (:func:`fragment_turn_shares`): the movements taken at every junction on
  the paths. A vehicle crossing movement ``m`` leaves a fragment through ``m`` when its
  nearest camera before ``m`` and its nearest camera after ``m`` both read its plate, with
  probability ``rho_A rho_B`` (each camera's read rate: its sightings over its counted
  vehicles), so each fragment weighs ``1 / (rho_A rho_B)`` (Horvitz-Thompson), and fragments
  that passed another camera unread are left out (their cameras are not the nearest).
  Vehicles that meet no camera after ``m`` (an exit) leave no fragment, so shares are taken
  only for movements whose exit edge leads to a camera on every continuation (a turnaround
  at a dead end counts as an exit). At a counted approach the weights over its count are
  each movement's share of the *whole* approach: the movements towards exits get what is
  left, which the per-movement split of an approach total most needs. Elsewhere the camera
  before ``m`` differs from vehicle to vehicle, and shares are taken among the covered
  movements only. A fragment's path is the shortest one only up to the first junction where
  another path is nearly as short (``detour_factor``); no share is taken at the approaches
  after it, which would otherwise see only the shortest path's vehicles.

Why shares, and not path-flow rows: a fragment count is a path flow, the product of the turning
ratios along it, which a linear model cannot hold; a share at one approach is linear in that
approach's flows (``x_m - s x_S = 0``), so it enters the same least-squares problem as a row
with its sampling standard deviation, next to the counts and priors, in every interval of the
period (per-interval estimate or pooled ratios alike).

Privacy: fragments keep no plate (not even its hash); fragments older than the retention window
before the newest sighting are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real

import numpy as np
import pandas as pd

from ..counts import CountTable
from ..counts.sightings import RETENTION_S, SightingTable
from ..exceptions import ValidationError
from ..network import TURN_CODES, RoadNetwork

__all__ = [
    "FRAGMENT_COLUMNS",
    "PlateSettings",
    "PathFragments",
    "link_fragments",
    "link_travel_times",
    "fragment_turn_shares",
]

#: Columns of :attr:`PathFragments.frame`.
FRAGMENT_COLUMNS: tuple[str, ...] = ("camera_a", "camera_b", "time_a_s", "time_b_s", "travel_s", "free_flow_s", "pair")
_CROSSING = TURN_CODES.index("crossing")
_UTURN = TURN_CODES.index("uturn")


@dataclass(frozen=True)
class PlateSettings:
    """How sightings are linked into path fragments and weighed (:func:`link_fragments`).

    Attributes
    ----------
    max_time_factor
        A fragment takes at most this many times its path's free-flow time, plus ``slack_s``; ``> 1``.
    slack_s
        Seconds added to the longest plausible time: a red phase and a queue, which on a
        saturated approach exceed two minutes (plates are near-unique, so a longer window
        admits little but detours); ``>= 0``.
    min_time_factor
        A fragment takes at least this share of its free-flow time (faster: a false match); in ``[0, 1]``.
    retention_s
        Fragments whose second sighting is older than this (seconds) before the newest sighting
        are dropped; ``> 0``.
    min_fragments
        Fewest (effective) fragments through an approach for its turn shares; ``> 0``.
    max_free_flow_s
        Cameras farther apart than this free-flow time (s) are not linked; ``> 0``.
    share_sd_floor
        Standard deviation added (in quadrature) to every turn share's sampling one: trips
        that end between two cameras, or take another path than the shortest, bias a share
        in ways the sample cannot show; ``>= 0``.
    detour_factor
        A camera pair's path is *uncertain* from the first junction where a path that leaves
        it takes at most this many times the shortest path's free-flow time: its fragments
        give turn shares only before that junction, and none are taken at the approaches of
        the uncertain part; ``>= 1``.
    """

    max_time_factor: float = 3.0
    slack_s: float = 300.0
    min_time_factor: float = 0.5
    retention_s: float = RETENTION_S
    min_fragments: float = 20.0
    max_free_flow_s: float = 900.0
    share_sd_floor: float = 0.05
    detour_factor: float = 1.25

    def __post_init__(self) -> None:
        checks = {
            "max_time_factor": lambda v: v > 1,
            "slack_s": lambda v: v >= 0,
            "min_time_factor": lambda v: 0 <= v <= 1,
            "retention_s": lambda v: v > 0,
            "min_fragments": lambda v: v > 0,
            "max_free_flow_s": lambda v: v > 0,
            "share_sd_floor": lambda v: v >= 0,
            "detour_factor": lambda v: v >= 1,
        }
        wanted = {"max_time_factor": "> 1", "slack_s": ">= 0", "min_time_factor": "in [0, 1]",
                  "retention_s": "> 0", "min_fragments": "> 0", "max_free_flow_s": "> 0", "share_sd_floor": ">= 0",
                  "detour_factor": ">= 1"}
        problems = []
        for name, ok in checks.items():
            value = getattr(self, name)
            good = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(value) and ok(value)
            if not good:
                problems.append(f"The {name!r} field of PlateSettings must be a number {wanted[name]}. Got {value!r} instead.")
        if problems:
            raise ValidationError(" ".join(problems), problems if len(problems) > 1 else None)


@dataclass(frozen=True, eq=False)
class PathFragments:
    """Path fragments linked from plate sightings (no plates kept).

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per fragment, :data:`FRAGMENT_COLUMNS`: the cameras, both sighting times and
        the time between (s), the free-flow time of the path (s) and the camera pair (row of
        ``pairs``).
    pairs : pandas.DataFrame
        One row per camera pair of the fragments: ``camera_a, camera_b, free_flow_s, movements``
        (of the path), ``through_camera`` (the path passes another camera's stop line) and
        ``certain_movements`` (the path's leading movements before the first junction from
        which another path is nearly as short: see :class:`PlateSettings`) and
        ``edge`` (B's approach edge when the path is one movement, else ``""``).
    pair_ptr, pair_mov : numpy.ndarray
        The pairs' paths: movements (indices into ``RoadNetwork.movements``) of pair ``p`` are
        ``pair_mov[pair_ptr[p]:pair_ptr[p + 1]]``.
    sightings : pandas.DataFrame
        ``time_s, camera_id`` of every sighting kept (no plate): for the cameras' read rates.
    dropped_old : int
        Fragments dropped because they were older than the retention window.
    settings : PlateSettings
        The settings used.
    """

    frame: pd.DataFrame
    pairs: pd.DataFrame
    pair_ptr: np.ndarray
    pair_mov: np.ndarray
    sightings: pd.DataFrame
    dropped_old: int
    settings: PlateSettings

    def __len__(self) -> int:
        return len(self.frame)


def link_fragments(
    network: RoadNetwork,
    sightings: SightingTable,
    registry: pd.DataFrame,
    settings: PlateSettings | None = None,
) -> PathFragments:
    """Link consecutive sightings of every plate into path fragments (kernel ``_link_sightings``).

    Parameters
    ----------
    network
        The road network the cameras watch.
    sightings
        Hashed sightings (:func:`citybrain.counts.sightings.read_sightings`).
    registry
        The camera registry: each camera's junction and approach edge.
    settings
        Plausible travel times and retention (default :class:`PlateSettings` ()).

    Returns
    -------
    PathFragments

    Raises
    ------
    ValidationError
        If a camera of the registry watches an edge the network does not have.
    """
    from .._kernels.estimation.plates import _link_sightings

    settings = PlateSettings() if settings is None else settings
    arrays = network.to_arrays()
    cam_ids, cam_edge = _camera_edges(registry, arrays)
    code = pd.Index(cam_ids).get_indexer(sightings.frame["camera_id"].astype(str))
    frame = sightings.frame[code >= 0]
    code = code[code >= 0].astype(np.int64)
    times = frame["time_s"].to_numpy(dtype=np.float64)
    graph = _edge_graph(arrays)
    n_cam = len(cam_ids)
    a_cam, b_cam, pair_free = _camera_pairs(graph, cam_edge, float(settings.max_free_flow_s))
    pair_key = a_cam * n_cam + b_cam
    order = np.argsort(pair_key)
    pair_key, a_cam, b_cam, pair_free = pair_key[order], a_cam[order], b_cam[order], pair_free[order]
    first, pair = _link_sightings(
        frame["plate_id"].to_numpy(dtype=np.int64), times, code, pair_key, pair_free, np.int64(n_cam),
        float(settings.max_time_factor), float(settings.slack_s), float(settings.min_time_factor),
    )
    t_b = times[first + 1]
    keep = t_b >= (times.max() - settings.retention_s if len(times) else 0.0)
    dropped = int((~keep).sum())
    first, pair = first[keep], pair[keep]
    used_pairs, pair_of = np.unique(pair, return_inverse=True)
    ptr, movs, through, certain = _paths(network, arrays, graph, cam_edge[a_cam[used_pairs]], cam_edge[b_cam[used_pairs]],
                                           cam_edge, float(settings.max_free_flow_s), float(settings.detour_factor))
    n_moves = np.diff(ptr)
    one_move_edge = np.where(n_moves == 1, np.asarray(arrays.edge_ids, dtype=object)[cam_edge[b_cam[used_pairs]]], "")
    pairs = pd.DataFrame(
        {
            "camera_a": np.asarray(cam_ids, dtype=object)[a_cam[used_pairs]],
            "camera_b": np.asarray(cam_ids, dtype=object)[b_cam[used_pairs]],
            "free_flow_s": pair_free[used_pairs],
            "movements": n_moves,
            "through_camera": through,
            "certain_movements": certain,
            "edge": one_move_edge,
        }
    )
    fragments = pd.DataFrame(
        {
            "camera_a": pairs["camera_a"].to_numpy()[pair_of],
            "camera_b": pairs["camera_b"].to_numpy()[pair_of],
            "time_a_s": times[first],
            "time_b_s": times[first + 1],
            "travel_s": times[first + 1] - times[first],
            "free_flow_s": pair_free[pair],
            "pair": pair_of.astype(np.int64),
        }
    )
    seen = pd.DataFrame({"time_s": times, "camera_id": np.asarray(cam_ids, dtype=object)[code]})
    return PathFragments(fragments, pairs, ptr, movs, seen, dropped, settings)


def link_travel_times(fragments: PathFragments) -> pd.DataFrame:
    """Return the plate-measured travel time of every link timed by one-movement fragments.

    Returns
    -------
    pandas.DataFrame
        ``edge, travel_time_s, matched``: per approach edge of a camera whose upstream
        neighbour camera's fragments end there, the median time (s) from leaving the upstream
        stop line to leaving the edge's, over ``matched`` fragments; sorted by edge.
    """
    edge = fragments.pairs["edge"].to_numpy(dtype=object)[fragments.frame["pair"].to_numpy()]
    timed = pd.DataFrame({"edge": edge, "travel_s": fragments.frame["travel_s"].to_numpy()})
    timed = timed[timed["edge"] != ""]
    out = timed.groupby("edge", sort=True)["travel_s"].agg(["median", "size"]).reset_index()
    return out.rename(columns={"median": "travel_time_s", "size": "matched"}).astype({"matched": np.int64})


def fragment_turn_shares(
    network: RoadNetwork,
    fragments: PathFragments,
    counts: CountTable,
    registry: pd.DataFrame,
) -> pd.DataFrame:
    """Return turn shares at every approach the fragments cross, from the counts' time span.

    Each fragment of the span (by its first sighting) whose path passes no camera unread
    weighs ``1 / (rho_A rho_B)`` on the certain part of its path (kernel ``_path_weights``;
    approaches on an uncertain part get no shares, see :class:`PlateSettings`), ``rho``
    being a camera's read rate over the span: its sightings over the vehicles it counted (the
    median rate for a camera that counted nothing). The weights summed over a movement ``m``
    are the Horvitz-Thompson estimate of the vehicles that crossed ``m`` and then met a camera.

    * At a **counted approach** that estimate over the approach's count ``C`` is the share of
      ``m`` in the approach's whole flow (``scope = "approach"``), for every movement whose exit
      edge leads to a camera whichever way a vehicle continues; the approach's other
      movements (towards exits no camera watches) take what is left. The read rate of the
      approach's own camera cancels: the share is the fragments through ``m`` weighed by
      ``1 / rho_B`` over the approach's sightings.
    * At an **uncounted approach** the shares are among its movements with such exits
      (``scope = "listed"``), when at least two are crossed.

    Either needs ``min_fragments`` effective fragments (Kish: ``(sum w)^2 / sum w^2``) through
    the movements listed.

    Returns
    -------
    pandas.DataFrame
        ``junction, from_edge, to_edge, share, share_sd, fragments, scope, approach_vph``: the
        listed movements of each approach with their share, its standard deviation
        ``sqrt(sampling^2 + share_sd_floor^2)`` (sampling: ``sqrt(sum w^2 + w_mean^2) / C``, one
        pseudo-fragment of the approach's mean weight ``w_mean = sum w^2 / sum w`` added, on a counted
        approach, ``sqrt((s (1 - s) + 1 / n) / n)`` on another), the effective fragments ``n``,
        and the approach's counted flow over the span (veh/h; NaN when uncounted).
    """
    from .._kernels.estimation.plates import _path_weights

    arrays = network.to_arrays()
    columns = ["junction", "from_edge", "to_edge", "share", "share_sd", "fragments", "scope", "approach_vph"]
    frame = counts.frame
    t0 = float(frame["interval_start"].min())
    t1 = float((frame["interval_start"] + frame["interval_s"]).max())
    rho = _read_rates(fragments.sightings, frame, t0, t1)
    pairs = fragments.pairs
    f = fragments.frame
    keep = (f["time_a_s"].to_numpy() >= t0) & (f["time_a_s"].to_numpy() < t1)
    keep &= ~pairs["through_camera"].to_numpy()[f["pair"].to_numpy()]
    f = f[keep]
    if len(f) == 0:
        return pd.DataFrame(columns=columns)
    weight = 1.0 / (rho.reindex(f["camera_a"]).to_numpy() * rho.reindex(f["camera_b"]).to_numpy())
    n_mov = len(network.movements)
    # each path's certain prefix (the weights), and the approaches of uncertain parts (no shares there)
    start, length = fragments.pair_ptr[:-1], np.diff(fragments.pair_ptr)
    certain = pairs["certain_movements"].to_numpy(dtype=np.int64)
    offset = np.arange(len(fragments.pair_mov)) - np.repeat(start, length)
    in_prefix = offset < np.repeat(certain, length)
    prefix_ptr = np.concatenate([[0], np.cumsum(certain)]).astype(np.int64)
    total, square = _path_weights(
        f["pair"].to_numpy(dtype=np.int64), prefix_ptr, fragments.pair_mov[in_prefix], weight, np.int64(n_mov)
    )
    used = np.zeros(len(pairs), dtype=bool)
    used[f["pair"].to_numpy()] = True
    uncertain = fragments.pair_mov[~in_prefix & np.repeat(used, length)]
    tainted = set(arrays.mov_from_edge[uncertain].tolist())
    covered = _covered_downstream(arrays, _camera_edges(registry, arrays)[1])
    counted = _approach_counts(frame, arrays)
    hours = (t1 - t0) / 3600.0
    floor = fragments.settings.share_sd_floor
    rows = []
    crossed = np.flatnonzero(total > 0)
    for j, e in sorted({(int(arrays.mov_junction[m]), int(arrays.mov_from_edge[m])) for m in crossed}):
        if e in tainted:
            continue
        out = arrays.edge_out_mov[arrays.edge_out_ptr[e] : arrays.edge_out_ptr[e + 1]]
        s = np.array([m for m in out if arrays.mov_turn[m] != _CROSSING and arrays.mov_to_edge[m] >= 0
                      and covered[arrays.mov_to_edge[m]]], dtype=np.int64)
        if len(s) == 0 or total[s].sum() <= 0:
            continue
        n_eff = total[s].sum() ** 2 / square[s].sum()
        if n_eff < fragments.settings.min_fragments:
            continue
        c = counted.get(e, 0.0)
        if c > 0:
            share = np.minimum(total[s] / c, 1.0)
            # one pseudo-fragment at the mean weight: a movement seen by few (or no) fragments
            # is not taken for a precisely small one
            mean_w = square[s].sum() / total[s].sum()
            sd = np.sqrt((square[s] + mean_w**2) / c**2 + floor**2)
            scope, flow = "approach", c / hours
        elif len(s) >= 2:
            share = total[s] / total[s].sum()
            sd = np.sqrt((share * (1.0 - share) + 1.0 / n_eff) / n_eff + floor**2)
            scope, flow = "listed", float("nan")
        else:
            continue
        for m, sh, sdv in zip(s, share, sd, strict=True):
            rows.append((arrays.junction_ids[j], arrays.edge_ids[e], arrays.edge_ids[arrays.mov_to_edge[m]],
                         float(sh), float(sdv), float(n_eff), scope, flow))
    return pd.DataFrame(rows, columns=columns)


# -- helpers ----------------------------------------------------------------------------
def _camera_edges(registry: pd.DataFrame, arrays) -> tuple[list[str], np.ndarray]:
    """Camera ids (sorted) and the edge index of each one's approach.

    Raises
    ------
    ValidationError
        If a camera's approach edge is not in the network.
    """
    first = registry.drop_duplicates("camera_id").sort_values("camera_id")
    ids = first["camera_id"].astype(str).tolist()
    edge = pd.Index(arrays.edge_ids).get_indexer(first["from_edge"].astype(str))
    if (edge < 0).any():
        bad = [c for c, e in zip(ids, edge, strict=True) if e < 0][:5]
        msg = f"camera registry: the approach edge of camera(s) {', '.join(bad)} is not in the network."
        raise ValidationError(msg)
    return ids, edge.astype(np.int64)


def _edge_graph(arrays):
    """The graph of edges joined by vehicle movements, weighted by the entered edge's free-flow time (s)."""
    import scipy.sparse as sp

    free_s = arrays.edge_length_m / np.maximum(arrays.edge_speed_mps, 0.1)
    ok = (arrays.mov_turn != _CROSSING) & (arrays.mov_from_edge >= 0) & (arrays.mov_to_edge >= 0)
    u = arrays.mov_from_edge[ok]
    v = arrays.mov_to_edge[ok]
    n_e = len(arrays.edge_ids)
    graph = sp.csr_matrix((np.maximum(free_s[v], 1e-3), (u, v)), shape=(n_e, n_e))
    return graph


def _camera_pairs(graph, cam_edge: np.ndarray, limit_s: float, batch: int = 256):
    """Camera pairs ``(a, b)`` on different edges within ``limit_s`` of free flow, with that time (s).

    Shortest free-flow times from each camera edge's stop line, in batches of source edges so
    that only ``batch`` rows of distances are held at once; every camera of the source edge is
    paired with every camera of the reached edge.
    """
    from scipy.sparse.csgraph import dijkstra

    edges, cam_node = np.unique(cam_edge, return_inverse=True)
    by_node = np.argsort(cam_node, kind="stable")
    n_of = np.bincount(cam_node, minlength=len(edges))
    first_of = np.concatenate([[0], np.cumsum(n_of)[:-1]])
    src_parts, dst_parts, t_parts = [], [], []
    for start in range(0, len(edges), batch):
        dist = np.atleast_2d(dijkstra(graph, indices=edges[start : start + batch], limit=limit_s))[:, edges]
        src, dst = np.nonzero(np.isfinite(dist))
        keep = src + start != dst
        src_parts.append(src[keep] + start)
        dst_parts.append(dst[keep])
        t_parts.append(dist[src[keep], dst[keep]])
    src = np.concatenate(src_parts) if src_parts else np.zeros(0, dtype=np.int64)
    dst = np.concatenate(dst_parts) if dst_parts else np.zeros(0, dtype=np.int64)
    t = np.concatenate(t_parts) if t_parts else np.zeros(0)
    # expand edge pairs into camera pairs: n_of[src] x n_of[dst] each
    size = n_of[src] * n_of[dst]
    k = np.repeat(np.arange(len(src)), size)
    within = np.arange(int(size.sum())) - np.repeat(np.cumsum(size) - size, size)
    a = by_node[first_of[src[k]] + within // n_of[dst[k]]]
    b = by_node[first_of[dst[k]] + within % n_of[dst[k]]]
    return a.astype(np.int64), b.astype(np.int64), t[k].astype(np.float64)


def _paths(network, arrays, graph, src_edge, dst_edge, cam_edge, limit_s, detour_factor):
    """Movements of the shortest path of every pair, whether it passes another camera's stop line, and how many are certain.

    The path is certain up to the first edge ``u`` of it from which another movement
    ``u -> v`` still reaches the destination within ``detour_factor`` times the shortest
    free-flow time: ``d(s, u) + w(u, v) + d(v, dst) <= detour_factor * d(s, dst)`` (distances
    from the source by Dijkstra, to the destination by Dijkstra on the reversed graph); the
    number of movements before ``u`` is returned (all of them when no such edge).
    """
    from scipy.sparse.csgraph import dijkstra

    camera_edges = set(cam_edge.tolist())
    ptr = [0]
    movs: list[int] = []
    through = np.zeros(len(src_edge), dtype=bool)
    certain = np.zeros(len(src_edge), dtype=np.int64)
    from_source: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for s in np.unique(src_edge):
        dist, pred = dijkstra(graph, indices=int(s), return_predecessors=True, limit=limit_s)
        from_source[int(s)] = (dist, pred)
    reverse = graph.T.tocsr()
    to_dest = {int(d): dijkstra(reverse, indices=int(d), limit=detour_factor * limit_s) for d in np.unique(dst_edge)}
    for k, (s, d) in enumerate(zip(src_edge, dst_edge, strict=True)):
        dist, pred = from_source[int(s)]
        chain = [int(d)]
        while chain[-1] != s:
            chain.append(int(pred[chain[-1]]))
        chain.reverse()  # s, e1, ..., d
        back = to_dest[int(d)]
        longest = detour_factor * dist[int(d)] + 1e-9
        certain[k] = len(chain) - 1
        for i, (a, b) in enumerate(zip(chain, chain[1:], strict=False)):
            movs.append(network.movement_index(arrays.junction_ids[arrays.edge_to[a]], arrays.edge_ids[a], arrays.edge_ids[b]))
            lo, hi = graph.indptr[a], graph.indptr[a + 1]
            other = graph.indices[lo:hi] != b
            if certain[k] > i and (dist[a] + graph.data[lo:hi][other] + back[graph.indices[lo:hi][other]] <= longest).any():
                certain[k] = i
        through[k] = any(e in camera_edges for e in chain[1:-1])
        ptr.append(len(movs))
    return np.array(ptr, dtype=np.int64), np.array(movs, dtype=np.int64), through, certain


def _read_rates(sightings: pd.DataFrame, counts: pd.DataFrame, t0: float, t1: float) -> pd.Series:
    """Each camera's read rate over ``[t0, t1)``: its sightings over the vehicles it counted."""
    t = sightings["time_s"].to_numpy()
    seen = sightings[(t >= t0) & (t < t1)].groupby("camera_id").size()
    approach = counts[counts["to_edge"] == ""].groupby("camera_id")["count"].sum()
    moves = counts[counts["to_edge"] != ""].groupby("camera_id")["count"].sum()
    counted = approach.combine_first(moves)
    rate = (seen.reindex(counted.index).fillna(0) / counted.where(counted > 0)).dropna()
    rate = rate[rate > 0].clip(upper=1.0)
    default = float(rate.median()) if len(rate) else 1.0
    return rate.reindex(seen.index.union(rate.index)).fillna(default)


def _approach_counts(counts: pd.DataFrame, arrays) -> dict[int, float]:
    """Vehicles counted on every counted approach edge (its approach totals, else its movement counts)."""
    approach = counts[counts["to_edge"] == ""].groupby("from_edge")["count"].sum()
    moves = counts[counts["to_edge"] != ""].groupby("from_edge")["count"].sum()
    counted = approach.combine_first(moves)
    edge = pd.Index(arrays.edge_ids).get_indexer(counted.index.astype(str))
    return {int(e): float(n) for e, n in zip(edge, counted.to_numpy(), strict=True) if e >= 0}


def _covered_downstream(arrays, cam_edge: np.ndarray) -> np.ndarray:
    """Per edge: does every vehicle on it reach a camera's stop line, whichever way it continues?

    True for a camera's approach edge; else when the edge has movements out other than
    turnarounds and all of them enter covered edges (fixed point from the cameras; loops stay
    uncovered). A turnaround is a U-turn, or a movement after which the road, with no other
    way to go, leads back to the junction the edge left (:func:`_turnarounds`): a dead end,
    where trips leave the network, so an edge with only turnarounds out is uncovered.
    """
    n_e = len(arrays.edge_ids)
    covered = np.zeros(n_e, dtype=bool)
    covered[cam_edge] = True
    ok = (arrays.mov_turn != _CROSSING) & (arrays.mov_to_edge >= 0) & ~_turnarounds(arrays)
    changed = True
    while changed:
        changed = False
        for e in np.flatnonzero(~covered):
            out = arrays.edge_out_mov[arrays.edge_out_ptr[e] : arrays.edge_out_ptr[e + 1]]
            out = out[ok[out]]
            if len(out) and covered[arrays.mov_to_edge[out]].all():
                covered[e] = True
                changed = True
    return covered


def _turnarounds(arrays, max_links: int = 20) -> np.ndarray:
    """Per movement: a U-turn, or one whose exit road, without a choice, returns to the junction its approach left.

    From the movement's exit edge the road is followed while each edge has exactly one vehicle
    movement out (at most ``max_links`` edges); the movement is a turnaround when the road
    reaches the junction the approach edge started at.
    """
    vehicle = (arrays.mov_turn != _CROSSING) & (arrays.mov_to_edge >= 0)
    n_out = np.zeros(len(arrays.edge_ids), dtype=np.int64)
    only = np.full(len(arrays.edge_ids), -1, dtype=np.int64)
    for m in np.flatnonzero(vehicle):
        e = arrays.mov_from_edge[m]
        if e >= 0:
            n_out[e] += 1
            only[e] = arrays.mov_to_edge[m]
    out = arrays.mov_turn == _UTURN
    for m in np.flatnonzero(vehicle & ~out & (arrays.mov_from_edge >= 0)):
        home = arrays.edge_from[arrays.mov_from_edge[m]]
        e = arrays.mov_to_edge[m]
        for _ in range(max_links):
            if arrays.edge_to[e] == home:
                out[m] = True
                break
            if n_out[e] != 1:
                break
            e = only[e]
    return out
