"""Signal plans: the model, safety checks and file formats.

See :mod:`citybrain.plans.model` (``SignalPlan``, ``NetworkPlan`` and the schedule),
:mod:`citybrain.plans.safety` (hard rules and profiles) and :mod:`citybrain.plans.formats`
(the JSON schema, SUMO ``tlLogic``).
"""

from __future__ import annotations

from .formats import (
    plan_from_program,
    plans_from_dict,
    plans_from_network,
    plans_to_dict,
    read_plans,
    read_plans_json,
    read_sumo_additional,
    write_plans_json,
    write_sumo_additional,
)
from .model import NetworkPlan, PlanPeriod, PlanPhase, ScheduleEntry, SignalPlan, transition_states
from .safety import (EU_RILSA, PROFILES, US_ITE, SafetyProfile, Violation, check_network_plan, check_plan, require_safe,
                     switch_violations)

__all__ = [
    "NetworkPlan",
    "PlanPeriod",
    "PlanPhase",
    "ScheduleEntry",
    "SignalPlan",
    "transition_states",
    "SafetyProfile",
    "Violation",
    "US_ITE",
    "EU_RILSA",
    "PROFILES",
    "check_plan",
    "check_network_plan",
    "require_safe",
    "switch_violations",
    "plan_from_program",
    "plans_from_network",
    "plans_from_dict",
    "plans_to_dict",
    "read_plans",
    "read_plans_json",
    "read_sumo_additional",
    "write_plans_json",
    "write_sumo_additional",
]
