"""One run in a fresh Python process, stopped at a wall-clock limit: how a Dask worker runs a run.

A Dask worker's process is daemonic and may not start ``multiprocessing`` children, and a
hung or crashing SUMO (libsumo runs inside the Python process) must not take the worker
down. :func:`run_isolated` therefore pickles the run (a :class:`simulation.runner.Task`) into
its folder and runs it with ``python -m citybrain.app.bench.isolated FOLDER``, which writes
the result back as ``result.pickle``. SUMO's messages go to the folder's ``sumo-messages.log``.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from citybrain.exceptions import CityBrainError

__all__ = ["run_isolated"]

_TASK, _RESULT = "task.pickle", "result.pickle"


def run_isolated(task: Any, folder: str | Path, timeout_s: float) -> Any:
    """Run ``task`` in a new Python process within ``timeout_s`` wall-clock seconds; return its result.

    A run that raised, whose process died or that passed the limit gives ``task.failed(reason, wall_s)``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / _TASK).write_bytes(pickle.dumps(task))
    (folder / _RESULT).unlink(missing_ok=True)
    started = time.monotonic()
    with (folder / "sumo-messages.log").open("ab") as log:
        try:
            proc = subprocess.run([sys.executable, "-m", "citybrain.app.bench.isolated", str(folder)],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                  timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            msg = f"run exceeded the wall-clock limit of {timeout_s:g} s and was stopped (SUMO hung?)"
            return task.failed(msg, time.monotonic() - started)
    wall = time.monotonic() - started
    path = folder / _RESULT
    if not path.is_file():
        return task.failed(f"the run's process died (exit code {proc.returncode})", wall)
    kind, payload = pickle.loads(path.read_bytes())
    return payload if kind == "done" else task.failed(payload, wall)


def _main(folder: Path) -> None:
    """In the run's process: run the pickled task and pickle its outcome."""
    task = pickle.loads((folder / _TASK).read_bytes())
    try:
        outcome = ("done", task.run(folder, lambda _s: None))
    except CityBrainError as exc:
        outcome = ("error", str(exc))
    except Exception as exc:  # noqa: BLE001 - report any crash of the run as its failure
        outcome = ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")
    tmp = folder / f".{_RESULT}.tmp"
    tmp.write_bytes(pickle.dumps(outcome))
    os.replace(tmp, folder / _RESULT)


if __name__ == "__main__":
    _main(Path(sys.argv[1]))
