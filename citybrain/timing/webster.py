"""Webster's isolated fixed-time method: cycle ``(1.5 L + 5) / (1 - Y)``, equal-saturation greens."""

from __future__ import annotations

from ..plans.model import NetworkPlan
from ._common import (
    assert_produced_plans_safe,
    check_bounds,
    clamp_cycle,
    finish_plan,
    isolated_timing,
    movement_flows,
    select_lights,
)

__all__ = ["webster", "webster_cycle_s"]


def webster_cycle_s(lost_s: float, critical_ratio: float, *, max_flow_ratio: float = 0.95,
                    max_cycle_s: float = 180.0) -> float:
    """Return Webster's optimum cycle (seconds) ``(1.5 L + 5) / (1 - Y)``.

    At or above ``max_flow_ratio`` (near and over saturation, where the formula blows up or
    turns negative) the cycle is ``max_cycle_s``.

    Examples
    --------
    >>> webster_cycle_s(10.0, 0.5)
    40.0
    >>> webster_cycle_s(10.0, 1.2)
    180.0
    """
    if critical_ratio >= max_flow_ratio:
        return float(max_cycle_s)
    return float(min((1.5 * lost_s + 5.0) / (1.0 - critical_ratio), max_cycle_s))


def webster(network, flows, *, tls=None, profile=None, cycle_bounds=(30.0, 180.0), permissive_factor: float = 0.5,
            aggregate: str = "mean", max_flow_ratio: float = 0.95, min_green_s: float | None = None) -> NetworkPlan:
    """Return isolated Webster plans (seconds) for every light (offsets 0).

    Parameters
    ----------
    network
        The road network; each light keeps its own phase sequence, with green states made
        safe and clearances from the profile.
    flows
        Flow table (``interval_start, interval_s, junction, from_edge, to_edge, flow_vph,
        se_vph``), combined over intervals by ``aggregate``.
    tls
        Lights to time (default all).
    profile
        Safety profile for yellow, all-red, walk and minimum green (``"us"``, ``"eu"``).
    cycle_bounds
        ``(min, max)`` cycle (seconds).
    permissive_factor
        Share of saturation flow a permissive (``g``) movement gets.
    aggregate
        How intervals combine: ``"mean"``, ``"max"``, ``"median"``.
    max_flow_ratio
        ``Y`` at and above which the cycle is the maximum.
    min_green_s
        Minimum green override (default: the profile's).

    Returns
    -------
    NetworkPlan
        One period, ``method="webster"``.

    Raises
    ------
    ValidationError
        If the flows or arguments are invalid (every problem listed).
    InfeasiblePlanError
        If no safe plan fits the cycle bounds.

    Notes
    -----
    Webster, F. V. (1958), *Traffic Signal Settings*, Road Research Technical Paper 39.
    ``Y`` is the sum of critical flow ratios, generalised to overlapping phases as the
    least green fraction serving every movement; greens equalise the degree of saturation
    (Webster's ``g_i proportional to y_i``). Lost time per phase is yellow plus all-red
    (start-up loss and end-of-green extension of 2 s each cancel, HCM 2016 ch. 19), so displayed and
    effective greens coincide.
    """
    bounds = check_bounds(cycle_bounds)
    q = movement_flows(network, flows, aggregate=aggregate)
    plans = []
    for t in select_lights(network, tls):
        timing = isolated_timing(network, t, q, profile=profile, permissive_factor=permissive_factor,
                                 min_green_s=min_green_s)
        cycle = clamp_cycle(webster_cycle_s(timing.lost_s, timing.Y, max_flow_ratio=max_flow_ratio,
                                            max_cycle_s=bounds[1]), timing, bounds)
        plans.append(finish_plan(timing, cycle, method="webster"))
    result = NetworkPlan.single(plans, meta={"method": "webster", "network": str(network.path)})
    assert_produced_plans_safe(result, network, profile)
    return result
