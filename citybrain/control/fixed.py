"""The fixed controller: the network's own signal programs, untouched."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Observation, register_controller

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork

__all__ = ["FixedController"]


class FixedController:
    """Run the light's own program as shipped (RESCO's "Fixed time" baseline).

    It is program-driven: SUMO runs the program (static, or actuated if the network says
    so) and ``decide`` always keeps the current phase.

    Parameters
    ----------
    network : RoadNetwork
        The network (unused; part of the factory signature).
    tls : str
        SUMO traffic-light id.
    """

    name = "fixed"
    program_driven = True

    def __init__(self, network: RoadNetwork | None = None, tls: str = "") -> None:
        self.tls = tls

    def decide(self, observation: Observation) -> int | None:
        """Keep the program's phase: always ``None``."""
        return None


register_controller("fixed", FixedController)
