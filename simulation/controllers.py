"""The controllers of one run and the checked phases they run, with the SUMO files they need.

A run drives every light with the spec's registered controller, or, with a plan file, with
the plan controller on the lights the plan covers (the others keep their programs). What a
controller of ours runs has passed the one safety gate,
:func:`citybrain.plans.safety.require_safe`:

- the plan controller's plan is installed as the light's SUMO program (``plan.add.xml``,
  written from the checked plan), so SUMO runs exactly the checked states;
- the other controllers choose among the phases of a checked plan: the given plan's first
  period (``adaptive-plan`` also takes its splits), else the network's own program, checked as any plan
  is (where it lacks clearances, with the profile's yellow, all-red and walk added first,
  :func:`~citybrain.plans.safety.apply_clearances`), and where even that fails the gate, the
  plan citybrain generates from the light's phases (:func:`~citybrain.timing.phases.base_plan`),
  checked too (:func:`checked_base_plan`). They see the network with each light's
  program replaced by its checked plan's program (:func:`checked_network`).

``fixed`` without a plan and SUMO's own adaptive programs leave the network's program running:
the baseline, whose violations the conflict monitor reports. Some controllers need SUMO
additional files: the plan, switched programs (``sumo_program_type``) or the approach
detectors the twin emulates (``needs_detectors``, and lane-area detectors for ``near_range_m``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np

from citybrain.control import (
    DETECTOR_SETBACK_M,
    AdaptivePlanController,
    Controller,
    make_controller,
)
from citybrain.control.plan import PlanController
from citybrain.control.sumo_programs import programs_xml
from citybrain.exceptions import InfeasiblePlanError, SimulationError, UnsafePlanError
from citybrain.network import RoadNetwork
from citybrain.plans import NetworkPlan, SignalPlan, read_plans, require_safe
from citybrain.plans.formats.sumo import plan_from_program, plan_program, write_sumo_additional
from citybrain.plans.safety import apply_clearances, check_plan, get_profile
from citybrain.timing.phases import base_plan

from .run import RunSpec
from .signals import LaneLayout

#: :func:`checked_base_plan`'s sources: the network's own program (clearances added where it lacked
#: them), or the plan citybrain generates from the light's phases.
OWN, GENERATED = "own program", "generated plan"

__all__ = [
    "GENERATED",
    "OWN",
    "checked_base_plan",
    "checked_network",
    "checked_program_plan",
    "controller_files",
    "is_baseline",
    "load_checked_plan",
    "make_controllers",
    "near_range_m",
    "needs_detectors",
]


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


def checked_program_plan(network: RoadNetwork, tls: str) -> SignalPlan:
    """The light's own program as a checked plan: as it is when safe, else with clearances added.

    Clearances lengthen the cycle; where it then exceeds the profile's maximum, the greens
    above their minimums are shortened in proportion to fit it.

    Raises
    ------
    UnsafePlanError
        If the program breaks a hard rule that added clearances do not mend (every error listed).
    """
    prog = network.programs[tls]
    plan = plan_from_program(prog.phases, tls=tls, junctions=prog.junctions, offset_s=prog.offset_s,
                             program_id=prog.program_id, network=network)
    if any(v.severity == "error" for v in check_plan(plan, network)):
        plan = _within_cycle_max(apply_clearances(plan, network))
    if any(v.rule == "merge" for v in check_plan(plan, network) if v.severity == "error"):
        plan = _merges_permissive(plan, prog)
    require_safe(plan, network, source=f"light {tls}: the network's own program, with the profile's clearances "
                 "(give the controller a checked plan to choose among instead: --plan, e.g. from citybrain optimise)")
    return plan


def checked_base_plan(network: RoadNetwork, tls: str) -> tuple[SignalPlan, str]:
    """The checked plan a controller of ours chooses among at a light, and where it comes from.

    The light's own program as :func:`checked_program_plan` makes it (source :data:`OWN`);
    where that fails the gate, the plan citybrain generates from the light's phases,
    :func:`~citybrain.timing.phases.base_plan` (the own phase sequence with its green states
    made to obey the hard rules, the profile's clearances), checked by the same gate (source
    :data:`GENERATED`). No counts are needed: each movement's saturation flow (veh/h) stands in
    for its demand, so, as in a plan optimised from flows, a stream the program also serves in
    another phase goes red in a phase where it would make a protected stream permissive.
    Nothing unchecked is returned.

    Raises
    ------
    UnsafePlanError
        If neither passes the gate (the own program's errors, then the generated plan's).
    """
    try:
        return checked_program_plan(network, tls), OWN
    except UnsafePlanError as own:
        try:
            plan = base_plan(network, tls, flows_vph=np.array([m.sat_flow_vph for m in network.movements], float))
        except InfeasiblePlanError as exc:
            raise UnsafePlanError(f"{own} The generated plan is infeasible: {exc}", own.problems) from None
        try:
            require_safe(plan, network, source=f"light {tls}: the plan generated from its phases")
        except UnsafePlanError as gen:
            raise UnsafePlanError(f"{own} {gen}", [*own.problems, *gen.problems]) from None
        return plan, GENERATED


def _merges_permissive(plan: SignalPlan, program) -> SignalPlan:
    """The plan with protected merges made permissive: of several ``G`` lanes entering one lane, all but the first give way (``g``).

    SUMO's own junction logic lets one of two merging streams yield; the checked plan says so.
    """
    phases = []
    for ph in plan.phases:
        state = list(ph.state)
        first: dict[str, str] = {}
        for link in sorted(program.links, key=lambda x: x.index):
            if link.index < len(state) and state[link.index] == "G":
                if first.setdefault(link.to_lane, link.from_lane) != link.from_lane:
                    state[link.index] = "g"
        phases.append(replace(ph, state="".join(state)))
    return replace(plan, phases=tuple(phases))


def _within_cycle_max(plan: SignalPlan) -> SignalPlan:
    """The plan with its greens above their minimums scaled down so the cycle is within the profile's maximum."""
    profile = get_profile(None)
    greens = [ph.green_s for ph in plan.phases]
    if plan.cycle_s <= profile.cycle_max_s:
        return plan
    floors = [min(g, max(profile.min_green_s, ph.min_green_s or 0.0)) for g, ph in zip(greens, plan.phases, strict=True)]
    spare = sum(g - f for g, f in zip(greens, floors, strict=True))
    room = profile.cycle_max_s - (plan.cycle_s - sum(greens)) - sum(floors)
    if spare <= 0 or room <= 0:
        return plan
    return plan.with_timing([f + (g - f) * room / spare for g, f in zip(greens, floors, strict=True)])


def checked_network(network: RoadNetwork, plans: Mapping[str, SignalPlan]) -> RoadNetwork:
    """The network with each of these lights' programs replaced by its checked plan's SUMO program."""
    programs = {**network.programs, **{t: plan_program(p, network.programs[t]) for t, p in plans.items()}}
    return replace(network, programs=programs)


def is_baseline(controller: Controller) -> bool:
    """Whether the controller leaves the network's own program to SUMO (``fixed``, SUMO's adaptive programs)."""
    return controller.program_driven and not isinstance(controller, PlanController)


def make_controllers(
    spec: RunSpec, network: RoadNetwork, lights: tuple[str, ...]
) -> tuple[dict[str, Controller], RoadNetwork]:
    """Build every light's controller, and the network they run: its lights' checked programs.

    Returns
    -------
    controllers : dict of str to Controller
        The spec's controller per light, or the plan controller for a plan run.
    network : RoadNetwork
        ``network`` with the program of every light run by a controller of ours replaced by
        its checked plan's program (:func:`checked_network`); the controllers are built on it.

    Raises
    ------
    ValueError
        If the controller name is not registered.
    ValidationError
        If the spec's plan file is unusable or unsafe (:func:`load_checked_plan`).
    UnsafePlanError
        If an adaptive controller would run at a light where neither its own program nor the
        generated plan passes the gate (:func:`checked_base_plan`).
    """
    begin = spec.scenario.begin_s
    if spec.plan is None:
        plain = {t: make_controller(spec.controller, network, t) for t in lights}
        if all(is_baseline(c) for c in plain.values()):
            return plain, network
        checked = checked_network(network, {t: checked_base_plan(network, t)[0] for t in lights if not is_baseline(plain[t])})
        return {t: make_controller(spec.controller, checked, t) for t in lights}, checked
    plan = load_checked_plan(spec.plan, network)
    if spec.controller not in ("fixed", "plan"):  # an adaptive controller chooses among the plan's phases
        first = plan.periods[0].by_tls
        checked = checked_network(network, first)

        def adaptive(t: str) -> Controller:
            if spec.controller == "adaptive-plan":
                return AdaptivePlanController(checked, t, plan=first[t])
            return make_controller(spec.controller, checked, t)

        return {t: adaptive(t) if t in first else make_controller("fixed", checked, t) for t in lights}, checked
    running = {t: p for t in plan.tls_ids if (p := plan.plan_at(t, begin)) is not None}
    checked = checked_network(network, running)
    covered = set(plan.tls_ids)
    return {
        t: PlanController(checked, t, plan) if t in covered else make_controller("fixed", checked, t) for t in lights
    }, checked


def needs_detectors(controllers: Mapping[str, Controller]) -> bool:
    """Whether any controller reads the emulated approach detectors."""
    return any(getattr(c, "needs_detectors", False) for c in controllers.values())


def near_range_m(controllers: Mapping[str, Controller]) -> float:
    """The longest ``near_range_m`` (m) any controller asks for (0: no lane-area detectors)."""
    return max((float(getattr(c, "near_range_m", 0.0) or 0.0) for c in controllers.values()), default=0.0)


def controller_files(
    controllers: Mapping[str, Controller], network: RoadNetwork, layout: LaneLayout, workdir: Path
) -> list[Path]:
    """Write the SUMO additional files the controllers need (the plan, switched programs, detectors).

    The plan controllers' plans go to ``plan.add.xml`` exactly as :func:`write_sumo_additional`
    writes it for plain ``sumo``: SUMO runs those states (and their schedule) itself.

    Raises
    ------
    SimulationError
        If the controllers ask for several SUMO program types at once.
    """
    files = []
    plans = {id(c.plan): c.plan for c in controllers.values() if isinstance(c, PlanController)}
    for k, plan in enumerate(plans.values()):
        path = workdir / ("plan.add.xml" if k == 0 else f"plan{k}.add.xml")
        files.append(write_sumo_additional(plan, path, program_id="citybrain"))
    types = {getattr(c, "sumo_program_type", None) for c in controllers.values()} - {None}
    if len(types) > 1:
        msg = f"Controllers ask for several SUMO program types at once: {sorted(types)}."
        raise SimulationError(msg)
    if types:
        path = workdir / "programs.add.xml"
        path.write_text(programs_xml(network, types.pop()))
        files.append(path)
    approach = layout.lanes[: layout.n_in]
    lengths = {lane: network.edges[lane.rsplit("_", 1)[0]]["length_m"] for lane in approach}
    if needs_detectors(controllers):
        files.append(_additional(workdir / "detectors.add.xml", [
            f'  <inductionLoop id="{det}" lane="{lane}" pos="{max(0.1, lengths[lane] - DETECTOR_SETBACK_M):.2f}" '
            f'freq="86400" file="NUL"/>'
            for det, lane in zip(layout.detector_ids, approach, strict=True)
        ]))
    reach = near_range_m(controllers)
    if reach > 0:  # lane-area detectors over the last ``reach`` metres of every approach lane
        files.append(_additional(workdir / "areas.add.xml", [
            f'  <laneAreaDetector id="{det}" lane="{lane}" pos="{max(0.0, lengths[lane] - reach):.2f}" '
            f'length="{min(reach, lengths[lane]):.2f}" speedThreshold="0.1" friendlyPos="true" freq="86400" file="NUL"/>'
            for det, lane in zip(layout.area_ids, approach, strict=True)
        ]))
    return files


def _additional(path: Path, rows: list[str]) -> Path:
    """Write a SUMO additional file holding ``rows`` and return its path."""
    path.write_text("<additional>\n" + "\n".join(rows) + "\n</additional>\n")
    return path
