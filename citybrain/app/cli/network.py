"""``citybrain network``: inspect, generate and import road networks."""

from __future__ import annotations

import json
from pathlib import Path

import click

from citybrain.exceptions import NetworkError
from citybrain.generate import generate_arterial, generate_grid, import_osm
from citybrain.network import RoadNetwork, graph_from_sumo_net
from .options import FiniteRange, InputFile, OutputFile, network_options

__all__ = ["network"]


@click.group()
def network() -> None:
    """Inspect, generate and import road networks."""


@network.command("info")
@network_options(argument=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def info(road: RoadNetwork, as_json: bool) -> None:
    """Summarise a SUMO network NET: junctions, signals, movements, unsafe phases."""
    if not road.programs:
        msg = f"{road.path}: the network has no traffic lights; citybrain needs signalised junctions."
        raise NetworkError(msg)
    summary = road.summary()
    unsafe = road.unsafe_phases()
    report = {
        **summary,
        "unsafe_phases": [
            {"tls": f["tls"], "phase": f["phase"], "kind": f["kind"], "movements": f["movements"]} for f in unsafe
        ],
    }
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        click.echo(f"{key:<{width}}  {value}")
    click.echo("")
    click.echo(f"{'traffic light':<34} {'junctions':>9} {'links':>5} {'phases':>6} {'cycle_s':>7}")
    for tls, prog in sorted(road.programs.items()):
        click.echo(f"{tls[:34]:<34} {len(prog.junctions):>9} {prog.n_links:>5} {len(prog.phases):>6} {prog.cycle_s:>7.0f}")
    click.echo("")
    if not unsafe:
        click.echo("unsafe phases: none")
    for f in unsafe:
        click.echo(f"unsafe phase: tls {f['tls']} phase {f['phase']} [{f['kind']}] {f['detail']}: {', '.join(f['movements'])}")


@network.command("grid")
@click.argument("out", type=OutputFile())
@click.option("--rows", default=4, show_default=True, help="Junctions along y.")
@click.option("--cols", default=4, show_default=True, help="Junctions along x.")
@click.option("--block-m", type=FiniteRange(min=0, min_open=True), default=200.0, show_default=True,
              help="Block length (m).")
@click.option("--lanes", default=2, show_default=True, help="Through lanes per direction.")
@click.option("--pedestrians", is_flag=True, help="Add sidewalks and crossings.")
def grid(out: Path, rows: int, cols: int, block_m: float, lanes: int, pedestrians: bool) -> None:
    """Write a signalised grid network to OUT with SUMO's netgenerate."""
    generate_grid(out, rows, cols, block_m=block_m, lanes=lanes, pedestrians=pedestrians)
    click.echo(f"wrote {out}")


@network.command("arterial")
@click.argument("out", type=OutputFile())
@click.option("--signals", default=5, show_default=True, help="Signalised junctions.")
@click.option("--spacing-m", type=FiniteRange(min=0, min_open=True), default=300.0, show_default=True,
              help="Distance between signals (m).")
@click.option("--lanes", default=2, show_default=True, help="Arterial lanes per direction.")
@click.option("--pedestrians", is_flag=True, help="Add sidewalks and crossings.")
def arterial(out: Path, signals: int, spacing_m: float, lanes: int, pedestrians: bool) -> None:
    """Write a signalised arterial with side streets to OUT."""
    generate_arterial(out, signals, spacing_m=spacing_m, lanes=lanes, pedestrians=pedestrians)
    click.echo(f"wrote {out}")


@network.command("import-osm")
@click.argument("osm", type=InputFile("an OpenStreetMap file (.osm or .osm.xml)", xml_root="osm"))
@click.option("-o", "--out", required=True, type=OutputFile(), help="Output .net.xml.")
@click.option("--pedestrians", is_flag=True, help="Keep footways; add sidewalks and crossings.")
def import_osm_command(osm: Path, out: Path, pedestrians: bool) -> None:
    """Convert an OpenStreetMap file OSM into a SUMO network with guessed, joined signals."""
    import_osm(osm, out, pedestrians=pedestrians)
    road = graph_from_sumo_net(out)
    s = road.summary()
    click.echo(f"wrote {out}: {s['junctions']} junctions, {s['traffic_lights']} traffic lights, {s['edges']} edges")
