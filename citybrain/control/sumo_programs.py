"""SUMO's own adaptive programs as controllers: the network's programs switched to another type.

``sumo-actuated`` and ``sumo-delay-based`` run the network's own phase sequence as SUMO
``actuated`` (gap-based, with detectors SUMO places itself) or ``delay_based`` (time-loss
based) programs. Green phases without ``minDur``/``maxDur`` get :data:`DEFAULT_MIN_DUR_S` /
:data:`DEFAULT_MAX_DUR_S`, since otherwise SUMO keeps running them as fixed time. They are
program-driven: SUMO decides, and the twin only observes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.sax.saxutils import quoteattr

from .base import Observation, register_controller

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork, SignalProgram

__all__ = ["DEFAULT_MIN_DUR_S", "DEFAULT_MAX_DUR_S", "SumoProgramController", "switch_program_type", "programs_xml"]

#: Minimum duration (s) given to green phases that have none.
DEFAULT_MIN_DUR_S: float = 5.0
#: Maximum duration (s) given to green phases that have none.
DEFAULT_MAX_DUR_S: float = 50.0


def switch_program_type(
    program: SignalProgram,
    program_type: str,
    *,
    program_id: str | None = None,
    min_dur_s: float = DEFAULT_MIN_DUR_S,
    max_dur_s: float = DEFAULT_MAX_DUR_S,
) -> str:
    """Return a SUMO ``<tlLogic>`` element: ``program`` as ``program_type`` (actuated, delay_based).

    Transition phases keep their fixed durations; green phases keep their own ``minDur`` and
    ``maxDur`` where they have them.
    """
    pid = program_id or f"citybrain-{program_type}"
    lines = [
        f"  <tlLogic id={quoteattr(program.tls)} type={quoteattr(program_type)} "
        f'programID={quoteattr(pid)} offset="{program.offset_s:g}">'
    ]
    for phase in program.phases:
        attrs = f'duration="{phase.duration_s:g}" state={quoteattr(phase.state)}'
        if not phase.is_transition:
            lo = phase.min_dur_s if phase.min_dur_s is not None else min(min_dur_s, phase.duration_s)
            hi = phase.max_dur_s if phase.max_dur_s is not None else max(max_dur_s, phase.duration_s)
            attrs += f' minDur="{lo:g}" maxDur="{hi:g}"'
        lines.append(f"    <phase {attrs}/>")
    lines.append("  </tlLogic>")
    return "\n".join(lines)


def programs_xml(network: RoadNetwork, program_type: str) -> str:
    """Every light's program switched to ``program_type``, as a SUMO additional file."""
    body = "\n".join(switch_program_type(p, program_type) for _, p in sorted(network.programs.items()))
    return f"<additional>\n{body}\n</additional>\n"


class SumoProgramController:
    """Let SUMO run the light's own program as an ``actuated`` or ``delay_based`` program.

    Parameters
    ----------
    network
        The road network (unused; part of the factory signature).
    tls
        SUMO traffic-light id.
    program_type
        SUMO ``tlLogic`` type.
    """

    program_driven = True

    def __init__(self, network: RoadNetwork | None, tls: str, program_type: str) -> None:
        self.tls = tls
        self.sumo_program_type = program_type
        self.name = "sumo-" + program_type.replace("_", "-")

    def decide(self, observation: Observation) -> int | None:
        """SUMO decides: always ``None``."""
        return None


register_controller("sumo-actuated", lambda network, tls: SumoProgramController(network, tls, "actuated"))
register_controller("sumo-delay-based", lambda network, tls: SumoProgramController(network, tls, "delay_based"))
