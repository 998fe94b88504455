"""The front function of signal timing: ``optimise_plan(network, flows, method=...)``."""

from __future__ import annotations

from collections.abc import Callable

from ..exceptions import ValidationError
from ..plans.model import NetworkPlan
from .hcm import hcm
from .webster import webster

__all__ = ["optimise_plan", "default_method", "METHODS", "get_method"]

#: The method used when none is given; may change between releases.
default_method = webster


def _coordinated(*args, **kwargs):
    from .coordination import coordinated

    return coordinated(*args, **kwargs)


#: Registered methods by name.
METHODS: dict[str, Callable[..., NetworkPlan]] = {"webster": webster, "hcm": hcm, "coordinated": _coordinated}


def get_method(method) -> Callable[..., NetworkPlan]:
    """Return a timing method from a name, a callable or ``None`` (the default).

    Raises
    ------
    ValidationError
        If the name is unknown.
    """
    if method is None:
        return default_method
    if callable(method):
        return method
    if method not in METHODS:
        msg = f"The 'method' of optimise_plan must be one of {sorted(METHODS)} or a callable. Got {method!r} instead."
        raise ValidationError(msg)
    return METHODS[method]


def optimise_plan(network, flows, *, method=None, **kwargs) -> NetworkPlan:
    """Return signal plans (seconds) for a network from a flow table.

    Parameters
    ----------
    network : RoadNetwork
        The road network.
    flows : pandas.DataFrame
        Flow table with columns ``interval_start, interval_s, junction, from_edge, to_edge,
        flow_vph, se_vph`` (the estimator's output, or ``flows.csv``).
    method : str or callable, optional
        ``"webster"`` (default, :data:`default_method`), ``"hcm"``, ``"coordinated"``, or a
        function ``f(network, flows, **kwargs) -> NetworkPlan``.
    **kwargs
        Passed to the method (``tls``, ``profile``, ``cycle_bounds`` ...).

    Returns
    -------
    NetworkPlan
        Safe plans (every plan passes :func:`citybrain.plans.check_plan` without errors).

    Raises
    ------
    ValidationError
        Bad flows or arguments.
    InfeasiblePlanError
        No safe plan meets the constraints.
    """
    return get_method(method)(network, flows, **kwargs)
