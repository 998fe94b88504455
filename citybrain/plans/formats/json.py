"""The plan JSON schema (``"schema": "citybrain.plans"``, ``"version": 1``), both ways.

::

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

Seconds everywhere (``_s``). The published contract is the JSON Schema
``citybrain/plans/plan.schema.json`` (package data, :func:`plan_schema`); the fields this
module writes and reads are the schema's (a test keeps them equal). The reader collects every problem, each placed by its file and
JSON path (``plan.json: periods[0]: plans[2] (tls 'A0'): phases[1]: 'green_s': ...``), before raising one
:class:`~citybrain.exceptions.ValidationError`.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ..._validate import Fields, Problems, read_json
from ...exceptions import ValidationError
from ..model import NetworkPlan, PlanPeriod, PlanPhase, ScheduleEntry, SignalPlan, network_plan_problems

if TYPE_CHECKING:
    from ...network import RoadNetwork

__all__ = ["SCHEMA", "SCHEMA_VERSION", "plan_schema", "plan_sha256", "plans_to_dict", "plans_from_dict", "write_plans_json", "read_plans_json"]

SCHEMA = "citybrain.plans"
SCHEMA_VERSION = 1

_PHASE_NUMBERS = ("green_s", "yellow_s", "all_red_s", "walk_s", "ped_clearance_s")
_CLOCK = "HH:MM[:SS] or seconds after midnight"


def plan_schema() -> dict:
    """The plan JSON's published JSON Schema (``citybrain/plans/plan.schema.json``), decoded."""
    from importlib.resources import files

    return json.loads(files("citybrain.plans").joinpath("plan.schema.json").read_text(encoding="utf-8"))


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{(s % 3600) // 60:02d}" + (f":{s % 60:02d}" if s % 60 else "")


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


def plan_sha256(plan: NetworkPlan | SignalPlan) -> str:
    """SHA-256 (hex) of a plan's canonical JSON: its :func:`plans_to_dict` form, keys sorted, no spaces.

    A :class:`SignalPlan` is hashed as a one-period network plan named ``"all-day"`` with no
    meta, so the same light's plan has one hash however it arrived; a :class:`NetworkPlan`'s
    ``meta`` (free provenance) is left out of its hash too.
    """
    network = NetworkPlan.single([plan]) if isinstance(plan, SignalPlan) else NetworkPlan(plan.periods, plan.schedule)
    text = json.dumps(plans_to_dict(network), sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def plans_from_dict(data: dict, *, source: str = "plan", network: RoadNetwork | None = None) -> NetworkPlan:
    """Build a :class:`NetworkPlan` from its JSON dict, checking the schema.

    Parameters
    ----------
    data
        The decoded JSON.
    source
        The file name, the prefix of every message.
    network
        When given, every state's length is checked against its light's link count.

    Raises
    ------
    ValidationError
        Listing every problem: wrong schema name or version, missing or mistyped fields, and
        then what makes the plan unusable (:func:`~citybrain.plans.model.network_plan_problems`).
    """
    if not isinstance(data, dict):
        msg = f"{source}: expected a JSON object with schema {SCHEMA!r}, got {type(data).__name__}."
        raise ValidationError(msg)
    problems = Problems(source)
    top = Fields(data, source, problems)
    if data.get("schema") != SCHEMA:
        top.problem("schema", f"must be {SCHEMA!r}, got {data.get('schema')!r}")
    if data.get("version") != SCHEMA_VERSION:
        top.problem("version", f"must be {SCHEMA_VERSION}, got {data.get('version')!r}")
    periods = tuple(_period(table, i) for i, table in _tables(top, "periods", required=True, non_empty=True))
    schedule = tuple(e for _, table in _tables(top, "schedule") if (e := _schedule_entry(table)) is not None)
    problems.raise_if_any("plan file")
    network_plan_problems(periods, schedule, problems, source, network)
    problems.raise_if_any("plan file")
    meta = data.get("meta") if isinstance(data.get("meta"), dict) else {}
    return NetworkPlan(periods, schedule, meta)


def _tables(fields: Fields, key: str, **kwargs) -> Iterator[tuple[int, Fields]]:
    """``(index, table)`` of each entry of a list of tables that is a table.

    Any other entry is recorded once ("expected a table of fields") and skipped.
    """
    for i, table in enumerate(fields.tables(key, **kwargs)):
        if isinstance(fields.data[key][i], dict):
            yield i, table


def _period(table: Fields, index: int) -> PlanPeriod:
    name = table.string("name", f"period{index}", required=True)
    return PlanPeriod(name, tuple(_plan(plan) for _, plan in _tables(table, "plans", required=True)))


def _plan(table: Fields) -> SignalPlan:
    tls = table.string("tls", "", required=True)
    phases = tuple(_phase(phase) for _, phase in _tables(table, "phases", required=True, non_empty=True))
    junctions = table.strings("junctions") if "junctions" in table else [tls]
    crossing = table.items("crossing_links")
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in crossing):
        table.problem("crossing_links", f"must be a list of link indices, got {crossing!r}")
        crossing = []
    return SignalPlan(
        crossing_links=tuple(crossing),
        tls=tls,
        junctions=tuple(junctions),
        cycle_s=_seconds(table, "cycle_s", required=True),
        offset_s=_seconds(table, "offset_s", 0.0),
        phases=phases,
        reference_phase=table.integer("reference_phase", 0),
        program_id=str(table.data.get("program_id", "citybrain")),
        method=str(table.data.get("method", "")),
    )


def _phase(table: Fields) -> PlanPhase:
    program_phase = table.data.get("program_phase")
    return PlanPhase(
        state=table.string("state", "r", required=True),
        min_green_s=_seconds(table, "min_green_s", nullable=True),
        max_green_s=_seconds(table, "max_green_s", nullable=True),
        name=str(table.data.get("name", "")),
        protected=tuple(table.strings("protected")),
        permissive=tuple(table.strings("permissive")),
        program_phase=None if program_phase is None else table.integer("program_phase"),
        **{key: _seconds(table, key, 0.0, required=key == "green_s") for key in _PHASE_NUMBERS},
    )


def _seconds(table: Fields, key: str, default: float | None = None, *, required: bool = False,
             nullable: bool = False) -> float | None:
    """A finite number of seconds; ``None`` for a JSON null when ``nullable``."""
    if nullable and table.data.get(key) is None:
        return None
    value = table.number(key, default, required=required, what="a finite number")
    if value is not None and not math.isfinite(value):
        table.problem(key, f"must be a finite number, got {value!r}")
        return default
    return value


def _schedule_entry(table: Fields) -> ScheduleEntry | None:
    period = table.string("period", required=True)
    start = _clock_seconds(table, "start")
    return None if period is None or start is None else ScheduleEntry(start, period)


def _clock_seconds(table: Fields, key: str) -> float | None:
    """Seconds after midnight of a clock time ``HH:MM[:SS]`` or a number of seconds."""
    if key not in table:
        table.problem(key, f"required ({_CLOCK})")
        return None
    value = table.data[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            nums = [int(p) for p in value.split(":")]
        except ValueError:
            nums = []
        if 2 <= len(nums) <= 3 and all(n >= 0 for n in nums):
            h, m, s = (nums + [0])[:3]
            return float(h * 3600 + m * 60 + s)
    table.problem(key, f"must be {_CLOCK}, got {value!r}")
    return None


def write_plans_json(plan: NetworkPlan, path: str | Path) -> Path:
    """Write a network plan as JSON (schema in the module docstring); return the path."""
    path = Path(path)
    path.write_text(json.dumps(plans_to_dict(plan), indent=2) + "\n")
    return path


def read_plans_json(path: str | Path, *, network: RoadNetwork | None = None) -> NetworkPlan:
    """Read a network plan from JSON (state lengths checked against ``network`` when given).

    Raises
    ------
    ValidationError
        If the file is unreadable, not JSON, or breaks the schema (every problem listed).
    """
    return plans_from_dict(read_json(path, "plan file"), source=str(path), network=network)
