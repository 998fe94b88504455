"""Run a scenario under a controller over several seeds, each run in its own process.

libsumo runs one simulation per process, and a hung SUMO must be stoppable, so every run
gets a fresh ``spawn`` process with a wall-clock limit. A run that fails or hangs ends with
an error in its :class:`~simulation.twin.RunResult`; the other seeds' results are kept.
A gridlocked run is reported as such (``gridlocked``), not hidden.

With ``serve_port``, the run also listens on ``127.0.0.1:<port>`` for plan changes
(:mod:`simulation.live`); the twin applies them at the next cycle boundary.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import tempfile
import time
import traceback
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from pathlib import Path

from citybrain import config
from citybrain.exceptions import CityBrainError, ValidationError

from .scenario import Scenario
from .run import RunResult, RunSpec
from .twin import Twin

__all__ = ["run_seeds", "run_one", "seeds_from"]


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


def run_one(spec: RunSpec, workdir: str | Path) -> RunResult:
    """Run one spec in this process (libsumo: one at a time per process).

    Raises
    ------
    SimulationError
        If SUMO fails.
    """
    twin = Twin(spec, workdir)
    if spec.serve_port is None:
        return twin.run()
    from .live import PlanServer

    with PlanServer(twin, spec.serve_port):
        return twin.run()


def _child(spec: RunSpec, workdir: str, conn: Connection) -> None:
    """Entry point of a run's process: run, stream progress, send the result."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # SUMO prints to stdout; keep it off the parent's (JSON) output
    Path(workdir).mkdir(parents=True, exist_ok=True)
    messages = os.open(Path(workdir) / "sumo-messages.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(messages, 2)  # SUMO's warnings go to the run's folder, not over the progress bar
    try:
        twin = Twin(spec, workdir, on_progress=lambda s: conn.send(("progress", spec.seed, s)))
        if spec.serve_port is None:
            result = twin.run()
        else:
            from .live import PlanServer

            with PlanServer(twin, spec.serve_port):
                result = twin.run()
        conn.send(("done", spec.seed, result))
    except CityBrainError as exc:
        conn.send(("error", spec.seed, str(exc)))
    except Exception as exc:  # noqa: BLE001 - report any crash of the run, keep the others
        conn.send(("error", spec.seed, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"))
    finally:
        conn.close()


def run_seeds(
    spec: RunSpec,
    seeds: list[int],
    *,
    workers: int | None = None,
    wall_clock_limit_s: float | None = None,
    workdir: str | Path | None = None,
    progress: bool = False,
) -> list[RunResult]:
    """Run one spec over several seeds, each in its own process; return results by seed.

    Parameters
    ----------
    spec : RunSpec
        The run; its ``seed`` is replaced by each of ``seeds``.
    seeds : list of int
        SUMO seeds.
    workers : int or None
        Runs at a time (default: the number of CPUs, at most ``len(seeds)``).
    wall_clock_limit_s : float or None
        Per-run wall-clock limit (seconds); default ``config.SUMO_WALL_CLOCK_LIMIT_S``.
    workdir : str or Path or None
        Folder for SUMO's outputs (one subfolder per seed); default a temporary folder.
    progress : bool
        Show a tqdm progress bar (simulated seconds over all runs) on stderr.

    Returns
    -------
    list of RunResult
        One per seed, in ``seeds`` order; failed or hung runs carry ``error``.
    """
    limit = config.SUMO_WALL_CLOCK_LIMIT_S if wall_clock_limit_s is None else wall_clock_limit_s
    workers = max(1, min(workers or os.cpu_count() or 1, len(seeds)))
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="citybrain-run-")
        workdir = tmp.name
    ctx = mp.get_context("spawn")
    duration = spec.scenario.duration_s
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=duration * len(seeds), unit="sim-s", desc=f"{spec.scenario.name}/{spec.controller}", leave=False)
    done_s = dict.fromkeys(seeds, 0.0)
    results: dict[int, RunResult] = {}
    queue = list(seeds)
    running: dict[Connection, tuple[int, mp.Process, float]] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                seed = queue.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(
                    target=_child,
                    args=(replace(spec, seed=seed), str(Path(workdir) / f"seed{seed}"), child),
                    daemon=True,
                )
                proc.start()
                child.close()
                running[parent] = (seed, proc, time.monotonic())
            ready = wait(list(running), timeout=1.0)
            for conn in ready:
                seed, proc, started = running[conn]
                try:
                    kind, _, payload = conn.recv()
                except (EOFError, OSError):
                    kind, payload = "error", f"the run's process died (exit code {proc.exitcode})"
                if kind == "progress":
                    if bar is not None:
                        bar.update(payload - done_s[seed])
                    done_s[seed] = payload
                    continue
                results[seed] = payload if kind == "done" else _failed(spec, seed, payload, started)
                _finish(conn, proc, running)
            now = time.monotonic()
            for conn, (seed, proc, started) in list(running.items()):
                if now - started > limit:
                    proc.kill()
                    msg = f"run exceeded the wall-clock limit of {limit:g} s and was stopped (SUMO hung?)"
                    results[seed] = _failed(spec, seed, msg, started)
                    _finish(conn, proc, running)
            if bar is not None:
                for seed in results:
                    if done_s[seed] < duration:
                        bar.update(duration - done_s[seed])
                        done_s[seed] = duration
    finally:
        for conn, (_, proc, _) in list(running.items()):
            proc.kill()
            _finish(conn, proc, running)
        if bar is not None:
            bar.close()
        if tmp is not None:
            tmp.cleanup()
    return [results[s] for s in seeds]


def _finish(conn: Connection, proc, running: dict) -> None:
    running.pop(conn, None)
    conn.close()
    proc.join(timeout=10)


def _failed(spec: RunSpec, seed: int, message: str, started: float) -> RunResult:
    return RunResult(
        scenario=spec.scenario.name,
        controller=spec.controller,
        protocol=spec.protocol,
        seed=seed,
        backend=spec.backend,
        sumo_version="",
        delay_s=math.nan,
        wall_s=time.monotonic() - started,
        error=message,
    )
