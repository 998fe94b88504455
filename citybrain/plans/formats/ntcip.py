"""NTCIP 1202 object export: a plan as the ASC tables a controller is programmed with, as JSON.

The basis of a controller adapter: each traffic light becomes one actuated signal controller
(ASC) whose tables carry the NTCIP 1202 object names, so an adapter only maps rows to OIDs
(``oid`` is given where the object's column is fixed by the standard's phase table) and SETs
them. Every field is documented in the file itself (``"objects"``: units and meaning) and in
``docs/exports.md``. Times are whole seconds from :mod:`citybrain.plans.controller_timing`
(yellow and red clearance in tenths of a second, as the standard counts them).

::

    {"format": "citybrain.ntcip1202", "version": 1,
     "standard": "NTCIP 1202 (ASC) phase, sequence, split, pattern, coord and time-base tables; "
                 "NTCIP 1201 day plan and schedule",
     "offset_reference": "...", "objects": {name: {"table", "units", "description", "oid"?}},
     "controllers": [
       {"tls": "J1", "junctions": ["J1"],
        "phase_names": {"1": "EB/WB through + right", ...},
        "phaseTable": [{"phaseNumber": 1, "phaseWalk": 0, "phasePedestrianClear": 0,
                        "phaseMinimumGreen": 5, "phaseMaximum1": 41, "phaseYellowChange": 40,
                        "phaseRedClear": 20, "phaseRing": 1}, ...],
        "sequenceTable": [{"sequenceNumber": 1, "sequenceRingNumber": 1, "sequenceData": [1, 2]}],
        "splitTable": [{"splitNumber": 1, "splitPhase": 1, "splitTime": 47, "splitMode": 4,
                        "splitCoordPhase": true}, ...],
        "patternTable": [{"patternNumber": 1, "patternCycleTime": 95, "patternOffsetTime": 0,
                          "patternSplitNumber": 1, "patternSequenceNumber": 1}],
        "coord": {"coordOperationalMode": 0, "coordCorrectionMode": 3, "coordMaximumMode": 2,
                  "coordForceMode": 3},
        "timebaseAscActionTable": [{"timebaseAscActionNumber": 1, "timebaseAscPattern": 1}],
        "timeBaseDayPlanTable": [{"dayPlanNumber": 1, "dayPlanEventNumber": 1, "dayPlanHour": 0,
                                  "dayPlanMinute": 0, "dayPlanActionNumberOID": "timebaseAscActionNumber.1"}],
        "timeBaseScheduleTable": [{"timeBaseScheduleNumber": 1, "timeBaseScheduleMonth": 8190,
                                   "timeBaseScheduleDay": 254, "timeBaseScheduleDate": 4294967294,
                                   "timeBaseScheduleDayPlan": 1}]}
     ]}

A plan period is a pattern (``patternNumber`` = split = sequence = action number: the period's
place in the plan, 1..P); the schedule is one day plan run every day. Phases are numbered 1..n
in the plan's order; where periods differ in their phases, the controller's phases are every
distinct green state in order of first use, and each pattern's sequence lists its own. A phase
used by several periods takes the longest clearances (yellow, red clearance, walk, pedestrian
clearance) any of them gives it, and the smallest minimum and largest maximum green.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ...exceptions import ValidationError
from ..controller_timing import controller_timing, require_plan_fits
from ..model import DAY_S, NetworkPlan

if TYPE_CHECKING:
    from ...network import RoadNetwork

__all__ = ["NTCIP_FORMAT", "NTCIP_OBJECTS", "OFFSET_REFERENCE", "ntcip_dict", "write_ntcip_json"]

NTCIP_FORMAT = "citybrain.ntcip1202"
_PHASE_ENTRY = "1.3.6.1.4.1.1206.4.2.1.1.2.1"

#: Reference point of ``patternOffsetTime`` in this export.
OFFSET_REFERENCE = ("patternOffsetTime is how many seconds the local cycle zero lags the system cycle zero "
                    "(cycles counted from local midnight, simulation time 0); the local cycle zero is the start of "
                    "green of the phase with splitCoordPhase true. Controllers that reference the offset to another "
                    "point (end of coordinated green, start of yellow) need it shifted by that phase's green or split.")

#: Every object written: table, units and meaning (``oid``: the phaseEntry column, where fixed).
NTCIP_OBJECTS: dict[str, dict] = {
    "phaseNumber": {"table": "phaseTable", "units": "", "oid": f"{_PHASE_ENTRY}.1",
                    "description": "Phase number, 1..n in the plan's order (as in timing.csv and events.csv)."},
    "phaseWalk": {"table": "phaseTable", "units": "s", "oid": f"{_PHASE_ENTRY}.2",
                  "description": "Walk: seconds the crossings this phase serves show walk; 0 where none."},
    "phasePedestrianClear": {"table": "phaseTable", "units": "s", "oid": f"{_PHASE_ENTRY}.3",
                             "description": "Pedestrian clearance (flashing don't walk) after the walk."},
    "phaseMinimumGreen": {"table": "phaseTable", "units": "s", "oid": f"{_PHASE_ENTRY}.4",
                          "description": "Minimum green: the plan's, else the fixed green (pretimed)."},
    "phaseMaximum1": {"table": "phaseTable", "units": "s", "oid": f"{_PHASE_ENTRY}.6",
                      "description": "Maximum green: the plan's, else the longest green any pattern gives."},
    "phaseYellowChange": {"table": "phaseTable", "units": "0.1 s", "oid": f"{_PHASE_ENTRY}.8",
                          "description": "Yellow change interval, never shorter than the plan's."},
    "phaseRedClear": {"table": "phaseTable", "units": "0.1 s", "oid": f"{_PHASE_ENTRY}.9",
                      "description": "Red clearance (all-red) after the yellow, never shorter than the plan's."},
    "phaseRing": {"table": "phaseTable", "units": "",
                  "description": "Ring of the phase: 1 (the plan's phases run one after another)."},
    "sequenceNumber": {"table": "sequenceTable", "units": "", "description": "Sequence plan number (= pattern)."},
    "sequenceRingNumber": {"table": "sequenceTable", "units": "", "description": "Ring the sequence is for: 1."},
    "sequenceData": {"table": "sequenceTable", "units": "",
                     "description": "Phase numbers in the order they run (one octet each when SET)."},
    "splitNumber": {"table": "splitTable", "units": "", "description": "Split plan number (= pattern)."},
    "splitPhase": {"table": "splitTable", "units": "", "description": "Phase the row is for."},
    "splitTime": {"table": "splitTable", "units": "s",
                  "description": "Green + yellow + red clearance of the phase; a pattern's splits sum to its cycle."},
    "splitMode": {"table": "splitTable", "units": "enum",
                  "description": "4 maximumVehicleRecall (fixed time); 6 maximumVehicleAndPedestrianRecall where the "
                                 "phase has a walk; 7 phaseOmitted for a controller phase this pattern does not use."},
    "splitCoordPhase": {"table": "splitTable", "units": "boolean",
                        "description": "True for the coordinated phase: the plan's reference phase."},
    "patternNumber": {"table": "patternTable", "units": "", "description": "Pattern number: the period, 1..P."},
    "patternCycleTime": {"table": "patternTable", "units": "s", "description": "Cycle length (integer)."},
    "patternOffsetTime": {"table": "patternTable", "units": "s", "description": OFFSET_REFERENCE},
    "patternSplitNumber": {"table": "patternTable", "units": "", "description": "Split plan of the pattern."},
    "patternSequenceNumber": {"table": "patternTable", "units": "", "description": "Sequence of the pattern."},
    "coordOperationalMode": {"table": "coord", "units": "enum",
                             "description": "0 automatic: the time base (day plan) picks the pattern."},
    "coordCorrectionMode": {"table": "coord", "units": "enum",
                            "description": "3 shortway: offset changes by shortening or lengthening splits."},
    "coordMaximumMode": {"table": "coord", "units": "enum", "description": "2 maximum1 while coordinated."},
    "coordForceMode": {"table": "coord", "units": "enum",
                       "description": "3 fixed: each phase is forced off at its fixed place in the cycle."},
    "timebaseAscActionNumber": {"table": "timebaseAscActionTable", "units": "",
                                "description": "Action number (= pattern)."},
    "timebaseAscPattern": {"table": "timebaseAscActionTable", "units": "",
                           "description": "Pattern the action runs; 254 (free) in a period with no plan for the light."},
    "dayPlanNumber": {"table": "timeBaseDayPlanTable (NTCIP 1201)", "units": "", "description": "Day plan: 1."},
    "dayPlanEventNumber": {"table": "timeBaseDayPlanTable (NTCIP 1201)", "units": "", "description": "Event 1..E."},
    "dayPlanHour": {"table": "timeBaseDayPlanTable (NTCIP 1201)", "units": "h", "description": "Event start hour."},
    "dayPlanMinute": {"table": "timeBaseDayPlanTable (NTCIP 1201)", "units": "min", "description": "Event minute."},
    "dayPlanActionNumberOID": {"table": "timeBaseDayPlanTable (NTCIP 1201)", "units": "OID",
                               "description": "The action run from the event: timebaseAscActionNumber.k."},
    "timeBaseScheduleNumber": {"table": "timeBaseScheduleTable (NTCIP 1201)", "units": "", "description": "1."},
    "timeBaseScheduleMonth": {"table": "timeBaseScheduleTable (NTCIP 1201)", "units": "bits",
                              "description": "Months the schedule runs: bits 1-12, all (8190)."},
    "timeBaseScheduleDay": {"table": "timeBaseScheduleTable (NTCIP 1201)", "units": "bits",
                            "description": "Days of the week: bits 1-7, all (254)."},
    "timeBaseScheduleDate": {"table": "timeBaseScheduleTable (NTCIP 1201)", "units": "bits",
                             "description": "Days of the month: bits 1-31, all (4294967294)."},
    "timeBaseScheduleDayPlan": {"table": "timeBaseScheduleTable (NTCIP 1201)", "units": "",
                                "description": "Day plan the schedule runs: 1."},
}

_ALL_MONTHS, _ALL_DAYS, _ALL_DATES = 0b1_1111_1111_1110, 0b1111_1110, 0xFFFF_FFFE


def ntcip_dict(plan: NetworkPlan, network: RoadNetwork) -> dict:
    """The export as a JSON-ready dict (layout in the module docstring).

    Raises
    ------
    ValidationError
        If the plan does not fit the network or a schedule entry does not start on a whole
        minute (day plan events are set in hours and minutes).
    """
    require_plan_fits(plan, network)
    events = _day_plan(plan)
    patterns = {period.name: k for k, period in enumerate(plan.periods, start=1)}
    controllers = []
    for tls in plan.tls_ids:
        controllers.append(_controller(plan, network, tls, patterns, events))
    return {"format": NTCIP_FORMAT, "version": 1,
            "standard": "NTCIP 1202 (ASC) phase, sequence, split, pattern, coord and time-base tables; "
                        "NTCIP 1201 day plan and schedule",
            "offset_reference": OFFSET_REFERENCE, "objects": NTCIP_OBJECTS, "controllers": controllers}


def write_ntcip_json(plan: NetworkPlan, network: RoadNetwork, path: str | Path) -> Path:
    """Write :func:`ntcip_dict` as indented JSON; return the path.

    Raises
    ------
    ValidationError
        As :func:`ntcip_dict`; nothing is written then.
    """
    data = ntcip_dict(plan, network)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    return path


def _day_plan(plan: NetworkPlan) -> list[tuple[int, int, str]]:
    """Day plan events ``(hour, minute, period)``: the schedule, starting at midnight."""
    bad = [f"schedule[{i}] starts {e.start_s:g} s after midnight" for i, e in enumerate(plan.schedule)
           if e.start_s % 60]
    if bad:
        msg = f"NTCIP day plan events start on whole minutes; {'; '.join(bad)}"
        raise ValidationError(msg)
    entries = [(int(e.start_s), e.period) for e in plan.schedule] or [(0, plan.periods[0].name)]
    if entries[0][0] > 0:
        entries.insert(0, (0, plan.period_at(0.0).name))
    return [(s // 3600, (s % 3600) // 60, name) for s, name in entries if s < DAY_S]


def _controller(plan: NetworkPlan, network: RoadNetwork, tls: str, patterns: dict[str, int], events) -> dict:
    """The tables of one light over every period that has a plan for it."""
    states: list[str] = []
    phase_rows: dict[str, dict] = {}
    per_period = []
    for period in plan.periods:
        signal_plan = period.by_tls.get(tls)
        if signal_plan is None:
            continue
        sheet = controller_timing(signal_plan, network)
        per_period.append((period.name, signal_plan, sheet))
        for p, ph in zip(signal_plan.phases, sheet.phases, strict=True):
            if p.state not in phase_rows:
                states.append(p.state)
                phase_rows[p.state] = {"walk": 0, "ped": 0, "yellow": 0, "red": 0, "min": None, "max": 0,
                                       "name": ph.name, "greens": []}
            row = phase_rows[p.state]
            row["walk"], row["ped"] = max(row["walk"], ph.walk_s), max(row["ped"], ph.ped_clearance_s)
            row["yellow"], row["red"] = max(row["yellow"], ph.yellow_s), max(row["red"], ph.all_red_s)
            minimum = ph.min_green_s if ph.min_green_s is not None else ph.green_s
            row["min"] = minimum if row["min"] is None else min(row["min"], minimum)
            row["max"] = max(row["max"], ph.max_green_s or 0, ph.green_s)
    number = {s: k for k, s in enumerate(states, start=1)}
    short = [f"phase {number[s]} {r['yellow']} s" for s, r in phase_rows.items() if not 3 <= r["yellow"] <= 25]
    if short:
        msg = (f"tls {tls!r}: NTCIP phaseYellowChange is 3.0-25.5 s, got yellow {', '.join(short)} "
               "(give the plan clearances first: citybrain optimise, or apply_clearances)")
        raise ValidationError(msg)
    phase_table = [{"phaseNumber": number[s], "phaseWalk": r["walk"], "phasePedestrianClear": r["ped"],
                    "phaseMinimumGreen": r["min"], "phaseMaximum1": r["max"], "phaseYellowChange": 10 * r["yellow"],
                    "phaseRedClear": 10 * r["red"], "phaseRing": 1} for s, r in phase_rows.items()]
    sequences, splits, pattern_rows, actions = [], [], [], []
    for name, signal_plan, sheet in per_period:
        k = patterns[name]
        used = [number[p.state] for p in signal_plan.phases]
        sequences.append({"sequenceNumber": k, "sequenceRingNumber": 1, "sequenceData": used})
        by_number = {number[p.state]: (p, ph, i) for i, (p, ph) in enumerate(zip(signal_plan.phases, sheet.phases))}
        for n in range(1, len(states) + 1):
            if n not in by_number:
                splits.append({"splitNumber": k, "splitPhase": n, "splitTime": 0, "splitMode": 7,
                               "splitCoordPhase": False})
                continue
            _, ph, i = by_number[n]
            mode = 6 if ph.walk_s > 0 else 4
            splits.append({"splitNumber": k, "splitPhase": n, "splitTime": ph.split_s, "splitMode": mode,
                           "splitCoordPhase": i == signal_plan.reference_phase})
        pattern_rows.append({"patternNumber": k, "patternCycleTime": sheet.cycle_s,
                             "patternOffsetTime": sheet.offset_s, "patternSplitNumber": k, "patternSequenceNumber": k})
        actions.append({"timebaseAscActionNumber": k, "timebaseAscPattern": k})
    for period in plan.periods:
        if tls not in period.by_tls:  # no plan for this light then: it runs free
            actions.append({"timebaseAscActionNumber": patterns[period.name], "timebaseAscPattern": 254})
    actions.sort(key=lambda a: a["timebaseAscActionNumber"])
    day_plan = [{"dayPlanNumber": 1, "dayPlanEventNumber": e, "dayPlanHour": h, "dayPlanMinute": m,
                 "dayPlanActionNumberOID": f"timebaseAscActionNumber.{patterns[name]}"}
                for e, (h, m, name) in enumerate(events, start=1)]
    return {"tls": tls, "junctions": list(network.programs[tls].junctions),
            "phase_names": {str(number[s]): r["name"] for s, r in phase_rows.items()},
            "phaseTable": phase_table, "sequenceTable": sequences, "splitTable": splits,
            "patternTable": pattern_rows,
            "coord": {"coordOperationalMode": 0, "coordCorrectionMode": 3, "coordMaximumMode": 2, "coordForceMode": 3},
            "timebaseAscActionTable": actions, "timeBaseDayPlanTable": day_plan,
            "timeBaseScheduleTable": [{"timeBaseScheduleNumber": 1, "timeBaseScheduleMonth": _ALL_MONTHS,
                                       "timeBaseScheduleDay": _ALL_DAYS, "timeBaseScheduleDate": _ALL_DATES,
                                       "timeBaseScheduleDayPlan": 1}]}
