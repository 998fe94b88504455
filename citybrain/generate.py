"""Generate road networks with SUMO's own ``netgenerate`` and ``netconvert``.

For tests, demos and benchmarks: a signalised grid and a signalised arterial with side
streets, optionally with sidewalks and pedestrian crossings (none of the real networks has
crossings). :func:`import_osm` turns an OpenStreetMap extract into a SUMO network with the
options engineers usually want (traffic lights guessed and joined, turn lanes from OSM tags).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from xml.sax.saxutils import quoteattr

from .exceptions import ValidationError
from .sumo_tools import run_sumo_program

__all__ = ["generate_grid", "generate_arterial", "import_osm"]

# netconvert options shared by every generated network: right-hand traffic, signals at every
# junction of degree > 2, no U-turns, a 90 s cycle and 3 s yellow for the generated programs.
_COMMON = [
    "--no-turnarounds",
    "--tls.cycle.time",
    "90",
    "--tls.yellow.time",
    "3",
    "--junctions.corner-detail",
    "5",
    "--no-warnings",
]


def _check_positive(**values: float) -> None:
    problems = [f"{name} must be positive, got {value!r}" for name, value in values.items() if not value > 0]
    if problems:
        msg = "Bad network parameters: " + "; ".join(problems) + "."
        raise ValidationError(msg, problems)


def _pedestrian_options(pedestrians: bool) -> list[str]:
    return ["--sidewalks.guess", "--crossings.guess"] if pedestrians else []


def _output_path(path: str | Path) -> Path:
    """The output file as a Path, its folder created."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _build_signalised(program: str, path: Path, args: list[str], pedestrians: bool) -> Path:
    """Run ``netgenerate`` or ``netconvert`` with ``args`` and the options every generated network shares."""
    run_sumo_program(
        program,
        [*args, "--output-file", str(path), "--tls.layout", "opposites", *_COMMON, *_pedestrian_options(pedestrians)],
    )
    return path


def generate_grid(
    path: str | Path,
    rows: int = 4,
    cols: int = 4,
    *,
    block_m: float = 200.0,
    lanes: int = 2,
    speed_mps: float = 13.89,
    attach_m: float = 200.0,
    left_turn_lanes: int = 0,
    pedestrians: bool = False,
) -> Path:
    """Write a signalised ``rows x cols`` grid network (SUMO ``.net.xml``) and return its path.

    Parameters
    ----------
    path
        Output file.
    rows, cols
        Number of junctions along y and x.
    block_m
        Block (street) length in metres.
    lanes
        Through lanes per direction.
    speed_mps
        Speed limit (m/s).
    attach_m
        Length (m) of the entry/exit streets attached at the border, so that every junction
        is a four-way intersection; 0 for none.
    left_turn_lanes
        Extra left-turn lanes added before each junction.
    pedestrians
        Add sidewalks and a signalised crossing on every approach.

    Raises
    ------
    ValidationError
        If a size is not positive.
    """
    _check_positive(rows=rows, cols=cols, block_m=block_m, lanes=lanes, speed_mps=speed_mps)
    args = [
        "--grid",
        "--grid.x-number", str(cols),
        "--grid.y-number", str(rows),
        "--grid.length", str(block_m),
        "--default.lanenumber", str(lanes),
        "--default.speed", str(speed_mps),
        "--default-junction-type", "traffic_light",
    ]
    if attach_m > 0:
        args += ["--grid.attach-length", str(attach_m)]
    if left_turn_lanes > 0:
        args += ["--turn-lanes", str(left_turn_lanes), "--turn-lanes.length", str(min(60.0, block_m / 3))]
    return _build_signalised("netgenerate", _output_path(path), args, pedestrians)


def generate_arterial(
    path: str | Path,
    signals: int = 5,
    *,
    spacing_m: float = 300.0,
    lanes: int = 2,
    side_lanes: int = 1,
    speed_mps: float = 13.89,
    side_speed_mps: float = 11.11,
    side_length_m: float = 200.0,
    pedestrians: bool = False,
) -> Path:
    """Write a signalised arterial (SUMO ``.net.xml``) with side streets and return its path.

    The arterial runs west-east through ``signals`` junctions ``spacing_m`` apart, with an entry
    street of ``spacing_m`` at each end; at each junction a side street crosses north-south.

    Parameters
    ----------
    path
        Output file.
    signals
        Number of signalised junctions.
    spacing_m
        Distance between junctions (m).
    lanes, side_lanes
        Lanes per direction on the arterial and on the side streets.
    speed_mps, side_speed_mps
        Speed limits (m/s).
    side_length_m
        Length (m) of each side-street arm.
    pedestrians
        Add sidewalks and a signalised crossing on every approach.

    Raises
    ------
    ValidationError
        If a size is not positive.
    """
    _check_positive(signals=signals, spacing_m=spacing_m, lanes=lanes, side_lanes=side_lanes, side_length_m=side_length_m)
    path = _output_path(path)
    nodes = [("W", 0.0, 0.0, "priority"), ("E", (signals + 1) * spacing_m, 0.0, "priority")]
    edges: list[tuple[str, str, str, int, float]] = []
    names = ["W"] + [f"J{i}" for i in range(1, signals + 1)] + ["E"]
    for i in range(1, signals + 1):
        x = i * spacing_m
        nodes += [(f"J{i}", x, 0.0, "traffic_light"), (f"N{i}", x, side_length_m, "priority"), (f"S{i}", x, -side_length_m, "priority")]
        for end in (f"N{i}", f"S{i}"):
            edges += [(f"{end}_J{i}", end, f"J{i}", side_lanes, side_speed_mps), (f"J{i}_{end}", f"J{i}", end, side_lanes, side_speed_mps)]
    for a, b in zip(names, names[1:]):
        edges += [(f"{a}_{b}", a, b, lanes, speed_mps), (f"{b}_{a}", b, a, lanes, speed_mps)]
    with tempfile.TemporaryDirectory() as tmp:
        nod, edg = Path(tmp) / "a.nod.xml", Path(tmp) / "a.edg.xml"
        nod.write_text(
            "<nodes>\n"
            + "".join(f'  <node id={quoteattr(n)} x="{x}" y="{y}" type="{t}"/>\n' for n, x, y, t in nodes)
            + "</nodes>\n"
        )
        edg.write_text(
            "<edges>\n"
            + "".join(
                f'  <edge id={quoteattr(e)} from={quoteattr(a)} to={quoteattr(b)} numLanes="{n}" speed="{v}"/>\n'
                for e, a, b, n, v in edges
            )
            + "</edges>\n"
        )
        return _build_signalised("netconvert", path, ["--node-files", str(nod), "--edge-files", str(edg)], pedestrians)


def import_osm(osm_file: str | Path, path: str | Path, *, pedestrians: bool = False) -> Path:
    """Convert an OpenStreetMap extract to a SUMO network for signal work and return its path.

    Guesses and joins traffic lights, keeps turn lanes from OSM tags, guesses ramps and
    removes isolated pieces, keeping only roads cars may use (unless ``pedestrians``).

    Raises
    ------
    ValidationError
        If the OSM file is missing.
    CityBrainError
        If netconvert rejects the file (its error is in the message).
    """
    osm_file = Path(osm_file)
    if not osm_file.is_file():
        msg = f"{osm_file}: no such OpenStreetMap file."
        raise ValidationError(msg)
    path = _output_path(path)
    args = [
        "--osm-files", str(osm_file),
        "--output-file", str(path),
        "--geometry.remove", "--roundabouts.guess", "--ramps.guess",
        "--junctions.join", "--tls.guess-signals", "--tls.discard-simple", "--tls.join",
        "--tls.default-type", "static",
        "--osm.turn-lanes", "--remove-edges.isolated",
        "--keep-edges.by-vclass", "passenger" + (",pedestrian" if pedestrians else ""),
        "--no-turnarounds.tls",
        "--output.street-names",
        "--no-warnings",
        *_pedestrian_options(pedestrians),
    ]
    run_sumo_program("netconvert", args)
    return path
