"""The report's warnings: what an engineer must look at before trusting or deploying a plan.

One row per finding (:data:`WARNING_COLUMNS`), of these kinds:

``v/c``
    A movement whose estimated flow exceeds ``vc_limit`` (0.9) of its capacity under a
    fixed timing (the existing programs or the new plans: saturation flow x effective
    green / cycle, :func:`~citybrain.app.report.tables.movement_vc`).
``short cycle``
    A light whose cycle (existing or new) is under ``min_cycle_s`` (40 s).
``storage``
    An approach lane whose peak one-minute queue (7.5 m per halting vehicle) is longer than
    the lane (:func:`~citybrain.app.report.tables.storage_table`), under some strategy.
``monitor``
    Conflict-monitor violations of a strategy (its own, or a baseline's).
``split failures``
    A phase whose split failures (hi-res events, :func:`citybrain.spm.measures`) are more
    than ``split_failure_share`` (10%) of its cycles: its green is too short for its demand.
``never inserted``
    Vehicles that never entered the network (the demand was not served).
``failed run``, ``gridlock``
    Validation runs that failed or gridlocked.
"""

from __future__ import annotations

import pandas as pd

from .data import ReportData
from .tables import movement_vc, storage_table

__all__ = ["WARNING_COLUMNS", "report_warnings"]

#: Columns of :func:`report_warnings`.
WARNING_COLUMNS = ("kind", "strategy", "where", "detail")


def report_warnings(data: ReportData, *, vc_limit: float = 0.9, min_cycle_s: float = 40.0,
                    vehicle_spacing_m: float = 7.5, split_failure_share: float = 0.1) -> pd.DataFrame:
    """Return the report's warnings (:data:`WARNING_COLUMNS`), most serious kinds first.

    Parameters
    ----------
    data
        The report's data.
    vc_limit
        Degree of saturation above which a movement is flagged.
    min_cycle_s
        Cycle (s) under which a light is flagged.
    vehicle_spacing_m
        Road length (m) one queued vehicle takes.
    split_failure_share
        Share of a phase's cycles with a split failure above which it is flagged.
    """
    rows: list[dict] = []
    runs = data.runs
    for r in runs[runs["error"].notna()].itertuples():
        rows.append({"kind": "failed run", "strategy": r.strategy, "where": f"seed {r.seed}",
                     "detail": str(r.error).splitlines()[0]})
    for r in runs[runs["gridlocked"].fillna(False).astype(bool)].itertuples():
        rows.append({"kind": "gridlock", "strategy": r.strategy, "where": f"seed {r.seed}",
                     "detail": "the run gridlocked (vehicles stopped moving)"})
    if data.monitor is not None and len(data.monitor):
        totals = data.monitor.groupby(["strategy", "kind"], sort=False).agg(
            count=("count", "sum"), ours=("ours", "any"), seeds=("seed", "nunique"))
        for (strategy, kind), t in totals.iterrows():
            who = "citybrain's" if t["ours"] else "baseline's, not citybrain's"
            rows.append({"kind": "monitor", "strategy": strategy, "where": kind,
                         "detail": f"{int(t['count'])} violation(s) in {int(t['seeds'])} seed(s) ({who})"})
    vc = movement_vc(data.network, data.flows, data.plan)
    for column, strategy in (("vc_plan", data.plan_strategy), ("vc_existing", "existing")):
        if not len(vc):
            break
        for r in vc[vc[column] > vc_limit].sort_values(column, ascending=False).itertuples():
            rows.append({"kind": "v/c", "strategy": strategy, "where": f"{r.junction}: {r.from_edge} -> {r.to_edge}",
                         "detail": f"{r.turn}: v/c {getattr(r, column):.3f} > {vc_limit:g} "
                                   f"({r.flow_vph:.0f} veh/h estimated)"})
    for strategy, plan in ((data.plan_strategy, data.plan), ("existing", data.existing_plan)):
        for period, p in plan.all_plans():
            if sum(p.splits_s) < min_cycle_s:
                rows.append({"kind": "short cycle", "strategy": strategy, "where": f"{p.tls} ({period})",
                             "detail": f"cycle {sum(p.splits_s):.0f} s < {min_cycle_s:g} s"})
    for r in storage_table(data.lanes, vehicle_spacing_m=vehicle_spacing_m).itertuples():
        rows.append({"kind": "storage", "strategy": r.strategy, "where": f"{r.junction}: lane {r.lane}",
                     "detail": f"peak queue {r.peak_queue_m:.0f} m > lane length {r.length_m:.0f} m "
                               f"in {int(r.seeds_over)} seed(s)"})
    if data.spm is not None:
        spm = data.spm[data.spm["split_failures"] > split_failure_share * data.spm["cycles"]]
        for r in spm.itertuples():
            rows.append({"kind": "split failures", "strategy": r.strategy, "where": f"{r.signal_id} phase {r.phase}",
                         "detail": f"{r.split_failures} split failure(s) in {r.cycles} cycles (seed {r.seed})"})
    ok = runs[runs["error"].isna()]
    for strategy in data.strategies:
        n = ok.loc[ok["strategy"] == strategy, "never_inserted"].astype(float)
        if len(n) and n.max() > 0:
            rows.append({"kind": "never inserted", "strategy": strategy, "where": "network",
                         "detail": f"{n.mean():.0f} vehicle(s) per run never entered the network "
                                   f"(most: {n.max():.0f}, in {int((n > 0).sum())} of {len(n)} seed(s))"})
    for note in data.notes:
        rows.append({"kind": "note", "strategy": "", "where": "", "detail": note})
    return pd.DataFrame(rows, columns=list(WARNING_COLUMNS))
