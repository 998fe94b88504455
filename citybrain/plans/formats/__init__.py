"""Plan file formats: the citybrain JSON schema (:mod:`.json`) and SUMO ``tlLogic`` (:mod:`.sumo`).

:func:`read_plans` reads either, telling them apart by content.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ...exceptions import ValidationError
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

if TYPE_CHECKING:
    from ...network import RoadNetwork
    from ..model import NetworkPlan

__all__ = [
    # the JSON schema
    "SCHEMA", "SCHEMA_VERSION", "plan_sha256", "plans_to_dict", "plans_from_dict", "write_plans_json", "read_plans_json",
    # SUMO tlLogic and programs
    "plan_from_program", "plans_from_network", "sumo_phases", "YELLOW_NAME", "ALL_RED_NAME",
    "write_sumo_additional", "read_sumo_additional",
    # either
    "read_plans",
]


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
