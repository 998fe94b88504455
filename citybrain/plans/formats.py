"""Plan formats: a versioned JSON schema and SUMO ``tlLogic`` additional files, both ways.

JSON schema (``"schema": "citybrain.plans"``, ``"version": 1``)::

    {
      "schema": "citybrain.plans",
      "version": 1,
      "meta": {...},                          # free provenance
      "schedule": [                           # optional; empty = first period all day
        {"start": "07:00", "period": "am"}    # start as HH:MM[:SS] or seconds after midnight
      ],
      "periods": [
        {"name": "am",
         "plans": [
           {"tls": "A0", "junctions": ["A0"], "program_id": "am", "method": "webster",
            "cycle_s": 90.0, "offset_s": 12.0, "reference_phase": 0,
            "phases": [
              {"state": "GGGgrrrrGGGgrrrr",   # green state: one SUMO character per link index
               "green_s": 40.0, "yellow_s": 3.5, "all_red_s": 1.5,
               "min_green_s": 5.0, "max_green_s": null,
               "walk_s": 0.0, "ped_clearance_s": 0.0,
               "name": "", "program_phase": 0,
               "protected": ["A0:A1A0->A0bottom0", ...],   # informative
               "permissive": ["A0:A1A0->A0B0"]}
            ]}
         ]}
      ]
    }

Seconds everywhere (``_s``). Readers collect every problem before raising one
:class:`~citybrain.exceptions.ValidationError`.

SUMO: :func:`write_sumo_additional` writes one ``tlLogic`` per light and period (``programID``
= period name) with the yellow and all-red states SUMO needs (:func:`~citybrain.plans.model.transition_states`)
and, for a schedule, a ``WAUT`` switching programs by time of day.
:func:`read_sumo_additional` and :func:`plans_from_network` turn SUMO programs back into plans:
a phase with yellow (``y``) ends the green before it, a phase with no green and no yellow is
all-red, and a green phase that only takes green away from pedestrian crossings is the
clearance part of the phase before it.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from ..exceptions import ValidationError
from .model import (
    DAY_S,
    GREEN,
    NetworkPlan,
    PlanPeriod,
    PlanPhase,
    ScheduleEntry,
    SignalPlan,
    phase_movements,
    transition_states,
)

if TYPE_CHECKING:
    from ..network import RoadNetwork

__all__ = [
    "SCHEMA",
    "SCHEMA_VERSION",
    "plans_to_dict",
    "plans_from_dict",
    "write_plans_json",
    "read_plans_json",
    "plan_from_program",
    "plans_from_network",
    "sumo_phases",
    "YELLOW_NAME",
    "ALL_RED_NAME",
    "write_sumo_additional",
    "read_sumo_additional",
    "read_plans",
]

SCHEMA = "citybrain.plans"
SCHEMA_VERSION = 1


# -- JSON ------------------------------------------------------------------------------
#: SUMO phase names of the transitions :func:`sumo_phases` writes.
YELLOW_NAME = "yellow"
ALL_RED_NAME = "all-red"


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}" + (f":{s % 60:02d}" if s % 60 else "")


def _parse_clock(value, where: str, problems: list[str]) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        parts = value.split(":")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            nums = []
        if 2 <= len(nums) <= 3 and all(n >= 0 for n in nums):
            h, m, s = (nums + [0])[:3]
            return float(h * 3600 + m * 60 + s)
    problems.append(f"{where}: expected HH:MM[:SS] or seconds after midnight, got {value!r}.")
    return 0.0


def plans_to_dict(plan: NetworkPlan) -> dict:
    """Return the JSON-ready dict of a network plan (schema in the module docstring)."""
    return {
        "schema": SCHEMA,
        "version": SCHEMA_VERSION,
        "meta": plan.meta,
        "schedule": [{"start": _clock(e.start_s), "period": e.period} for e in plan.schedule],
        "periods": [
            {
                "name": period.name,
                "plans": [
                    {
                        "tls": p.tls,
                        "junctions": list(p.junctions),
                        "program_id": p.program_id,
                        "method": p.method,
                        "cycle_s": p.cycle_s,
                        "offset_s": p.offset_s,
                        "reference_phase": p.reference_phase,
                        "crossing_links": list(p.crossing_links),
                        "phases": [
                            {
                                "state": ph.state,
                                "green_s": ph.green_s,
                                "yellow_s": ph.yellow_s,
                                "all_red_s": ph.all_red_s,
                                "min_green_s": ph.min_green_s,
                                "max_green_s": ph.max_green_s,
                                "walk_s": ph.walk_s,
                                "ped_clearance_s": ph.ped_clearance_s,
                                "name": ph.name,
                                "program_phase": ph.program_phase,
                                "protected": list(ph.protected),
                                "permissive": list(ph.permissive),
                            }
                            for ph in p.phases
                        ],
                    }
                    for p in period.plans
                ],
            }
            for period in plan.periods
        ],
    }


_PHASE_NUMBERS = ("green_s", "yellow_s", "all_red_s", "walk_s", "ped_clearance_s")


def _number(obj: dict, key: str, where: str, problems: list[str], *, default=None, optional=False):
    value = obj.get(key, default)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        problems.append(f"{where}.{key}: expected a finite number, got {value!r}.")
        return 0.0
    return float(value)


def plans_from_dict(data: dict, *, source: str = "plan") -> NetworkPlan:
    """Build a :class:`NetworkPlan` from its JSON dict, checking the schema.

    Raises
    ------
    ValidationError
        Listing every schema problem (wrong schema name or version, missing or mistyped
        fields).
    """
    problems: list[str] = []
    if not isinstance(data, dict):
        msg = f"{source}: expected a JSON object with schema {SCHEMA!r}, got {type(data).__name__}."
        raise ValidationError(msg)
    if data.get("schema") != SCHEMA:
        problems.append(f"{source}.schema: expected {SCHEMA!r}, got {data.get('schema')!r}.")
    if data.get("version") != SCHEMA_VERSION:
        problems.append(f"{source}.version: expected {SCHEMA_VERSION}, got {data.get('version')!r}.")
    periods = []
    raw_periods = data.get("periods")
    if not isinstance(raw_periods, list) or not raw_periods:
        problems.append(f"{source}.periods: expected a non-empty list, got {raw_periods!r}.")
        raw_periods = []
    for i, rp in enumerate(raw_periods):
        where = f"{source}.periods[{i}]"
        if not isinstance(rp, dict):
            problems.append(f"{where}: expected an object, got {rp!r}.")
            continue
        name = rp.get("name")
        if not isinstance(name, str) or not name:
            problems.append(f"{where}.name: expected a non-empty string, got {name!r}.")
            name = f"period{i}"
        plans = []
        for k, rplan in enumerate(rp.get("plans") if isinstance(rp.get("plans"), list) else []):
            plan = _plan_from_dict(rplan, f"{where}.plans[{k}]", problems)
            if plan is not None:
                plans.append(plan)
        if not isinstance(rp.get("plans"), list):
            problems.append(f"{where}.plans: expected a list, got {rp.get('plans')!r}.")
        periods.append(PlanPeriod(name, tuple(plans)))
    schedule = []
    raw_schedule = data.get("schedule", [])
    if not isinstance(raw_schedule, list):
        problems.append(f"{source}.schedule: expected a list, got {raw_schedule!r}.")
        raw_schedule = []
    for i, e in enumerate(raw_schedule):
        where = f"{source}.schedule[{i}]"
        if not isinstance(e, dict) or not isinstance(e.get("period"), str):
            problems.append(f"{where}: expected {{start, period}}, got {e!r}.")
            continue
        schedule.append(ScheduleEntry(_parse_clock(e.get("start"), f"{where}.start", problems), e["period"]))
    if problems:
        msg = f"{source}: {len(problems)} problem(s) in the plan file:\n" + "\n".join(problems)
        raise ValidationError(msg, problems)
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return NetworkPlan(tuple(periods), tuple(schedule), meta)


def _plan_from_dict(rp, where: str, problems: list[str]) -> SignalPlan | None:
    if not isinstance(rp, dict):
        problems.append(f"{where}: expected an object, got {rp!r}.")
        return None
    tls = rp.get("tls")
    if not isinstance(tls, str) or not tls:
        problems.append(f"{where}.tls: expected a traffic-light id, got {tls!r}.")
    phases = []
    raw = rp.get("phases")
    if not isinstance(raw, list) or not raw:
        problems.append(f"{where}.phases: expected a non-empty list, got {raw!r}.")
        raw = []
    for k, ph in enumerate(raw):
        pw = f"{where}.phases[{k}]"
        if not isinstance(ph, dict):
            problems.append(f"{pw}: expected an object, got {ph!r}.")
            continue
        state = ph.get("state")
        if not isinstance(state, str) or not state:
            problems.append(f"{pw}.state: expected a SUMO state string, got {state!r}.")
            state = "r"
        nums = {key: _number(ph, key, pw, problems, default=0.0 if key != "green_s" else None) for key in _PHASE_NUMBERS}
        program_phase = ph.get("program_phase")
        if program_phase is not None and (isinstance(program_phase, bool) or not isinstance(program_phase, int)):
            problems.append(f"{pw}.program_phase: expected an integer or null, got {program_phase!r}.")
            program_phase = None
        phases.append(
            PlanPhase(
                state=state,
                min_green_s=_number(ph, "min_green_s", pw, problems, optional=True),
                max_green_s=_number(ph, "max_green_s", pw, problems, optional=True),
                name=str(ph.get("name", "")),
                protected=tuple(ph.get("protected", ())),
                permissive=tuple(ph.get("permissive", ())),
                program_phase=program_phase,
                **nums,
            )
        )
    junctions = rp.get("junctions", [tls])
    if not isinstance(junctions, list):
        problems.append(f"{where}.junctions: expected a list of junction ids, got {junctions!r}.")
        junctions = []
    ref = rp.get("reference_phase", 0)
    if isinstance(ref, bool) or not isinstance(ref, int):
        problems.append(f"{where}.reference_phase: expected an integer, got {ref!r}.")
        ref = 0
    crossing = rp.get("crossing_links", [])
    if not (isinstance(crossing, list) and all(isinstance(c, int) and not isinstance(c, bool) for c in crossing)):
        problems.append(f"{where}.crossing_links: expected a list of link indices, got {crossing!r}.")
        crossing = []
    return SignalPlan(
        crossing_links=tuple(crossing),
        tls=str(tls),
        junctions=tuple(str(j) for j in junctions),
        cycle_s=_number(rp, "cycle_s", where, problems),
        offset_s=_number(rp, "offset_s", where, problems, default=0.0),
        phases=tuple(phases),
        reference_phase=ref,
        program_id=str(rp.get("program_id", "citybrain")),
        method=str(rp.get("method", "")),
    )


def write_plans_json(plan: NetworkPlan, path: str | Path) -> Path:
    """Write a network plan as JSON (schema in the module docstring); return the path."""
    path = Path(path)
    path.write_text(json.dumps(plans_to_dict(plan), indent=2) + "\n")
    return path


def read_plans_json(path: str | Path) -> NetworkPlan:
    """Read a network plan from JSON.

    Raises
    ------
    ValidationError
        If the file is unreadable, not JSON, or breaks the schema (every problem listed).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a readable JSON plan file ({exc})."
        raise ValidationError(msg) from exc
    return plans_from_dict(data, source=str(path))


# -- SUMO programs -> plans ------------------------------------------------------------
def plan_from_program(phases, *, tls: str, junctions=(), offset_s: float = 0.0, program_id: str = "",
                      network: RoadNetwork | None = None, method: str = "network") -> SignalPlan:
    """Turn a SUMO program (a sequence of ``ProgramPhase``-like objects) into a plan.

    Each phase needs ``state``, ``duration_s`` and optionally ``min_dur_s``/``max_dur_s`` and
    ``name``. A phase containing ``y`` (or named :data:`YELLOW_NAME`) adds its duration to the
    yellow of the green before it; a phase with neither green nor yellow (or named
    :data:`ALL_RED_NAME`: the clearance of a transition in which a link stays green, as
    :func:`sumo_phases` writes it) adds to its all-red; a green phase that only removes green
    from crossings (``network`` needed to know them) extends the phase before it as
    pedestrian clearance. A leading transition is moved to the end of the cycle.

    Returns
    -------
    SignalPlan
        Its ``offset_s`` keeps SUMO's meaning: the reference phase is the first green
        phase, starting at SUMO program time equal to the transitions moved to the end.
    """
    phases = list(phases)
    crossings: set[int] = set()
    if network is not None and tls in network.programs:
        for link in network.programs[tls].links:
            if network.movements[link.movement].turn == "crossing":
                crossings.add(link.index)
    # rotate so the program starts with a green phase
    lead = 0
    while lead < len(phases) and not any(c in GREEN for c in phases[lead].state):
        lead += 1
    lead_s = sum(p.duration_s for p in phases[:lead]) if lead < len(phases) else 0.0
    if lead == len(phases):
        lead = 0
    ordered = [(i, phases[i]) for i in list(range(lead, len(phases))) + list(range(lead))]
    out: list[dict] = []
    for i, p in ordered:
        has_green = any(c in GREEN for c in p.state)
        name = getattr(p, "name", "") or ""
        if out and ("y" in p.state or name == YELLOW_NAME):
            out[-1]["yellow_s"] += p.duration_s
            continue
        if out and (not has_green or name == ALL_RED_NAME):
            out[-1]["all_red_s"] += p.duration_s
            continue
        if out and out[-1]["yellow_s"] == 0 and out[-1]["all_red_s"] == 0 and crossings:
            prev = out[-1]
            lost = {k for k, c in enumerate(prev["state"]) if c in GREEN} - {k for k, c in enumerate(p.state) if c in GREEN}
            gained = {k for k, c in enumerate(p.state) if c in GREEN} - {k for k, c in enumerate(prev["state"]) if c in GREEN}
            if lost and lost <= crossings and not gained and prev["ped_clearance_s"] == 0:
                prev["walk_s"] = prev["green_s"]
                prev["ped_clearance_s"] = p.duration_s
                prev["green_s"] += p.duration_s
                continue
        out.append({
            "state": p.state, "green_s": p.duration_s, "yellow_s": 0.0, "all_red_s": 0.0,
            "walk_s": 0.0, "ped_clearance_s": 0.0, "min_green_s": getattr(p, "min_dur_s", None),
            "max_green_s": getattr(p, "max_dur_s", None), "name": getattr(p, "name", "") or "",
            "program_phase": i,
        })
    plan_phases = []
    for d in out:
        # the crossing links' green state: crossings green for the walk only
        state = d["state"]
        if d["walk_s"] == 0 and crossings and any(state[k] in GREEN for k in crossings if k < len(state)):
            d["walk_s"] = d["green_s"]
        prot, perm = phase_movements(state, network, tls) if network is not None and tls in network.programs else ((), ())
        plan_phases.append(PlanPhase(protected=prot, permissive=perm, **d))
    cycle = float(sum(p.duration_s for p in phases))
    offset = (offset_s + lead_s) % cycle if cycle > 0 else 0.0
    return SignalPlan(tls=tls, junctions=tuple(junctions), cycle_s=cycle, offset_s=float(offset),
                      phases=tuple(plan_phases), reference_phase=0, program_id=program_id or "citybrain",
                      method=method, crossing_links=tuple(sorted(crossings)))


def plans_from_network(network: RoadNetwork, *, name: str = "network") -> NetworkPlan:
    """The network's own programs as a one-period :class:`NetworkPlan` (``method="network"``)."""
    plans = [
        plan_from_program(prog.phases, tls=tls, junctions=prog.junctions, offset_s=prog.offset_s,
                          program_id=prog.program_id, network=network)
        for tls, prog in sorted(network.programs.items())
    ]
    return NetworkPlan.single(plans, name=name, meta={"source": str(network.path), "method": "network"})


# -- plans -> SUMO ---------------------------------------------------------------------
def sumo_phases(plan: SignalPlan) -> list[tuple[float, str, str]]:
    """The SUMO phases of a plan: ``(duration_s, state, name)``, transitions included.

    A phase with pedestrian walk shorter than its green is split in two: crossings green
    for the walk, then red (clearance) while vehicles keep green. Transition phases are
    named :data:`YELLOW_NAME` and :data:`ALL_RED_NAME`, so that reading the program back
    tells an all-red in which some link stays green from a short green phase.
    """
    out = []
    n = len(plan.phases)
    for k, p in enumerate(plan.phases):
        nxt = plan.phases[(k + 1) % n]
        if 0 < p.walk_s < p.green_s:
            out.append((p.walk_s, p.state, p.name))
            crossing_red = "".join(
                "r" if (c in GREEN and nxt.state[i] not in GREEN and i in plan.crossing_links) else c
                for i, c in enumerate(p.state)
            )
            out.append((p.green_s - p.walk_s, crossing_red, p.name))
            current = crossing_red
        else:
            out.append((p.green_s, p.state, p.name))
            current = p.state
        yellow, red = transition_states(current, nxt.state)
        if p.yellow_s > 0:
            out.append((p.yellow_s, yellow, YELLOW_NAME))
        if p.all_red_s > 0:
            out.append((p.all_red_s, red, ALL_RED_NAME))
    return out


def write_sumo_additional(plan: NetworkPlan, path: str | Path, *, network: RoadNetwork | None = None,
                          program_id: str | None = None) -> Path:
    """Write a network plan as a SUMO additional file of ``tlLogic`` elements (and a WAUT).

    Parameters
    ----------
    plan
        The plans; each period becomes one ``tlLogic`` per light with ``programID`` = the
        period name.
    path
        Output file.
    network
        Unused; kept for symmetry with :func:`read_sumo_additional`.
    program_id
        ``programID`` for every light of a one-period plan (default: each plan's own);
        SUMO rejects a second program with the id of one in the network (``"0"``).

    Returns
    -------
    pathlib.Path
    """
    path = Path(path)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<additional>"]
    multi = len(plan.periods) > 1
    for period in plan.periods:
        for p in period.plans:
            program_id = period.name if multi else (program_id or p.program_id)
            lines.append(
                f"    <tlLogic id={quoteattr(p.tls)} type=\"static\" programID={quoteattr(program_id)} "
                f"offset=\"{_fmt(p.sumo_offset_s())}\">"
            )
            for duration, state, name in sumo_phases(p):
                extra = f" name={quoteattr(name)}" if name else ""
                lines.append(f"        <phase duration=\"{_fmt(duration)}\" state=\"{state}\"{extra}/>")
            lines.append("    </tlLogic>")
    if multi and plan.schedule:
        first = plan.period_at(0.0).name
        lines.append(f"    <WAUT id=\"citybrain_schedule\" refTime=\"0\" startProg={quoteattr(first)}>")
        for e in plan.schedule:
            lines.append(f"        <wautSwitch time=\"{_fmt(e.start_s)}\" to={quoteattr(e.period)}/>")
        lines.append("    </WAUT>")
        for tls in plan.tls_ids:
            lines.append(f"    <wautJunction wautID=\"citybrain_schedule\" junctionID={quoteattr(tls)}/>")
    lines.append("</additional>")
    path.write_text("\n".join(lines) + "\n")
    return path


def _fmt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".") or "0"


def read_sumo_additional(path: str | Path, *, network: RoadNetwork | None = None) -> NetworkPlan:
    """Read the ``tlLogic`` elements (and WAUT schedule) of a SUMO additional or network file.

    Several programs of one light become periods named by ``programID``.

    Raises
    ------
    ValidationError
        If the file is not XML, has no ``tlLogic``, or a phase lacks a duration or state.
    """
    from types import SimpleNamespace

    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        msg = f"{path}: not a readable XML file ({exc})."
        raise ValidationError(msg) from exc
    problems: list[str] = []
    by_period: dict[str, list[SignalPlan]] = {}
    for k, el in enumerate(root.iter("tlLogic")):
        tls = el.get("id")
        pid = el.get("programID", "0")
        where = f"{path}: tlLogic[{k}] id={tls!r}"
        phases = []
        for i, ph in enumerate(el.iter("phase")):
            try:
                d = float(ph.get("duration"))
                state = ph.get("state")
                if not state:
                    raise ValueError("no state")
            except (TypeError, ValueError):
                problems.append(f"{where} phase[{i}]: expected duration (s) and state, got {dict(ph.attrib)}.")
                continue
            phases.append(SimpleNamespace(duration_s=d, state=state, min_dur_s=_opt(ph.get("minDur")),
                                          max_dur_s=_opt(ph.get("maxDur")), name=ph.get("name", "")))
        if not phases:
            problems.append(f"{where}: expected at least one <phase>, got none.")
            continue
        try:
            offset = float(el.get("offset", "0"))
        except ValueError:
            problems.append(f"{where}: offset must be a number, got {el.get('offset')!r}.")
            offset = 0.0
        junctions = network.programs[tls].junctions if network is not None and tls in network.programs else (tls,)
        by_period.setdefault(pid, []).append(
            plan_from_program(phases, tls=tls, junctions=junctions, offset_s=offset, program_id=pid,
                              network=network, method="sumo")
        )
    if not by_period and not problems:
        problems.append(f"{path}: expected <tlLogic> elements, found none.")
    if problems:
        msg = f"{path}: {len(problems)} problem(s) in the SUMO programs:\n" + "\n".join(problems)
        raise ValidationError(msg, problems)
    schedule = []
    waut = root.find("WAUT")
    if waut is not None and len(by_period) > 1:
        for sw in waut.iter("wautSwitch"):
            if sw.get("to") in by_period:
                schedule.append(ScheduleEntry(float(sw.get("time", "0")) % DAY_S, sw.get("to")))
        schedule.sort(key=lambda e: e.start_s)
    periods = tuple(PlanPeriod(name, tuple(sorted(plans, key=lambda p: p.tls))) for name, plans in by_period.items())
    return NetworkPlan(periods, tuple(schedule), {"source": str(path)})


def _opt(v):
    return None if v is None else float(v)


def read_plans(path: str | Path, *, network: RoadNetwork | None = None) -> NetworkPlan:
    """Read a plan file: JSON (by content) or a SUMO additional/network XML file.

    Raises
    ------
    ValidationError
        If the file is missing or in neither format.
    """
    path = Path(path)
    if not path.is_file():
        msg = f"{path}: no such plan file."
        raise ValidationError(msg)
    head = path.read_bytes()[:200].lstrip()
    if head.startswith(b"<"):
        return read_sumo_additional(path, network=network)
    return read_plans_json(path)
