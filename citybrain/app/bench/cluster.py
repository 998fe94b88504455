"""Runs on a Dask distributed cluster (``pip install 'citybrain[distributed]'``).

The user starts ``dask scheduler`` and ``dask worker tcp://HOST:PORT`` processes (with
citybrain installed, and the scenario, plan and plug-in files at the same paths); each run
becomes one Dask task that runs it in a fresh Python process (:func:`.isolated.run_isolated`).
A worker lost mid-run has its task re-run by Dask on another worker; once Dask gives up, the
run ends as failed with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from citybrain.exceptions import BackendUnavailableError, ValidationError

from .isolated import run_isolated

__all__ = ["INSTALL", "run_on_dask"]

INSTALL = "pip install 'citybrain[distributed]'"


def run_on_dask(
    address: str,
    tasks: Sequence[Any],
    folders: Sequence[Path],
    *,
    timeout_s: float,
    on_result: Callable[[int, Any], None] | None = None,
    connect_timeout_s: float = 30.0,
) -> list:
    """Run every task on the Dask cluster at ``address``; return the results in ``tasks`` order.

    Parameters
    ----------
    address : str
        The scheduler, ``tcp://HOST:PORT``.
    tasks : sequence of simulation.runner.Task
        The runs.
    folders : sequence of Path
        Each run's folder (on the workers' file system).
    timeout_s : float
        Wall-clock limit of one run (seconds).
    on_result : callable or None
        ``on_result(index, result)`` in this process as each run ends.
    connect_timeout_s : float
        How long to wait for the scheduler (seconds).

    Raises
    ------
    BackendUnavailableError
        If ``distributed`` is not installed (the message gives the command).
    ValidationError
        If the scheduler cannot be reached.
    """
    try:
        from distributed import Client, as_completed
    except ImportError:
        msg = f"--scheduler needs Dask distributed, which is not installed: {INSTALL}"
        raise BackendUnavailableError(msg) from None
    try:
        client = Client(address, timeout=connect_timeout_s)
    except (OSError, TimeoutError, ValueError) as exc:
        msg = f"--scheduler {address}: cannot reach the Dask scheduler ({type(exc).__name__}: {exc})."
        raise ValidationError(msg) from None
    results: dict[int, Any] = {}
    try:
        futures = {client.submit(run_isolated, task, str(folder), timeout_s, pure=False): i
                   for i, (task, folder) in enumerate(zip(tasks, folders, strict=True))}
        for future in as_completed(futures):
            index = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker, a scheduler gone: the run failed, the rest go on
                result = tasks[index].failed(f"the Dask worker running it was lost ({type(exc).__name__}: {exc})", 0.0)
            results[index] = result
            if on_result is not None:
                on_result(index, result)
    finally:
        client.close()
    return [results[i] for i in range(len(tasks))]
