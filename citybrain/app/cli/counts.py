"""``citybrain counts``: check camera count files against a road network."""

from __future__ import annotations

import json
from pathlib import Path

import click

from citybrain.counts import check_counts
from citybrain.network import RoadNetwork
from .options import FiniteRange, InputFile, network_options

__all__ = ["counts"]


@click.group()
def counts() -> None:
    """Check camera count files."""


@counts.command("check")
@click.argument("counts_file", metavar="COUNTS", type=InputFile("a count file (CSV or Parquet)"))
@network_options(dest="network")
@click.option("--registry", type=InputFile("a camera registry (CSV or Parquet)"), default=None, help="Camera registry (CSV or Parquet).")
@click.option(
    "--max-lane-flow",
    "max_lane_flow_vph",
    default=2000.0,
    type=FiniteRange(min=0, min_open=True),
    show_default=True,
    help="Plausibility ceiling: the highest flow per lane (veh/h) a count may imply.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@click.pass_context
def check(ctx: click.Context, counts_file: Path, network: RoadNetwork, registry: Path | None, max_lane_flow_vph: float, as_json: bool) -> None:
    """Validate COUNTS (CSV or Parquet) and print every problem with its rows.

    Exit code 0 when clean, 1 when problems were found, 2 when the file cannot be used at all.
    """
    report = check_counts(counts_file, network, registry=registry, max_lane_flow_vph=max_lane_flow_vph)
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(report.format())
    if report.unusable:
        ctx.exit(2)
    if not report.ok:
        ctx.exit(1)
