"""``citybrain estimate``: movement flows from camera counts."""

from __future__ import annotations

from pathlib import Path

import click

from citybrain.counts import read_counts, read_registry
from citybrain.estimation import EstimationSettings, estimate_flows, estimate_to_json, link_travel_times, write_flows
from citybrain.network import RoadNetwork
from .options import FiniteRange, InputFile, OutputFile, network_options
from .plate_input import plate_options, read_fragments

__all__ = ["estimate"]


@click.command("estimate")
@network_options(dest="network")
@click.option("--counts", "counts_file", required=True, type=InputFile("a count file (CSV or Parquet)"), help="Count file (CSV or Parquet).")
@click.option("--registry", type=InputFile("a camera registry (CSV or Parquet)"), default=None, help="Camera registry (CSV or Parquet).")
@click.option("--out", type=OutputFile(), default=None, help="Write flows.csv here.")
@click.option("--hourly", is_flag=True, help="Aggregate the flows to whole hours.")
@click.option("--lenient", is_flag=True, help="Drop count rows with problems instead of refusing the file.")
@click.option("--all-junctions", is_flag=True, help="Report unsignalised junctions too.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary and flows as JSON.")
@plate_options
@click.option("--pool-ratios", "ratio_period", type=FiniteRange(min=0), is_flag=False, flag_value=3600.0, default=0.0,
              metavar="[SECONDS]",
              help="Estimate turning ratios pooled over periods of SECONDS (3600 when the option is given alone): "
                   "constant ratios, varying flows. Default: per interval.")
@click.option("--travel-times", type=OutputFile(), default=None,
              help="With --sightings: write the plate-measured link travel times here (CSV).")
def estimate(
    network: RoadNetwork,
    counts_file: Path,
    registry: Path | None,
    out: Path | None,
    hourly: bool,
    lenient: bool,
    all_junctions: bool,
    as_json: bool,
    sightings: Path | None,
    plate_key_file: Path | None,
    ratio_period: float,
    travel_times: Path | None,
) -> None:
    """Estimate every movement's flow (veh/h) at every signalised junction from COUNTS (and plate SIGHTINGS)."""
    table = read_counts(counts_file, network, strict=not lenient, registry=registry)
    if lenient and not table.report.ok:
        click.echo(table.report.format(), err=True)
    settings = EstimationSettings(junctions="all" if all_junctions else "signalised", ratio_period_s=ratio_period)
    if travel_times is not None and sightings is None:
        raise click.UsageError("--travel-times needs --sightings: the travel times are measured by plate matches")
    fragments, cameras = None, None
    if sightings is not None:
        cameras = read_registry(registry, network) if registry is not None else None
        fragments = read_fragments(network, sightings, cameras, plate_key_file, counts_origin=table.origin)
        click.echo(f"{len(fragments)} path fragments from {len(fragments.sightings)} sightings", err=True)
        if travel_times is not None:
            link_travel_times(fragments).to_csv(travel_times, index=False, float_format="%.1f")
    result = estimate_flows(network, table, settings, fragments=fragments, registry=cameras)
    flows = result.hourly() if hourly else result.flows
    if out is not None:
        write_flows(flows, out)
    if as_json:
        click.echo(estimate_to_json(result))
        return
    s = result.summary()
    click.echo(
        f"{s['movements']} movements x {s['intervals']} intervals of {s['interval_s']:g} s from {s['counts']} counts; "
        f"fit GEH < 5 on {100 * s['fit_geh_below_5']:.1f}% of counts; most sweeps {s['sweeps_max']}; "
        f"mean |conservation residual| {s['conservation_residual_abs_mean_vph']:.1f} veh/h"
    )
    if "demand_vph" in result.flows.columns:
        f = result.flows
        click.echo(f"queues read: demand {f['demand_vph'].sum() / max(f['flow_vph'].sum(), 1e-9) - 1:+.1%} over the "
                   f"discharge; {int(f['queue_capped'].sum())} of {len(f)} movement intervals had a queue filling the "
                   "camera's range (their demand is a lower bound)")
    if out is not None:
        click.echo(f"wrote {out}")
    else:
        click.echo(flows.to_csv(index=False, float_format="%.1f"), nl=False)
