"""The state of the roads for the public: per link flow, speed, travel time, travel time index and level.

Per road link (a SUMO edge), the travel time is a model of the estimated flows and the signal
timing, or, where plate matches measured it, the measured one:

* running time, the free-flow time ``t0 = length / speed limit`` grown by the BPR function
  ``t0 (1 + 0.15 (v / c)^4)`` with ``c`` 1800 veh/h per lane (Bureau of Public Roads, 1964);
* plus, where the link starts at a signal, the time lost accelerating from rest, ``v / (2 a)``,
  by the share of its vehicles the upstream signal stopped (taken as the red share ``1 - g/C``
  of the movements feeding it, random arrivals);
* plus, where the link ends at a signal, its control delay, per movement leaving the link: the
  uniform delay of the platoon model (:mod:`citybrain.timing.delay_model`, TRANSYT-style, at the
  plans' offsets, so progression counts) where the lights share a whole-second cycle, else HCM's
  ``d1 = 0.5 C (1 - g/C)^2 / (1 - min(1, X) g/C)``; plus HCM's incremental delay
  ``d2 = 900 T [(X - 1) + sqrt((X - 1)^2 + 4 X / (c T))]`` (HCM 6th ed., Eq. 19-19), with ``g/C``
  the movement's effective green share (permissive green at half of saturation flow), ``X``
  its degree of saturation, ``T`` the analysis period; averaged over the movements by flow
  (equally on a link with none). Delay at unsignalised junctions is not modelled.

The travel time index is travel time over free-flow time. Levels follow AutoNavi's (Amap)
congestion delay index bands: free below 1.5, slow below 1.8, congested below 2.0, jammed from
2.0. An area's congestion index is its links' travel time index weighted by vehicle-kilometres
(flow x length); links without flow do not weigh.
"""

from __future__ import annotations

from collections.abc import Mapping

from .network.geometry import LinkGeometry

import numpy as np
import pandas as pd

from .plans.model import SignalPlan
from .timing.delay_model import delay_model, movement_delays, offsets_of, shared_lane_sat_vph
from .timing.phases import service_matrix

__all__ = ["LEVELS", "STATE_COLUMNS", "level_of", "link_states", "congestion_index", "state_geojson"]

#: Level names and the travel time index each level stays below.
LEVELS: tuple[tuple[str, float], ...] = (("free", 1.5), ("slow", 1.8), ("congested", 2.0), ("jammed", float("inf")))
#: Columns of :func:`link_states`, one row per link.
STATE_COLUMNS: tuple[str, ...] = (
    "edge", "length_m", "lanes", "flow_vph", "free_flow_s", "travel_s", "speed_kmh", "tti", "level", "vc",
    "control_delay_s", "source", "matched",
)
#: Saturation flow of one lane mid-block, for the BPR running time (veh/h).
LANE_CAPACITY_VPH = 1800.0
#: Acceleration of a car starting from rest (m/s^2; SUMO's default passenger car).
ACCEL_MPS2 = 2.6
#: Share of saturation flow a permissive green gives.
PERMISSIVE_FACTOR = 0.5


def level_of(tti: float) -> str:
    """The level (free / slow / congested / jammed) of a travel time index."""
    return next(name for name, below in LEVELS if tti < below)


def _control_delay_s(q_vph: float, sat_vph: float, green_share: float, cycle_s: float, period_h: float,
                     uniform_s: float | None = None) -> float:
    """Uniform (``uniform_s``, else HCM d1) + HCM incremental delay (s/veh) of one movement."""
    if green_share <= 0 or sat_vph <= 0:
        return float("nan")
    cap = sat_vph * green_share
    x = q_vph / cap
    d1 = uniform_s if uniform_s is not None else 0.5 * cycle_s * (1 - green_share) ** 2 / (1 - min(1.0, x) * green_share)
    d2 = 900.0 * period_h * ((x - 1) + np.sqrt((x - 1) ** 2 + 4 * x / (cap * period_h)))
    return float(d1 + d2)


def _cyclic_delays(network, plans: Mapping[str, SignalPlan], q_vph: np.ndarray) -> dict[int, float]:
    """Uniform delay (s/veh) of the movements of lights sharing a whole-second cycle, from the platoon model.

    The TRANSYT-style model of :mod:`citybrain.timing.delay_model` at the plans' own offsets: a
    movement fed by a platoon arriving on green waits less than random arrivals would, one
    arriving on red more. Lights of other cycles are modelled apart (their arrivals uniform).
    """
    groups: dict[int, dict[str, SignalPlan]] = {}
    for tls, plan in plans.items():
        if plan.cycle_s > 0 and abs(plan.cycle_s - round(plan.cycle_s)) < 1e-6:
            groups.setdefault(int(round(plan.cycle_s)), {})[tls] = plan
    out: dict[int, float] = {}
    for group in groups.values():
        model = delay_model(network, group, q_vph, permissive_factor=PERMISSIVE_FACTOR)
        if not model.movements:
            continue
        for m, d in zip(model.movements, movement_delays(model, offsets_of(model, group))):
            out[m] = float(d)
    return out


def _signal_delays(network, plans: Mapping[str, SignalPlan], q_vph: np.ndarray,
                   period_h: float) -> dict[int, tuple[float, float]]:
    """Per movement at a light of ``plans``: control delay (s/veh; uniform + d2) and effective green share."""
    cyclic = _cyclic_delays(network, plans, q_vph)
    out: dict[int, tuple[float, float]] = {}
    for tls, plan in plans.items():
        movs = sorted({link.movement for link in network.programs[tls].links
                       if network.movements[link.movement].turn != "crossing"})
        if not movs or plan.cycle_s <= 0:
            continue
        share = service_matrix(plan, network, movs, PERMISSIVE_FACTOR) @ np.array([ph.green_s for ph in plan.phases])
        sat = shared_lane_sat_vph(network, movs, q_vph)
        for m, g in zip(movs, np.minimum(share / plan.cycle_s, 1.0)):
            out[m] = (_control_delay_s(float(q_vph[m]), sat[m], float(g), plan.cycle_s, period_h, cyclic.get(m)),
                      float(g))
    return out


def _mean_by_flow(values: list[float], movements: list[int], q_vph: np.ndarray) -> float:
    """Mean of ``values`` weighted by the movements' flows (equal weights when none flows; 0 for none)."""
    if not values:
        return 0.0
    w = q_vph[movements]
    return float(np.average(values, weights=w if w.sum() > 0 else None))


def link_states(network, q_vph: np.ndarray, plans: Mapping[str, SignalPlan], *, period_h: float = 0.25,
                measured: Mapping[str, tuple[float, int]] | None = None, min_matched: int = 20) -> pd.DataFrame:
    """The state of every road link: :data:`STATE_COLUMNS`, one row per edge.

    Parameters
    ----------
    network
        The road network.
    q_vph
        ``(n_movements,)`` movement flows (veh/h), as :func:`citybrain.timing.movement_flows` gives.
    plans
        What each light runs (``{tls: SignalPlan}``); lights left out add no control delay.
    period_h
        The analysis period ``T`` of the incremental delay (h).
    measured
        Edge -> (measured travel time in s, plates matched) from plate re-identification; a link
        with at least ``min_matched`` matches takes the measured time (``source`` "plates").
    """
    measured = measured or {}
    delays = _signal_delays(network, plans, q_vph, period_h)
    out_of: dict[str, list[int]] = {}
    into: dict[str, list[int]] = {}
    for i, mv in enumerate(network.movements):
        if mv.turn != "crossing":
            out_of.setdefault(mv.from_edge, []).append(i)
            into.setdefault(mv.to_edge, []).append(i)
    rows = []
    for edge, data in sorted(network.edges.items()):
        leaving = out_of.get(edge, [])
        flow = float(q_vph[leaving].sum()) if leaving else 0.0
        if flow <= 0 and into.get(edge):
            flow = float(q_vph[into[edge]].sum())
        t0 = data["length_m"] / max(data["speed_mps"], 0.1)
        vc = flow / (LANE_CAPACITY_VPH * max(data["lanes"], 1))
        control = _mean_by_flow([delays[m][0] for m in leaving if m in delays and np.isfinite(delays[m][0])],
                                [m for m in leaving if m in delays and np.isfinite(delays[m][0])], q_vph)
        feeders = [m for m in into.get(edge, []) if m in delays]
        stopped = _mean_by_flow([1.0 - delays[m][1] for m in feeders], feeders, q_vph)
        start_up = stopped * data["speed_mps"] / (2 * ACCEL_MPS2)
        travel, source = t0 * (1 + 0.15 * vc ** 4) + start_up + control, "model"
        seen_s, matched = measured.get(edge, (float("nan"), 0))
        if matched >= min_matched and np.isfinite(seen_s) and seen_s > 0:
            travel, source = float(seen_s), "plates"
        tti = travel / t0
        rows.append((edge, data["length_m"], data["lanes"], flow, t0, travel, data["length_m"] / travel * 3.6, tti,
                     level_of(tti), vc, control, source, int(matched)))
    return pd.DataFrame(rows, columns=list(STATE_COLUMNS))


def congestion_index(states: pd.DataFrame) -> dict[str, float | str]:
    """An area's congestion index (travel time index weighted by veh-km), level, veh-km/h and mean speed (km/h)."""
    vkm = states["flow_vph"] * states["length_m"] / 1000.0
    if vkm.sum() <= 0:
        return {"index": 1.0, "level": level_of(1.0), "veh_km_per_h": 0.0, "mean_speed_kmh": float("nan")}
    index = float(np.average(states["tti"], weights=vkm))
    veh_h = float((states["flow_vph"] * states["travel_s"] / 3600.0).sum())
    return {"index": index, "level": level_of(index), "veh_km_per_h": float(vkm.sum()),
            "mean_speed_kmh": float(vkm.sum() / veh_h)}


def state_geojson(states: pd.DataFrame, geometry: LinkGeometry, *, areas: Mapping[str, list[str]] | None = None,
                  at: str = "") -> dict:
    """The state as a GeoJSON FeatureCollection: one LineString per link with its state, areas' indices on top.

    Coordinates are WGS84 longitude / latitude when the network carries a projection, else the
    network's metres; ``crs_note`` says which (RFC 7946 has no other CRS member). ``areas`` maps
    an area name to its edges (default: the whole network as ``"network"``).
    """
    shapes = geometry.shapes_lonlat if geometry.shapes_lonlat is not None else geometry.shapes_m
    features = []
    for row in states.itertuples(index=False):
        if row.edge not in shapes:
            continue
        props = {c: getattr(row, c) for c in STATE_COLUMNS}
        props = {k: (round(v, 3) if isinstance(v, float) else v.item() if isinstance(v, np.generic) else v)
                 for k, v in props.items()}
        features.append({"type": "Feature", "id": row.edge, "properties": props,
                         "geometry": {"type": "LineString", "coordinates": [list(p) for p in shapes[row.edge]]}})
    areas = areas or {"network": list(states["edge"])}
    index = {name: congestion_index(states[states["edge"].isin(set(edges))]) for name, edges in areas.items()}
    return {"type": "FeatureCollection", "features": features, "at": at, "crs_note": geometry.crs_note,
            "levels": {name: below for name, below in LEVELS[:-1]}, "areas": index}
