"""``citybrain traffic-state``: per road link flow, speed, travel time and level, as GeoJSON and a PNG map."""

from __future__ import annotations

import json
from pathlib import Path

import click

from citybrain.counts import read_registry
from citybrain.estimation import link_travel_times, read_flows
from citybrain.exceptions import ValidationError
from citybrain.network import RoadNetwork
from citybrain.network.geometry import link_geometry
from citybrain.plans import plans_from_network
from citybrain.plans.formats import read_plans
from citybrain.timing.delay_model import flows_period_h
from citybrain.timing.flows import movement_flows
from citybrain.traffic_state import LEVELS, link_states, state_geojson
from .options import InputFile, OutputFile, network_options
from .plate_input import plate_options, read_fragments

__all__ = ["traffic_state"]

_LEVELS = ", ".join(f"{n} < {b:g}" for n, b in LEVELS[:-1]) + f", else {LEVELS[-1][0]}"


@click.command("traffic-state", help=(
    "Write the state of every road link (flow, speed, travel time, travel time index, level) as GeoJSON, "
    f"and a PNG map. Levels by travel time index (travel time / free-flow time): {_LEVELS}."))
@network_options(dest="network")
@click.option("--flows", "flows_path", type=InputFile("a flow table (flows.csv)"), default=None,
              help="Estimated movement flows (flows.csv, as `citybrain estimate --out` writes).")
@click.option("--run", "run_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
              help="A `citybrain run` output folder: its flows.csv.")
@click.option("--plan", "plan_path", type=InputFile("a plan (JSON or SUMO tlLogic)"), default=None,
              help="What the lights run (plan JSON or SUMO tlLogic); default the network's own programs.")
@click.option("--out", type=OutputFile(), required=True, help="Write the state here (GeoJSON).")
@click.option("--png", type=OutputFile(), default=None, help="Also draw the map here (default: OUT with .png).")
@click.option("--registry", type=InputFile("a camera registry (CSV or Parquet)"), default=None,
              help="Camera registry of the --sightings cameras.")
@plate_options
def traffic_state(network: RoadNetwork, flows_path: Path | None, run_dir: Path | None, plan_path: Path | None,
                  out: Path, png: Path | None, registry: Path | None, sightings: Path | None,
                  plate_key_file: Path | None) -> None:
    if (flows_path is None) == (run_dir is None):
        raise click.UsageError("give exactly one of --flows FILE and --run DIR")
    if run_dir is not None:
        flows_path = run_dir / "flows.csv"
        if not flows_path.is_file():
            msg = f"{run_dir}: has no flows.csv; expected the output folder of `citybrain run`"
            raise ValidationError(msg)
    flows = read_flows(flows_path)
    try:
        q = movement_flows(network, flows)
    except ValidationError as exc:
        raise ValidationError(f"{flows_path}: {exc}", exc.problems) from exc
    plan = read_plans(plan_path, network=network) if plan_path else plans_from_network(network)
    measured = None
    if sightings is not None:
        cameras = read_registry(registry, network) if registry is not None else None
        timed = link_travel_times(read_fragments(network, sightings, cameras, plate_key_file))
        measured = {e: (t, n) for e, t, n in timed.itertuples(index=False)}
    states = link_states(network, q, plan.periods[0].by_tls, period_h=flows_period_h(flows), measured=measured)
    state = state_geojson(states, link_geometry(network.path), at=str(flows_path))
    out.write_text(json.dumps(state, allow_nan=False))
    from citybrain.app.traffic_map import draw_traffic_state

    png = draw_traffic_state(state, png or out.with_suffix(".png"), title=network.path.name)
    area = state["areas"]["network"]
    click.echo(f"{len(state['features'])} links; congestion index {area['index']:.2f} ({area['level']}); "
               f"mean speed {area['mean_speed_kmh']:.1f} km/h; wrote {out} and {png}")
