"""The results store of a sweep: one append-only Parquet file per run attempt under ``DIR/runs/``.

Each attempt of a run ends as one file ``runs/<run_id>-<attempt>.parquet`` holding one row,
written as the run ends (to a hidden temporary name, then renamed: a killed command leaves
no half-written file). Files are never rewritten. A row carries the run's identity (scenario,
window, controller and parameters, seed, protocol, SUMO and citybrain versions:
:class:`~.sweep.BenchRun`), its status (``ok`` or ``failed`` with the reason), every metric of
:class:`simulation.RunResult` and the conflict monitor's violations (:data:`COLUMNS`).

A run is done when one of its attempts is ``ok``; re-running a sweep skips those.
"""

from __future__ import annotations

import json
import math
import os
import time
import uuid
from pathlib import Path

import pandas as pd

from citybrain.exceptions import ValidationError
from simulation import RunResult
from simulation.monitor import KINDS

from .sweep import BenchRun

__all__ = ["COLUMNS", "METRICS", "RunStore", "result_row"]

#: Metrics of a run (see :mod:`simulation.metrics`): seconds per vehicle, stops per vehicle, vehicles.
METRICS: tuple[str, ...] = ("delay_s", "delay_all_s", "trip_time_s", "waiting_s", "stops", "queue_veh", "arrived",
                            "loaded", "teleports", "never_inserted")
_COUNTS = ("arrived", "loaded", "teleports", "never_inserted")
#: Every column of a stored row, in order.
COLUMNS: tuple[str, ...] = (
    "run_id", "scenario", "scenario_file", "window_begin_s", "window_end_s", "controller", "controller_name",
    "params", "seed", "protocol", "sumo_version", "citybrain_version", "attempt", "status", "error",
    *METRICS, "gridlocked", "gridlock_at_s", "violations", "violations_ours",
    *(f"violations_{k.replace('-', '_')}" for k in KINDS), "monitor", "junction_delay_s", "wall_s", "finished_at",
)


def _num(x) -> float:
    return math.nan if x is None else float(x)


def result_row(run: BenchRun, result: RunResult, attempt: int) -> dict:
    """The stored row of one attempt of ``run`` that ended with ``result``."""
    monitor = result.monitor or {}
    counts = monitor.get("counts", {})
    brief = {k: monitor[k] for k in ("total", "counts", "first", "by_tls", "ours") if k in monitor}
    return {
        "run_id": run.run_id, "scenario": run.scenario, "scenario_file": str(run.scenario_file),
        "window_begin_s": float(run.window_s[0]), "window_end_s": float(run.window_s[1]),
        "controller": run.controller.key, "controller_name": run.controller.name,
        "params": json.dumps(run.controller.kwargs, sort_keys=True), "seed": int(run.seed), "protocol": run.protocol,
        "sumo_version": run.sumo_version, "citybrain_version": run.citybrain_version, "attempt": int(attempt),
        "status": "ok" if result.ok else "failed", "error": result.error or "",
        **{m: _num(getattr(result, m)) for m in METRICS if m not in _COUNTS},
        **{m: int(getattr(result, m)) for m in _COUNTS},
        "gridlocked": bool(result.gridlocked), "gridlock_at_s": _num(result.gridlock_at_s),
        "violations": int(monitor.get("total", 0)), "violations_ours": int(monitor.get("ours", {}).get("total", 0)),
        **{f"violations_{k.replace('-', '_')}": int(counts.get(k, 0)) for k in KINDS},
        "monitor": json.dumps(brief, sort_keys=True), "junction_delay_s": json.dumps(result.junction_delay_s),
        "wall_s": float(result.wall_s), "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


class RunStore:
    """The results folder of a sweep (``runs/`` holds one Parquet file per run attempt).

    Parameters
    ----------
    folder : str or Path
        The results folder (created).
    """

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.runs = self.folder / "runs"
        self.runs.mkdir(parents=True, exist_ok=True)

    def write(self, row: dict) -> Path:
        """Store one attempt's row (atomically: a temporary file renamed into place); return its file."""
        path = self.runs / f"{row['run_id']}-{row['attempt']}.parquet"
        tmp = self.runs / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
        pd.DataFrame([row], columns=list(COLUMNS)).to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path

    def rows(self) -> pd.DataFrame:
        """Every stored attempt, one row each (columns :data:`COLUMNS`), in file-name order.

        Raises
        ------
        ValidationError
            If a file under ``runs/`` is not a stored run (naming it).
        """
        frames = []
        for path in sorted(self.runs.glob("*.parquet")):
            try:
                frame = pd.read_parquet(path)
            except Exception as exc:  # noqa: BLE001 - any unreadable file is named the same way
                msg = f"{path}: not a stored run of citybrain bench ({type(exc).__name__}: {exc})."
                raise ValidationError(msg) from None
            missing = [c for c in ("run_id", "scenario", "controller", "seed", "status", "attempt") if c not in frame]
            if missing:
                msg = f"{path}: not a stored run of citybrain bench (no column {', '.join(missing)})."
                raise ValidationError(msg)
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=list(COLUMNS))
        return pd.concat(frames, ignore_index=True)

    def final(self) -> pd.DataFrame:
        """One row per run: its ``ok`` attempt, else its last attempt."""
        rows = self.rows()
        if rows.empty:
            return rows
        rows = rows.assign(_ok=rows["status"] == "ok").sort_values(["run_id", "_ok", "attempt"])
        return rows.groupby("run_id", sort=False).tail(1).drop(columns="_ok").reset_index(drop=True)

    def done_ids(self) -> set[str]:
        """The runs with an ``ok`` attempt."""
        rows = self.rows()
        return set(rows.loc[rows["status"] == "ok", "run_id"]) if len(rows) else set()

    def attempts(self) -> dict[str, int]:
        """Attempts stored so far, per run."""
        rows = self.rows()
        return rows.groupby("run_id")["attempt"].max().astype(int).to_dict() if len(rows) else {}
