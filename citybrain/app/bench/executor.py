"""Run a sweep into its results store: skip what is done, store each run as it ends, retry failures once.

:func:`run_sweep` expands a :class:`~.sweep.Sweep` into runs (:func:`plan_sweep`), leaves out
the runs the store already holds as ``ok``, makes the plan strategies' plans
(:mod:`.strategies`), and runs the rest on the local process pool
(:func:`simulation.runner.run_many`: one supervised process per run, stopped at the wall-clock
limit) or, with ``scheduler``, on a Dask cluster (:mod:`.cluster`). Every attempt is stored
as it ends (:class:`~.store.RunStore`); a run that crashed, hung or lost its worker is
retried once in the same command, and the runs still failed after that are returned.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from citybrain import config
from citybrain.control import CONTROLLERS
from citybrain.exceptions import ValidationError
from citybrain.sumo_tools import sumo_binary
from simulation import RunResult, RunSpec, Scenario, load_scenario, run_many
from simulation.runner import failed_result

from .plugins import ControllerRun, absolute_reference, controller_factory, registered_reference
from .store import RunStore, result_row
from .strategies import STRATEGIES, StrategyError, prepare_strategy
from .sweep import BenchRun, Sweep, with_window

__all__ = ["SweepOutcome", "plan_sweep", "run_sweep", "sumo_version", "citybrain_version"]


@dataclass
class SweepOutcome:
    """What one :func:`run_sweep` did.

    Attributes
    ----------
    runs : int
        Runs in the sweep.
    skipped : int
        Runs already stored as ``ok`` (not run again).
    finished : int
        Runs that ended ``ok`` in this call.
    failed : list of (BenchRun, str)
        Runs still failed after their retry, with the reason.
    """

    runs: int
    skipped: int
    finished: int = 0
    failed: list[tuple[BenchRun, str]] = field(default_factory=list)


def citybrain_version() -> str:
    """The installed citybrain's version."""
    try:
        return version("citybrain")
    except PackageNotFoundError:
        return "unknown"


def sumo_version(binary: str | None = None) -> str:
    """The version of the ``sumo`` program the runs use (``binary``, or the installed one), e.g. ``"1.28.0"``.

    Raises
    ------
    ValidationError
        If the program does not run.
    """
    program = binary or str(sumo_binary("sumo"))
    try:
        proc = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        msg = f"--sumo-binary {program}: cannot run it ({exc})."
        raise ValidationError(msg) from None
    first = proc.stdout.strip().splitlines()[:1]
    if proc.returncode != 0 or not first:
        msg = f"--sumo-binary {program}: `{program} --version` failed (exit {proc.returncode}); is it SUMO's sumo?"
        raise ValidationError(msg)
    return first[0].split()[-1]


def plan_sweep(sweep: Sweep) -> list[tuple[BenchRun, Scenario]]:
    """Every run of the sweep with its (window-shortened) scenario, scenario-major, then controller, then seed.

    Raises
    ------
    ValidationError
        If a scenario is unusable, two share a name, or a controller cannot be resolved or
        take its parameters (every problem listed).
    """
    problems = []
    scenarios = []
    for path in sweep.scenarios:
        try:
            scenarios.append((Path(path), with_window(load_scenario(path), sweep.duration_s)))
        except ValidationError as exc:
            problems.append(str(exc))
    names = [sc.name for _, sc in scenarios]
    problems += [f"two scenarios are named {n!r}; give them distinct `name`s" for n in sorted(set(names))
                 if names.count(n) > 1]
    for choice in sweep.controllers:
        if choice.name in STRATEGIES:
            if choice.params:
                problems.append(f"controller {choice.name!r}: a plan strategy takes no parameters")
            continue
        try:
            controller_factory(absolute_reference(choice.name), choice.kwargs)
            registered_reference(choice.name)
        except ValidationError as exc:
            problems.append(str(exc))
    if problems:
        raise ValidationError("The sweep cannot run: " + "; ".join(problems), problems)
    sumo, ours = sumo_version(sweep.sumo_binary), citybrain_version()
    return [(BenchRun(sc.name, path, (sc.begin_s, sc.end_s), choice, seed, sweep.protocol, sumo, ours), sc)
            for path, sc in scenarios for choice in sweep.controllers for seed in sweep.seeds]


def _task(run: BenchRun, scenario: Scenario, sweep: Sweep, strategy_run) -> ControllerRun:
    """The run as a task for the pool: its spec, and the controller reference to resolve in its process."""
    base = RunSpec(scenario, controller=run.controller.key, protocol=run.protocol, seed=run.seed,
                   backend="traci" if sweep.sumo_binary else "libsumo", sumo_binary=sweep.sumo_binary)
    if strategy_run is not None:
        return ControllerRun(strategy_run.spec(base))
    choice = run.controller
    if choice.name in CONTROLLERS:
        reference = registered_reference(choice.name)
        if reference is None and not choice.params:
            return ControllerRun(base)
        return ControllerRun(base, reference or choice.name, choice.params)
    return ControllerRun(base, absolute_reference(choice.name), choice.params)


def run_sweep(
    sweep: Sweep,
    results: str | Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    log: Callable[[str], None] | None = None,
) -> SweepOutcome:
    """Run the sweep's missing runs into the store at ``results``; return what was done.

    Parameters
    ----------
    sweep : Sweep
        What to run.
    results : str or Path
        The results folder (:class:`~.store.RunStore`; created). Run folders go to
        ``results/work/`` and are removed when the run ends ``ok`` (a failed run's SUMO
        messages stay there).
    workers : int or None
        Runs at a time on the local pool (default: the sweep's, else the number of CPUs).
    scheduler : str or None
        A Dask scheduler address: run there instead of locally (default: the sweep's).
    log : callable or None
        ``log(line)`` for progress: one line per run as it ends (default: standard error).

    Raises
    ------
    ValidationError
        If the sweep cannot run (:func:`plan_sweep`), or the scheduler cannot be reached.
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    results = Path(results)
    store = RunStore(results)
    planned = plan_sweep(sweep)
    done, tries = store.done_ids(), store.attempts()
    pending = [(run, sc) for run, sc in planned if run.run_id not in done]
    outcome = SweepOutcome(runs=len(planned), skipped=len(planned) - len(pending))
    where = f"the Dask cluster at {scheduler or sweep.scheduler}" if (scheduler or sweep.scheduler) else "this machine"
    log(f"{len(planned)} runs: {outcome.skipped} already stored, {len(pending)} to run on {where}")
    prepared: dict[tuple[str, str], object] = {}
    queue: list[tuple[BenchRun, ControllerRun]] = []
    for run, sc in pending:
        strategy_run = None
        if run.controller.name in STRATEGIES:
            key = (run.scenario, run.controller.name)
            if key not in prepared:
                try:
                    prepared[key] = prepare_strategy(run.controller.name, sc, results, camera_seed=sweep.camera_seed)
                except StrategyError as exc:
                    prepared[key] = exc
            strategy_run = prepared[key]
            if isinstance(strategy_run, StrategyError):
                attempt = tries.get(run.run_id, 0) + 1
                store.write(result_row(run, failed_result(RunSpec(sc), str(strategy_run), 0.0), attempt))
                outcome.failed.append((run, str(strategy_run)))
                log(f"  FAILED {run.label}: {strategy_run}")
                continue
        queue.append((run, _task(run, sc, sweep, strategy_run)))
    limit = sweep.timeout_s or config.SUMO_WALL_CLOCK_LIMIT_S
    ended = [0]
    total = len(queue)
    for final in (False, True):
        if not queue:
            break
        attempts = {run.run_id: tries.get(run.run_id, 0) + 1 for run, _ in queue}
        folders = [results / "work" / f"{run.run_id}-{attempts[run.run_id]}" for run, _ in queue]
        batch = queue

        def on_result(index: int, result: RunResult, batch=batch, attempts=attempts, folders=folders,
                      final=final) -> None:
            run = batch[index][0]
            tries[run.run_id] = attempts[run.run_id]
            store.write(result_row(run, result, attempts[run.run_id]))
            if result.ok:
                ended[0] += 1
                shutil.rmtree(folders[index], ignore_errors=True)
                log(f"  [{ended[0]}/{total}] {run.label}: delay {result.delay_s:.2f} s/veh ({result.wall_s:.1f} s)")
            else:
                reason = str(result.error).strip().splitlines()[0]
                if final:
                    ended[0] += 1
                then = "failed after its retry" if final else "will be retried"
                log(f"  FAILED {run.label} (attempt {attempts[run.run_id]}, {then}): {reason}")

        address = scheduler or sweep.scheduler
        if address:
            from .cluster import run_on_dask

            out = run_on_dask(address, [t for _, t in batch], folders, timeout_s=limit, on_result=on_result)
        else:
            out = run_many([t for _, t in batch], folders, workers=workers or sweep.workers, timeout_s=limit,
                           on_result=on_result)
        outcome.finished += sum(1 for r in out if r.ok)
        queue = [(run, task) for (run, task), r in zip(batch, out, strict=True) if not r.ok]
        if final:
            outcome.failed += [(run, str(r.error).strip().splitlines()[0]) for (run, _), r in zip(batch, out, strict=True)
                               if not r.ok]
    return outcome
