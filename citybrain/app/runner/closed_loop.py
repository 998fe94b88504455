"""The closed loop: re-estimate flows from the latest camera counts and push new plans into the running twin.

Two variants run on the same scenario and seeds, each a :class:`LoopSpec` run in its own
process by the one pool, :func:`simulation.runner.run_many` (libsumo runs one simulation per
process; the re-planning runs in that process):

``plans-once``
    the existing programs run for the first ``first_s`` seconds (the first hour) while the
    cameras count; then flows are estimated from those counts, plans are made once and
    pushed, and they run to the end of the window.
``closed-loop``
    the same first hour and first plan; then every ``replan_every_s`` the engine estimates
    flows from the latest ``window_s`` of counts, makes new plans and pushes them.

Plans reach the twin through its live plan change (:meth:`simulation.Twin.push_plan`), the
one safety gate (``require_safe``) on every push: each light switches at its next cycle
boundary through the outgoing plan's yellow and all-red for the greens it drops, entering the
new program where its offset puts it. Both variants use isolated timing (Webster, equal degree
of saturation) and differ only in when they plan.

The cameras are the twin's emulated cameras (read while running with
:meth:`simulation.Twin.camera_tables`); each re-plan's counts are validated once, strictly,
as a :class:`~citybrain.counts.CountTable` (no file read back) and go to the same estimator
as the main job.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from citybrain.exceptions import ValidationError
from .job import Progress, hhmm

if TYPE_CHECKING:
    from simulation import CameraCounts, RunResult, Scenario

__all__ = ["VARIANTS", "LoopSpec", "LoopRun", "ClosedLoopResult", "run_closed_loop"]

#: The two variants compared.
VARIANTS: tuple[str, ...] = ("plans-once", "closed-loop")


@dataclass(frozen=True)
class LoopRun:
    """One variant on one seed: the twin's run and the plans pushed.

    Attributes
    ----------
    variant : str
        One of :data:`VARIANTS`.
    result : simulation.RunResult
        The twin's run.
    pushes : tuple of (float, float)
        Per push, the time from the begin and the mean cycle over the lights (s).
    plan_files : tuple of str
        Per push, the plan pushed (plan JSON, in the run's ``pushed/`` folder).
    lanes_file : str or None
        The run's queues per lane (SUMO laneData output).
    """

    variant: str
    result: RunResult
    pushes: tuple[tuple[float, float], ...] = ()
    plan_files: tuple[str, ...] = ()
    lanes_file: str | None = None

    @property
    def seed(self) -> int:
        """The run's seed."""
        return self.result.seed

    @property
    def error(self) -> str | None:
        """Why the run failed, or ``None``."""
        return self.result.error


@dataclass
class ClosedLoopResult:
    """Runs of both variants, the summary lines and the files written."""

    runs: list[LoopRun]
    lines: list[str]
    paths: dict


@dataclass(frozen=True)
class LoopSpec:
    """One variant on one seed, as a unit of work for :func:`simulation.runner.run_many`.

    :meth:`run` runs in the pool's child process: the twin under the existing programs with
    the cameras on, and the re-planning in its ``on_step``.

    Attributes
    ----------
    scenario : simulation.Scenario
        The scenario (its window already shortened, if wanted).
    variant : str
        One of :data:`VARIANTS`.
    seed : int
        SUMO's seed.
    replan_every_s : float
        Re-planning period of the closed loop (s).
    first_s : float
        Counting time before the first plan (s).
    window_s : float or None
        Counts each re-plan uses (s; default ``replan_every_s``).
    method : str
        Timing method.

    Raises
    ------
    ValidationError
        If the variant is unknown or the window is not longer than ``first_s``.
    """

    scenario: Scenario
    variant: str
    seed: int
    replan_every_s: float = 900.0
    first_s: float = 3600.0
    window_s: float | None = None
    method: str = "webster"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            msg = f"Unknown closed-loop variant {self.variant!r}; expected one of {list(VARIANTS)}."
            raise ValidationError(msg)
        if self.scenario.duration_s <= self.first_s:
            msg = (f"The closed loop needs a window longer than its first {self.first_s:g} s of counting; "
                   f"got {self.scenario.duration_s:g} s.")
            raise ValidationError(msg)

    @property
    def duration_s(self) -> float:
        """Simulated seconds of the run."""
        return self.scenario.duration_s

    @property
    def run_spec(self):
        """The twin's run: existing programs, cameras on."""
        from simulation import RunSpec

        return RunSpec(scenario=self.scenario, controller="fixed", seed=self.seed, cameras=True)

    def failed(self, error: str, wall_s: float) -> LoopRun:
        """The result of a run that failed with ``error``."""
        from simulation.runner import failed_result

        return LoopRun(self.variant, failed_result(self.run_spec, error, wall_s))

    def run(self, workdir: Path, on_progress=None) -> LoopRun:
        """Run the variant in this process (it uses libsumo) and return its metrics and pushes.

        Raises
        ------
        ValidationError
            If the counts of a re-plan have problems (the message lists them all).
        """
        from simulation import Twin
        from simulation.metrics import lane_queue_additional

        from citybrain.estimation import write_flows
        from citybrain.network import graph_from_sumo_net
        from citybrain.plans import write_plans_json

        sc = self.scenario
        window_s = self.replan_every_s if self.window_s is None else self.window_s
        folder = Path(workdir)
        lanes_add, lanes_file = lane_queue_additional(folder, graph_from_sumo_net(sc.network))
        spec = replace(self.run_spec, scenario=replace(sc, additional=(*sc.additional, lanes_add)))
        twin = Twin(spec, folder, on_progress=on_progress)
        network = twin.network
        pushes: list[tuple[float, float]] = []
        plan_files: list[str] = []
        next_plan = [sc.begin_s + self.first_s]

        def on_step(tw, t: float) -> None:
            if t + 1e-9 < next_plan[0]:
                return
            elapsed = t - sc.begin_s
            lo = 0.0 if not pushes else _window_start(elapsed, window_s, sc.cameras.interval_s)
            seen = tw.camera_tables().between(lo, elapsed)
            plan, flows = _plan_from_counts(network, seen, folder / "replans", f"{int(elapsed)}", self.method,
                                            f"from {hhmm(t)}")
            tw.push_plan(plan)  # the gate (require_safe), all lights at once
            cycles = [p.cycle_s for p in plan.periods[0].plans]
            pushes.append((elapsed, sum(cycles) / len(cycles)))
            plan_files.append(str(write_plans_json(plan, _pushed(folder, elapsed, "json"))))
            write_flows(flows, _pushed(folder, elapsed, "flows.csv"))
            next_plan[0] = math.inf if self.variant == "plans-once" else t + self.replan_every_s

        twin.on_step = on_step
        result = twin.run()
        return LoopRun(self.variant, replace(result, cameras=None), tuple(pushes), tuple(plan_files), str(lanes_file))


def _pushed(folder: Path, elapsed_s: float, ending: str) -> Path:
    """Where a run keeps what it pushed at ``elapsed_s``: ``pushed/plan_HHMM.<ending>``."""
    (folder / "pushed").mkdir(parents=True, exist_ok=True)
    return folder / "pushed" / f"plan_{hhmm(elapsed_s).replace(':', '')}.{ending}"



def _window_start(elapsed_s: float, window_s: float, interval_s: float) -> float:
    """Start (s from the begin) of the counts a re-plan at ``elapsed_s`` uses: the last ``window_s``,
    widened to hold at least the last whole camera interval (a window shorter than an interval, or
    off the intervals' grid, would hold no count at all)."""
    last_whole_start = math.floor(elapsed_s / interval_s + 1e-9) * interval_s - interval_s
    return max(0.0, min(elapsed_s - window_s, last_whole_start))


def _plan_from_counts(network, seen: CameraCounts, folder: Path, tag: str, method: str, name: str):
    """Plans (one period called ``name``) and the flows they were made from, from the counts a re-plan
    sees, validated once; the counts are also written to ``folder``.

    The traffic state for the public (:mod:`citybrain.traffic_state`, from the same flows and the
    new plans) is refreshed with every re-plan: ``traffic_state_<tag>.geojson`` and the latest as
    ``traffic_state.geojson`` (what ``citybrain serve --traffic-state`` serves).
    """
    import json

    from citybrain.estimation import EstimationSettings, estimate_flows
    from citybrain.network.geometry import link_geometry
    from citybrain.timing.delay_model import flows_period_h
    from citybrain.timing.flows import movement_flows
    from citybrain.traffic_state import link_states, state_geojson
    from .job import make_plans

    folder.mkdir(parents=True, exist_ok=True)
    cpath = folder / f"counts_{tag}.csv"
    seen.counts.to_csv(cpath, index=False)  # a record of what the re-plan saw, not read back
    seen.registry.to_csv(folder / f"cameras_{tag}.csv", index=False)
    table = seen.count_table(network, source=str(cpath))
    flows = estimate_flows(network, table, EstimationSettings(standard_errors=False)).flows
    plan, _ = make_plans(network, flows, duration_s=float(flows["interval_s"].iloc[0]), method=method, n_periods=1,
                         period_name=name)
    states = link_states(network, movement_flows(network, flows), plan.periods[0].by_tls, period_h=flows_period_h(flows))
    text = json.dumps(state_geojson(states, link_geometry(network.path), at=str(cpath)), allow_nan=False)
    (folder / f"traffic_state_{tag}.geojson").write_text(text)
    (folder / "traffic_state.geojson").write_text(text)
    return plan, flows


def run_closed_loop(scenario, out: str | Path, *, replan_every_min: float = 15.0, seeds: int | list[int] | None = None,
                    workers: int | None = None, method: str = "auto", first_s: float = 3600.0,
                    window_min: float | None = None, progress: Progress | None = None,
                    duration_s: float | None = None, corridor: list[str] | None = None) -> ClosedLoopResult:
    """Compare the closed loop with plans made once from the first hour's counts; write the report.

    Writes ``closed_loop.md`` and ``closed_loop_runs.csv`` (the runs), and the main job's
    report (``report.md``, ``report.html``, figures, tables, ``timing.csv`` of the first plan
    pushed) with plans made once as the baseline; every pushed plan stays in its run's
    ``pushed/`` folder with the flows it was made from.

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
    corridor
        Signalised junctions of the time-space diagram, in travel order (default: the main corridor).

    Returns
    -------
    ClosedLoopResult

    Raises
    ------
    ValidationError
        If the corridor is not one of the network's (checked before any run).
    """
    from simulation import load_scenario
    from simulation.runner import run_many, seeds_from

    from citybrain.app.report.tables import mean_ci

    progress = progress or Progress()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sc = load_scenario(str(Path(scenario).resolve()))
    if duration_s is not None:
        sc = replace(sc, end_s=min(sc.end_s, sc.begin_s + float(duration_s)))
    seed_list = list(seeds) if isinstance(seeds, list | tuple) else seeds_from(sc, seeds=seeds)
    if corridor is not None:
        from citybrain.app.report.tables import corridor_chain
        from citybrain.network import graph_from_sumo_net

        corridor_chain(graph_from_sumo_net(sc.network), corridor)
    specs = [LoopSpec(sc, v, k, replan_every_s=60.0 * replan_every_min, first_s=first_s,
                      window_s=None if window_min is None else 60.0 * window_min,
                      method="webster" if method == "auto" else method)
             for k in seed_list for v in VARIANTS]
    folders = [(out / "runs" / s.variant / f"seed{s.seed}").resolve() for s in specs]
    workers = max(1, min(workers or os.cpu_count() or 1, len(specs)))
    progress(f"closed loop on {sc.name}: {len(VARIANTS)} variants x {len(seed_list)} seeds, re-plan every "
             f"{replan_every_min:g} min after the first {first_s / 3600:g} h, {workers} runs at a time")
    finished = []

    def report_run(_: int, r: LoopRun) -> None:
        finished.append(r)
        what = f"delay {r.result.delay_s:.1f} s/veh, {len(r.pushes)} plan(s) pushed" if r.error is None else \
            f"FAILED: {r.error.splitlines()[0]}"
        progress(f"  run {len(finished)}/{len(specs)}: {r.variant} seed {r.seed}: {what} ({r.result.wall_s:.0f} s)")

    runs = run_many(specs, folders, workers=workers, on_result=report_run)
    runs.sort(key=lambda r: (VARIANTS.index(r.variant), r.seed))
    frame = pd.DataFrame([_row(r) for r in runs])
    frame.to_csv(out / "closed_loop_runs.csv", index=False)
    ok = frame[frame["error"].isna()]
    once = ok[ok["variant"] == "plans-once"].set_index("seed")
    loop = ok[ok["variant"] == "closed-loop"].set_index("seed")
    common = once.index.intersection(loop.index)
    lines = [f"Closed loop on {sc.name} ({sc.duration_s / 3600:g} h, "
             f"seeds {', '.join(map(str, seed_list))}): re-plan every {replan_every_min:g} min vs plans made once "
             f"from the first {first_s / 3600:g} h of counts."]
    for name, part in (("plans-once", once), ("closed-loop", loop)):
        if part.empty:
            lines.append(f"  {name}: no run finished")
            continue
        m, sd, ci = mean_ci(part["delay_s"].to_numpy())
        spread = f" +/- {sd:.1f} s/veh [CI +/-{ci:.1f}]" if len(part) > 1 else " s/veh (one seed)"
        lines.append(f"  {name}: delay {m:.1f}{spread}, throughput {part['arrived'].mean():.0f} veh")
    if len(common):
        d = (loop.loc[common, "delay_s"] - once.loc[common, "delay_s"]).to_numpy()
        m, _, ci = mean_ci(d)
        base = float(once.loc[common, "delay_s"].mean())
        verdict = "beats" if m < 0 else "does not beat"
        paired = f", paired 95% CI +/-{ci:.1f}" if len(common) > 1 else ", one seed"
        lines.append(f"  closed loop {verdict} plans made once: margin {-m:.1f} s/veh ({-100 * m / base:.1f}%{paired})")
    for r in runs:
        if r.error:
            lines.append(f"  FAILED {r.variant} seed {r.seed}: " + " ".join(x.strip() for x in r.error.splitlines()))
    md = ["# citybrain closed loop: " + sc.name, "", *[x.strip() for x in lines], "",
          "| variant | seed | delay (s/veh) | trip time (s) | waiting (s/veh) | queue (veh) | arrived | plans pushed |",
          "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        x = r.result
        md.append(f"| {r.variant} | {r.seed} | {x.delay_s:.2f} | {x.trip_time_s:.1f} | {x.waiting_s:.1f} | "
                  f"{x.queue_veh:.1f} | {x.arrived} | {len(r.pushes)} |")
    md += ["", "Plans pushed (closed loop, first seed): " + ", ".join(
        f"{t / 60:.0f} min: cycle {c:.0f} s" for t, c in next((r.pushes for r in runs if r.variant == "closed-loop"), []))]
    (out / "closed_loop.md").write_text("\n".join(md) + "\n")
    paths = {"closed_loop.md": out / "closed_loop.md", "closed_loop_runs.csv": out / "closed_loop_runs.csv"}
    paths.update(_write_loop_report(sc, runs, seed_list, out, specs[0].method, corridor))
    return ClosedLoopResult(runs=runs, lines=lines, paths=paths)


def _write_loop_report(sc: Scenario, runs: list[LoopRun], seeds: list[int], out: Path, method: str,
                       corridor: list[str] | None) -> dict:
    """The main job's report of the closed loop (plans made once as the baseline); ``{}`` when no plan was pushed."""
    from citybrain.app.report import write_report
    from citybrain.estimation import read_flows
    from citybrain.network import graph_from_sumo_net
    from citybrain.plans import read_plans_json
    from .job import report_data

    first = next((r for r in runs if r.variant == "plans-once" and r.plan_files), None)
    if first is None:
        return {}
    network = graph_from_sumo_net(sc.network)
    plan_file = Path(first.plan_files[0])
    data = report_data(
        sc, network, list(VARIANTS), seeds, {(r.variant, r.seed): r.result for r in runs},
        {(r.variant, r.seed): Path(r.lanes_file) for r in runs if r.lanes_file},
        flows=read_flows(plan_file.with_suffix(".flows.csv")), truth=None, fit={},
        plan=read_plans_json(plan_file, network=network), plan_strategy="plans-once", count_seed=first.seed,
        plan_method=f"{method}, made from the first "
                    f"{first.pushes[0][0] / 3600:g} h of counts (seed {first.seed}) and pushed once")
    data.corridor = corridor
    pushes = [{"strategy": data.label(r.variant), "seed": r.seed, "pushed at (h:mm from the begin)": hhmm(t),
               "mean cycle (s)": f"{c:.0f}", "file": str(Path(f).relative_to(out.resolve()))}
              for r in runs if r.seed == seeds[0] for (t, c), f in zip(r.pushes, r.plan_files, strict=True)]
    extra = {"title": f"citybrain closed loop: {sc.name}", "pushes": pushes,
             "counts_from": "counts from each run's own cameras (the first hour, then the latest window before "
                            "each re-plan)",
             "files": "Files: every pushed plan as runs/VARIANT/seedK/pushed/plan_HHMM.json, beside the flows it "
                      "was made from (plan_HHMM.flows.csv); timing.csv: the timing sheet of the plan made once."}
    return write_report(data, out, extra=extra)


def _row(r: LoopRun) -> dict:
    """One line of ``closed_loop_runs.csv``."""
    x = r.result
    return {"variant": r.variant, "seed": r.seed, "delay_s": x.delay_s, "delay_all_s": x.delay_all_s,
            "trip_time_s": x.trip_time_s, "waiting_s": x.waiting_s, "queue_veh": x.queue_veh, "arrived": x.arrived,
            "wall_s": x.wall_s, "error": x.error, "plans_pushed": len(r.pushes)}
