"""Demand from flows: SUMO demand for the twin from an estimate, and synthetic demand for tests.

* :func:`write_jtr_demand` turns a :class:`~citybrain.estimation.FlowEstimate` into SUMO
  files for ``jtrrouter``: entry flows (``<flow from=...>``) on the links where traffic enters
  the estimated area and turning ratios (``<edgeRelation probability=...>``) per interval,
  then runs SUMO's ``jtrrouter`` to write routes a scenario can run on.
* :func:`synthetic_movement_flows` makes flow-conserving movement flows for any network (a
  Markov chain of turning ratios fed by entry flows): ground truth for tests and benchmarks
  without a simulation.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from .exceptions import ValidationError
from .network import TURN_CODES, RoadNetwork

__all__ = ["synthetic_movement_flows", "write_jtr_demand", "turn_ratio_xml", "entry_flow_xml"]

_CROSSING = TURN_CODES.index("crossing")


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


def turn_ratio_xml(flows: pd.DataFrame) -> str:
    """Return a SUMO turn-ratio file (``<turns>``) from a flows table.

    Parameters
    ----------
    flows
        :data:`citybrain.estimation.FLOW_COLUMNS` with numeric ``interval_start`` (seconds).

    Returns
    -------
    str
        XML with one ``<interval>`` per interval and one ``<edgeRelation>`` per movement
        whose approach carries flow.
    """
    lines = ["<turns>"]
    frame = flows.astype({"junction": str, "from_edge": str, "to_edge": str})
    for (start, length), group in frame.groupby(["interval_start", "interval_s"], sort=True):
        lines.append(f'    <interval begin="{float(start):g}" end="{float(start) + float(length):g}">')
        total = group.groupby("from_edge")["flow_vph"].transform("sum")
        for f, t, v, tot in zip(group["from_edge"], group["to_edge"], group["flow_vph"], total, strict=True):
            if tot > 0:
                lines.append(
                    f"        <edgeRelation from={quoteattr(f)} to={quoteattr(t)} probability=\"{v / tot:.6f}\"/>"
                )
        lines.append("    </interval>")
    lines.append("</turns>")
    return "\n".join(lines) + "\n"


def entry_flow_xml(flows: pd.DataFrame, network: RoadNetwork, *, begin_offset_s: float = 0.0) -> str:
    """Return SUMO ``<flow>`` definitions entering the estimated area (for ``jtrrouter``).

    An approach edge is an entry when no reported movement feeds it; its flow per interval is
    the sum of its movements' flows.

    Returns
    -------
    str
        A ``<routes>`` document with one ``<flow from=... number=...>`` per entry and interval.
    """
    frame = flows.astype({"junction": str, "from_edge": str, "to_edge": str})
    fed = set(frame["to_edge"].unique())
    edges = network.edges
    entries = frame[~frame["from_edge"].isin(fed)]
    totals = entries.groupby(["interval_start", "interval_s", "from_edge"], sort=True)["flow_vph"].sum()
    lines = ["<routes>", '    <vType id="car" departLane="best" departSpeed="max"/>']
    rows = []
    for (start, length, edge), vph in totals.items():
        number = int(round(vph * float(length) / 3600.0))
        if number <= 0 or edge not in edges:
            continue
        rows.append((float(start) + begin_offset_s, float(length), edge, number))
    for k, (start, length, edge, number) in enumerate(sorted(rows)):
        lines.append(
            f'    <flow id="f{k}_{_safe(edge)}" type="car" begin="{start:g}" end="{start + length:g}" '
            f'from={quoteattr(edge)} number="{number}" departPos="base"/>'
        )
    lines.append("</routes>")
    return "\n".join(lines) + "\n"


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text)


def write_jtr_demand(
    estimate,
    network: RoadNetwork,
    folder: str | Path,
    *,
    seed: int = 42,
    begin_offset_s: float = 0.0,
    run_router: bool = True,
) -> dict[str, Path]:
    """Write SUMO demand for the twin from an estimate, routed by ``jtrrouter``.

    Parameters
    ----------
    estimate
        A :class:`~citybrain.estimation.FlowEstimate` (numeric times; use
        ``junctions="all"`` when estimating to route beyond the signalised junctions) or a
        flows frame.
    network
        The network estimated (its file is passed to ``jtrrouter``).
    folder
        Output folder (created).
    seed
        ``jtrrouter`` random seed.
    begin_offset_s
        Added to every interval start (the scenario's begin, when the counts start at 0).
    run_router
        Run ``jtrrouter``; ``False`` only writes its inputs.

    Returns
    -------
    dict
        ``{"turns": ..., "flows": ..., "routes": ...}`` paths (``routes`` only when routed).

    Raises
    ------
    ValidationError
        If the flows use ISO times or are empty.
    CityBrainError
        If ``jtrrouter`` fails (its last error lines are in the message).
    """
    from .sumo_tools import run_sumo_program

    flows = getattr(estimate, "flows", estimate)
    if len(flows) == 0:
        msg = "write_jtr_demand: the flows table is empty."
        raise ValidationError(msg, [msg])
    if not pd.api.types.is_numeric_dtype(flows["interval_start"]):
        msg = "write_jtr_demand: flows with ISO 8601 times; convert interval_start to seconds from the scenario begin."
        raise ValidationError(msg, [msg])
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shifted = flows.assign(interval_start=flows["interval_start"].astype(float) + begin_offset_s)
    turns = folder / "turns.xml"
    turns.write_text(turn_ratio_xml(shifted))
    entry = folder / "entry_flows.rou.xml"
    entry.write_text(entry_flow_xml(flows, network, begin_offset_s=begin_offset_s))
    out = {"turns": turns, "flows": entry}
    if run_router:
        routes = folder / "routes.rou.xml"
        begin = float(shifted["interval_start"].min())
        end = float((shifted["interval_start"] + shifted["interval_s"]).max())
        run_sumo_program(
            "jtrrouter",
            [
                "-n", str(network.path),
                "--route-files", str(entry),
                "--turn-ratio-files", str(turns),
                "-o", str(routes),
                "--accept-all-destinations",
                "--begin", f"{begin:g}",
                "--end", f"{end:g}",
                "--seed", str(int(seed)),
                "--no-step-log",
                "--ignore-errors",
                "--xml-validation", "never",
            ],
        )
        out["routes"] = routes
    return out
