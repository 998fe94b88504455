"""``citybrain optimise``: signal plans from flows (or counts, through the estimator)."""

from __future__ import annotations

from pathlib import Path

import click

from citybrain.estimation import read_flows
from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork
from citybrain.plans import check_network_plan, write_plans_json, write_sumo_additional
from citybrain.timing import METHODS, TimingOptions, optimise_plan
from citybrain.timing.flows import design_aggregate, movement_flows
from .options import InputFile, OutputFile, network_options

__all__ = ["optimise"]


def _flows_from_counts(network, counts: Path):
    from citybrain import counts as counts_mod
    from citybrain.estimation import estimate_flows as estimate

    table = counts_mod.read_counts(counts, network)
    return estimate(network, table).flows


@click.command("optimise")
@network_options()
@click.option("--flows", "flows_path", type=InputFile("a flow table (flows.csv)"), help="Flow table CSV (flows.csv).")
@click.option("--counts", "counts_path", type=InputFile("a count file (CSV or Parquet)"), help="Camera counts (estimated first).")
@click.option("--method", type=click.Choice(list(METHODS)), default="webster", show_default=True,
              help=f"Timing method: one of {', '.join(METHODS)} (auto: coordinated when signals interact).")
@click.option("--profile", type=click.Choice(["us", "eu"]), default="us", show_default=True, help="Safety profile.")
@click.option("--out", required=True, type=OutputFile(), help="Plan JSON to write.")
@click.option("--sumo-out", type=OutputFile(), help="Also write a SUMO tlLogic file.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the coordinated search.")
def optimise(road: RoadNetwork, flows_path: Path | None, counts_path: Path | None, method: str, profile: str, out: Path,
             sumo_out: Path | None, seed: int) -> None:
    """Optimise signal plans for NET from flows (or counts) and write them."""
    if (flows_path is None) == (counts_path is None):
        raise click.UsageError("Give exactly one of --flows and --counts.")
    if flows_path is not None:
        flows = read_flows(flows_path)
        try:
            movement_flows(road, flows)  # the table's movements against the network, before any timing
        except ValidationError as exc:
            raise ValidationError(f"{flows_path}: {exc}", exc.problems) from None
    else:
        flows = _flows_from_counts(road, counts_path)
    # as `citybrain run`: one plan from demand is timed for the peak 15 minutes' demand
    plan = optimise_plan(road, flows, method, TimingOptions(profile=profile, seed=seed,
                                                            aggregate=design_aggregate(flows)))
    found = check_network_plan(plan, road, profile)
    write_plans_json(plan, out)
    click.echo(f"wrote {out}: {len(plan.tls_ids)} plan(s) by {method}, "
               f"{sum(v.severity == 'error' for v in found)} safety error(s), {len(found)} finding(s)")
    if sumo_out is not None:
        write_sumo_additional(plan, sumo_out, program_id="citybrain")
        click.echo(f"wrote {sumo_out}")
