"""``citybrain demand``: SUMO demand (routes) from an estimate's movement flows (``jtrrouter`` or ``routeSampler``)."""

from __future__ import annotations

import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import click

from citybrain.estimation import read_flows
from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork
from citybrain.timing.flows import movement_flows
from .options import FiniteRange, InputFile, OutputFile, network_options

__all__ = ["demand"]


@click.command("demand")
@network_options(dest="network")
@click.option("--flows", "flows_path", required=True, type=InputFile("a flow table (flows.csv)"),
              help="Estimated movement flows (flows.csv, from citybrain estimate or run).")
@click.option("--out", required=True, type=OutputFile(), help="SUMO route file to write (routes.rou.xml).")
@click.option("--begin", "begin_s", type=FiniteRange(min=0), default=0.0, show_default=True,
              help="Simulation time (s) of the flows' second 0: the scenario's begin.")
@click.option("--method", type=click.Choice(["jtrrouter", "routesampler"]), default="jtrrouter", show_default=True,
              help="jtrrouter: entry flows and turning ratios per interval; routesampler: whole routes from the "
                   "network's entries to its exits, sampled to match the movement counts, departing by the demand "
                   "profile of their first counted movement.")
@click.option("--seed", type=click.IntRange(min=0), default=42, show_default=True, help="The router's random seed.")
def demand(network: RoadNetwork, flows_path: Path, out: Path, begin_s: float, method: str, seed: int) -> None:
    """Write SUMO routes for NET that reproduce the movement flows of FLOWS.

    jtrrouter: traffic enters on the approaches no estimated movement feeds, at each
    interval's flow, and turns at every junction by the interval's turning ratios.
    routesampler: routes from the network's entries to its exits, as many on each as match
    the movement counts over the window (SUMO's routeSampler), each vehicle departing to
    reach its first counted movement when that movement's demand arrives; only the
    movements in FLOWS are matched. The demand_vph column is routed when the flows have one (counts
    with queue readings), else flow_vph.
    """
    from simulation.demand import write_demand

    flows = read_flows(flows_path)
    try:
        movement_flows(network, flows)  # the table's movements against the network
    except ValidationError as exc:
        raise ValidationError(f"{flows_path}: {exc}", exc.problems) from None
    with tempfile.TemporaryDirectory(prefix="citybrain-demand-") as work:
        paths = write_demand(flows, network, work, method=method, seed=seed, begin_offset_s=begin_s)
        shutil.copyfile(paths["routes"], out)
    n = sum(1 for _ in ET.parse(out).getroot().iter("vehicle"))
    click.echo(f"wrote {out}: {n} vehicles routed by {method} from {flows_path.name} "
               f"({flows['interval_start'].nunique()} interval(s))")
