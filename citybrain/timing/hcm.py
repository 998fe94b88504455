"""The HCM critical-movement (quick estimation) method for isolated signals."""

from __future__ import annotations

from ..plans.model import NetworkPlan
from .options import TimingOptions
from .splits import isolated_plans

__all__ = ["hcm", "hcm_cycle_s"]


def hcm_cycle_s(lost_s: float, critical_ratio: float, *, target_vc: float = 0.9, lane_sat_vph: float = 1800.0,
                reference_sum_vph: float = 1710.0, max_cycle_s: float = 180.0) -> float:
    """Return the HCM quick-estimation cycle (seconds) ``L / (1 - Vc / (RS * Xc))``.

    ``Vc`` is the sum of critical lane volumes (through-car equivalents: ``Y`` times a lane's
    saturation flow), ``RS`` the reference sum flow rate, ``Xc`` the target critical v/c.
    When ``Vc`` reaches ``0.98 RS Xc`` or more the cycle is ``max_cycle_s``.

    Examples
    --------
    >>> round(hcm_cycle_s(10.0, 0.5), 1)
    24.1
    """
    vc = critical_ratio * lane_sat_vph
    ratio = vc / (reference_sum_vph * target_vc)
    if ratio >= 0.98:
        return float(max_cycle_s)
    return float(min(lost_s / (1.0 - ratio), max_cycle_s))


def hcm(network, flows, options: TimingOptions = TimingOptions(), *, target_vc: float = 0.9,
        reference_sum_vph: float = 1710.0) -> NetworkPlan:
    """Return isolated plans (seconds) by the HCM critical-movement method (offsets 0).

    Parameters
    ----------
    network, flows, options
        As for :func:`citybrain.timing.webster.webster`.
    target_vc
        Target critical degree of saturation ``Xc``.
    reference_sum_vph
        Reference sum flow rate ``RS`` (veh/h).

    Returns
    -------
    NetworkPlan
        One period, ``method="hcm"``.

    Raises
    ------
    ValidationError, InfeasiblePlanError, UnsafePlanError
        As for :func:`citybrain.timing.webster.webster`.

    Notes
    -----
    Highway Capacity Manual, 6th ed. (TRB 2016), Chapter 31 (quick estimation method):
    critical lane volumes per phase from movement flows, lanes and saturation flows (turn
    factors as HCM Exh. 19-13); cycle from the critical sum and a target v/c; greens in
    proportion to the critical lane volumes (equal degree of saturation).
    """
    def cycle(timing, max_cycle_s):
        return hcm_cycle_s(timing.lost_s, timing.Y, target_vc=target_vc, reference_sum_vph=reference_sum_vph,
                           max_cycle_s=max_cycle_s)

    return isolated_plans(network, flows, options, "hcm", cycle)
