"""``citybrain bench``: strategies x scenarios x seeds into a resumable results store, and its report.

- :mod:`.sweep`: what a sweep runs (:class:`Sweep`, from options or a TOML file);
- :mod:`.plugins`: controllers by reference (``package.module:Class``, ``file.py:Class``,
  ``rl:policy``), resolved inside each run's process;
- :mod:`.strategies`: plan strategies (``webster``, ``hcm``, ``coordinated`` from camera counts;
  SUMO's ``sumo-webster``, ``sumo-webster-coord``);
- :mod:`.store`: the results store (append-only Parquet, one file per run attempt);
- :mod:`.executor`: :func:`run_sweep` on the local process pool or a Dask cluster (:mod:`.cluster`);
- :mod:`.report`: statistics per scenario x controller against a baseline, markdown, PNG, JSON.
"""

from __future__ import annotations

from .executor import SweepOutcome, run_sweep
from .plugins import resolve_controller
from .store import RunStore
from .strategies import STRATEGIES
from .sweep import ControllerChoice, Sweep, read_sweep, sweep_from_options

__all__ = [
    "STRATEGIES",
    "ControllerChoice",
    "RunStore",
    "Sweep",
    "SweepOutcome",
    "read_sweep",
    "resolve_controller",
    "run_sweep",
    "sweep_from_options",
]
