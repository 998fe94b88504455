"""The plain data a report is made of (:class:`ReportData`)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from citybrain.network import RoadNetwork
from citybrain.plans.model import NetworkPlan

__all__ = ["ReportData", "STRATEGY_LABELS", "RUN_COLUMNS", "MONITOR_COLUMNS"]

#: Human labels of the strategies the runner knows; others are shown by name.
STRATEGY_LABELS: dict[str, str] = {
    "existing": "existing programs",
    "plan": "new plans (citybrain)",
    "maxpressure": "max-pressure (adaptive)",
    "maxpressure-cyclic": "cyclic max-pressure (adaptive)",
    "sumo-actuated": "SUMO actuated (adaptive)",
    "sumo-delay-based": "SUMO delay-based (adaptive)",
    "actuated": "actuated (adaptive)",
    "actuated-pressure": "pressure-actuated (adaptive, recommended)",
    "adaptive-plan": "adaptive plan",
}

#: Columns of :attr:`ReportData.runs` (one row per strategy and seed).
RUN_COLUMNS = (
    "strategy", "seed", "delay_s", "delay_all_s", "trip_time_s", "waiting_s", "stops", "queue_veh",
    "arrived", "loaded", "never_inserted", "teleports", "gridlocked", "error", "wall_s",
)

#: Columns of :attr:`ReportData.monitor` (one row per strategy, seed and violation kind found).
MONITOR_COLUMNS = ("strategy", "seed", "kind", "count", "ours", "first_time_s", "first_tls", "detail")


@dataclass
class ReportData:
    """Everything a report shows, as plain data.

    Attributes
    ----------
    scenario : str
        Scenario name.
    description : str
        Scenario description.
    network : RoadNetwork
        The scenario's network.
    seeds : list of int
        Validation seeds (the same for every strategy).
    strategies : list of str
        Strategies in report order; ``"existing"`` (the network's own programs) first.
    runs : pandas.DataFrame
        :data:`RUN_COLUMNS`, one row per strategy and seed.
    junctions : pandas.DataFrame
        ``strategy, seed, junction, delay_s, queue_veh`` (time loss on the approaches per
        vehicle, mean halting vehicles).
    queues : pandas.DataFrame
        ``strategy, seed, time_s, queue_veh``: halting vehicles on the signal approaches,
        mean per minute (seconds from the scenario's begin).
    lanes : pandas.DataFrame
        ``strategy, seed, lane, junction, length_m, peak_queue_veh``: per approach lane the
        highest one-minute mean of halting vehicles.
    flows : pandas.DataFrame
        Estimated movement flows (the estimator's flow table).
    truth : pandas.DataFrame or None
        True movement counts of the counting run (``interval_start, interval_s, junction,
        from_edge, to_edge, count``), when the twin produced them.
    fit : dict
        The estimator's summary (``FlowEstimate.summary()``).
    plan : NetworkPlan
        The new plans.
    plan_method : str
        How the plans were made.
    begin_s, end_s : float
        The scenario's window (seconds).
    sumo_version : str
        SUMO version of the runs.
    count_seed : int
        Seed of the counting run.
    counts_source : str
        Where the counts came from when not from a counting run (a user's file); ``""``: the run.
    timings : dict
        Wall time (s) per step.
    notes : list of str
        Extra lines for the report (warnings, failed runs).
    monitor : pandas.DataFrame or None
        :data:`MONITOR_COLUMNS`: the twin's conflict monitor, one row per strategy, seed and
        kind with violations; ``ours`` when citybrain's plans or controllers caused them (the
        network's programs and SUMO's own are baselines).
    """

    scenario: str
    description: str
    network: RoadNetwork
    seeds: list[int]
    strategies: list[str]
    runs: pd.DataFrame
    junctions: pd.DataFrame
    queues: pd.DataFrame
    lanes: pd.DataFrame
    flows: pd.DataFrame
    truth: pd.DataFrame | None
    fit: dict
    plan: NetworkPlan
    plan_method: str
    begin_s: float = 0.0
    end_s: float = 3600.0
    sumo_version: str = ""
    count_seed: int = 0
    counts_source: str = ""
    timings: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    monitor: pd.DataFrame | None = None

    def label(self, strategy: str) -> str:
        """Human label of a strategy."""
        return STRATEGY_LABELS.get(strategy, strategy)
