"""Scenarios: a network, its demand, a time window, seeds and SUMO options.

A :class:`Scenario` is read from a TOML file (:func:`load_scenario`, see below) or directly
from a SUMO ``.sumocfg`` (:func:`scenario_from_sumocfg`), so a published scenario runs as
it is. Defaults follow the RESCO protocol: 1 s steps, ``--time-to-teleport -1``,
``--tripinfo-output.write-unfinished``, ``--xml-validation never`` and an explicit seed
for every run.

TOML keys (paths are relative to the TOML file)::

    name = "grid4x4"                 # default: the file stem
    description = "..."
    sumocfg = "x.sumocfg"            # either this ...
    network = "x.net.xml"            # ... or a network plus demand and/or flows
    demand = ["x.rou.xml"]
    additional = []
    begin_s = 0.0                    # default: the sumocfg's begin, else 0
    end_s = 3600.0                   # default: the sumocfg's end (required otherwise)
    step_s = 1.0
    seeds = 5                        # runs when the caller gives no seeds: seeds 0..N-1
    sumo_options = ["--lateral-resolution", "0.8"]
    start_date = "2026-01-01"        # the calendar day of simulation time 0 (hi-res event timestamps)

    [[flows]]                        # optional generated demand
    from_edge = "A0B0"
    to_edge = "C0D0"
    veh_per_hour = 300.0
    begin_s = 0.0                    # default: scenario begin
    end_s = 3600.0                   # default: scenario end

    [cameras]                        # emulated stop-line cameras (simulation.cameras)
    interval_s = 300.0
    detection_rate = 1.0
    noise_sd = 0.0                   # relative s.d. of multiplicative Gaussian noise
    outage_rate = 0.0                # probability a camera is down in an interval
    outages = [{camera_id = "cam_B1_A1B1", start_s = 0.0, end_s = 600.0}]
    read_rate = 0.3                  # share of crossings whose plate is read (sightings)
    misread_rate = 0.02              # share of read plates read wrong

    [emergency]                      # emergency vehicles (simulation.emergency)
    every_min = 10.0
"""

from __future__ import annotations

import gzip
import math
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from citybrain._validate import Fields, Problems
from citybrain.exceptions import ValidationError

from .emergency import EmergencyConfig, check_emergency_edges, read_emergency

__all__ = [
    "Flow",
    "Outage",
    "CameraConfig",
    "Scenario",
    "load_scenario",
    "scenario_from_sumocfg",
    "RESCO_OPTIONS",
]

#: SUMO options every run gets (the RESCO protocol plus determinism).
RESCO_OPTIONS: tuple[str, ...] = (
    "--time-to-teleport",
    "-1",
    "--tripinfo-output.write-unfinished",
    "true",
    "--xml-validation",
    "never",
    "--no-step-log",
    "true",
)

_TOP_KEYS = {
    "name",
    "description",
    "sumocfg",
    "network",
    "demand",
    "additional",
    "begin_s",
    "end_s",
    "step_s",
    "seeds",
    "sumo_options",
    "flows",
    "cameras",
    "start_date",
    "emergency",
}
_FLOW_KEYS = {"from_edge", "to_edge", "veh_per_hour", "begin_s", "end_s"}
_CAMERA_KEYS = {"interval_s", "detection_rate", "noise_sd", "outage_rate", "outages", "read_rate", "misread_rate"}

#: Bounds SUMO accepts: times (s) from 0 (it refuses a negative begin) to about 31 years (it
#: refuses 1e300 s), and a flow rate (veh/h) far above any road's yet below those it refuses (1e9).
_MAX_TIME_S = 10**9
_MAX_VEH_PER_HOUR = 3_600_000

#: What each file key names, for messages, and the XML roots SUMO reads it with.
_FILES = {
    "network": ("a SUMO network (.net.xml)", ("net",)),
    "sumocfg": ("a SUMO configuration (.sumocfg)", ("configuration", "sumoConfiguration")),
    "demand": ("a SUMO route file (.rou.xml)", ("routes", "additional")),
    "additional": ("a SUMO additional file (.add.xml)", ("additional", "routes")),
}
#: The same for a .sumocfg's own file options.
_CFG_FILES = {"net-file": _FILES["network"], "route-files": _FILES["demand"], "additional-files": _FILES["additional"]}


@dataclass(frozen=True, slots=True)
class Flow:
    """A generated vehicle flow (veh/h) from one edge to another over a time window (s)."""

    from_edge: str
    to_edge: str
    veh_per_hour: float
    begin_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Outage:
    """A camera down from ``start_s`` to ``end_s`` (seconds from the scenario's begin)."""

    camera_id: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class CameraConfig:
    """Emulated stop-line cameras.

    Attributes
    ----------
    interval_s : float
        Counting interval (seconds).
    detection_rate : float
        Probability in [0, 1] that a camera detects a vehicle crossing its stop line.
    noise_sd : float
        Relative standard deviation of multiplicative Gaussian noise on each count (0 = none).
    outage_rate : float
        Probability in [0, 1] that a camera is down for a whole interval.
    outages : tuple of Outage
        Scheduled outages.
    read_rate : float
        Probability in [0, 1] that a camera reads the plate of a vehicle crossing its stop line.
    misread_rate : float
        Probability in [0, 1] that a read plate is read wrong (one character changed).
    """

    interval_s: float = 300.0
    detection_rate: float = 1.0
    noise_sd: float = 0.0
    outage_rate: float = 0.0
    outages: tuple[Outage, ...] = ()
    read_rate: float = 0.3
    misread_rate: float = 0.02


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything needed to start SUMO on one scenario, except the seed.

    Attributes
    ----------
    name : str
        Short name (file stem by default).
    source : Path
        The TOML or ``.sumocfg`` file it was read from.
    network : Path
        SUMO network file.
    sumocfg : Path or None
        SUMO configuration to start from (its other options apply), or ``None``.
    demand, additional : tuple of Path
        Route and additional files (beyond those of ``sumocfg``).
    flows : tuple of Flow
        Generated flows, written to a route file at run time.
    begin_s, end_s, step_s : float
        Time window and step length (seconds).
    seeds : int
        Number of runs (seeds ``0 .. seeds-1``) when the caller names no seeds.
    sumo_options : tuple of str
        Extra SUMO command-line options, appended last.
    cameras : CameraConfig
        Emulated camera settings.
    description : str
        Free text.
    start_date : str
        ISO date of simulation time 0, for the hi-res event log's timestamps (``simulation.events``).
    emergency : EmergencyConfig or None
        Emergency vehicles (:mod:`simulation.emergency`), ``None`` for none.
    """

    name: str
    source: Path
    network: Path
    sumocfg: Path | None = None
    demand: tuple[Path, ...] = ()
    additional: tuple[Path, ...] = ()
    flows: tuple[Flow, ...] = ()
    begin_s: float = 0.0
    end_s: float = 3600.0
    step_s: float = 1.0
    seeds: int = 1
    sumo_options: tuple[str, ...] = ()
    cameras: CameraConfig = field(default_factory=CameraConfig)
    description: str = ""
    start_date: str = "2026-01-01"
    emergency: EmergencyConfig | None = None

    @property
    def duration_s(self) -> float:
        """Length of the time window (seconds)."""
        return self.end_s - self.begin_s

    def route_files(self, extra_routes: tuple[Path, ...] = ()) -> tuple[Path, ...]:
        """The route files SUMO reads: the ``sumocfg``'s, then ``demand``, then ``extra_routes``."""
        cfg = _cfg_files(self.sumocfg, "route-files") if self.sumocfg is not None else ()
        return (*cfg, *self.demand, *extra_routes)

    def sumo_args(
        self,
        seed: int,
        *,
        extra_routes: tuple[Path, ...] = (),
        extra_additional: tuple[Path, ...] = (),
    ) -> list[str]:
        """Return SUMO's command-line options (without the program) for one seed.

        Parameters
        ----------
        seed : int
            SUMO's random seed (``--seed``).
        extra_routes, extra_additional : tuple of Path
            Route and additional files generated at run time (the scenario's ``flows``,
            the twin's edge-data definition).
        """
        args: list[str] = []
        routes = [*self.demand, *extra_routes]
        additional = [*self.additional, *extra_additional]
        if self.sumocfg is not None:
            args += ["-c", str(self.sumocfg)]
            if routes:
                cfg_routes = _cfg_files(self.sumocfg, "route-files")
                args += ["--route-files", ",".join(str(p) for p in (*cfg_routes, *routes))]
            if additional:
                cfg_add = _cfg_files(self.sumocfg, "additional-files")
                args += [
                    "--additional-files",
                    ",".join(str(p) for p in (*cfg_add, *additional)),
                ]
        else:
            args += ["--net-file", str(self.network)]
            if routes:
                args += ["--route-files", ",".join(str(p) for p in routes)]
            if additional:
                args += ["--additional-files", ",".join(str(p) for p in additional)]
        args += [
            "--begin",
            _num(self.begin_s),
            "--end",
            _num(self.end_s),
            "--step-length",
            _num(self.step_s),
            "--seed",
            str(int(seed)),
            *RESCO_OPTIONS,
            *self.sumo_options,
        ]
        return args

    def with_demand(self, routes: tuple[Path, ...]) -> Scenario:
        """Return the scenario with ``routes`` as its only demand (the configuration's route files and ``flows`` dropped).

        The SUMO configuration's network and additional files are kept; its other options give
        way to the run protocol's, as in every run.
        """
        cfg_add = _cfg_files(self.sumocfg, "additional-files") if self.sumocfg is not None else ()
        return replace(self, sumocfg=None, demand=tuple(routes), flows=(), additional=(*cfg_add, *self.additional))

    def flows_xml(self) -> str:
        """Return the scenario's ``flows`` as a SUMO route file (empty string when none)."""
        if not self.flows:
            return ""
        lines = ['<routes xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">']
        for i, f in enumerate(self.flows):
            lines.append(
                f'    <flow id="flow{i}" from="{f.from_edge}" to="{f.to_edge}" '
                f'begin="{_num(f.begin_s)}" end="{_num(f.end_s)}" '
                f'vehsPerHour="{f.veh_per_hour!r}" departLane="best" departSpeed="max"/>'
            )
        lines.append("</routes>")
        return "\n".join(lines) + "\n"


def _num(x: float) -> str:
    """A number as SUMO reads it: no exponent for whole numbers (``1e+07`` is ``10000000``)."""
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def load_scenario(path: str | Path) -> Scenario:
    """Load a scenario from a TOML file or a SUMO ``.sumocfg``.

    Parameters
    ----------
    path : str or Path
        A ``.toml`` scenario file, or a ``.sumocfg``.

    Raises
    ------
    ValidationError
        If the file is missing or unreadable, or breaks the schema; ``problems`` lists
        every problem found, each prefixed with the file name.
    """
    path = Path(path)
    if path.suffix == ".sumocfg":
        return scenario_from_sumocfg(path)
    if not path.is_file():
        msg = f"{path}: scenario file not found (expected a .toml scenario or a .sumocfg)."
        raise ValidationError(msg)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid TOML ({exc}); expected a .toml scenario or a .sumocfg."
        raise ValidationError(msg) from exc
    return _scenario_from_dict(data, path)


def scenario_from_sumocfg(path: str | Path, **overrides: object) -> Scenario:
    """Build a scenario that runs a SUMO ``.sumocfg`` as it is.

    The window and step length come from the configuration (``begin``, ``end``,
    ``step-length``); ``overrides`` replace any :class:`Scenario` field.

    Raises
    ------
    ValidationError
        If the file is missing or unreadable, has no ``net-file`` or no ``end``, or names
        files that do not exist; every problem is listed.
    """
    path = Path(path)
    problems = Problems(path)
    cfg = _read_sumocfg(path, problems)
    problems.raise_if_any("scenario")
    base = path.parent
    net = cfg.get("net-file")
    network = None
    if not net:
        problems.add(f"{path}: no <net-file> in the configuration")
    else:
        network = (base / net.split(",")[0]).resolve()
    for key, (what, roots) in _CFG_FILES.items():
        for f in _split(cfg.get(key, "")):
            if not (base / f).is_file():
                problems.add(f"{path}: {key} {f!r} not found (looked in {base}); expected {what}")
            else:
                wrong = _wrong_xml(base / f, roots, what)
                if wrong:
                    problems.add(f"{path}: {key} {f!r}: {wrong}")
    end = cfg.get("end")
    if end is None and "end_s" not in overrides:
        problems.add(f"{path}: no <end> time; the twin needs a finite window")
    values: dict[str, float] = {}
    for key, name in (("begin", "begin_s"), ("end", "end_s"), ("step-length", "step_s")):
        if cfg.get(key) is not None:
            try:
                values[name] = float(cfg[key])
            except ValueError:
                problems.add(f"{path}: <{key}> must be a number, got {cfg[key]!r}")
    problems.raise_if_any("scenario")
    fields: dict[str, object] = {
        "name": path.name.removesuffix(".sumocfg"),
        "source": path.resolve(),
        "network": network,
        "sumocfg": path.resolve(),
        "begin_s": values.get("begin_s", 0.0),
        "end_s": values.get("end_s", 0.0),
        "step_s": values.get("step_s", 1.0),
    }
    fields.update(overrides)
    return Scenario(**fields)  # type: ignore[arg-type]


def _read_sumocfg(path: Path, problems: Problems) -> dict[str, str]:
    if not path.is_file():
        state = "is a folder" if path.is_dir() else "not found"
        problems.add(f"{path}: {state}; expected a SUMO configuration (.sumocfg)")
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        problems.add(f"{path}: not valid XML: {exc}")
        return {}
    out: dict[str, str] = {}
    for section in root:
        for opt in section:
            if "value" in opt.attrib:
                out[opt.tag] = opt.attrib["value"]
    return out


def _cfg_files(cfg: Path, key: str) -> tuple[Path, ...]:
    values = _read_sumocfg(cfg, Problems(cfg))
    return tuple((cfg.parent / f).resolve() for f in _split(values.get(key, "")))


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace(" ", ",").split(",") if v.strip()]


def _scenario_from_dict(data: dict, path: Path) -> Scenario:
    problems = Problems(path)
    top = Fields(data, path.name, problems)
    top.unknown(_TOP_KEYS)
    base = path.parent
    cfg_scenario: Scenario | None = None
    if "sumocfg" in top:
        cfg_path = _existing(top, "sumocfg", data["sumocfg"], base)
        if cfg_path is not None:
            try:
                cfg_scenario = scenario_from_sumocfg(cfg_path)
            except ValidationError as exc:
                for p in exc.problems:
                    top.problem("sumocfg", p)
        if "network" in top:
            top.problem("network", "give either 'sumocfg' or 'network', not both")
    network: Path | None = None
    if "network" in top:
        network = _existing(top, "network", data["network"], base)
    elif "sumocfg" not in top:
        problems.add(f"{path.name}: needs 'network' (a .net.xml) or 'sumocfg'")
    demand = _existing_list(top, "demand", base)
    additional = _existing_list(top, "additional", base)

    begin_s = _finite(top, "begin_s", cfg_scenario.begin_s if cfg_scenario else 0.0, low=0, high=_MAX_TIME_S)
    end_s = _finite(top, "end_s", cfg_scenario.end_s if cfg_scenario else None, low=0, high=_MAX_TIME_S)
    if end_s is None and "end_s" not in top:
        top.problem("end_s", "required (the end of the time window, seconds)")
    if begin_s is not None and end_s is not None and end_s <= begin_s:
        top.problem("end_s", f"must be after begin_s={begin_s:g}, got {end_s:g}")
    step_s = top.number("step_s", cfg_scenario.step_s if cfg_scenario else 1.0, low=0.001, high=60)
    seeds = top.integer("seeds", 1, low=1)
    if isinstance(data.get("sumo_options"), str):
        top.problem("sumo_options", f"must be a list of strings, got {data['sumo_options']!r}")
        options = []
    else:
        options = top.strings("sumo_options")
    name = top.string("name", path.stem)
    description = data.get("description", "")
    if not isinstance(description, str):
        top.problem("description", f"must be a string, got {description!r}")
    start_date = data.get("start_date", "2026-01-01")
    try:
        date.fromisoformat(start_date)
    except (TypeError, ValueError):
        top.problem("start_date", f"must be an ISO date such as '2026-01-01', got {start_date!r}")

    flows: list[Flow] = []
    entries: list[tuple[int, Flow]] = []
    for index, f in enumerate(top.tables("flows")):
        f.unknown(_FLOW_KEYS)
        from_edge, to_edge = f.string("from_edge", required=True), f.string("to_edge", required=True)
        vph = _finite(f, "veh_per_hour", required=True, low=0, high=_MAX_VEH_PER_HOUR,
                      what="a finite number of vehicles per hour")
        if vph == 0:  # SUMO refuses a flow of rate 0 only when it starts
            f.problem("veh_per_hour", "must be > 0 (leave out a flow with no vehicles), got 0")
            vph = None
        fb = _finite(f, "begin_s", begin_s, low=0, high=_MAX_TIME_S)
        fe = _finite(f, "end_s", end_s, low=0, high=_MAX_TIME_S)
        if fb is not None and fe is not None and fe <= fb:
            f.problem("end_s", f"must be after begin_s={fb:g}, got {fe:g}")
        elif None not in (from_edge, to_edge, vph, fb, fe):
            flows.append(Flow(from_edge, to_edge, vph, fb, fe))  # type: ignore[arg-type]
            entries.append((index, flows[-1]))
    if network is not None:
        _check_network(top, "network", network, entries)
    elif cfg_scenario is not None and entries:
        _check_network(top, "sumocfg", cfg_scenario.network, entries)
    if network is not None and not top.data.get("demand") and not top.data.get("flows") and cfg_scenario is None:
        problems.add(f"{path.name}: no demand: give 'demand' route files or [[flows]]")

    cameras = _cameras(top.table("cameras"))
    emergency = read_emergency(top.table("emergency"))
    net_path = network if network is not None else (cfg_scenario.network if cfg_scenario else None)
    if emergency is not None and net_path is not None and not problems:
        from citybrain.network import graph_from_sumo_net

        for p in check_emergency_edges(emergency, graph_from_sumo_net(net_path), f"{path.name}: [emergency]"):
            problems.add(p)
    problems.raise_if_any("scenario")
    if cfg_scenario is not None:
        network = cfg_scenario.network
    return Scenario(
        name=name,  # type: ignore[arg-type]
        source=path.resolve(),
        network=network,  # type: ignore[arg-type]
        sumocfg=cfg_scenario.sumocfg if cfg_scenario else None,
        demand=demand,
        additional=additional,
        flows=tuple(flows),
        begin_s=begin_s,  # type: ignore[arg-type]
        end_s=end_s,  # type: ignore[arg-type]
        step_s=step_s,  # type: ignore[arg-type]
        seeds=seeds,  # type: ignore[arg-type]
        sumo_options=tuple(options),
        cameras=cameras,
        description=description,
        start_date=start_date,
        emergency=emergency,
    )


def _check_network(top: Fields, key: str, network: Path, entries: list[tuple[int, Flow]]) -> None:
    """Record a problem if ``network`` is not a SUMO network, or a flow's edges are not in it or not joined.

    ``key`` is the scenario key the network came from (``network`` or ``sumocfg``); ``entries``
    are the ``[[flows]]`` entries as (index in the file, flow). A flow needs a route:
    ``to_edge`` reachable from ``from_edge`` through the network's vehicle movements.
    """
    from citybrain.exceptions import NetworkError
    from citybrain.network import graph_from_sumo_net

    try:
        road = graph_from_sumo_net(network)
    except NetworkError as exc:
        top.problem(key, f"{exc} A scenario's network must be a SUMO .net.xml (netconvert makes one).")
        return
    successors: dict[str, set[str]] = {}
    for m in road.movements:
        successors.setdefault(m.from_edge, set()).add(m.to_edge)
    edges = road.edges
    for index, f in entries:
        place = f"{top.where}: [[flows]] entry {index} (from_edge {f.from_edge!r}, to_edge {f.to_edge!r})"
        unknown = [k for k, e in (("from_edge", f.from_edge), ("to_edge", f.to_edge)) if e not in edges]
        for key in unknown:
            top.problems.add(f"{place}: {key} {getattr(f, key)!r} is not an edge of {network.name}; "
                             f"expected the id of one of its {len(edges)} road edges")
        if not unknown and not _reachable(successors, f.from_edge, f.to_edge):
            top.problems.add(f"{place}: no route from {f.from_edge!r} to {f.to_edge!r} in {network.name}; "
                             "expected a to_edge that vehicles can reach from from_edge")


def _reachable(successors: dict[str, set[str]], start: str, goal: str) -> bool:
    """Whether ``goal`` is ``start`` or reachable from it along ``successors`` (breadth-first)."""
    seen, frontier = {start}, [start]
    while frontier:
        if goal in seen:
            return True
        frontier = [n for e in frontier for n in successors.get(e, ()) if n not in seen]
        seen.update(frontier)
    return goal in seen


def _existing(fields: Fields, key: str, value: object, base: Path, index: int | None = None) -> Path | None:
    """The file a path string names, relative to ``base``; None (and a problem) when it is missing, a
    folder, or not the XML file ``key`` expects (:data:`_FILES`)."""
    what, roots = _FILES[key]

    def problem(message: str) -> None:
        place = fields.place(key) if index is None else f"{fields.place(key)}[{index}]"
        fields.problems.add(f"{place}: {message}")

    if not isinstance(value, str) or not value:
        problem(f"must be a file path string, got {value!r}; expected {what}")
        return None
    p = (base / value).resolve()
    if p.is_dir():
        problem(f"{value!r} is a folder (resolved to {p}); expected {what}")
        return None
    if not p.is_file():
        problem(f"file {value!r} not found (resolved to {p}); expected {what}")
        return None
    wrong = None if key == "network" else _wrong_xml(p, roots, what)  # a network is read whole later
    if wrong:
        problem(f"{value!r}: {wrong}")
        return None
    return p


def _wrong_xml(path: Path, roots: tuple[str, ...], what: str) -> str | None:
    """Why ``path`` is not an XML file with one of ``roots`` as its root element, or None when it is.

    Reads only the file's start (route files can be large); a ``.gz`` file is read through gzip.
    """
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as fh:
            for _, element in ET.iterparse(fh, events=("start",)):
                if element.tag in roots:
                    return None
                return f"is XML with root <{element.tag}>, expected {what} (<{roots[0]}>)"
    except (ET.ParseError, OSError, EOFError) as exc:
        return f"not an XML file ({exc}); expected {what}"
    return f"not an XML file (no element); expected {what}"


def _finite(fields: Fields, key: str, default: float | None = None, *, what: str = "a finite number",
            **bounds: object) -> float | None:
    """:meth:`Fields.number` that also refuses ``inf`` (TOML has it): times and rates must be finite."""
    value = fields.number(key, default, what=what, **bounds)  # type: ignore[arg-type]
    if value is not None and not math.isfinite(value):
        fields.problem(key, f"must be {what}, got {value!r}")
        return default
    return value


def _existing_list(fields: Fields, key: str, base: Path) -> tuple[Path, ...]:
    """The files a list of path strings (or one path string) names; the missing ones are problems."""
    value = fields.data.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        fields.problem(key, f"must be a list of file paths, got {value!r}")
        return ()
    found = [_existing(fields, key, v, base, i) for i, v in enumerate(value)]
    return tuple(p for p in found if p is not None)


def _cameras(raw: Fields | None) -> CameraConfig:
    if raw is None:
        return CameraConfig()
    raw.unknown(_CAMERA_KEYS)
    interval = _finite(raw, "interval_s", 300.0, low=1)
    rate = raw.number("detection_rate", 1.0, low=0, high=1)
    noise = _finite(raw, "noise_sd", 0.0, low=0)
    outage = raw.number("outage_rate", 0.0, low=0, high=1)
    outages: list[Outage] = []
    for o in raw.tables("outages"):
        camera = o.string("camera_id", required=True)
        start = _finite(o, "start_s", required=True, low=0)
        end = _finite(o, "end_s", required=True, low=0)
        if start is not None and end is not None and end <= start:
            o.problem("end_s", f"must be after start_s={start:g} (seconds from the begin), got {end:g}")
        elif None not in (camera, start, end):
            outages.append(Outage(camera, start, end))  # type: ignore[arg-type]
    read = raw.number("read_rate", 0.3, low=0, high=1)
    misread = raw.number("misread_rate", 0.02, low=0, high=1)
    return CameraConfig(interval, rate, noise, outage, tuple(outages), read, misread)  # type: ignore[arg-type]
