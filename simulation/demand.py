"""Demand from flows: SUMO demand for the twin from an estimate.

* :func:`write_jtr_demand` turns a :class:`~citybrain.estimation.FlowEstimate` into SUMO
  files for ``jtrrouter``: entry flows (``<flow from=...>``) on the links where traffic enters
  the estimated area and turning ratios (``<edgeRelation probability=...>``) per interval,
  then runs SUMO's ``jtrrouter`` to write routes a scenario can run on.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import quoteattr

import pandas as pd

from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork
from citybrain.sumo_tools import run_sumo_program

__all__ = ["write_jtr_demand", "turn_ratio_xml", "entry_flow_xml"]


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
    flows = getattr(estimate, "flows", estimate)
    if "demand_vph" in flows.columns:  # counts with queue readings: route what arrived, not only what crossed
        flows = flows.assign(flow_vph=flows["demand_vph"])
    if len(flows) == 0:
        msg = "write_jtr_demand: the flows table is empty."
        raise ValidationError(msg)
    if not pd.api.types.is_numeric_dtype(flows["interval_start"]):
        msg = "write_jtr_demand: flows with ISO 8601 times; convert interval_start to seconds from the scenario begin."
        raise ValidationError(msg)
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
