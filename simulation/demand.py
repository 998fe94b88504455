"""Demand from flows: SUMO demand for the twin from an estimate.

* :func:`write_jtr_demand` turns a :class:`~citybrain.estimation.FlowEstimate` into SUMO
  files for ``jtrrouter``: entry flows (``<flow from=...>``) on the links where traffic enters
  the estimated area and turning ratios (``<edgeRelation probability=...>``) per interval,
  then runs SUMO's ``jtrrouter`` to write routes a scenario can run on.
* :func:`write_sampled_demand` samples whole routes, from the network's fringe to its fringe,
  so that their movement counts over the window match the estimate's (SUMO's
  ``routeSampler``), each vehicle departing to reach its first counted movement when that
  movement's demand arrives: only the estimated movements are constrained, so it needs no
  entry flow and no turning ratio at the junctions nobody counted.

:func:`write_demand` picks one of them by name (:data:`METHODS`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from citybrain.exceptions import CityBrainError, ValidationError
from citybrain.network import RoadNetwork
from citybrain.sumo_tools import run_sumo_program, sumo_home, sumo_tool

__all__ = ["METHODS", "write_demand", "write_jtr_demand", "write_sampled_demand", "turn_ratio_xml", "entry_flow_xml",
           "turn_count_xml", "fringe_edges", "depart_by_first_count"]


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

    Traffic enters on an approach edge what its movements take from it beyond what the
    reported movements into it bring, per interval: the whole approach flow where no reported
    movement feeds the edge, the rest where only a little does (a dead end's U-turn at the
    edge of the map) or where the estimate has a mid-block source.

    Returns
    -------
    str
        A ``<routes>`` document with one ``<flow from=... number=...>`` per entry and interval.
    """
    frame = flows.astype({"junction": str, "from_edge": str, "to_edge": str})
    edges = network.edges
    keys = ["interval_start", "interval_s"]
    out = frame.groupby([*keys, "from_edge"], sort=True)["flow_vph"].sum()
    into = frame.groupby([*keys, "to_edge"], sort=True)["flow_vph"].sum().rename_axis(out.index.names)
    totals = (out - into.reindex(out.index, fill_value=0.0)).clip(lower=0.0)
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
        flows frame. Its ``demand_vph`` is routed when it has one, else ``flow_vph``.
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
    flows = _routed_flows(estimate)
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



def _routed_flows(estimate) -> pd.DataFrame:
    """The flows to route (``demand_vph`` as ``flow_vph`` when present), checked to be usable."""
    flows = getattr(estimate, "flows", estimate)
    if "demand_vph" in flows.columns:  # counts with queue readings: route what arrived, not only what crossed
        flows = flows.assign(flow_vph=flows["demand_vph"])
    if len(flows) == 0:
        msg = "demand from flows: the flows table is empty."
        raise ValidationError(msg)
    if not pd.api.types.is_numeric_dtype(flows["interval_start"]):
        msg = "demand from flows: ISO 8601 times; convert interval_start to seconds from the scenario begin."
        raise ValidationError(msg)
    return flows


def fringe_edges(network: RoadNetwork) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the edges where vehicles enter the network and those where they leave it, sorted.

    An edge is an entry when no movement but a U-turn leads onto it, an exit when no movement
    but a U-turn leaves it (pedestrian crossings left out).
    """
    road = [m for m in network.movements if m.turn != "crossing"]
    onto = {m.to_edge for m in road if m.turn != "uturn"}
    off = {m.from_edge for m in road if m.turn != "uturn"}
    edges = {m.from_edge for m in road} | {m.to_edge for m in road}
    return tuple(sorted(edges - onto)), tuple(sorted(edges - off))


def turn_count_xml(flows: pd.DataFrame, period_s: float) -> str:
    """Return a SUMO turn-count file (``<data>``, ``<edgeRelation count=...>``) from a flows table.

    A movement's count in a period of ``period_s`` seconds (from the first interval's start) is
    the vehicles of its flow (veh/h) over the intervals starting in it, summed before any
    rounding (``routeSampler`` matches whole vehicles).
    """
    frame = flows.astype({"from_edge": str, "to_edge": str})
    start = frame["interval_start"].astype(float)
    first = float(start.min())
    period = first + ((start - first) // period_s) * period_s
    ends = (start + frame["interval_s"].astype(float)).groupby(period).max()
    vehicles = frame["flow_vph"] * frame["interval_s"].astype(float) / 3600.0
    counts = vehicles.groupby([period.rename("period"), frame["from_edge"], frame["to_edge"]], sort=True).sum()
    lines = ["<data>"]
    for begin, group in counts.groupby(level="period", sort=True):
        lines.append(f'    <interval id="p{begin:g}" begin="{begin:g}" end="{ends[begin]:g}">')
        for (_, f, t), n in group.items():
            lines.append(f'        <edgeRelation from={quoteattr(f)} to={quoteattr(t)} count="{n:.3f}"/>')
        lines.append("    </interval>")
    lines.append("</data>")
    return "\n".join(lines) + "\n"


#: Candidate routes ``routeSampler`` chooses from: drawn by ``jtrrouter`` per entry edge.
CANDIDATES_PER_ENTRY = 1000
#: How far (vehicles per route and period) ``routeSampler``'s optimisation may move the sampled
#: solution: a little, so traffic stays spread over the entries that feed the same counted
#: movement (an unbounded optimum piles it on one, and SUMO cannot insert it there).
OPTIMIZE_BOUND_VEH = 3


def write_sampled_demand(
    estimate,
    network: RoadNetwork,
    folder: str | Path,
    *,
    seed: int = 42,
    begin_offset_s: float = 0.0,
) -> dict[str, Path]:
    """Write SUMO demand whose routes reproduce the estimate's movement counts (``routeSampler``).

    Candidate routes run from every network entry to an exit (:func:`fringe_edges`), drawn by
    ``jtrrouter`` with the estimate's turning ratios where it has them and SUMO's default
    turning shares elsewhere, none U-turning where the estimate sees no U-turn.
    ``routeSampler`` then chooses how many vehicles take each route so that the movement
    counts over the whole window (:func:`turn_count_xml`) match: routes are drawn in
    proportion to their share of the candidates (so every entry feeding a counted movement
    keeps a share of it), then matched more closely by its optimisation, each route moved by
    at most :data:`OPTIMIZE_BOUND_VEH`. Each vehicle then departs so as to reach its first
    counted movement when that movement's demand arrives (:func:`depart_by_first_count`): the counts downstream of a
    queue are its discharge, later than the demand that fed it, so matching every interval
    or period on its own would ask a vehicle to be counted upstream and downstream in the
    same one. Movements the estimate leaves out are not constrained.

    Parameters
    ----------
    estimate
        A :class:`~citybrain.estimation.FlowEstimate` (numeric times) or a flows frame; its
        ``demand_vph`` is matched when it has one, else ``flow_vph``. Give the estimate of the
        counted junctions: every movement in it is a constraint.
    network
        The network estimated.
    folder
        Output folder (created).
    seed
        Random seed of both tools.
    begin_offset_s
        Added to every interval start (the scenario's begin, when the counts start at 0).

    Returns
    -------
    dict
        ``{"turns": ..., "counts": ..., "candidates": ..., "routes": ...}`` paths.

    Raises
    ------
    ValidationError
        If the flows use ISO times or are empty, or the network has no entry or exit.
    CityBrainError
        If a SUMO tool fails.
    """
    flows = _routed_flows(estimate)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    shifted = flows.assign(interval_start=flows["interval_start"].astype(float) + begin_offset_s)
    begin = float(shifted["interval_start"].min())
    end = float((shifted["interval_start"] + shifted["interval_s"]).max())
    entries, exits = fringe_edges(network)
    if not entries or not exits:
        msg = f"{network.path}: the network has no entry or no exit edge to route between."
        raise ValidationError(msg)
    turns = folder / "turns.xml"
    turns.write_text(turn_ratio_xml(shifted.assign(interval_start=begin, interval_s=end - begin)))
    sources = folder / "candidate_sources.rou.xml"
    body = [f'    <flow id="c{k}_{_safe(e)}" begin="{begin:g}" end="{end:g}" from={quoteattr(e)} '
            f'number="{CANDIDATES_PER_ENTRY}"/>' for k, e in enumerate(entries)]
    sources.write_text("<routes>\n" + "\n".join(body) + "\n</routes>\n")
    drawn = folder / "candidates_drawn.rou.xml"
    run_sumo_program(
        "jtrrouter",
        ["-n", str(network.path), "--route-files", str(sources), "--turn-ratio-files", str(turns),
         "--sink-edges", ",".join(exits), "-o", str(drawn), "--begin", f"{begin:g}", "--end", f"{end:g}",
         "--seed", str(int(seed)), "--no-step-log", "--ignore-errors", "--xml-validation", "never"],
    )
    candidates = folder / "candidates.rou.xml"
    _drop_unseen_uturns(drawn, candidates, network, flows)
    counts = folder / "turn_counts.xml"
    counts.write_text(turn_count_xml(shifted, end - begin))
    sampled = folder / "routes_sampled.rou.xml"
    _run_tool("routeSampler.py", [
        "-r", str(candidates), "-t", str(counts), "-o", str(sampled),
        "--weighted", "--optimize", str(OPTIMIZE_BOUND_VEH),
        "--seed", str(int(seed)), "--prefix", "s", "-a", 'departLane="best" departSpeed="max"',
    ])
    routes = folder / "routes.rou.xml"
    depart_by_first_count(sampled, routes, shifted, network, seed=seed)
    return {"turns": turns, "counts": counts, "candidates": candidates, "routes": routes}


def depart_by_first_count(sampled: Path, out: Path, flows: pd.DataFrame, network: RoadNetwork, *,
                          seed: int = 42) -> None:
    """Write the vehicles of ``sampled`` to ``out`` departing by the demand profile of their first counted movement.

    The vehicles whose route first passes a counted movement share its intervals in
    proportion to its vehicles per interval (largest remainders), each reaching its stop
    line at a random time within its interval: it departs earlier by its free-flow time
    from the start of its route to that stop line (edge lengths over speed limits), never
    before the flows' first interval. A movement without flow spreads its vehicles evenly,
    and a vehicle passing no counted movement keeps its time. Vehicles are written by
    departure time.

    Parameters
    ----------
    sampled, out
        SUMO route files (vehicles with inline routes) in and out.
    flows
        The counted movements' flows (``flow_vph``, times already in simulation seconds).
    network
        The network routed on (edge lengths and speed limits).
    seed
        Seed of the departure draws.
    """
    rng = np.random.default_rng([int(seed), 0xDE9A])
    frame = flows.astype({"from_edge": str, "to_edge": str})
    vehicles = frame.assign(n=frame["flow_vph"].clip(lower=0.0) * frame["interval_s"] / 3600.0)
    profile = {key: g for key, g in vehicles.groupby(["from_edge", "to_edge"], sort=False)[["interval_start",
                                                                                             "interval_s", "n"]]}
    tree = ET.parse(sampled)
    root = tree.getroot()
    begin = float(frame["interval_start"].min())
    edge_s = {e: d["length_m"] / max(d["speed_mps"], 0.1) for e, d in network.edges.items()}
    by_movement: dict[tuple[str, str], list] = {}
    lead_s: dict[int, float] = {}
    for vehicle in root.findall("vehicle"):
        edges = vehicle.find("route").get("edges", "").split()
        at = next((i for i, pair in enumerate(zip(edges, edges[1:])) if pair in profile), None)
        if at is not None:
            by_movement.setdefault((edges[at], edges[at + 1]), []).append(vehicle)
            lead_s[id(vehicle)] = sum(edge_s.get(e, 0.0) for e in edges[: at + 1])
    for key, group in by_movement.items():
        prof = profile[key]
        share = prof["n"].to_numpy(dtype=np.float64)
        share = share / share.sum() if share.sum() > 0 else np.full(len(share), 1.0 / len(share))
        wanted = share * len(group)
        counts = np.floor(wanted).astype(np.int64)
        rest = len(group) - int(counts.sum())
        counts[np.argsort(-(wanted - counts), kind="stable")[:rest]] += 1
        starts = np.repeat(prof["interval_start"].to_numpy(dtype=np.float64), counts)
        lengths = np.repeat(prof["interval_s"].to_numpy(dtype=np.float64), counts)
        times = starts + rng.random(len(group)) * lengths
        for k, t in zip(rng.permutation(len(group)), times, strict=True):
            group[k].set("depart", f"{max(begin, t - lead_s[id(group[k])]):.2f}")
    ordered = sorted(root.findall("vehicle"), key=lambda v: float(v.get("depart")))
    for vehicle in root.findall("vehicle"):
        root.remove(vehicle)
    root.extend(ordered)
    tree.write(out)


def _drop_unseen_uturns(drawn: Path, out: Path, network: RoadNetwork, flows: pd.DataFrame) -> None:
    """Copy the candidate routes of ``drawn`` to ``out`` but those that U-turn where the flows see no U-turn.

    ``jtrrouter`` turns by SUMO's default shares at the junctions the flows leave out, U-turns
    included; a vehicle that U-turns on a narrow road blocks it in SUMO.
    """
    uturns = {(m.from_edge, m.to_edge) for m in network.movements if m.turn == "uturn"}
    seen = flows[flows["flow_vph"] > 0]
    uturns -= set(zip(seen["from_edge"].astype(str), seen["to_edge"].astype(str), strict=True))
    tree = ET.parse(drawn)
    root = tree.getroot()
    for vehicle in list(root.iter("vehicle")):
        route = vehicle.find("route")
        edges = route.get("edges", "").split() if route is not None else []
        if any(pair in uturns for pair in zip(edges, edges[1:])):
            root.remove(vehicle)
    tree.write(out)


def _run_tool(script: str, args: list[str], *, timeout_s: float = 600.0) -> None:
    """Run a Python tool of SUMO's ``tools/`` folder; raise with its last lines on failure."""
    env = {**os.environ, "SUMO_HOME": str(sumo_home())}
    proc = subprocess.run([sys.executable, str(sumo_tool(script)), *args], capture_output=True, text=True,
                          timeout=timeout_s, env=env, check=False)
    if proc.returncode != 0:
        msg = f"{script} failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip()[-500:]}"
        raise CityBrainError(msg)


#: Ways to build demand from flows: name -> writer (``writer(flows, network, folder, **options)``).
METHODS = {"jtrrouter": write_jtr_demand, "routesampler": write_sampled_demand}


def write_demand(
    estimate, network: RoadNetwork, folder: str | Path, *, method: str = "jtrrouter", **options
) -> dict[str, Path]:
    """Write SUMO demand for the twin from an estimate by ``method`` (a :data:`METHODS` name); see its writer."""
    if method not in METHODS:
        msg = f"unknown demand method {method!r}; expected one of {sorted(METHODS)}"
        raise ValueError(msg)
    return METHODS[method](estimate, network, folder, **options)
