"""``citybrain run``: the main job, cameras -> counts -> flows -> plans -> twin -> report."""

from __future__ import annotations

from pathlib import Path

import click

from citybrain.control import CONTROLLERS
from citybrain.timing import METHODS
from .options import FiniteRange, InputFile, OutputDir, junction_list
from .plate_input import plate_options

__all__ = ["run"]


def _strategy_names(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    """The names of a comma-separated ``--strategies``; None when not given, refused when it names none."""
    if value is None:
        return None
    names = [s.strip() for s in value.split(",") if s.strip()]
    if not names:
        raise click.BadParameter(f"{value!r} names no strategy; expected e.g. existing,plan,maxpressure.", param=param)
    return names


@click.command("run")
@click.argument("scenario", type=InputFile("a scenario file (scenarios/*.toml)"))
@click.option("--out", required=True, type=OutputDir(),
              help="Folder for the report, figures, plans and flows (created).")
@click.option("--seeds", type=click.IntRange(min=1), help="Validation seeds 0..N-1 (default: the scenario's).")
@click.option("--strategies", default=None, callback=_strategy_names,
              help="Comma-separated strategies to compare: existing, plan or a controller ("
                   + ", ".join(sorted(CONTROLLERS)) + "; default: existing,plan,actuated-pressure,maxpressure,"
                   "sumo-actuated).")
@click.option("--method", type=click.Choice(list(METHODS)), default="auto",
              show_default=True, help="Timing method (auto: coordinated when signals interact).")
@click.option("--replan-every", "replan_every", type=FiniteRange(min=1), default=None,
              help="Closed loop: re-estimate and push new plans into the running twin every MIN minutes, "
                   "and compare with plans made once from the first hour's counts.")
@click.option("--workers", type=click.IntRange(min=1), help="Runs at a time (default: the number of CPUs).")
@click.option("--duration", "duration_s", type=FiniteRange(min=60), default=None,
              help="Shorten the scenario's window to this many seconds.")
@click.option("--corridor", default=None, callback=junction_list,
              help="Signalised junctions of the time-space diagram in travel order, comma-separated "
                   "(e.g. J1,J2,J3; default: the longest chain of signals linked by through movements).")
@click.option("--counts", "counts_file", type=InputFile("a count file (CSV or Parquet)"), default=None,
              help="Your own camera counts instead of the emulated cameras; the twin then validates the plans "
                   "on demand routed from their estimate.")
@click.option("--registry", type=InputFile("a camera registry (CSV or Parquet)"), default=None,
              help="The camera registry of --counts.")
@click.option("--demand-method", type=click.Choice(["jtrrouter", "routesampler"]), default=None,
              help="With --counts: how the validation demand is built from their estimate, as citybrain demand "
                   "--method (default: jtrrouter).")
@plate_options
@click.option("--quiet", is_flag=True, help="No progress display.")
def run(scenario: Path, out: Path, seeds: int | None, strategies: list[str] | None, method: str,
        replan_every: float | None, workers: int | None, duration_s: float | None, corridor: list[str] | None,
        counts_file: Path | None, registry: Path | None, demand_method: str | None, sightings: Path | None,
        plate_key_file: Path | None, quiet: bool) -> None:
    """Close the loop on SCENARIO and report it.

    Runs the scenario's existing programs with emulated cameras, checks the counts,
    estimates movement flows, optimises signal plans, validates existing programs vs new
    plans vs adaptive controllers over the same seeds in the SUMO twin, and writes
    OUT/report.md, OUT/report.html, figures, plan.json, plan.add.xml, timing.csv and
    flows.csv (re-render with `citybrain report OUT`). With --replan-every, runs the closed
    loop instead (OUT/closed_loop.md, closed_loop.html, figures and every pushed plan). With
    --counts, your counts replace the emulated cameras.
    """
    from citybrain.app.runner import Progress, run_job

    progress = Progress(enabled=not quiet)
    if (registry is not None or sightings is not None) and counts_file is None:
        raise click.UsageError("--registry and --sightings come with your own counts; give --counts too.")
    if demand_method is not None and counts_file is None:
        raise click.UsageError("--demand-method builds demand from your own counts; give --counts too.")
    if replan_every is not None and counts_file is not None:
        raise click.UsageError("--replan-every re-plans from the twin's own cameras; it does not take --counts.")
    if replan_every is not None:
        if strategies is not None:
            raise click.UsageError("--strategies is for the validation runs; the closed loop (--replan-every) "
                                   "compares plans made once with re-planned ones.")
        from citybrain.app.runner.closed_loop import run_closed_loop

        res = run_closed_loop(scenario, out, replan_every_min=replan_every, seeds=seeds, workers=workers,
                              method=method, progress=progress, duration_s=duration_s, corridor=corridor)
        for line in res.lines:
            click.echo(line)
        click.echo(f"wrote {res.paths['closed_loop.md']}" + (f", {res.paths['report.md']} and {res.paths['report.html']}"
                                                             if "report.html" in res.paths else ""))
        failed = [r for r in res.runs if r.error]
        if failed:
            first = failed[0]
            click.echo(f"Error: {len(failed)} of {len(res.runs)} closed-loop runs failed (first: {first.variant} seed "
                       f"{first.seed}: {_one_line(first.error)}); SUMO's messages are in {out / 'runs'}", err=True)
            raise SystemExit(1)
        return
    res = run_job(scenario, out, seeds=seeds, strategies=strategies, method=method, workers=workers,
                  progress=progress, duration_s=duration_s, corridor=corridor, counts=counts_file, registry=registry,
                  sightings=sightings, plate_key_file=plate_key_file,
                  demand_method=demand_method or "jtrrouter")
    from citybrain.app.report.write import headline

    for line in headline(res.data):
        click.echo(line)
    click.echo(f"wrote {res.paths['report.md']} and {res.paths['report.html']}")
    for line in res.violations:
        click.echo(f"Warning: {line}", err=True)
    failed = res.data.runs[res.data.runs["error"].notna()]
    if len(failed):
        first = _one_line(str(failed["error"].iloc[0]))
        click.echo(f"Error: {len(failed)} of {len(res.data.runs)} validation runs failed (first: {first}); "
                   f"SUMO's messages are in {res.out / 'runs'}", err=True)
        raise SystemExit(1)
    if res.violations:
        raise SystemExit(1)


def _one_line(error: str) -> str:
    """An error message on one line: its lines joined (a validation error lists its problems below its head)."""
    return " ".join(x.strip() for x in error.splitlines() if x.strip())
