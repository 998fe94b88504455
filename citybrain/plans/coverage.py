"""Coverage rules of a signal plan: every link served, no idle green, no over-long red.

Worked on the SUMO phases the plan runs as (:func:`~citybrain.plans.formats.sumo.sumo_phases`:
greens, pedestrian clearances, yellows and all-reds), so a link counts as green only while
SUMO shows it ``G`` or ``g``. Hard rules (always ``"error"``):

``served``
    a link (vehicle movement or pedestrian crossing) is never green during the cycle;
``idle-phase``
    a phase shows green for ``green_s > 0`` seconds but its state gives no link green;
``max-red``
    a served link's longest red, cyclically over the cycle, exceeds the profile's
    ``max_red_s`` (seconds).
"""

from __future__ import annotations

from collections.abc import Callable

from .formats.sumo import sumo_phases
from .model import GREEN, SignalPlan

__all__ = ["longest_reds_s", "check_coverage"]


def longest_reds_s(plan: SignalPlan) -> list[float | None]:
    """Longest red (seconds, cyclic) of each link as SUMO runs the plan; ``None`` if never green."""
    steps = [(d, s) for d, s, _ in sumo_phases(plan) if d > 0]
    cycle = sum(d for d, _ in steps)
    out: list[float | None] = []
    for i in range(plan.n_links):
        green = [s[i] in GREEN for _, s in steps]
        if not any(green):
            out.append(None)
            continue
        start = green.index(True)  # walk once round the cycle from a green step
        longest = run = 0.0
        for k in range(1, len(steps) + 1):
            d, s = steps[(start + k) % len(steps)]
            if s[i] in GREEN:
                run = 0.0
            else:
                run += d
                longest = max(longest, run)
        out.append(min(longest, cycle))
    return out


def check_coverage(plan: SignalPlan, max_red_s: float, add: Callable[..., None]) -> None:
    """Record the ``served``, ``idle-phase`` and ``max-red`` errors of a plan through ``add(phase, rule, message)``.

    The plan's states must have the light's link count (checked before).
    """
    for k, ph in enumerate(plan.phases):
        if ph.green_s > 0 and not any(c in GREEN for c in ph.state):
            add(k, "idle-phase", f"green {ph.green_s:g} s serves no link (state {ph.state!r}), expected some G or g")
    reds = longest_reds_s(plan)
    never = [i for i, r in enumerate(reds) if r is None]
    if never:
        add(None, "served", f"links {_fmt(never)} are never green in the cycle, expected every link green "
            "(G or g) in at least one phase")
    long = [(i, r) for i, r in enumerate(reds) if r is not None and r > max_red_s + 1e-9]
    if long:
        worst = max(r for _, r in long)
        add(None, "max-red", f"links {_fmt(i for i, _ in long)} stay red up to {worst:g} s, expected at most "
            f"{max_red_s:g} s (profile max_red_s)")


def _fmt(links) -> str:
    links = list(links)
    return ",".join(str(i) for i in links[:8]) + ("..." if len(links) > 8 else "")
