"""Reports of the main job (``citybrain run``) and the closed loop: tables, figures, ``report.md`` and ``report.html``.

Pure reporting: everything here works on plain data (pandas frames, the network model and
plans) collected by the runner (:mod:`citybrain.runner`); nothing here runs SUMO or imports
``simulation``.
"""

from __future__ import annotations

from .data import STRATEGY_LABELS, ReportData
from .figures import FIGURES, render_figures
from .tables import (
    METRICS,
    hcm_los,
    junction_table,
    movement_vc,
    pairwise_table,
    ranking_table,
    storage_table,
    strategy_table,
)
from .warnings import report_warnings
from .write import write_report

__all__ = [
    "FIGURES",
    "METRICS",
    "STRATEGY_LABELS",
    "ReportData",
    "hcm_los",
    "junction_table",
    "movement_vc",
    "pairwise_table",
    "ranking_table",
    "render_figures",
    "report_warnings",
    "storage_table",
    "strategy_table",
    "write_report",
]
