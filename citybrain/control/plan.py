"""The plan controller: runs a :class:`~citybrain.plans.NetworkPlan` (with its schedule) through the protocol.

At each decision the controller finds the plan active at ``observation.time_s`` (time of
day from the schedule), the position in its cycle (``(t - SUMO offset) mod cycle``) and the
phase whose green covers it; during a phase's yellow and all-red it already asks for the
next phase, so the twin's own transition runs then. It answers with the program phase the
plan phase retimes (``PlanPhase.program_phase``), or ``None`` to keep the current green.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..exceptions import ValidationError
from .base import Observation, register_controller

if TYPE_CHECKING:
    from ..network import RoadNetwork
    from ..plans.model import NetworkPlan

__all__ = ["PlanController", "plan_controller_factory", "register_plan"]


class PlanController:
    """Run one light's plans (all periods) by choosing program green phases.

    Parameters
    ----------
    network : RoadNetwork
        The network.
    tls : str
        SUMO traffic-light id.
    plan : NetworkPlan
        The plans; each phase of this light's plans needs a ``program_phase`` that is a
        green phase of the network's program.

    Raises
    ------
    ValidationError
        If a plan phase does not map onto a green phase of the light's program.
    """

    name = "plan"
    program_driven = False

    def __init__(self, network: RoadNetwork, tls: str, plan: NetworkPlan) -> None:
        self.tls = tls
        self.plan = plan
        greens = set(network.programs[tls].green_phases())
        problems = []
        for period, p in plan.all_plans():
            if p.tls != tls:
                continue
            for k, ph in enumerate(p.phases):
                if ph.program_phase not in greens:
                    problems.append(f"[{period}] tls {tls} phase {k}: program_phase {ph.program_phase!r}, "
                                    f"expected one of the program's green phases {sorted(greens)}.")
        if problems:
            msg = f"The plan cannot run on light {tls}:\n" + "\n".join(problems)
            raise ValidationError(msg, problems)

    def target_phase(self, time_s: float) -> int | None:
        """Program phase the plan wants green at ``time_s`` (``None`` without a plan)."""
        p = self.plan.plan_at(self.tls, time_s)
        if p is None:
            return None
        pos = p.cycle_position_s(time_s)
        start = 0.0
        for k, ph in enumerate(p.phases):
            if pos < start + ph.green_s:
                return p.phases[k].program_phase
            if pos < start + ph.duration_s:
                return p.phases[(k + 1) % len(p.phases)].program_phase
            start += ph.duration_s
        return p.phases[0].program_phase

    def decide(self, observation: Observation) -> int | None:
        """Return the program phase to switch to, or ``None`` to keep the current one."""
        want = self.target_phase(observation.time_s)
        if want is None or observation.green == want or (observation.green is None and observation.phase == want):
            return None
        return want


def plan_controller_factory(plan: NetworkPlan):
    """Return a controller factory ``(network, tls) -> PlanController`` for one network plan."""

    def factory(network: RoadNetwork, tls: str) -> PlanController:
        return PlanController(network, tls, plan)

    return factory


def register_plan(plan: NetworkPlan, name: str = "plan") -> None:
    """Register the plan controller for ``plan`` under ``name`` in the controller registry."""
    register_controller(name, plan_controller_factory(plan))
