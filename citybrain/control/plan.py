"""The plan controller: a :class:`~citybrain.plans.NetworkPlan` run as the light's own SUMO program.

The twin installs the checked plan's exact states (the program ``plan.add.xml`` is written
from, with its schedule) and SUMO runs them: the controller never chooses a phase, so what
runs is, state for state, what the safety gate checked.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Observation, register_controller

if TYPE_CHECKING:
    from ..network import RoadNetwork
    from ..plans.model import NetworkPlan, SignalPlan

__all__ = ["PlanController", "plan_controller_factory", "register_plan"]


class PlanController:
    """Run one light's plans (all periods) as its SUMO program.

    Parameters
    ----------
    network : RoadNetwork
        The network (unused; part of the factory signature).
    tls : str
        SUMO traffic-light id.
    plan : NetworkPlan
        The checked plans; the twin installs them (``plan.add.xml``) and SUMO runs them.
    """

    name = "plan"
    program_driven = True

    def __init__(self, network: RoadNetwork | None, tls: str, plan: NetworkPlan) -> None:
        self.tls = tls
        self.plan = plan

    def plan_at(self, time_s: float) -> SignalPlan | None:
        """This light's plan in force at ``time_s`` (``None`` if the period does not cover it)."""
        return self.plan.plan_at(self.tls, time_s)

    def decide(self, observation: Observation) -> int | None:
        """SUMO runs the plan: always ``None``."""
        return None


def plan_controller_factory(plan: NetworkPlan):
    """Return a controller factory ``(network, tls) -> PlanController`` for one network plan."""

    def factory(network: RoadNetwork, tls: str) -> PlanController:
        return PlanController(network, tls, plan)

    return factory


def register_plan(plan: NetworkPlan, name: str = "plan") -> None:
    """Register the plan controller for ``plan`` under ``name`` in the controller registry."""
    register_controller(name, plan_controller_factory(plan))
