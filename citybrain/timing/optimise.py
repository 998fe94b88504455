"""The front function of signal timing: ``optimise_plan(network, flows, method, options)``.

:data:`METHODS` registers every timing method by name; each is a function
``f(network, flows, options: TimingOptions, **method_kwargs) -> NetworkPlan`` that returns
plans which passed the safety gate. ``"auto"`` picks one from the network (:func:`choose_method`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import fields

from ..exceptions import ValidationError
from ..plans.model import NetworkPlan
from .hcm import hcm
from .options import TimingOptions
from .webster import webster

__all__ = ["optimise_plan", "default_method", "METHODS", "get_method", "choose_method", "auto",
           "COORDINATION_TRAVEL_S", "TimingOptions"]

#: The method used when none is given; may change between releases.
default_method = webster

#: Signals whose linking road takes at most this long to drive (s) are coordinated by ``"auto"``.
COORDINATION_TRAVEL_S = 60.0


def _coordinated(network, flows, options: TimingOptions = TimingOptions(), **kwargs) -> NetworkPlan:
    """:func:`citybrain.timing.coordination.coordinated`, imported when first used (numba kernels)."""
    from .coordination import coordinated

    return coordinated(network, flows, options, **kwargs)


def choose_method(network, travel_s: float = COORDINATION_TRAVEL_S) -> str:
    """Return ``"coordinated"`` when two signals are linked by a road under ``travel_s`` (s) to drive, else ``"webster"``."""
    g = network.graph
    for u, v, d in g.edges(data=True):
        if u != v and g.nodes[u].get("tls") and g.nodes[v].get("tls"):
            speed = d.get("speed_mps") or 13.9
            if d.get("length_m", math.inf) / speed <= travel_s:
                return "coordinated"
    return "webster"


def auto(network, flows, options: TimingOptions = TimingOptions(), **kwargs) -> NetworkPlan:
    """Time with the method :func:`choose_method` picks for ``network``; ``kwargs`` go to that method."""
    return METHODS[choose_method(network)](network, flows, options, **kwargs)


#: Registered methods by name.
METHODS: dict[str, Callable[..., NetworkPlan]] = {"webster": webster, "hcm": hcm, "coordinated": _coordinated,
                                                  "auto": auto}


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


def optimise_plan(network, flows, method=None, options: TimingOptions = TimingOptions(),
                  **method_kwargs) -> NetworkPlan:
    """Return signal plans (seconds) for a network from a flow table.

    Parameters
    ----------
    network : RoadNetwork
        The road network.
    flows : pandas.DataFrame
        Flow table with columns :data:`citybrain.estimation.FLOW_COLUMNS` (the estimator's
        output, or ``flows.csv``).
    method : str or callable, optional
        A name of :data:`METHODS` (``"webster"``, the default :data:`default_method`;
        ``"hcm"``, ``"coordinated"``, ``"auto"``) or a function
        ``f(network, flows, options, **method_kwargs) -> NetworkPlan``.
    options : TimingOptions
        The options every method shares (lights, profile, cycle bounds, ...), passed whole.
    **method_kwargs
        Options of that method only (e.g. ``n_restarts`` of ``"coordinated"``).

    Returns
    -------
    NetworkPlan
        Safe plans (every plan passed :func:`citybrain.plans.safety.require_safe`).

    Raises
    ------
    ValidationError
        Bad flows or arguments (a shared option given as a keyword, too).
    InfeasiblePlanError
        The minimum greens do not fit a cycle.
    UnsafePlanError
        A plan breaks a hard safety rule.
    """
    shared = sorted({f.name for f in fields(TimingOptions)} & set(method_kwargs))
    if shared:
        msg = (f"{', '.join(repr(k) for k in shared)} of optimise_plan belong in its options: pass "
               f"options=TimingOptions({', '.join(f'{k}=...' for k in shared)}).")
        raise ValidationError(msg)
    if not isinstance(options, TimingOptions):
        msg = f"The 'options' of optimise_plan must be a TimingOptions. Got {type(options).__name__} instead."
        raise ValidationError(msg)
    return get_method(method)(network, flows, options, **method_kwargs)
