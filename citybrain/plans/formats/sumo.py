"""SUMO ``tlLogic`` additional files and SUMO programs, as plans and back.

:func:`write_sumo_additional` writes one ``tlLogic`` per light and period (``programID``
= period name) with the yellow and all-red states SUMO needs (:func:`~citybrain.plans.model.transition_states`)
and, for a schedule, a ``WAUT`` switching programs by time of day.
:func:`read_sumo_additional` and :func:`plans_from_network` turn SUMO programs back into plans:
a phase with yellow (``y``) ends the green before it, a phase with no green and no yellow is
all-red, and a green phase that only takes green away from pedestrian crossings is the
clearance part of the phase before it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from ..._validate import Problems
from ...exceptions import ValidationError
from ...network.model import ProgramPhase, SignalProgram
from ..model import (
    DAY_S,
    GREEN,
    NetworkPlan,
    PlanPeriod,
    PlanPhase,
    ScheduleEntry,
    SignalPlan,
    network_plan_problems,
    phase_movements,
    transition_states,
)

if TYPE_CHECKING:
    from ...network import RoadNetwork

__all__ = [
    "plan_from_program",
    "plans_from_network",
    "sumo_phases",
    "phase_program_indices",
    "plan_program",
    "YELLOW_NAME",
    "ALL_RED_NAME",
    "write_sumo_additional",
    "read_sumo_additional",
]

#: SUMO phase names of the transitions :func:`sumo_phases` writes.
YELLOW_NAME = "yellow"
ALL_RED_NAME = "all-red"


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


def phase_program_indices(plan: SignalPlan) -> tuple[int, ...]:
    """Per plan phase, the index of the SUMO phase that starts it in :func:`sumo_phases`."""
    out, index = [], 0
    for ph in plan.phases:
        out.append(index)
        index += (2 if 0 < ph.walk_s < ph.green_s else 1) + (ph.yellow_s > 0) + (ph.all_red_s > 0)
    return tuple(out)


def plan_program(plan: SignalPlan, like: SignalProgram) -> SignalProgram:
    """The plan as its light's SUMO program: :func:`sumo_phases` (what ``plan.add.xml`` holds).

    ``like`` is the light's program in the network, for its links and junctions. The first
    green part of each plan phase carries the phase's minimum and maximum green.
    """
    firsts = dict(zip(phase_program_indices(plan), plan.phases, strict=True))
    phases = []
    for i, (duration, state, name) in enumerate(sumo_phases(plan)):
        ph = firsts.get(i)
        phases.append(ProgramPhase(duration, state, ph.min_green_s if ph else None, ph.max_green_s if ph else None, name))
    return SignalProgram(tls=like.tls, program_id=plan.program_id, type="static", offset_s=plan.sumo_offset_s(),
                         junctions=like.junctions, phases=tuple(phases), links=like.links)


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
        If the file is not XML, has no ``tlLogic``, or a phase lacks a duration or state
        (every problem listed).
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        msg = f"{path}: not a readable XML file ({exc})."
        raise ValidationError(msg) from exc
    problems = Problems(path)
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
                phases.append(SimpleNamespace(duration_s=d, state=state, min_dur_s=_opt(ph.get("minDur")),
                                              max_dur_s=_opt(ph.get("maxDur")), name=ph.get("name", "")))
            except (TypeError, ValueError):
                problems.add(f"{where} phase[{i}]: expected duration (s) and state (and numeric minDur/maxDur "
                             f"where given), got {dict(ph.attrib)}.")
        if not phases:
            problems.add(f"{where}: expected at least one <phase>, got none.")
            continue
        try:
            offset = float(el.get("offset", "0"))
        except ValueError:
            problems.add(f"{where}: offset must be a number, got {el.get('offset')!r}.")
            offset = 0.0
        junctions = network.programs[tls].junctions if network is not None and tls in network.programs else (tls,)
        by_period.setdefault(pid, []).append(
            plan_from_program(phases, tls=tls, junctions=junctions, offset_s=offset, program_id=pid,
                              network=network, method="sumo")
        )
    if not by_period and not problems:
        problems.add(f"{path}: expected <tlLogic> elements, found none.")
    schedule = []
    waut = root.find("WAUT")
    if waut is not None and len(by_period) > 1:
        for i, sw in enumerate(waut.iter("wautSwitch")):
            if sw.get("to") in by_period:
                try:
                    schedule.append(ScheduleEntry(float(sw.get("time", "0")) % DAY_S, sw.get("to")))
                except ValueError:
                    problems.add(f"{path}: wautSwitch[{i}]: time must be a number (s), got {sw.get('time')!r}.")
        schedule.sort(key=lambda e: e.start_s)
    problems.raise_if_any("SUMO programs")
    periods = tuple(PlanPeriod(name, tuple(sorted(plans, key=lambda p: p.tls))) for name, plans in by_period.items())
    network_plan_problems(periods, schedule, problems, str(path), network)
    problems.raise_if_any("SUMO programs")
    return NetworkPlan(periods, tuple(schedule), {"source": str(path)})


def _opt(v):
    return None if v is None else float(v)
