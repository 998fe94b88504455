"""The controllers of one run: built from the run's spec, with the SUMO files they need.

A run drives every light with the spec's registered controller, or, with a plan file, with
the plan controller on the lights the plan covers (the others keep their programs). The plan
passes the one safety gate, :func:`citybrain.plans.safety.require_safe`, before anything runs.
Some controllers need SUMO additional files: switched programs (``sumo_program_type``) or the
approach detectors the twin emulates (``needs_detectors``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from citybrain.control import (
    DETECTOR_SETBACK_M,
    AdaptivePlanController,
    Controller,
    make_controller,
)
from citybrain.control.plan import PlanController
from citybrain.control.sumo_programs import programs_xml
from citybrain.exceptions import SimulationError
from citybrain.network import RoadNetwork
from citybrain.plans import NetworkPlan, read_plans, require_safe

from .run import RunSpec
from .signals import LaneLayout

__all__ = ["load_checked_plan", "make_controllers", "needs_detectors", "controller_files"]


def load_checked_plan(path: str | Path, network: RoadNetwork) -> NetworkPlan:
    """Read a plan file and refuse it when the safety check finds a hard error.

    Returns
    -------
    NetworkPlan
        The plan, as checked.

    Raises
    ------
    ValidationError
        If the file is unusable.
    UnsafePlanError
        If the plan breaks a hard safety rule (every error listed).
    """
    plan = read_plans(path, network=network)
    require_safe(plan, network, source=f"{path}: the plan")
    return plan


def make_controllers(spec: RunSpec, network: RoadNetwork, lights: tuple[str, ...]) -> dict[str, Controller]:
    """Build every light's controller: the spec's, or the plan controller for a plan run.

    Raises
    ------
    ValueError
        If the controller name is not registered.
    ValidationError
        If the spec's plan file is unusable or unsafe (:func:`load_checked_plan`).
    """
    if spec.plan is None:
        return {t: make_controller(spec.controller, network, t) for t in lights}
    plan = load_checked_plan(spec.plan, network)
    covered = set(plan.tls_ids)
    if spec.controller == "adaptive-plan":
        first = plan.periods[0].by_tls
        return {
            t: AdaptivePlanController(network, t, plan=first[t]) if t in first else make_controller("fixed", network, t)
            for t in lights
        }
    return {
        t: PlanController(network, t, plan) if t in covered else make_controller("fixed", network, t) for t in lights
    }


def needs_detectors(controllers: Mapping[str, Controller]) -> bool:
    """Whether any controller reads the emulated approach detectors."""
    return any(getattr(c, "needs_detectors", False) for c in controllers.values())


def controller_files(
    controllers: Mapping[str, Controller], network: RoadNetwork, layout: LaneLayout, workdir: Path
) -> list[Path]:
    """Write the SUMO additional files the controllers need (switched programs, detectors).

    Raises
    ------
    SimulationError
        If the controllers ask for several SUMO program types at once.
    """
    files = []
    types = {getattr(c, "sumo_program_type", None) for c in controllers.values()} - {None}
    if len(types) > 1:
        msg = f"Controllers ask for several SUMO program types at once: {sorted(types)}."
        raise SimulationError(msg)
    if types:
        path = workdir / "programs.add.xml"
        path.write_text(programs_xml(network, types.pop()))
        files.append(path)
    if needs_detectors(controllers):
        approach = layout.lanes[: layout.n_in]
        lengths = {lane: network.edges[lane.rsplit("_", 1)[0]]["length_m"] for lane in approach}
        rows = [
            f'  <inductionLoop id="{det}" lane="{lane}" pos="{max(0.1, lengths[lane] - DETECTOR_SETBACK_M):.2f}" '
            f'freq="86400" file="NUL"/>'
            for det, lane in zip(layout.detector_ids, approach, strict=True)
        ]
        path = workdir / "detectors.add.xml"
        path.write_text("<additional>\n" + "\n".join(rows) + "\n</additional>\n")
        files.append(path)
    return files
