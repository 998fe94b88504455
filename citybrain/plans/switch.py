"""The switch from the plan a light runs to a pushed one: the rules it must meet.

A pushed plan takes over at the end of the running plan's cycle. The rules treat that as an
in-plan transition from the running plan's last phase ``P`` to the pushed plan's first phase
``Q``: ``P``'s yellow and all-red (``P.yellow_s``, ``P.all_red_s``) must clear every vehicle link
green in ``P`` and not green in ``Q`` (rule names as in :mod:`citybrain.plans.safety`, messages
saying "switch"). The twin (``simulation.signals``) never shows less: ``P``'s own transition,
then, for the links still green, a yellow and all-red of at least ``P``'s and of what the
geometry requires into the pushed plan, before the pushed plan's first green.

``yellow`` (hard)
    a vehicle link green in ``P`` and not in ``Q`` gets less than 3 s of yellow;
``yellow-time``, ``all-red`` (profile)
    ``P``'s yellow and all-red below the required ones of
    :func:`~citybrain.plans.safety.clearance_times` for ``P.state`` to ``Q.state``;
``min-green`` (profile)
    ``P``'s green shorter than the profile's minimum green (the running plan may be one nobody
    checked, such as a network's own program);
``yellow-trap`` (hard)
    as in a plan, between ``P`` and ``Q``.

Plans of different link counts cannot be switched: unusable input
(:class:`~citybrain.exceptions.ValidationError`), as is a running plan of another light.
"""

from __future__ import annotations

from collections.abc import Callable

from .model import GREEN, PlanPhase

__all__ = ["check_switch"]


def check_switch(last: PlanPhase, first: PlanPhase, *, crossing_links, required_s: tuple[float, float],
                 min_yellow_s: float, min_green_s: float, add: Callable[..., None], policy: Callable[..., None],
                 where: str = "at the switch into the pushed plan's phase 0") -> None:
    """Record the clearance and minimum-green errors of a switch from ``last`` into ``first``.

    Parameters
    ----------
    last, first
        The running plan's last phase and the pushed plan's first phase (same state length).
    crossing_links
        Link indices that are pedestrian crossings (they need no yellow).
    required_s
        Required yellow and all-red (seconds) from ``last.state`` to ``first.state``.
    min_yellow_s
        The hard minimum yellow (seconds, 3 s).
    min_green_s
        The profile's minimum green (seconds).
    add, policy
        ``add(rule, message)`` records a hard error, ``policy(rule, message)`` a profile rule.
    where
        Where the switch happens, for messages.
    """
    lost = [i for i, (a, b) in enumerate(zip(last.state, first.state, strict=True))
            if a in GREEN and b not in GREEN and i not in crossing_links]
    if lost:
        if last.yellow_s < min_yellow_s:
            shown = ",".join(str(i) for i in lost[:8]) + ("..." if len(lost) > 8 else "")
            add("yellow", f"links {shown} lose green {where} with {last.yellow_s:g} s yellow, expected at least "
                f"{min_yellow_s:g} s")
        y_req, ar_req = required_s
        if last.yellow_s + 1e-9 < y_req and last.yellow_s >= min_yellow_s:
            policy("yellow-time", f"yellow {last.yellow_s:g} s {where}, expected at least {y_req:g} s")
        if last.all_red_s + 1e-9 < ar_req:
            policy("all-red", f"all-red {last.all_red_s:g} s {where}, expected at least {ar_req:g} s ((W + L) / v)")
    if any(c in GREEN for c in last.state) and last.green_s < min_green_s:
        policy("min-green", f"green {last.green_s:g} s before the switch, expected at least {min_green_s:g} s")
