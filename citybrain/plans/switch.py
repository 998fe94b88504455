"""The switch from the plan a light runs to a pushed one: what the twin does and the rules it must meet.

Semantics (the twin implements exactly this): a pushed plan takes over at the end of the
running plan's cycle. The running plan's last phase ``P`` shows its green for ``P.green_s``,
then the yellow and all-red states of ``transition_states(P.state, Q.state)``
(:func:`~citybrain.plans.model.transition_states`) for ``P.yellow_s`` and ``P.all_red_s``
seconds, where ``Q`` is the pushed plan's first phase; then ``Q``'s green starts (program time 0
of the pushed plan). So ``P``'s yellow and all-red must clear every vehicle link green in ``P``
and not green in ``Q`` as an in-plan transition would (rule names as in
:mod:`citybrain.plans.safety`, messages saying "switch"):

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
                 min_yellow_s: float, min_green_s: float, add: Callable[..., None], policy: Callable[..., None]) -> None:
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
    """
    lost = [i for i, (a, b) in enumerate(zip(last.state, first.state, strict=True))
            if a in GREEN and b not in GREEN and i not in crossing_links]
    where = "at the switch into the pushed plan's phase 0"
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
