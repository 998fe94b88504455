"""The one process pool: every twin run in its own supervised process, with a wall-clock limit.

libsumo runs one simulation per process, and a hung SUMO must be stoppable, so
:func:`run_many` gives every run a fresh ``spawn`` process and stops it at a wall-clock
limit. A run that fails, crashes or hangs ends as a failed result carrying the reason; the
other runs' results are kept. A gridlocked run is reported as such (``gridlocked``), not
hidden.

A run is a :class:`~simulation.RunSpec` (the twin under one controller and seed) or any
picklable :class:`Task`: an object whose ``run`` executes in the child process (the closed
loop's re-planning twin is one).

With ``serve_port``, a RunSpec's run also listens on ``127.0.0.1:<port>`` for plan changes
(:mod:`simulation.live`); the twin applies them at the next cycle boundary. A
:class:`ServedRun` serves on a socket its parent bound (``citybrain simulate --serve``).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import socket
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Protocol

from citybrain import config
from citybrain.exceptions import CityBrainError, ValidationError

from .scenario import Scenario
from .run import RunResult, RunSpec
from .twin import Twin

__all__ = ["Task", "ServedRun", "run_many", "run_seeds", "run_one", "failed_result", "seeds_from"]


class Task(Protocol):
    """A picklable unit of work that :func:`run_many` runs in a child process.

    Attributes
    ----------
    duration_s : float
        Simulated seconds the run covers (for the progress bar).
    """

    duration_s: float

    def run(self, workdir: Path, on_progress: Callable[[float], None]) -> Any:
        """Do the work in the child process; ``on_progress(seconds_simulated)`` reports progress."""

    def failed(self, error: str, wall_s: float) -> Any:
        """Return the result of a run that failed with ``error`` after ``wall_s`` seconds."""


def seeds_from(scenario: Scenario, *, seeds: int | None = None, seed: int | None = None) -> list[int]:
    """Return the seeds to run: ``seed`` alone, ``0..seeds-1``, or the scenario's default.

    Raises
    ------
    ValidationError
        If both are given, or ``seeds`` < 1, or ``seed`` < 0.
    """
    if seeds is not None and seed is not None:
        msg = "Give either --seeds N or --seed S, not both."
        raise ValidationError(msg)
    if seed is not None:
        if seed < 0:
            msg = f"--seed must be >= 0, got {seed}."
            raise ValidationError(msg)
        return [int(seed)]
    n = scenario.seeds if seeds is None else seeds
    if n < 1:
        msg = f"--seeds must be >= 1, got {n}."
        raise ValidationError(msg)
    return list(range(n))


def run_one(spec: RunSpec, workdir: str | Path, on_progress: Callable[[float], None] | None = None) -> RunResult:
    """Run one spec in this process (libsumo: one at a time per process).

    Raises
    ------
    SimulationError
        If SUMO fails.
    """

    twin = Twin(spec, workdir, on_progress=on_progress)
    if spec.serve_port is None:
        return twin.run()
    from .live import PlanServer

    with PlanServer(twin, spec.serve_port):
        return twin.run()


def failed_result(spec: RunSpec, error: str, wall_s: float) -> RunResult:
    """Return the :class:`~simulation.RunResult` of a run of ``spec`` that failed with ``error``."""

    return RunResult(
        scenario=spec.scenario.name,
        controller=spec.controller,
        protocol=spec.protocol,
        seed=spec.seed,
        backend=spec.backend,
        sumo_version="",
        delay_s=math.nan,
        wall_s=wall_s,
        error=error,
    )


@dataclass(frozen=True, slots=True)
class _TwinRun:
    """A RunSpec as a :class:`Task`."""

    spec: RunSpec

    @property
    def duration_s(self) -> float:
        return self.spec.scenario.duration_s

    def run(self, workdir: Path, on_progress: Callable[[float], None]) -> RunResult:
        return run_one(self.spec, workdir, on_progress)

    def failed(self, error: str, wall_s: float) -> RunResult:
        return failed_result(self.spec, error, wall_s)


@dataclass(frozen=True)
class ServedRun:
    """A twin run serving plans on a socket bound by the parent (a :class:`~simulation.runner.Task`).

    The parent binds the port (:func:`simulation.live.bind_plan_socket`) before announcing it; the socket
    travels to the run's process with it.
    """

    spec: RunSpec
    sock: socket.socket

    @property
    def duration_s(self) -> float:
        """Simulated seconds of the run."""
        return self.spec.scenario.duration_s

    def run(self, workdir: Path, on_progress) -> RunResult:
        """Run the twin with its plan server (in the run's process)."""
        from .live import PlanServer

        twin = Twin(self.spec, workdir, on_progress=on_progress)
        with PlanServer(twin, self.sock):
            return twin.run()

    def failed(self, error: str, wall_s: float) -> RunResult:
        """The result of a run that failed with ``error``."""
        return failed_result(self.spec, error, wall_s)


def _child(task: Task, workdir: str, index: int, conn: Connection) -> None:
    """Entry point of a run's process: run, stream progress, send the result."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # SUMO prints to stdout; keep it off the parent's (JSON) output
    Path(workdir).mkdir(parents=True, exist_ok=True)
    messages = os.open(Path(workdir) / "sumo-messages.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(messages, 2)  # SUMO's warnings go to the run's folder, not over the progress bar
    try:
        result = task.run(Path(workdir), lambda s: conn.send(("progress", index, s)))
        conn.send(("done", index, result))
    except CityBrainError as exc:
        conn.send(("error", index, str(exc)))
    except Exception as exc:  # noqa: BLE001 - report any crash of the run, keep the others
        conn.send(("error", index, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def run_many(
    specs: Sequence[RunSpec | Task],
    workdir: str | Path | Sequence[str | Path] | None = None,
    *,
    workers: int | None = None,
    timeout_s: float | None = None,
    progress: bool = False,
    on_result: Callable[[int, Any], None] | None = None,
) -> list:
    """Run every spec in its own supervised process, ``workers`` at a time; return results in order.

    Parameters
    ----------
    specs : sequence of RunSpec or Task
        The runs. A :class:`~simulation.RunSpec` runs the twin (with its plan server when it
        has a ``serve_port``); a :class:`Task` runs its own ``run`` in the child process.
    workdir : str, Path, sequence of them, or None
        Each run's folder for SUMO's outputs (created): one folder per spec, or one folder
        (run ``i`` in ``<workdir>/run<i>``), or ``None`` (a temporary folder, removed after).
    workers : int or None
        Runs at a time (default: the number of CPUs, at most ``len(specs)``).
    timeout_s : float or None
        Per-run wall-clock limit (seconds); default ``config.SUMO_WALL_CLOCK_LIMIT_S``.
    progress : bool
        Show a tqdm progress bar (simulated seconds over all runs) on stderr.
    on_result : callable or None
        ``on_result(index, result)``, called in this process as each run ends (in the order
        they end), e.g. to print a line per run.

    Returns
    -------
    list
        One result per spec, in ``specs`` order: a RunResult per RunSpec, what ``run``
        returned per Task. A run that raised, whose process died or that passed the
        wall-clock limit gives its failed result (``RunResult.error`` says why; a Task's
        ``failed``).

    Raises
    ------
    ValidationError
        If ``workdir`` lists a number of folders other than ``len(specs)``.
    """

    tasks = [_TwinRun(s) if isinstance(s, RunSpec) else s for s in specs]
    if not tasks:
        return []
    limit = config.SUMO_WALL_CLOCK_LIMIT_S if timeout_s is None else timeout_s
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="citybrain-run-")
        workdir = tmp.name
    if isinstance(workdir, str | Path):
        folders = [str(Path(workdir) / f"run{i}") for i in range(len(tasks))]
    else:
        folders = [str(f) for f in workdir]
        if len(folders) != len(tasks):
            msg = f"run_many: {len(folders)} folder(s) given for {len(tasks)} run(s); give one per run."
            raise ValidationError(msg)
    bar = _progress_bar(tasks) if progress else None
    ctx = mp.get_context("spawn")
    done_s = [0.0] * len(tasks)
    results: dict[int, Any] = {}
    queue = list(range(len(tasks)))
    running: dict[Connection, tuple[int, Any, float]] = {}

    def finish(conn: Connection, result: Any) -> None:
        index, proc, _ = running.pop(conn)
        conn.close()
        proc.join(timeout=10)
        results[index] = result
        if bar is not None:
            bar.update(tasks[index].duration_s - done_s[index])
            done_s[index] = tasks[index].duration_s
        if on_result is not None:
            on_result(index, result)

    try:
        while queue or running:
            while queue and len(running) < workers:
                index = queue.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_child, args=(tasks[index], folders[index], index, child), daemon=True)
                proc.start()
                child.close()
                running[parent] = (index, proc, time.monotonic())
            for conn in wait(list(running), timeout=1.0):
                index, proc, started = running[conn]
                try:
                    kind, _, payload = conn.recv()
                except (EOFError, OSError):
                    proc.join(timeout=10)
                    kind, payload = "error", f"the run's process died (exit code {proc.exitcode})"
                if kind == "progress":
                    if bar is not None:
                        bar.update(payload - done_s[index])
                    done_s[index] = payload
                    continue
                finish(conn, payload if kind == "done" else tasks[index].failed(payload, time.monotonic() - started))
            now = time.monotonic()
            for conn, (index, proc, started) in list(running.items()):
                if now - started > limit:
                    proc.kill()
                    msg = f"run exceeded the wall-clock limit of {limit:g} s and was stopped (SUMO hung?)"
                    finish(conn, tasks[index].failed(msg, now - started))
    finally:
        for conn, (_, proc, _) in list(running.items()):
            proc.kill()
            conn.close()
            proc.join(timeout=10)
        if bar is not None:
            bar.close()
        if tmp is not None:
            tmp.cleanup()
    return [results[i] for i in range(len(tasks))]


def _progress_bar(tasks: list[Task]):
    """A tqdm bar over the runs' simulated seconds, named after their scenario and controller."""
    from tqdm import tqdm

    names = {f"{t.spec.scenario.name}/{t.spec.controller}" if isinstance(t, _TwinRun) else "" for t in tasks}
    desc = names.pop() if len(names) == 1 and "" not in names else f"{len(tasks)} runs"
    return tqdm(total=sum(t.duration_s for t in tasks), unit="sim-s", desc=desc, leave=False)


def run_seeds(
    spec: RunSpec,
    seeds: list[int],
    *,
    workers: int | None = None,
    wall_clock_limit_s: float | None = None,
    workdir: str | Path | None = None,
    progress: bool = False,
) -> list[RunResult]:
    """Run one spec over several seeds with :func:`run_many`; return results in ``seeds`` order.

    Parameters
    ----------
    spec : RunSpec
        The run; its ``seed`` is replaced by each of ``seeds``.
    seeds : list of int
        SUMO seeds.
    workers, progress
        As in :func:`run_many`.
    wall_clock_limit_s : float or None
        Per-run wall-clock limit (seconds); default ``config.SUMO_WALL_CLOCK_LIMIT_S``.
    workdir : str or Path or None
        Folder for SUMO's outputs (one subfolder ``seed<k>`` per seed); default a temporary folder.
    """
    folders = None if workdir is None else [Path(workdir) / f"seed{k}" for k in seeds]
    return run_many([replace(spec, seed=k) for k in seeds], folders, workers=workers,
                    timeout_s=wall_clock_limit_s, progress=progress)
