"""``citybrain simulate``: run a scenario in the SUMO digital twin under a controller."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import click

from citybrain.control import CONTROLLERS, PROTOCOLS
from citybrain.control.preempt import PreemptionSettings
from citybrain.exceptions import UnsafePlanError, ValidationError
from .options import FiniteRange, InputFile, OutputDir, Program

__all__ = ["simulate"]


@click.command("simulate")
@click.argument("scenario", type=InputFile("a scenario file (scenarios/*.toml or a .sumocfg)"))
@click.option("--controller", default="fixed", show_default=True,
              help=f"Controller: one of {', '.join(sorted(CONTROLLERS))}.")
@click.option("--plan", "plan", type=InputFile("a plan file (JSON or SUMO tlLogic)"),
              help="Signal plan file to run (checked first): the citybrain plan JSON, a SUMO "
                   "additional file with tlLogic programs, or a SUMO network file (its own programs); with an "
                   "adaptive --controller, the phases it chooses among.")
@click.option(
    "--protocol",
    type=click.Choice(sorted(PROTOCOLS)),
    default="native",
    show_default=True,
    help="native: decide every second, program transitions; resco: every 10 s, 3 s yellow.",
)
@click.option("--seeds", type=click.IntRange(min=1), help="Run seeds 0..N-1 (default: the scenario's).")
@click.option("--seed", type=click.IntRange(min=0), help="Run this one seed.")
@click.option(
    "--backend",
    type=click.Choice(["libsumo", "traci"]),
    help="SUMO backend (default libsumo; traci when --sumo-binary or --gui is given).",
)
@click.option(
    "--sumo-binary",
    type=Program("a sumo program (an executable file or a name on PATH)"),
    help="Another sumo program to drive over TraCI (e.g. SUMO 1.9.1).",
)
@click.option(
    "--cameras-out",
    type=OutputDir(),
    help="Write emulated camera counts, true counts, the camera registry and plate sightings (the raw feed: plates are the twin's vehicle ids) here.",
)
@click.option(
    "--events-out",
    type=OutputDir(),
    help="Write each run's hi-res controller events and detector map here (<scenario>_seed<N>_events.csv, _detectors.csv).",
)
@click.option("--advance-m", type=FiniteRange(min=0, min_open=True), default=120.0, show_default=True,
              help="Distance of the emulated advance detectors from the stop line (m; --events-out).")
@click.option("--serve", type=click.IntRange(1, 65535), help="Accept plan changes on 127.0.0.1:PORT.")
@click.option(
    "--realtime",
    type=FiniteRange(min=0, min_open=True),
    is_flag=False,
    flag_value=1.0,
    default=None,
    metavar="[FACTOR]",
    help="Pace the twin to the wall clock: FACTOR simulated seconds per wall second (default 1).",
)
@click.option("--emergency-every", type=FiniteRange(min=0.1), metavar="MIN",
              help="An emergency vehicle every MIN minutes between the scenario's [emergency] edges, else the "
                   "network's fringe (reported apart, left out of the delay).")
@click.option("--preempt", is_flag=True, help="Pre-empt the lights ahead of every emergency vehicle along its route.")
@click.option("--preempt-ahead-s", type=FiniteRange(min=0, min_open=True), default=30.0, show_default=True,
              help="Call a light when the vehicle is this many seconds away at the speed limits (--preempt).")
@click.option("--preempt-ahead-m", type=FiniteRange(min=0, min_open=True),
              help="Call a light also when the vehicle is this close to its stop line (m; --preempt).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@click.option("--gui", is_flag=True, help="Watch the run in sumo-gui (TraCI).")
@click.pass_context
def simulate(
    ctx: click.Context,
    scenario: Path,
    controller: str,
    plan: Path | None,
    protocol: str,
    seeds: int | None,
    seed: int | None,
    backend: str | None,
    sumo_binary: Path | None,
    cameras_out: Path | None,
    events_out: Path | None,
    advance_m: float,
    serve: int | None,
    realtime: float | None,
    emergency_every: float | None,
    preempt: bool,
    preempt_ahead_s: float,
    preempt_ahead_m: float | None,
    as_json: bool,
    gui: bool,
) -> None:
    """Run SCENARIO (a scenarios/*.toml file or a .sumocfg) and report the RESCO delay.

    Exit code 0 when every run finished, 1 when a run failed, hung or gridlocked (the other
    runs are still reported) or when the conflict monitor saw a plan or controller of ours
    break a signal rule (the network's own programs and SUMO's are baselines: their
    violations are printed but pass), 2 for unusable input.
    """
    from simulation import RunSpec, load_scenario, seeds_from, summarise, write_camera_tables
    from simulation.monitor import monitor_warnings

    if controller not in CONTROLLERS and plan is None:
        msg = f"unknown controller {controller!r}; registered: {', '.join(sorted(CONTROLLERS))}"
        raise click.BadParameter(msg, param_hint="--controller")
    if plan is not None:
        if controller.startswith("sumo-") or controller not in CONTROLLERS:
            msg = ("--plan runs the plan controller, or a controller of ours choosing among the plan's phases; "
                   f"{controller!r} is not one (SUMO's own programs take no plan).")
            raise click.UsageError(msg)
        controller = "plan" if controller == "fixed" else controller
    if backend is None:
        backend = "traci" if (sumo_binary is not None or gui) else "libsumo"
    if backend == "libsumo" and (sumo_binary is not None or gui):
        msg = "--sumo-binary and --gui need --backend traci (libsumo is the installed SUMO, no GUI)."
        raise click.UsageError(msg)
    sc = load_scenario(scenario)
    if emergency_every is not None:
        from dataclasses import replace as _replace

        from simulation.emergency import EmergencyConfig

        given = sc.emergency or EmergencyConfig()
        sc = _replace(sc, emergency=EmergencyConfig(given.vehicles, emergency_every, given.edges))
    if preempt and sc.emergency is None:
        msg = "--preempt clears the way for emergency vehicles: give --emergency-every MIN or an [emergency] section"
        raise click.UsageError(msg)
    if plan is not None:
        from citybrain.network import graph_from_sumo_net
        from simulation import load_checked_plan

        try:
            load_checked_plan(plan, graph_from_sumo_net(sc.network))
        except UnsafePlanError:
            raise
        except ValidationError as exc:  # a light the network does not have: name the file, as plans check does
            if str(exc).startswith(str(plan)):
                raise
            raise ValidationError(f"{plan}: {exc}", exc.problems) from None
    run_list = seeds_from(sc, seeds=seeds, seed=seed)
    if serve is not None and len(run_list) != 1:
        msg = f"--serve needs a single run (--seed S or --seeds 1); got {len(run_list)} seeds."
        raise ValidationError(msg)
    spec = RunSpec(
        scenario=sc,
        controller=controller,
        protocol=protocol,
        backend=backend,
        sumo_binary=str(sumo_binary) if sumo_binary else None,
        cameras=cameras_out is not None,
        events=events_out is not None,
        advance_m=advance_m,
        gui=gui,
        plan=str(plan) if plan is not None else None,
        realtime=realtime,
        preempt=PreemptionSettings(preempt_ahead_s, preempt_ahead_m) if preempt else None,
    )
    from dataclasses import replace

    from citybrain import config
    from simulation.runner import run_many

    runs = [replace(spec, seed=k) for k in run_list]
    # a paced run takes its window / FACTOR of wall time, on top of the usual limit
    limit = config.SUMO_WALL_CLOCK_LIMIT_S + (sc.duration_s / realtime if realtime else 0.0)
    sock = None
    if serve is not None:
        from simulation.live import bind_plan_socket
        from simulation.runner import ServedRun

        sock = bind_plan_socket(serve)  # bound before it is announced; in use: exit 2
        runs = [ServedRun(runs[0], sock)]
        click.echo(f"Accepting plans on http://127.0.0.1:{serve}/plans", err=True)
    try:
        results = run_many(runs, progress=sys.stderr.isatty() or not as_json, timeout_s=limit)
    finally:
        if sock is not None:
            sock.close()
    if cameras_out is not None:
        for r in results:
            if r.cameras is not None:
                write_camera_tables(r.cameras, cameras_out, prefix=f"{sc.name}_seed{r.seed}_", sightings=True)
    if events_out is not None:
        for r in results:
            if r.events is not None:
                r.events.write(events_out, prefix=f"{sc.name}_seed{r.seed}_")
    delays = summarise([r.delay_s for r in results if r.ok])
    resco = summarise([r.resco_delay_s for r in results if r.ok])
    version = next((r.sumo_version for r in results if r.sumo_version), "")
    if as_json:
        body = {
            "controller": controller,
            "scenario": sc.name,
            "protocol": protocol,
            "backend": backend,
            "sumo_version": version,
            "runs": [r.to_json() for r in results],
            "delay_s": {k: (None if math.isnan(v) else v) for k, v in delays.items()},
            "resco_delay_s": {k: (None if math.isnan(v) else v) for k, v in resco.items()},
            "monitor": _monitor_total([r.monitor for r in results]),
            "emergency": _emergency_total([r.emergency for r in results if r.ok]) if sc.emergency else None,
        }
        click.echo(json.dumps(body, indent=2))
    else:
        _print_table(sc.name, controller, protocol, version, results, delays)
        if sc.emergency is not None:
            e = _emergency_total([r.emergency for r in results if r.ok])
            trip = "n/a" if e["trip_time_s"] is None else f"{e['trip_time_s']:.1f} s"
            delay = "n/a" if e["delay_s"] is None else f"{e['delay_s']:.1f} s"
            click.echo(f"emergency vehicles (not in the delay above): {e['count']} inserted, {e['finished']} "
                       f"finished, mean travel time {trip}, delay {delay}"
                       + (f", {sum(len(r.preemptions) for r in results)} pre-emptions" if preempt else ""))
    problems = [r for r in results if not r.ok or r.gridlocked]
    for r in problems:
        what = r.error if r.error else f"gridlocked from t={r.gridlock_at_s:g} s"
        click.echo(f"seed {r.seed}: {what.splitlines()[0]}", err=True)
    unsafe = False
    for r in results:
        ours = bool(r.monitor and r.monitor["ours"]["total"])
        unsafe |= ours
        for line in monitor_warnings(r.monitor, ours_only=True):
            click.echo(f"seed {r.seed}: Warning: {line}", err=True)
        if r.monitor and r.monitor["total"] > r.monitor["ours"]["total"]:
            for line in monitor_warnings(r.monitor):
                click.echo(f"seed {r.seed}: note (baselines included): {line}", err=True)
    if problems or unsafe:
        ctx.exit(1)


def _monitor_total(summaries: list) -> dict:
    """The runs' conflict-monitor violations together: counts by kind, the earliest of each, ours."""
    done = [m for m in summaries if m]
    counts: dict[str, int] = {}
    first: dict[str, dict] = {}
    for m in done:
        for kind, n in m["counts"].items():
            counts[kind] = counts.get(kind, 0) + n
        for kind, f in m["first"].items():
            if kind not in first or f["time_s"] < first[kind]["time_s"]:
                first[kind] = f
    return {"total": sum(counts.values()), "counts": counts, "first": first,
            "ours_total": sum(m["ours"]["total"] for m in done)}


def _emergency_total(runs: list) -> dict:
    """The runs' emergency vehicles together: counts, and the means over every finished trip."""
    done = [e for e in runs if e]
    finished = sum(e["finished"] for e in done)

    def mean(key):
        return sum(e[key] * e["finished"] for e in done if e["finished"]) / finished if finished else None

    return {"count": sum(e["count"] for e in done), "finished": finished,
            **{k: mean(k) for k in ("trip_time_s", "delay_s", "waiting_s", "stops")}}


def _print_table(name, controller, protocol, version, results, delays) -> None:
    click.echo(f"{name} | controller {controller} | protocol {protocol} | SUMO {version}")
    click.echo(f"{'seed':>5} {'delay_s':>9} {'trip_s':>8} {'wait_s':>8} {'stops':>6} {'queue':>7} {'arrived':>8} {'loaded':>7} {'telep':>6}")
    for r in results:
        if not r.ok:
            click.echo(f"{r.seed:>5} FAILED")
            continue
        flag = "  GRIDLOCK" if r.gridlocked else ""
        click.echo(
            f"{r.seed:>5} {r.delay_s:9.2f} {r.trip_time_s:8.2f} {r.waiting_s:8.2f} {r.stops:6.2f} "
            f"{r.queue_veh:7.2f} {r.arrived:8d} {r.loaded:7d} {r.teleports:6d}{flag}"
        )
    mean, sd, ci = delays["mean"], delays["sd"], delays["ci95"]
    if math.isnan(mean):
        click.echo("delay_s: no run finished with a delay")
    elif math.isnan(sd):
        click.echo(f"delay_s mean {mean:.2f} (one run: no sd or ci)")
    else:
        click.echo(f"delay_s mean {mean:.2f}  sd {sd:.2f}  ci95 +/-{ci:.2f}")
