"""``citybrain bench``: run strategies x scenarios x seeds into a results store; ``bench report DIR``.

``citybrain bench [SWEEP.toml] [--scenarios S1 S2 ...] [--controllers C1 C2 ...] ...`` runs a
sweep (``bench run`` spelled out); ``citybrain bench report DIR`` reports a results folder.
``--scenarios`` and ``--controllers`` take several values each.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import click

from citybrain.control import PROTOCOLS
from citybrain.exceptions import ValidationError
from .options import FiniteRange, InputFile, OutputDir, Program

__all__ = ["bench"]

_LISTS = ("--scenarios", "--controllers")


def _spread_lists(args: list[str]) -> list[str]:
    """``--scenarios a b`` as click's ``--scenarios a --scenarios b`` (the values up to the next option)."""
    out: list[str] = []
    current = None
    for arg in args:
        if arg.startswith("-"):
            current = arg if arg in _LISTS else None
            if current is None:
                out.append(arg)
            continue
        if current is not None:
            out += [current, arg]
            continue
        out.append(arg)
    return out


class BenchGroup(click.Group):
    """``bench ARGS``: the ``run`` command unless ARGS begin with another of its commands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] in ("--help", "-h"):
            return super().parse_args(ctx, args)
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        if args[0] == "run":
            args = ["run", *_spread_lists(args[1:])]
        return super().parse_args(ctx, args)


@click.group("bench", cls=BenchGroup)
def bench() -> None:
    """Benchmark controllers: scenarios x controllers x seeds, resumable, local or on Dask; and reports.

    \b
    citybrain bench --scenarios S1 S2 --controllers fixed maxpressure mine.py:Mine --seeds 3 --results DIR
    citybrain bench sweep.toml [--results DIR] [--workers K | --scheduler tcp://HOST:PORT]
    citybrain bench report DIR [--baseline fixed] [--json]
    """


class _Interrupted(Exception):
    """SIGTERM during a sweep."""


def _on_sigterm(signum, frame) -> None:
    raise _Interrupted


@bench.command("run")
@click.argument("sweep_file", required=False, type=InputFile("a sweep file (TOML)"))
@click.option("--scenarios", multiple=True, metavar="S1 S2 ...", help="Scenario files (TOML or .sumocfg).")
@click.option("--controllers", multiple=True, metavar="C1 C2 ...",
              help="Registered controllers, plan strategies (webster, hcm, coordinated, sumo-webster, "
                   "sumo-webster-coord), rl:path/to/policy, package.module:Class or path/to/file.py:Class.")
@click.option("--seeds", type=click.IntRange(min=1), default=None,
              help="Validation seeds 1..N (seed 0 makes the plan strategies' camera counts; default 3).")
@click.option("--workers", type=click.IntRange(min=1), help="Runs at a time on this machine (default: CPUs).")
@click.option("--scheduler", metavar="tcp://HOST:PORT", help="Run on this Dask scheduler's workers instead.")
@click.option("--protocol", type=click.Choice(sorted(PROTOCOLS)), default=None,
              help="native: decide every second; resco: every 10 s, 3 s yellow (default native).")
@click.option("--sumo-binary", type=Program("a sumo program (an executable file or a name on PATH)"),
              help="Another sumo program to drive over TraCI (e.g. SUMO 1.9.1).")
@click.option("--results", type=OutputDir(), help="Results folder (created; runs/ holds one Parquet file per run).")
@click.option("--duration", "duration_s", type=FiniteRange(min=1), help="Shorten every scenario's window to this many seconds.")
@click.option("--timeout", "timeout_s", type=FiniteRange(min=1), help="Wall-clock limit of one run (s; default 1800).")
@click.pass_context
def run(ctx: click.Context, sweep_file: Path | None, scenarios: tuple[str, ...], controllers: tuple[str, ...],
        seeds: int | None, workers: int | None, scheduler: str | None, protocol: str | None,
        sumo_binary: Path | None, results: Path | None, duration_s: float | None, timeout_s: float | None) -> None:
    """Run a sweep (SWEEP_FILE, or the options) into --results; runs already stored are skipped.

    Each run is stored as it ends. A run that crashes, hangs past --timeout or loses its worker
    is stored as failed, retried once, and the others go on. Exit 0 when every run is stored
    ok, 1 when some finally failed (listed), 2 for unusable input.
    """
    from dataclasses import replace

    from citybrain.app.bench import read_sweep, run_sweep, sweep_from_options

    if sweep_file is not None and (scenarios or controllers or seeds is not None):
        raise click.UsageError("Give a sweep file or --scenarios/--controllers/--seeds, not both.")
    overrides = {k: v for k, v in (("protocol", protocol), ("duration_s", duration_s), ("timeout_s", timeout_s),
                                   ("sumo_binary", str(sumo_binary) if sumo_binary else None)) if v is not None}
    if sweep_file is not None:
        sweep = read_sweep(sweep_file)
        sweep = replace(sweep, **overrides) if overrides else sweep
    else:
        if not scenarios or not controllers:
            raise click.UsageError("Give a sweep file, or --scenarios S1 ... and --controllers C1 ...")
        sweep = sweep_from_options(scenarios, controllers, seeds=seeds or 3, **overrides)
    results = results or sweep.results
    if results is None:
        raise click.UsageError("Give --results DIR (or `results = \"DIR\"` in the sweep file).")
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        outcome = run_sweep(sweep, results, workers=workers, scheduler=scheduler)
    except (KeyboardInterrupt, _Interrupted):
        click.echo(f"Interrupted: the runs that ended are stored in {results}; run the same command again to "
                   "finish the others.", err=True)
        ctx.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)
    stored = outcome.runs - len(outcome.failed)
    click.echo(f"{stored} of {outcome.runs} runs stored ok in {results} ({outcome.finished} run now, "
               f"{outcome.skipped} already stored). Report: citybrain bench report {results}")
    if outcome.failed:
        click.echo(f"{len(outcome.failed)} run(s) failed:", err=True)
        for run_, reason in outcome.failed:
            click.echo(f"  {run_.label}: {reason}", err=True)
        ctx.exit(1)


@bench.command("report")
@click.argument("results", type=click.Path(path_type=Path))
@click.option("--baseline", default=None, help="Controller the others are compared with (default fixed).")
@click.option("--json", "as_json", is_flag=True, help="Print every stored run as a JSON object instead.")
def report(results: Path, baseline: str | None, as_json: bool) -> None:
    """Report the results folder RESULTS: report.md and charts in it (or every run as JSON)."""
    from citybrain.app.bench import RunStore
    from citybrain.app.bench.report import runs_json, write_report

    if not (results / "runs").is_dir():
        msg = f"{results}: not a results folder of citybrain bench (no runs/ folder in it)."
        raise ValidationError(msg)
    store = RunStore(results)
    if as_json:
        json.dump({"runs": runs_json(store)}, sys.stdout, indent=1)
        sys.stdout.write("\n")
        return
    path = write_report(store, baseline or "fixed", baseline_given=baseline is not None)
    click.echo(f"wrote {path}")
