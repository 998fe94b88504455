"""Time-of-day plans: split a day of flows into periods and time each one.

:func:`split_periods` cuts the sequence of intervals into ``n_periods`` contiguous periods
that minimise the within-period squared deviation of the movement-flow vectors (optimal 1-D
segmentation by dynamic programming, Fisher 1958 "On grouping for maximum homogeneity").
:func:`time_of_day_plan` times each period with a timing method (on that period's flows,
the busiest interval of each movement by default) and returns a :class:`NetworkPlan` whose
schedule switches at the period starts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..exceptions import ValidationError
from ..plans.model import DAY_S, NetworkPlan, PlanPeriod, ScheduleEntry
from ..estimation import FLOW_COLUMNS
from .options import TimingOptions

__all__ = ["split_periods", "time_of_day_plan"]


def split_periods(flows: pd.DataFrame, n_periods: int = 3) -> list[tuple[float, float]]:
    """Return ``[(start_s, end_s)]`` of ``n_periods`` contiguous periods of homogeneous flows.

    Raises
    ------
    ValidationError
        If columns are missing or there are fewer intervals than periods.
    """
    missing = [c for c in FLOW_COLUMNS if c not in flows.columns]
    if missing:
        msg = f"The flow table lacks column(s) {missing}; expected exactly {list(FLOW_COLUMNS)}."
        raise ValidationError(msg)
    column = "demand_vph" if "demand_vph" in flows.columns else "flow_vph"  # as timing: demand when measured
    wide = flows.pivot_table(index="interval_start", columns=["junction", "from_edge", "to_edge"],
                             values=column, aggfunc="mean").fillna(0.0).sort_index()
    starts = wide.index.to_numpy(dtype=float)
    step = float(flows["interval_s"].median())
    n = len(starts)
    if not 1 <= n_periods <= n:
        msg = f"The 'n_periods' must be in [1, {n}] (the number of intervals). Got {n_periods} instead."
        raise ValidationError(msg)
    x = wide.to_numpy(dtype=float)
    csum = np.vstack([np.zeros(x.shape[1]), np.cumsum(x, axis=0)])
    csq = np.r_[0.0, np.cumsum((x * x).sum(axis=1))]

    def cost(i, j):  # intervals i..j-1
        s = csum[j] - csum[i]
        return csq[j] - csq[i] - float(s @ s) / (j - i)

    best = np.full((n_periods + 1, n + 1), np.inf)
    back = np.zeros((n_periods + 1, n + 1), dtype=int)
    best[0, 0] = 0.0
    for k in range(1, n_periods + 1):
        for j in range(k, n + 1):
            for i in range(k - 1, j):
                v = best[k - 1, i] + cost(i, j)
                if v < best[k, j]:
                    best[k, j], back[k, j] = v, i
    cuts, j = [], n
    for k in range(n_periods, 0, -1):
        i = back[k, j]
        cuts.append((float(starts[i]), float(starts[j - 1] + step)))
        j = i
    return cuts[::-1]


def time_of_day_plan(network, flows: pd.DataFrame, *, n_periods: int = 3, method=None,
                     options: TimingOptions | None = None, **method_kwargs) -> NetworkPlan:
    """Return a :class:`NetworkPlan` with one period per homogeneous stretch of the day.

    Parameters
    ----------
    network
        The road network.
    flows
        Flow table over the day (``interval_start`` in seconds after midnight).
    n_periods
        Number of periods.
    method
        Timing method (name or callable, as :func:`citybrain.timing.optimise_plan`).
    options
        Options of the method (:class:`~citybrain.timing.options.TimingOptions`); default
        ``TimingOptions(aggregate="max")``: each period is timed for the busiest interval of
        each movement.
    **method_kwargs
        Passed to the method.

    Returns
    -------
    NetworkPlan
        Periods named ``P1_HHMM`` ..., scheduled at their starts; ``meta`` holds the options.
    """
    from .optimise import optimise_plan

    options = TimingOptions(aggregate="max") if options is None else options
    periods, schedule = [], []
    for k, (start, end) in enumerate(split_periods(flows, n_periods)):
        part = flows[(flows["interval_start"] >= start) & (flows["interval_start"] < end)]
        plan = optimise_plan(network, part, method, options, **method_kwargs)
        s = int(start % DAY_S)
        name = f"P{k + 1}_{s // 3600:02d}{(s % 3600) // 60:02d}"
        periods.append(PlanPeriod(name, plan.periods[0].plans))
        schedule.append(ScheduleEntry(float(start % DAY_S), name))
    schedule.sort(key=lambda e: e.start_s)
    return NetworkPlan(tuple(periods), tuple(schedule),
                       {"method": "time-of-day", "periods": len(periods), "options": options.to_dict()})
