"""Plan file formats: the citybrain JSON schema (:mod:`.json`), SUMO ``tlLogic`` (:mod:`.sumo`),
and the exports engineers load elsewhere: Synchro UTDF (:mod:`.utdf`) and NTCIP 1202 objects (:mod:`.ntcip`).

:func:`read_plans` reads JSON or SUMO, telling them apart by content. :func:`export_plan` writes
any of :data:`EXPORT_FORMATS`; :func:`export_format_for` names the format of a file name by its
ending (:data:`EXPORT_ENDINGS`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...exceptions import ValidationError
from ..controller_timing import require_plan_fits
from ..model import NetworkPlan
from .json import SCHEMA, SCHEMA_VERSION, plan_sha256, plans_from_dict, plans_to_dict, read_plans_json, write_plans_json
from .sumo import (
    ALL_RED_NAME,
    YELLOW_NAME,
    plan_from_program,
    plans_from_network,
    read_sumo_additional,
    sumo_phases,
    write_sumo_additional,
)
from .ntcip import write_ntcip_json
from .utdf import select_period, write_utdf

if TYPE_CHECKING:
    from ...network import RoadNetwork

__all__ = [
    # the JSON schema
    "SCHEMA", "SCHEMA_VERSION", "plan_sha256", "plans_to_dict", "plans_from_dict", "write_plans_json", "read_plans_json",
    # SUMO tlLogic and programs
    "plan_from_program", "plans_from_network", "sumo_phases", "YELLOW_NAME", "ALL_RED_NAME",
    "write_sumo_additional", "read_sumo_additional",
    # either
    "read_plans",
    # exports
    "EXPORT_FORMATS", "EXPORT_ENDINGS", "export_plan", "export_format_for", "write_utdf", "write_ntcip_json",
]

#: Export formats: name -> what it is.
EXPORT_FORMATS: dict[str, str] = {
    "utdf": "Synchro UTDF 8 combined CSV: timing plans and phasing of one period",
    "ntcip": "NTCIP 1202 objects as JSON: phase, sequence, split, pattern, coord and time-base tables",
    "sumo": "SUMO additional file: one tlLogic per light and period",
    "json": "the citybrain plan JSON (plan.schema.json)",
}
#: File-name endings -> export format, longest first (``.ntcip.json`` before ``.json``).
EXPORT_ENDINGS: dict[str, str] = {".utdf.csv": "utdf", ".ntcip.json": "ntcip", ".add.xml": "sumo", ".json": "json"}


def export_format_for(path: str | Path) -> str | None:
    """The export format a file name's ending implies (:data:`EXPORT_ENDINGS`), or None."""
    name = Path(path).name
    return next((fmt for end, fmt in EXPORT_ENDINGS.items() if name.endswith(end) and len(name) > len(end)), None)


def export_plan(plan: NetworkPlan, network: RoadNetwork, path: str | Path, fmt: str, *,
                period: str | None = None) -> Path:
    """Write ``plan`` in export format ``fmt`` (:data:`EXPORT_FORMATS`); return the path.

    Parameters
    ----------
    plan, network
        The plan and the network it is for (every format checks that the plan fits it).
    path
        The file to write.
    fmt
        ``"utdf"``, ``"ntcip"``, ``"sumo"`` or ``"json"``.
    period
        Write only this period (UTDF holds one: required when the plan has several).

    Raises
    ------
    ValidationError
        If the format is unknown, the plan does not fit the network, or the format cannot hold
        it (UTDF: several periods, more than 16 phases; NTCIP: yellow outside 3-25.5 s, a
        schedule off whole minutes); nothing is written then.
    """
    if fmt not in EXPORT_FORMATS:
        msg = f"export format {fmt!r}: expected one of {', '.join(EXPORT_FORMATS)}"
        raise ValidationError(msg)
    require_plan_fits(plan, network)
    if fmt == "utdf":
        return write_utdf(plan, network, path, period=period)
    if period is not None:
        plan = NetworkPlan((select_period(plan, period, "the export"),), (), dict(plan.meta))
    if fmt == "ntcip":
        return write_ntcip_json(plan, network, path)
    if fmt == "sumo":
        return write_sumo_additional(plan, path)
    return write_plans_json(plan, path)


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
    return read_plans_json(path, network=network)
