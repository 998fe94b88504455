"""The plain data a report is made of (:class:`ReportData`), saved with the run to re-render it.

:meth:`ReportData.save` writes ``report_data/`` into a run's folder: ``meta.json`` (the
scalars, the network's path), ``plan.json`` and one Parquet file per table;
:meth:`ReportData.load` reads it back (``citybrain report DIR``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pandas as pd

from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork, graph_from_sumo_net
from citybrain.plans.formats import plans_from_network, read_plans_json, write_plans_json
from citybrain.plans.model import NetworkPlan

__all__ = ["ReportData", "STRATEGY_LABELS", "RUN_COLUMNS", "MONITOR_COLUMNS", "DATA_FOLDER"]

#: Folder of a run's saved report data, inside the run's folder.
DATA_FOLDER = "report_data"
_TABLES = ("runs", "junctions", "queues", "lanes", "flows", "truth", "monitor", "spm")
_SCALARS = ("scenario", "description", "seeds", "strategies", "fit", "plan_method", "begin_s", "end_s", "sumo_version",
            "count_seed", "timings", "notes", "corridor", "extra", "plan_strategy")

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
    "plans-once": "plans made once (first hour's counts)",
    "closed-loop": "closed loop (re-planned)",
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
        Strategies in report order, the baseline first (``"existing"``: the network's own
        programs; the closed loop: ``"plans-once"``); changes are taken against it.
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
    spm : pandas.DataFrame or None
        Signal performance measures from the hi-res events of the first seed
        (:func:`citybrain.spm.measures`' columns plus ``strategy, seed``), for the existing
        programs and the new plans.
    plan_strategy : str
        The strategy that runs :attr:`plan` (``"plan"``; the closed loop: ``"plans-once"``).
    corridor : list of str or None
        Junctions of the time-space diagram in travel order (``None``: the main corridor).
    extra : dict
        Further report lines by name (``"safety"``: the plans check's summary).
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
    corridor: list[str] | None = None
    extra: dict = field(default_factory=dict)
    plan_strategy: str = "plan"
    spm: pd.DataFrame | None = None

    @property
    def baseline(self) -> str:
        """The strategy changes are taken against: the first."""
        return self.strategies[0]

    @cached_property
    def existing_plan(self) -> NetworkPlan:
        """The network's own programs as a plan (what the ``existing`` strategy runs)."""
        return plans_from_network(self.network, name="all-day")

    def save(self, folder: str | Path) -> Path:
        """Write this data into ``folder/report_data/`` (created); return that folder."""
        where = Path(folder) / DATA_FOLDER
        where.mkdir(parents=True, exist_ok=True)
        meta = {name: getattr(self, name) for name in _SCALARS}
        meta["network"] = str(Path(self.network.path).resolve())
        (where / "meta.json").write_text(json.dumps(meta, indent=2, default=float) + "\n")
        write_plans_json(self.plan, where / "plan.json")
        for name in _TABLES:
            frame = getattr(self, name)
            if frame is not None:
                frame.to_parquet(where / f"{name}.parquet", index=False)
        return where

    @classmethod
    def load(cls, folder: str | Path) -> ReportData:
        """Read the data :meth:`save` wrote into a run's ``folder``.

        Raises
        ------
        ValidationError
            If ``folder`` holds no saved report data, or its network file is gone.
        """
        where = Path(folder) / DATA_FOLDER
        meta_path = where / "meta.json"
        if not meta_path.is_file():
            msg = (f"{folder}: no saved report data ({DATA_FOLDER}/meta.json); expected the folder of a "
                   f"'citybrain run' (made by this version).")
            raise ValidationError(msg)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            msg = f"{meta_path}: not the JSON 'citybrain run' writes ({exc}); run the job again."
            raise ValidationError(msg) from exc
        expected = {*_SCALARS, "network"}
        if not isinstance(meta, dict) or set(meta) != expected:
            got = sorted(meta) if isinstance(meta, dict) else type(meta).__name__
            msg = f"{meta_path}: expected the fields {sorted(expected)}, got {got}; run the job again."
            raise ValidationError(msg)
        net_path = Path(meta.pop("network"))
        if not net_path.is_file():
            msg = f"{meta_path}: the run's network {net_path} is gone; expected the SUMO .net.xml the run used."
            raise ValidationError(msg)
        network = graph_from_sumo_net(net_path)
        tables = {name: _read_table(where / f"{name}.parquet") for name in _TABLES}
        if tables["runs"] is None:
            msg = f"{where / 'runs.parquet'}: missing; expected the runs of a 'citybrain run'."
            raise ValidationError(msg)
        tables["runs"]["error"] = tables["runs"]["error"].astype(object).where(tables["runs"]["error"].notna(), None)
        plan = read_plans_json(where / "plan.json", network=network)
        return cls(network=network, plan=plan, **tables, **meta)

    def label(self, strategy: str) -> str:
        """Human label of a strategy."""
        return STRATEGY_LABELS.get(strategy, strategy)


def _read_table(path: Path) -> pd.DataFrame | None:
    """A saved table, or ``None`` when it was not saved.

    Raises
    ------
    ValidationError
        If the file is not a readable Parquet file.
    """
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:
        msg = f"{path}: not a readable Parquet table ({exc}); run the job again."
        raise ValidationError(msg) from exc
