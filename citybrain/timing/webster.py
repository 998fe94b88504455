"""Webster's isolated fixed-time method: cycle ``(1.5 L + 5) / (1 - Y)``, equal-saturation greens."""

from __future__ import annotations

from ..plans.model import NetworkPlan
from .options import TimingOptions
from .splits import isolated_plans

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


def webster(network, flows, options: TimingOptions = TimingOptions(), *, max_flow_ratio: float = 0.95) -> NetworkPlan:
    """Return isolated Webster plans (seconds) for every light (offsets 0).

    Parameters
    ----------
    network
        The road network; each light keeps its own phase sequence, with green states made
        safe and clearances from the profile.
    flows
        Flow table (:data:`citybrain.estimation.FLOW_COLUMNS`), combined over intervals by
        ``options.aggregate``.
    options
        Lights, safety profile, cycle bounds, permissive factor, aggregation and minimum
        green (:class:`~citybrain.timing.options.TimingOptions`).
    max_flow_ratio
        ``Y`` at and above which the cycle is the maximum.

    Returns
    -------
    NetworkPlan
        One period, ``method="webster"``.

    Raises
    ------
    ValidationError
        If the flows or arguments are invalid (every problem listed).
    InfeasiblePlanError
        If the minimum greens do not fit a cycle.
    UnsafePlanError
        If a plan breaks a hard safety rule.

    Notes
    -----
    Webster, F. V. (1958), *Traffic Signal Settings*, Road Research Technical Paper 39.
    ``Y`` is the sum of critical flow ratios, generalised to overlapping phases as the
    least green fraction serving every movement; greens equalise the degree of saturation
    (Webster's ``g_i proportional to y_i``). Lost time per phase is yellow plus all-red
    (start-up loss and end-of-green extension of 2 s each cancel, HCM 2016 ch. 19), so displayed and
    effective greens coincide.
    """
    def cycle(timing, max_cycle_s):
        return webster_cycle_s(timing.lost_s, timing.Y, max_flow_ratio=max_flow_ratio, max_cycle_s=max_cycle_s)

    return isolated_plans(network, flows, options, "webster", cycle)
