"""The closed loop: re-estimate flows from the latest camera counts and push new plans into the running twin.

Two variants run on the same scenario and seeds, each in its own process (libsumo runs one
simulation per process):

``plans-once``
    the existing programs run for the first ``first_s`` seconds (the first hour) while the
    cameras count; then flows are estimated from those counts, plans are made once and
    pushed, and they run to the end of the window.
``closed-loop``
    the same first hour and first plan; then every ``replan_every_s`` the engine estimates
    flows from the latest ``window_s`` of counts, makes new plans and pushes them.

Plans reach the twin through its live plan change (:meth:`simulation.Twin.push_plan`): each
light switches at its next cycle boundary through a yellow and all-red for the greens it
drops. A pushed program starts at that boundary, so offsets are not kept: both variants use
isolated timing (Webster, equal degree of saturation) and differ only in when they plan.

The cameras are the twin's emulated cameras (read while running with
:meth:`simulation.Twin.camera_tables`), and counts go through the same strict check and
estimator as the main job.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from citybrain.exceptions import ValidationError
from .job import Progress

__all__ = ["VARIANTS", "LoopRun", "ClosedLoopResult", "run_closed_loop", "run_variant"]

#: The two variants compared.
VARIANTS: tuple[str, ...] = ("plans-once", "closed-loop")


@dataclass
class LoopRun:
    """One variant on one seed: the run's metrics and the plans pushed (time, mean cycle)."""

    variant: str
    seed: int
    delay_s: float = math.nan
    delay_all_s: float | None = None
    trip_time_s: float = math.nan
    waiting_s: float = math.nan
    queue_veh: float = math.nan
    arrived: int = 0
    pushes: list[tuple[float, float]] = field(default_factory=list)
    wall_s: float = 0.0
    error: str | None = None


@dataclass
class ClosedLoopResult:
    """Runs of both variants, the summary lines and the files written."""

    runs: list[LoopRun]
    lines: list[str]
    paths: dict


def _plan_from_counts(network, counts: pd.DataFrame, registry: pd.DataFrame, folder: Path, tag: str, method: str):
    from citybrain.counts import read_counts
    from citybrain.estimation import EstimationSettings, estimate_flows
    from .job import make_plans

    folder.mkdir(parents=True, exist_ok=True)
    cpath, rpath = folder / f"counts_{tag}.csv", folder / f"cameras_{tag}.csv"
    counts.to_csv(cpath, index=False)
    registry.to_csv(rpath, index=False)
    table = read_counts(cpath, network, registry=rpath)
    flows = estimate_flows(network, table, EstimationSettings(standard_errors=False)).flows
    plan, _ = make_plans(network, flows, duration_s=float(flows["interval_s"].iloc[0]), method=method, n_periods=1)
    return plan


def run_variant(scenario_path: str, variant: str, seed: int, workdir: str, *, replan_every_s: float = 900.0,
                first_s: float = 3600.0, window_s: float | None = None, method: str = "webster",
                duration_s: float | None = None) -> LoopRun:
    """Run one variant on one seed in this process (it uses libsumo) and return its metrics.

    Raises
    ------
    ValidationError
        If the variant is unknown or the window is shorter than ``first_s``.
    """
    from simulation import PlanUpdate, RunSpec, Twin, load_scenario

    from citybrain.plans.formats import sumo_phases

    if variant not in VARIANTS:
        msg = f"Unknown closed-loop variant {variant!r}; expected one of {list(VARIANTS)}."
        raise ValidationError(msg)
    sc = load_scenario(scenario_path)
    if duration_s is not None:
        sc = replace(sc, end_s=min(sc.end_s, sc.begin_s + float(duration_s)))
    if sc.duration_s <= first_s:
        msg = f"The closed loop needs a window longer than its first {first_s:g} s of counting; got {sc.duration_s:g} s."
        raise ValidationError(msg)
    window_s = replan_every_s if window_s is None else window_s
    started = time.perf_counter()
    folder = Path(workdir)
    twin = Twin(RunSpec(scenario=sc, controller="fixed", seed=seed, cameras=True), folder)
    network = twin.network
    pushes: list[tuple[float, float]] = []
    next_plan = [sc.begin_s + first_s]

    def on_step(tw, t: float) -> None:
        if t + 1e-9 < next_plan[0]:
            return
        elapsed = t - sc.begin_s
        tables = tw.camera_tables()
        if not pushes:
            lo = 0.0
        else:
            lo = max(0.0, elapsed - window_s)
        c = tables.counts
        c = c[(c["interval_start"] >= lo - 1e-9) & (c["interval_start"] + c["interval_s"] <= elapsed + 1e-9)]
        plan = _plan_from_counts(network, c, tables.registry, folder / "replans", f"{int(elapsed)}", method)
        for p in plan.periods[0].plans:
            phases = tuple((float(d), s) for d, s, _ in sumo_phases(p))
            tw.push_plan(PlanUpdate(p.tls, phases, program_id=f"citybrain_{int(elapsed)}"))
        cycles = [p.cycle_s for p in plan.periods[0].plans]
        pushes.append((elapsed, sum(cycles) / len(cycles)))
        next_plan[0] = math.inf if variant == "plans-once" else t + replan_every_s

    twin.on_step = on_step
    r = twin.run()
    return LoopRun(variant=variant, seed=seed, delay_s=r.delay_s, delay_all_s=r.delay_all_s,
                   trip_time_s=r.trip_time_s, waiting_s=r.waiting_s, queue_veh=r.queue_veh, arrived=r.arrived,
                   pushes=pushes, wall_s=time.perf_counter() - started, error=r.error)


def _child(args: tuple) -> LoopRun:
    scenario_path, variant, seed, workdir, kwargs = args
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # SUMO prints to stdout
    try:
        return run_variant(scenario_path, variant, seed, workdir, **kwargs)
    except Exception as exc:  # noqa: BLE001 - keep the other runs; report this one
        return LoopRun(variant=variant, seed=seed, error=f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}")


def run_closed_loop(scenario, out: str | Path, *, replan_every_min: float = 15.0, seeds: int | list[int] | None = None,
                    workers: int | None = None, method: str = "auto", first_s: float = 3600.0,
                    window_min: float | None = None, progress: Progress | None = None,
                    duration_s: float | None = None) -> ClosedLoopResult:
    """Compare the closed loop with plans made once from the first hour's counts; write ``closed_loop.md``.

    Parameters
    ----------
    scenario
        Scenario file (a day-long one such as ``scenarios/day.toml``).
    out
        Output folder.
    replan_every_min
        Re-planning period (minutes).
    seeds
        Seeds: a count N (0..N-1), a list, or ``None`` (the scenario's).
    workers
        Runs at a time (default: the number of CPUs).
    method
        Timing method; ``"auto"`` means Webster here (pushed programs keep no offsets).
    first_s
        Counting time before the first plan (s).
    window_min
        Counts each re-plan uses (minutes; default the re-planning period).
    progress
        Progress display.
    duration_s
        Shorten the window (quick runs).

    Returns
    -------
    ClosedLoopResult
    """
    from simulation import load_scenario
    from simulation.runner import seeds_from

    from citybrain.app.report.tables import mean_ci

    progress = progress or Progress()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sc = load_scenario(scenario)
    seed_list = list(seeds) if isinstance(seeds, list | tuple) else seeds_from(sc, seeds=seeds)
    kwargs = {"replan_every_s": 60.0 * replan_every_min, "first_s": first_s,
              "window_s": None if window_min is None else 60.0 * window_min,
              "method": "webster" if method == "auto" else method, "duration_s": duration_s}
    jobs = [(str(Path(scenario).resolve()), v, k, str((out / "runs" / v / f"seed{k}").resolve()), kwargs)
            for k in seed_list for v in VARIANTS]
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    progress(f"closed loop on {sc.name}: {len(VARIANTS)} variants x {len(seed_list)} seeds, re-plan every "
             f"{replan_every_min:g} min after the first {first_s / 3600:g} h, {workers} runs at a time")
    runs: list[LoopRun] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        futures = [pool.submit(_child, j) for j in jobs]
        for fut in as_completed(futures):
            r = fut.result()
            runs.append(r)
            what = f"delay {r.delay_s:.1f} s/veh, {len(r.pushes)} plan(s) pushed" if r.error is None else \
                f"FAILED: {r.error.splitlines()[0]}"
            progress(f"  run {len(runs)}/{len(jobs)}: {r.variant} seed {r.seed}: {what} ({r.wall_s:.0f} s)")
    runs.sort(key=lambda r: (VARIANTS.index(r.variant), r.seed))
    frame = pd.DataFrame([{**{k: v for k, v in r.__dict__.items() if k != "pushes"}, "plans_pushed": len(r.pushes)}
                          for r in runs])
    frame.to_csv(out / "closed_loop_runs.csv", index=False)
    ok = frame[frame["error"].isna()]
    once = ok[ok["variant"] == "plans-once"].set_index("seed")
    loop = ok[ok["variant"] == "closed-loop"].set_index("seed")
    common = once.index.intersection(loop.index)
    lines = [f"Closed loop on {sc.name} ({(sc.duration_s if duration_s is None else min(sc.duration_s, duration_s)) / 3600:g} h, "
             f"seeds {', '.join(map(str, seed_list))}): re-plan every {replan_every_min:g} min vs plans made once "
             f"from the first {first_s / 3600:g} h of counts."]
    for name, part in (("plans-once", once), ("closed-loop", loop)):
        m, sd, ci = mean_ci(part["delay_s"].to_numpy())
        lines.append(f"  {name}: delay {m:.1f} +/- {sd:.1f} s/veh [CI +/-{ci:.1f}], throughput "
                     f"{part['arrived'].mean():.0f} veh")
    if len(common):
        d = (loop.loc[common, "delay_s"] - once.loc[common, "delay_s"]).to_numpy()
        m, _, ci = mean_ci(d)
        base = float(once.loc[common, "delay_s"].mean())
        verdict = "beats" if m < 0 else "does not beat"
        lines.append(f"  closed loop {verdict} plans made once: margin {-m:.1f} s/veh ({-100 * m / base:.1f}%, "
                     f"paired 95% CI +/-{ci:.1f})")
    for r in runs:
        if r.error:
            lines.append(f"  FAILED {r.variant} seed {r.seed}: {r.error.splitlines()[0]}")
    md = ["# citybrain closed loop: " + sc.name, "", *[x.strip() for x in lines], "",
          "| variant | seed | delay (s/veh) | trip time (s) | waiting (s/veh) | queue (veh) | arrived | plans pushed |",
          "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        md.append(f"| {r.variant} | {r.seed} | {r.delay_s:.2f} | {r.trip_time_s:.1f} | {r.waiting_s:.1f} | "
                  f"{r.queue_veh:.1f} | {r.arrived} | {len(r.pushes)} |")
    md += ["", "Plans pushed (closed loop, first seed): " + ", ".join(
        f"{t / 60:.0f} min: cycle {c:.0f} s" for t, c in next((r.pushes for r in runs if r.variant == "closed-loop"), []))]
    (out / "closed_loop.md").write_text("\n".join(md) + "\n")
    return ClosedLoopResult(runs=runs, lines=lines,
                            paths={"closed_loop.md": out / "closed_loop.md",
                                   "closed_loop_runs.csv": out / "closed_loop_runs.csv"})
