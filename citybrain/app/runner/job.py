"""The main job: cameras -> counts check -> flow estimate -> plans -> validation in the twin -> report.

:func:`run_job` runs the seven steps of ``citybrain run`` on one scenario:

1. run the scenario in the twin under its existing programs with the cameras on (a
   separate counting seed, so the plans are not tuned on a validation run);
2. check the counts (strict: any problem aborts with the full report in ``counts_report.txt``);
3. estimate movement flows (GEH of the fit, and against the twin's true counts);
4. optimise plans: coordinated (common cycle, offsets) when signals are close enough to
   interact, else isolated Webster; time-of-day periods when the window is two hours or
   more; the plans must pass the safety check;
5. validate: every strategy over the same seeds in the twin (one process per run);
6. write ``report.md``, ``report.html``, figures and tables;
7. the plans (``plan.json``, ``plan.add.xml``) and flows (``flows.csv``) stay in the folder,
   ready for the plan service.

With a user's own counts (``counts=``, and their camera ``registry=``) step 1 reads them instead
of running the cameras, and the twin validates the plans on demand routed from the estimate
(:func:`simulation.demand.write_jtr_demand`, every junction estimated, in ``demand/``) instead of
the scenario's own demand: the scenario gives the network, its programs and the window.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from citybrain.counts import CountTable, read_counts
from citybrain.estimation import EstimationSettings, estimate_flows, write_flows
from citybrain.exceptions import SimulationError, ValidationError
from citybrain.network import RoadNetwork, graph_from_sumo_net
from citybrain.plans import check_network_plan, write_plans_json, write_sumo_additional
from citybrain.plans.model import NetworkPlan
from citybrain.app.report import ReportData, write_report
from citybrain.app.report.tables import corridor_chain
from citybrain.app.report.data import MONITOR_COLUMNS, RUN_COLUMNS

__all__ = ["DEFAULT_STRATEGIES", "COUNT_SEED", "BASELINE_STRATEGIES", "JobResult", "Progress", "run_job", "make_plans",
           "monitor_rows", "report_data", "hhmm"]

#: Strategies compared when none are named: existing programs, new plans, adaptive controllers.
DEFAULT_STRATEGIES: tuple[str, ...] = ("existing", "plan", "actuated-pressure", "maxpressure", "sumo-actuated")
#: Seed of the counting run (kept apart from the validation seeds 0..N-1).
COUNT_SEED = 1000
#: Strategies whose first validation seed records hi-res events for the signal performance measures.
SPM_STRATEGIES = ("existing", "plan")
#: Strategies that run programs not made by citybrain: their monitor violations do not fail the job.
BASELINE_STRATEGIES = frozenset({"existing", "sumo-actuated", "sumo-delay-based"})


class Progress:
    """Progress display on standard error: which step, which run.

    Parameters
    ----------
    enabled : bool
        Print (``False``: silent).
    stream
        Where to print (default ``sys.stderr``).
    """

    def __init__(self, enabled: bool = True, stream=None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.t0 = time.perf_counter()

    def __call__(self, message: str) -> None:
        """Print one progress line, prefixed with the elapsed wall time."""
        if self.enabled:
            print(f"[{time.perf_counter() - self.t0:6.1f}s] {message}", file=self.stream, flush=True)


@dataclass
class JobResult:
    """What :func:`run_job` produced.

    Attributes
    ----------
    out : Path
        The output folder.
    data : ReportData
        The report's data.
    paths : dict
        Files written, by name.
    plan : NetworkPlan
        The new plans.
    violations : list of str
        One warning line per strategy and kind of conflict-monitor violation caused by a plan
        or controller of ours (the job fails when there is any).
    """

    out: Path
    data: ReportData
    paths: dict = field(default_factory=dict)
    plan: NetworkPlan | None = None
    violations: list[str] = field(default_factory=list)


def make_plans(network: RoadNetwork, flows: pd.DataFrame, *, duration_s: float, begin_s: float = 0.0,
               method: str = "auto", seed: int = 0, n_periods: int | None = None,
               period_name: str | None = None) -> tuple[NetworkPlan, str]:
    """Optimise plans from estimated flows; return the plans and a description of how.

    Parameters
    ----------
    network
        The network.
    flows
        Estimated flows, ``interval_start`` in seconds from the scenario's begin.
    duration_s
        Length of the window (s): two hours or more gives time-of-day periods.
    begin_s
        The scenario's begin (s): the schedule is in simulation time.
    method
        A name of :data:`citybrain.timing.METHODS` (``"auto"``:
        :func:`citybrain.timing.choose_method`).
    seed
        Seed of the coordinated search.
    n_periods
        Time-of-day periods (default: one per two hours, 1 to 4).
    period_name
        Name of the period of a one-period plan (default: the window it was made for,
        ``"HH:MM-HH:MM"`` of simulation time).

    Raises
    ------
    UnsafePlanError
        If the plans break a safety rule.
    """
    from citybrain.plans import require_safe
    from citybrain.timing import TimingOptions, choose_method, optimise_plan
    from citybrain.timing.flows import design_aggregate
    from citybrain.timing.schedule import time_of_day_plan

    chosen = choose_method(network) if method == "auto" else method
    shifted = flows.assign(interval_start=pd.to_numeric(flows["interval_start"]) + begin_s)
    periods = n_periods if n_periods is not None else max(1, min(4, int(duration_s // 7200)))
    n_int = shifted["interval_start"].nunique()
    periods = max(1, min(periods, n_int))
    if periods > 1:
        plan = time_of_day_plan(network, shifted, n_periods=periods, method=chosen,
                                options=TimingOptions(aggregate="max", seed=seed))
        how = f"{chosen}, {periods} time-of-day periods (optimal segmentation of the flows)"
    else:
        aggregate = design_aggregate(shifted)
        plan = optimise_plan(network, shifted, chosen, TimingOptions(seed=seed, aggregate=aggregate))
        name = period_name or f"{hhmm(begin_s)}-{hhmm(begin_s + duration_s)}"
        plan = NetworkPlan((replace(plan.periods[0], name=name),), plan.schedule, plan.meta)
        how = f"{chosen}, one plan for the window" + (" (peak 15-minute demand)" if aggregate == "peak15" else "")
    if chosen == "coordinated":
        how += "; common cycle and offsets (TRANSYT-style delay model)"
    require_safe(plan, network, source="The new plan")
    return plan, how


def hhmm(seconds: float) -> str:
    """``HH:MM`` of a time in seconds (hours past 24 kept: ``25:00``)."""
    minutes = int(round(seconds / 60.0))
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _spec_for(strategy: str, base_spec, plan_path: Path):
    if strategy == "existing":
        return replace(base_spec, controller="fixed")
    if strategy == "plan":
        # SUMO runs the plans' tlLogic file as static programs (the program loaded last is
        # active), so cycle, splits and offsets run exactly as planned
        sc = base_spec.scenario
        return replace(base_spec, controller="fixed",
                       scenario=replace(sc, additional=(*sc.additional, plan_path.with_name("plan.add.xml"))))
    return replace(base_spec, controller=strategy)


def _check_strategies(strategies) -> list[str]:
    from citybrain.control import CONTROLLERS

    out = ["existing"] + [s for s in dict.fromkeys(strategies) if s != "existing"]
    unknown = [s for s in out if s not in ("existing", "plan") and s not in CONTROLLERS]
    if unknown:
        msg = (f"Unknown strategy {unknown}; expected 'existing', 'plan' or a registered controller "
               f"({', '.join(sorted(CONTROLLERS))}).")
        raise ValidationError(msg)
    return out


def run_job(scenario, out: str | Path, *, seeds: int | list[int] | None = None, strategies=None,
            method: str = "auto", count_seed: int = COUNT_SEED, workers: int | None = None,
            progress: Progress | None = None, duration_s: float | None = None,
            corridor: list[str] | None = None, counts: str | Path | None = None,
            registry: str | Path | None = None, sightings: str | Path | None = None,
            plate_key_file: str | Path | None = None, demand_method: str = "jtrrouter") -> JobResult:
    """Run the main job on a scenario and write its report, plans and flows into ``out``.

    Parameters
    ----------
    scenario : str, Path or simulation.Scenario
        A scenario file (TOML or ``.sumocfg``) or a loaded scenario.
    out
        Output folder (created).
    seeds
        Validation seeds: a count N (seeds 0..N-1), a list, or ``None`` (the scenario's).
    strategies
        Strategies to compare (``"existing"`` is always included, first); default
        :data:`DEFAULT_STRATEGIES`, leaving out adaptive controllers that are not registered.
    method
        Timing method (``"auto"``: coordinated when signals interact, else Webster).
    count_seed
        Seed of the counting run.
    workers
        Runs at a time (default: the number of CPUs).
    progress
        Progress display (default: on standard error).
    duration_s
        Shorten the scenario's window to this many seconds (tests, quick looks).
    corridor
        Signalised junctions of the time-space diagram, in travel order (default: the main
        corridor, the longest chain of signals linked by through movements).
    counts
        A user's count file (CSV or Parquet; times in seconds from the scenario's begin, or ISO
        8601 with the first interval at the begin): used instead of the counting run, and the
        validation runs on demand routed from its estimate.
    registry
        The camera registry of ``counts`` (CSV or Parquet).
    sightings, plate_key_file
        Plate sightings of those cameras and the key their plates are hashed with (default
        ``$CITYBRAIN_PLATE_KEY``): their path fragments enter the estimate (needs ``registry``).
    demand_method
        How the validation demand is built from the estimate of ``counts``
        (:data:`simulation.demand.METHODS`): ``"jtrrouter"`` routes the estimate of every
        junction, ``"routesampler"`` matches the estimate of the counted junctions.

    Returns
    -------
    JobResult

    Raises
    ------
    ValidationError
        Unusable scenario, bad strategies or corridor, or counts with problems (the report is written
        to ``out/counts_report.txt`` first).
    InfeasiblePlanError
        If no safe plan could be made.
    SimulationError
        If the counting run fails.
    """
    from simulation import RunSpec, Scenario, load_scenario, write_camera_tables
    from simulation.metrics import lane_queue_additional
    from simulation.runner import run_many, seeds_from

    progress = progress or Progress()
    timings: dict[str, float] = {}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
    if duration_s is not None:
        sc = replace(sc, end_s=min(sc.end_s, sc.begin_s + float(duration_s)))
    seed_list = list(seeds) if isinstance(seeds, list | tuple) else seeds_from(sc, seeds=seeds)
    if strategies is None:
        from citybrain.control import CONTROLLERS

        strategies = [s for s in DEFAULT_STRATEGIES if s in ("existing", "plan") or s in CONTROLLERS]
    strategies = _check_strategies(strategies)
    network = graph_from_sumo_net(sc.network)
    if corridor is not None:
        corridor_chain(network, corridor)  # refused now, not after the runs
    workers = max(1, workers or os.cpu_count() or 1)

    # 1. counts
    t = time.perf_counter()
    truth = None
    if counts is None:
        progress(f"step 1/7: counting run: {sc.name} under its existing programs, cameras on (seed {count_seed})")
        spec = RunSpec(scenario=sc, controller="fixed", seed=count_seed, cameras=True)
        (counted,) = run_many([spec], [out / "runs" / "counting" / f"seed{count_seed}"], workers=1)
        if not counted.ok or counted.cameras is None:
            msg = f"The counting run of {sc.name} failed: {counted.error}"
            raise SimulationError(msg)
        count_files = write_camera_tables(counted.cameras, out / "counts", prefix="")
        truth = counted.cameras.truth
        timings["1 counting run"] = time.perf_counter() - t
    else:
        progress(f"step 1/7: the counts are {counts} (no counting run)")

    # 2. check counts
    t = time.perf_counter()
    progress("step 2/7: checking the counts")
    if counts is None:
        table = _checked_counts(counted.cameras, network, count_files[0], out / "counts_report.txt")
    else:
        table = _checked_counts(None, network, Path(counts), out / "counts_report.txt", registry=registry)
    timings["2 count check"] = time.perf_counter() - t

    # 3. estimate
    t = time.perf_counter()
    progress(f"step 3/7: estimating movement flows from {len(table)} counts")
    plates = {}
    if sightings is not None:
        plates = _plate_fragments(network, table, sightings, registry, plate_key_file)
        progress(f"  {len(plates['fragments'])} path fragments from the plate sightings {sightings}")
    estimate = estimate_flows(network, table, **plates)
    flows = _seconds(estimate.flows, table)
    write_flows(estimate.flows, out / "flows.csv")
    if counts is not None:  # the validation's demand: routed from an estimate of every junction
        from simulation.demand import write_demand

        routed_estimate = estimate
        if demand_method == "jtrrouter":  # turning ratios at every junction, counted or not
            routed_estimate = estimate_flows(network, table, EstimationSettings(junctions="all"), **plates)
        routed = write_demand(_seconds(routed_estimate.flows, table), network, out / "demand", method=demand_method,
                              begin_offset_s=sc.begin_s)
        sc = sc.with_demand((routed["routes"],))
        progress(f"  validation demand: {routed['routes']} ({demand_method}, from the estimate)")
    fit = estimate.summary()
    fit.pop("settings", None)
    timings["3 flow estimate"] = time.perf_counter() - t

    # 4. plans
    t = time.perf_counter()
    progress("step 4/7: optimising signal plans")
    plan, how = make_plans(network, flows, duration_s=sc.duration_s, begin_s=sc.begin_s, method=method)
    plan_path = write_plans_json(plan, out / "plan.json")
    write_sumo_additional(plan, out / "plan.add.xml")
    timings["4 plans"] = time.perf_counter() - t
    progress(f"  plans: {how}; wrote {plan_path} and plan.add.xml")

    # 5. validate
    t = time.perf_counter()
    jobs = [(s, k) for s in strategies for k in seed_list]
    progress(f"step 5/7: validating {len(strategies)} strategies x {len(seed_list)} seeds = {len(jobs)} runs, "
             f"{workers} at a time")
    folders = [out / "runs" / s / f"seed{k}" for s, k in jobs]
    lane_files: dict[tuple[str, int], Path] = {}
    specs = []
    for (strategy, seed), folder in zip(jobs, folders, strict=True):
        add, lane_files[(strategy, seed)] = lane_queue_additional(folder, network)
        # hi-res events for the signal performance measures: existing programs and new plans, first seed
        events = strategy in SPM_STRATEGIES and seed == seed_list[0]
        base = RunSpec(scenario=replace(sc, additional=(*sc.additional, add)), seed=seed, events=events)
        specs.append(_spec_for(strategy, base, plan_path))
    finished = []

    def report_run(index: int, r) -> None:
        finished.append(index)
        strategy, seed = jobs[index]
        what = f"delay {r.delay_s:.1f} s/veh" if r.ok else f"FAILED: {str(r.error).splitlines()[0]}"
        progress(f"  run {len(finished)}/{len(jobs)}: {strategy} seed {seed}: {what} ({r.wall_s:.0f} s)")

    results = dict(zip(jobs, run_many(specs, folders, workers=workers, on_result=report_run), strict=True))
    timings["5 validation runs"] = time.perf_counter() - t

    # 6. report
    t = time.perf_counter()
    progress("step 6/7: writing the report and figures")
    data = report_data(sc, network, strategies, seed_list, results, lane_files, flows=flows, truth=truth, fit=fit,
                       plan=plan, plan_method=how, count_seed=count_seed)
    data.timings = timings
    data.corridor = corridor
    data.spm = _spm_table(results, out)
    if counts is not None:
        data.counts_source = f"counts from {counts}; validation demand routed from their estimate"
    violations = _our_violations(data.monitor)
    for line in violations:
        progress(f"  WARNING {line}")
    safety = check_network_plan(plan, network)
    extra = {"safety": f"Safety check (plans check): {sum(v.severity == 'error' for v in safety)} error(s), "
                       f"{len(safety)} finding(s) in all."}
    paths = write_report(data, out, extra=extra)
    timings["6 report"] = time.perf_counter() - t
    paths.update({"plan.json": plan_path, "plan.add.xml": out / "plan.add.xml", "flows.csv": out / "flows.csv"})
    progress(f"step 7/7: plans and flows ready for the plan service: {plan_path}, {out / 'plan.add.xml'}, "
             f"{out / 'flows.csv'}")
    return JobResult(out=out, data=data, paths=paths, plan=plan, violations=violations)


def _spm_table(results: dict, out: Path) -> pd.DataFrame | None:
    """Signal performance measures of the runs that logged events, one row per strategy, light and phase.

    Each log is written to its run's folder (``events.csv``, ``detectors.csv``, the files
    ``citybrain spm`` reads) and measured from memory, in the form :func:`citybrain.spm.read_events`
    returns: times parsed, sorted, ``t_s`` from the first event.
    """
    from citybrain.spm import measures

    frames = []
    for (strategy, seed), r in results.items():
        if r.ok and r.events is not None:
            r.events.write(out / "runs" / strategy / f"seed{seed}")
            ev = r.events.events.assign(timestamp=pd.to_datetime(r.events.events["timestamp"], format="ISO8601"))
            ev = ev.sort_values("timestamp", kind="stable").reset_index(drop=True)
            ev["t_s"] = (ev["timestamp"] - ev["timestamp"].iloc[0]).dt.total_seconds() if len(ev) else []
            frames.append(measures(ev, r.events.detectors).assign(strategy=strategy, seed=seed))
    return pd.concat(frames, ignore_index=True) if frames else None


def _checked_counts(cameras, network: RoadNetwork, count_file: Path, report_file: Path,
                    registry: str | Path | None = None) -> CountTable:
    """Validate the counts once (the counting run's ``cameras``, or else ``count_file`` with its
    ``registry``); on any problem write the report and raise.

    The report names ``count_file`` (for the cameras: the counts as written to the output
    folder, whose rows are the table's rows).

    Raises
    ------
    ValidationError
        Listing every problem, after writing them to ``report_file``.
    """
    try:
        if cameras is None:
            table = read_counts(count_file, network, strict=False, registry=registry)
        else:
            table = cameras.count_table(network, strict=False, source=str(count_file))
    except ValidationError as exc:  # no usable count at all: the report is the message
        report_text = str(exc)
        problems = exc.problems
    else:
        report = table.report
        if report.ok:
            return table
        report_text, problems = report.format(), report.lines()
    report_file.write_text(report_text + "\n")
    msg = f"The counts have problems; the plan is not made. Report in {report_file}:\n{report_text}"
    raise ValidationError(msg, problems)


def _plate_fragments(network: RoadNetwork, table: CountTable, sightings, registry, key_file) -> dict:
    """The estimate's plate input: path fragments of the sightings (hashed as read) and the camera registry.

    Raises
    ------
    ValidationError
        No registry or plate key, a sightings file with problems (never naming a plate), or
        sightings whose kind of time differs from the counts'.
    """
    from citybrain.counts import read_registry
    from citybrain.counts.sightings import plate_key, read_sightings
    from citybrain.estimation import link_fragments

    if registry is None:
        msg = "--sightings needs --registry: the sightings name cameras of the camera registry."
        raise ValidationError(msg)
    cameras = read_registry(registry, network)
    read = read_sightings(sightings, cameras, key=plate_key(key_file), origin=table.origin)
    if (read.origin is None) != (table.origin is None):
        msg = f"{sightings}: the sightings and the counts use different kinds of time (seconds, ISO 8601)."
        raise ValidationError(msg)
    return {"fragments": link_fragments(network, read, cameras), "registry": cameras}


def _seconds(flows: pd.DataFrame, table: CountTable) -> pd.DataFrame:
    """The flows with ``interval_start`` in seconds from the counts' first interval when the counts used ISO times."""
    if table.origin is None:
        return flows
    start = pd.to_datetime(flows["interval_start"], format="ISO8601")
    return flows.assign(interval_start=(start - start.min()).dt.total_seconds())


def report_data(sc, network: RoadNetwork, strategies: list[str], seeds: list[int], results: dict,
                lane_files: dict, *, flows: pd.DataFrame, truth: pd.DataFrame | None, fit: dict, plan: NetworkPlan,
                plan_method: str, count_seed: int, plan_strategy: str = "plan") -> ReportData:
    """Collect the report's data from validation runs.

    Parameters
    ----------
    sc : simulation.Scenario
        The scenario run.
    results
        ``{(strategy, seed): RunResult}``.
    lane_files
        ``{(strategy, seed): path}`` of each run's laneData output (queues per lane).
    flows, truth, fit, plan, plan_method, count_seed, plan_strategy
        As :class:`~citybrain.app.report.ReportData`'s attributes.
    """
    from simulation.metrics import read_lane_queues

    run_rows, j_rows, q_rows, l_rows = [], [], [], []
    lane_junction = {}
    for mv in network.movements:
        if mv.tls is not None and mv.turn != "crossing":
            for lane in mv.from_lanes:
                lane_junction.setdefault(lane, mv.junction)
    edges = network.edges
    version = ""
    for (s, k), r in sorted(results.items(), key=lambda x: (strategies.index(x[0][0]), x[0][1])):
        version = version or r.sumo_version
        run_rows.append({"strategy": s, "seed": k, "delay_s": r.delay_s, "delay_all_s": r.delay_all_s,
                         "trip_time_s": r.trip_time_s, "waiting_s": r.waiting_s, "stops": r.stops,
                         "queue_veh": r.queue_veh, "arrived": r.arrived, "loaded": r.loaded,
                         "never_inserted": r.never_inserted, "teleports": r.teleports, "gridlocked": r.gridlocked,
                         "error": r.error, "wall_s": r.wall_s})
        if not r.ok:
            continue
        for j, d in r.junction_delay_s.items():
            j_rows.append({"strategy": s, "seed": k, "junction": j, "delay_s": d,
                           "queue_veh": r.junction_queue_veh.get(j, math.nan)})
        lq = read_lane_queues(lane_files[(s, k)])
        if len(lq):
            lq = lq[lq["lane"].isin(lane_junction.keys())]
            ts = lq.groupby("time_s", as_index=False)["queue_veh"].sum()
            for tt, q in zip(ts["time_s"], ts["queue_veh"], strict=True):
                q_rows.append({"strategy": s, "seed": k, "time_s": float(tt) - sc.begin_s, "queue_veh": float(q)})
            peak = lq.groupby("lane")["queue_veh"].max()
            for lane, q in peak.items():
                edge = lane.rsplit("_", 1)[0]
                l_rows.append({"strategy": s, "seed": k, "lane": lane, "junction": lane_junction[lane],
                               "length_m": float(edges.get(edge, {}).get("length_m", math.nan)),
                               "peak_queue_veh": float(q)})
    runs = pd.DataFrame(run_rows, columns=list(RUN_COLUMNS))
    mon_rows = [row for (s, k), r in results.items() for row in monitor_rows(s, k, r.monitor)]
    monitor = pd.DataFrame(mon_rows, columns=list(MONITOR_COLUMNS)).astype({"ours": bool})
    runs["error"] = runs["error"].astype(object)
    return ReportData(
        scenario=sc.name, description=sc.description, network=network, seeds=list(seeds), strategies=strategies,
        runs=runs,
        junctions=pd.DataFrame(j_rows, columns=["strategy", "seed", "junction", "delay_s", "queue_veh"]),
        queues=pd.DataFrame(q_rows, columns=["strategy", "seed", "time_s", "queue_veh"]),
        lanes=pd.DataFrame(l_rows, columns=["strategy", "seed", "lane", "junction", "length_m", "peak_queue_veh"]),
        flows=flows, truth=truth, fit=fit, plan=plan, plan_method=plan_method, begin_s=sc.begin_s, end_s=sc.end_s,
        sumo_version=version, count_seed=count_seed, monitor=monitor, plan_strategy=plan_strategy,
    )


def _our_violations(monitor: pd.DataFrame) -> list[str]:
    """One warning line per strategy and kind of our violations: count, first time, seed, light."""
    ours = monitor[monitor["ours"]]
    totals = ours.groupby(["strategy", "kind"])["count"].sum()
    lines = []
    for r in ours.sort_values("first_time_s").groupby(["strategy", "kind"]).head(1).itertuples():
        lines.append(f"conflict monitor: {r.strategy}: {int(totals[(r.strategy, r.kind)])} {r.kind} violation(s), "
                     f"first at t={r.first_time_s:g} s (seed {r.seed}) on light {r.first_tls}: {r.detail}")
    return lines


def monitor_rows(strategy: str, seed: int, summary: dict | None) -> list[dict]:
    """Rows of :data:`MONITOR_COLUMNS` for one run's monitor summary (kinds with violations).

    The ``plan`` strategy runs the new plans as SUMO programs under the ``fixed`` controller, so
    all its violations are ours; the baselines' (:data:`BASELINE_STRATEGIES`) never are; for an
    adaptive controller the twin's own split (``summary["ours"]``) counts.
    """
    if not summary:
        return []
    rows = []
    for kind, n in summary["counts"].items():
        if not n:
            continue
        if strategy in BASELINE_STRATEGIES:
            ours = False
        elif strategy == "plan":
            ours = True
        else:
            ours = summary["ours"]["counts"].get(kind, 0) > 0
        first = summary["first"][kind]
        rows.append({"strategy": strategy, "seed": seed, "kind": kind, "count": int(n), "ours": ours,
                     "first_time_s": float(first["time_s"]), "first_tls": first["tls"], "detail": first["detail"]})
    return rows
