"""Synchro UTDF export: one period's timing as a UTDF 8 combined CSV file (opens in Synchro/Vistro).

The file has the four sections a timing import needs, each a title line, a record-name line
and a header row, as Synchro writes them::

    [Network]            Network Settings    RECORDNAME,DATA             (UTDFVERSION 8, Metric 1)
    [Nodes]              Node Data           INTID,TYPE,X,Y,Z,DESCRIPTION
    [Timeplans]          Timing Plan Settings RECORDNAME,INTID,DATA
    [Phases]             Phasing Data        RECORDNAME,INTID,D1,D2,...

Intersections (``INTID``) are the plan's traffic lights numbered 1..n in sorted order; the
node's ``DESCRIPTION`` is the SUMO traffic-light id and ``X``/``Y`` its (first) junction's
position in metres. Phases ``D1..Dn`` are the plan's phases in order (numbered as in
``timing.csv``), in ring 1 one after another: ``BRP`` (barrier, ring, position) ``1 1 k``,
four positions per barrier.

Timing records, in whole seconds (:mod:`citybrain.plans.controller_timing`):

``Timeplans``
    ``Control Type`` 0 (pretimed), ``Cycle Length``, ``Lock Timings`` 1, ``Referenced To`` 0
    (offset to the begin of green), ``Reference Phase`` (the plan's reference phase), ``Offset``
    (its green start in the common cycle), ``Master`` 0, ``Node 0`` (the INTID), ``Node 1`` 0.
``Phases``
    ``MinGreen``, ``MaxGreen`` (the fixed green of a pretimed phase), ``Yellow``, ``AllRed``,
    ``Walk`` and ``DontWalk`` (pedestrian clearance; blank where the phase serves no crossing),
    ``MinSplit``, and the cycle positions ``Start`` (green start), ``Yield`` (green end) and
    ``End`` (next phase's green start) in the common cycle, ``LocalStart`` / ``LocalYield`` in
    the local cycle that starts with the reference phase's green.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from ...exceptions import ValidationError
from ..controller_timing import ControllerTiming, controller_timing, require_plan_fits
from ..model import NetworkPlan, PlanPeriod

if TYPE_CHECKING:
    from ...network import RoadNetwork

__all__ = ["UTDF_MAX_PHASES", "utdf_rows", "write_utdf", "select_period"]

#: Phases one UTDF intersection can hold (D1..D16: four barriers of four ring-1 positions).
UTDF_MAX_PHASES = 16
_NETWORK = [("UTDFVERSION", 8), ("Metric", 1)]
_TIMEPLAN = ("Control Type", "Cycle Length", "Lock Timings", "Referenced To", "Reference Phase", "Offset",
             "Master", "Node 0", "Node 1")
_PHASE_RECORDS = ("BRP", "MinGreen", "MaxGreen", "Yellow", "AllRed", "Walk", "DontWalk", "MinSplit", "Start", "End",
                  "Yield", "LocalStart", "LocalYield")


def select_period(plan: NetworkPlan, period: str | None, what: str) -> PlanPeriod:
    """The period to export: ``period`` by name, or the plan's only one.

    Raises
    ------
    ValidationError
        If ``period`` is not one of the plan's, or is None while the plan has several.
    """
    names = [p.name for p in plan.periods]
    if period is None:
        if len(names) == 1:
            return plan.periods[0]
        msg = f"{what} holds one period and the plan has {len(names)} ({', '.join(names)}); choose one (--period)"
        raise ValidationError(msg)
    if period not in names:
        msg = f"period {period!r} is not in the plan (its periods: {', '.join(names)})"
        raise ValidationError(msg)
    return plan.period(period)


def utdf_rows(plan: NetworkPlan, network: RoadNetwork, *, period: str | None = None) -> list[list]:
    """The UTDF file as rows of cells (the module docstring's layout).

    Raises
    ------
    ValidationError
        If the plan does not fit the network, a light has more than :data:`UTDF_MAX_PHASES`
        phases, or the period is ambiguous (:func:`select_period`).
    """
    require_plan_fits(plan, network)
    chosen = select_period(plan, period, "a UTDF file")
    plans = sorted(chosen.plans, key=lambda p: p.tls)
    too_many = [f"{p.tls} ({len(p.phases)})" for p in plans if len(p.phases) > UTDF_MAX_PHASES]
    if too_many:
        msg = f"UTDF holds at most {UTDF_MAX_PHASES} phases per intersection; too many in {', '.join(too_many)}"
        raise ValidationError(msg)
    sheets = [controller_timing(p, network) for p in plans]
    width = max((len(s.phases) for s in sheets), default=1)
    rows: list[list] = [["[Network]"], ["Network Settings"], ["RECORDNAME", "DATA"], *map(list, _NETWORK), []]
    rows += [["[Nodes]"], ["Node Data"], ["INTID", "TYPE", "X", "Y", "Z", "DESCRIPTION"]]
    for intid, p in enumerate(plans, start=1):
        node = network.graph.nodes[p.junctions[0]] if p.junctions and p.junctions[0] in network.graph else {}
        rows.append([intid, 0, _num(node.get("x_m", 0.0)), _num(node.get("y_m", 0.0)), 0, p.tls])
    rows += [[], ["[Timeplans]"], ["Timing Plan Settings"], ["RECORDNAME", "INTID", "DATA"]]
    for intid, sheet in enumerate(sheets, start=1):
        values = (0, sheet.cycle_s, 1, 0, sheet.reference_phase, sheet.offset_s, 0, intid, 0)
        rows += [[name, intid, v] for name, v in zip(_TIMEPLAN, values, strict=True)]
    rows += [[], ["[Phases]"], ["Phasing Data"], ["RECORDNAME", "INTID", *(f"D{k}" for k in range(1, width + 1))]]
    for intid, sheet in enumerate(sheets, start=1):
        records = _phase_records(sheet)
        rows += [[name, intid, *cells, *[""] * (width - len(cells))] for name, cells in records.items()]
    return rows


def write_utdf(plan: NetworkPlan, network: RoadNetwork, path: str | Path, *, period: str | None = None) -> Path:
    """Write :func:`utdf_rows` as a CSV file; return the path.

    Raises
    ------
    ValidationError
        As :func:`utdf_rows`; nothing is written then.
    """
    rows = utdf_rows(plan, network, period=period)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    return path


def _phase_records(sheet: ControllerTiming) -> dict[str, list]:
    """Each phase record of one intersection: name -> cells for D1..Dn."""
    starts, t = [], 0
    for ph in sheet.phases:
        starts.append(t)
        t += ph.split_s
    ref_local = starts[sheet.reference_phase - 1]
    cycle = sheet.cycle_s
    local = [(s - ref_local) % cycle for s in starts]
    start = [(sheet.offset_s + s) % cycle for s in local]
    records: dict[str, list] = {name: [] for name in _PHASE_RECORDS}
    for k, ph in enumerate(sheet.phases):
        ped = ph.walk_s > 0 or ph.ped_clearance_s > 0
        min_green = ph.min_green_s if ph.min_green_s is not None else ph.green_s
        cells = {
            "BRP": 100 * (k // 4 + 1) + 10 + k % 4 + 1, "MinGreen": min_green, "MaxGreen": ph.green_s,
            "Yellow": ph.yellow_s, "AllRed": ph.all_red_s, "Walk": ph.walk_s if ped else "",
            "DontWalk": ph.ped_clearance_s if ped else "",
            "MinSplit": max(min_green, ph.walk_s + ph.ped_clearance_s) + ph.yellow_s + ph.all_red_s,
            "Start": start[k], "End": (start[k] + ph.split_s) % cycle, "Yield": (start[k] + ph.green_s) % cycle,
            "LocalStart": local[k], "LocalYield": (local[k] + ph.green_s) % cycle,
        }
        for name in _PHASE_RECORDS:
            records[name].append(cells[name])
    return records


def _num(x: float) -> int | float:
    """A coordinate as written: whole metres as integers, else to the centimetre."""
    return int(x) if float(x).is_integer() else round(float(x), 2)
