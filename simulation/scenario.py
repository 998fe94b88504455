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
"""

from __future__ import annotations

import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from citybrain.exceptions import ValidationError

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
}
_FLOW_KEYS = {"from_edge", "to_edge", "veh_per_hour", "begin_s", "end_s"}
_CAMERA_KEYS = {"interval_s", "detection_rate", "noise_sd", "outage_rate", "outages"}


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
    """

    interval_s: float = 300.0
    detection_rate: float = 1.0
    noise_sd: float = 0.0
    outage_rate: float = 0.0
    outages: tuple[Outage, ...] = ()


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

    @property
    def duration_s(self) -> float:
        """Length of the time window (seconds)."""
        return self.end_s - self.begin_s

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
    return f"{x:g}" if float(x).is_integer() else repr(float(x))


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
        msg = f"{path}: not valid TOML: {exc}"
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
    problems: list[str] = []
    cfg = _read_sumocfg(path, problems)
    if problems:
        _raise(path, problems)
    base = path.parent
    net = cfg.get("net-file")
    network = None
    if not net:
        problems.append(f"{path}: no <net-file> in the configuration")
    else:
        network = (base / net.split(",")[0]).resolve()
    for key in ("net-file", "route-files", "additional-files"):
        for f in _split(cfg.get(key, "")):
            if not (base / f).is_file():
                problems.append(f"{path}: {key} {f!r} not found (looked in {base})")
    end = cfg.get("end")
    if end is None and "end_s" not in overrides:
        problems.append(f"{path}: no <end> time; the twin needs a finite window")
    values: dict[str, float] = {}
    for key, name in (("begin", "begin_s"), ("end", "end_s"), ("step-length", "step_s")):
        if cfg.get(key) is not None:
            try:
                values[name] = float(cfg[key])
            except ValueError:
                problems.append(f"{path}: <{key}> must be a number, got {cfg[key]!r}")
    if problems:
        _raise(path, problems)
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


def _read_sumocfg(path: Path, problems: list[str]) -> dict[str, str]:
    if not path.is_file():
        problems.append(f"{path}: SUMO configuration not found")
        return {}
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        problems.append(f"{path}: not valid XML: {exc}")
        return {}
    out: dict[str, str] = {}
    for section in root:
        for opt in section:
            if "value" in opt.attrib:
                out[opt.tag] = opt.attrib["value"]
    return out


def _cfg_files(cfg: Path, key: str) -> tuple[Path, ...]:
    values = _read_sumocfg(cfg, [])
    return tuple((cfg.parent / f).resolve() for f in _split(values.get(key, "")))


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace(" ", ",").split(",") if v.strip()]


def _raise(path: Path, problems: list[str]) -> None:
    msg = f"{path}: {len(problems)} problem(s) in the scenario:\n  " + "\n  ".join(problems)
    raise ValidationError(msg, problems)


def _scenario_from_dict(data: dict, path: Path) -> Scenario:
    problems: list[str] = []
    base = path.parent

    def where(key: str) -> str:
        return f"{path.name}: {key!r}"

    for key in sorted(set(data) - _TOP_KEYS):
        problems.append(f"{where(key)}: unknown key (expected one of {sorted(_TOP_KEYS)})")

    def number(key: str, table: dict, default: float | None, label: str, *, low=None, high=None):
        if key not in table:
            return default
        value = table[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append(f"{label}: must be a number, got {value!r}")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
            problems.append(f"{label}: must be in {bounds}, got {value!r}")
            return default
        return float(value)

    def existing(value: object, label: str) -> Path | None:
        if not isinstance(value, str) or not value:
            problems.append(f"{label}: must be a file path string, got {value!r}")
            return None
        p = (base / value).resolve()
        if not p.is_file():
            problems.append(f"{label}: file {value!r} not found (resolved to {p})")
            return None
        return p

    def path_list(key: str) -> tuple[Path, ...]:
        value = data.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            problems.append(f"{where(key)}: must be a list of file paths, got {value!r}")
            return ()
        found = [existing(v, f"{where(key)}[{i}]") for i, v in enumerate(value)]
        return tuple(p for p in found if p is not None)

    cfg_scenario: Scenario | None = None
    if "sumocfg" in data:
        cfg_path = existing(data["sumocfg"], where("sumocfg"))
        if cfg_path is not None:
            try:
                cfg_scenario = scenario_from_sumocfg(cfg_path)
            except ValidationError as exc:
                problems.extend(f"{where('sumocfg')}: {p}" for p in exc.problems)
        if "network" in data:
            problems.append(f"{where('network')}: give either 'sumocfg' or 'network', not both")
    network: Path | None = None
    if "network" in data:
        network = existing(data["network"], where("network"))
    elif "sumocfg" not in data:
        problems.append(f"{path.name}: needs 'network' (a .net.xml) or 'sumocfg'")
    demand = path_list("demand")
    additional = path_list("additional")

    begin_default = cfg_scenario.begin_s if cfg_scenario else 0.0
    end_default = cfg_scenario.end_s if cfg_scenario else None
    begin_s = number("begin_s", data, begin_default, where("begin_s"))
    end_s = number("end_s", data, end_default, where("end_s"))
    if end_s is None and "end_s" not in data:
        problems.append(f"{where('end_s')}: required (the end of the time window, seconds)")
    if begin_s is not None and end_s is not None and end_s <= begin_s:
        problems.append(f"{where('end_s')}: must be after begin_s={begin_s:g}, got {end_s:g}")
    step_default = cfg_scenario.step_s if cfg_scenario else 1.0
    step_s = number("step_s", data, step_default, where("step_s"), low=0.001, high=60)
    seeds = data.get("seeds", 1)
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        problems.append(f"{where('seeds')}: must be a positive integer, got {seeds!r}")
        seeds = 1
    options = data.get("sumo_options", [])
    if not isinstance(options, list) or not all(isinstance(o, str) for o in options):
        problems.append(f"{where('sumo_options')}: must be a list of strings, got {options!r}")
        options = []
    for key in ("name", "description"):
        if key in data and not isinstance(data[key], str):
            problems.append(f"{where(key)}: must be a string, got {data[key]!r}")

    flows: list[Flow] = []
    raw_flows = data.get("flows", [])
    if not isinstance(raw_flows, list):
        problems.append(f"{where('flows')}: must be an array of tables ([[flows]])")
        raw_flows = []
    for i, f in enumerate(raw_flows):
        label = f"{path.name}: flows[{i}]"
        if not isinstance(f, dict):
            problems.append(f"{label}: must be a table")
            continue
        for key in sorted(set(f) - _FLOW_KEYS):
            problems.append(f"{label}.{key}: unknown key (expected one of {sorted(_FLOW_KEYS)})")
        for key in ("from_edge", "to_edge"):
            if not isinstance(f.get(key), str) or not f.get(key):
                problems.append(f"{label}.{key}: required edge id string, got {f.get(key)!r}")
        vph = number("veh_per_hour", f, None, f"{label}.veh_per_hour", low=0)
        if "veh_per_hour" not in f:
            problems.append(f"{label}.veh_per_hour: required (vehicles per hour)")
        fb = number("begin_s", f, begin_s, f"{label}.begin_s")
        fe = number("end_s", f, end_s, f"{label}.end_s")
        if vph is not None and fb is not None and fe is not None and fe > fb:
            flows.append(Flow(str(f.get("from_edge")), str(f.get("to_edge")), vph, fb, fe))
        elif fb is not None and fe is not None and fe <= fb:
            problems.append(f"{label}.end_s: must be after begin_s={fb:g}, got {fe:g}")
    if network is None and cfg_scenario is None and not flows and not demand:
        pass  # already reported: no network
    elif not demand and not flows and cfg_scenario is None:
        problems.append(f"{path.name}: no demand: give 'demand' route files or [[flows]]")

    cameras = _cameras(data.get("cameras", {}), path.name, number, problems)
    if problems:
        _raise(path, problems)
    if cfg_scenario is not None:
        network = cfg_scenario.network
    return Scenario(
        name=data.get("name", path.stem),
        source=path.resolve(),
        network=network,  # type: ignore[arg-type]
        sumocfg=cfg_scenario.sumocfg if cfg_scenario else None,
        demand=demand,
        additional=additional,
        flows=tuple(flows),
        begin_s=begin_s,  # type: ignore[arg-type]
        end_s=end_s,  # type: ignore[arg-type]
        step_s=step_s,  # type: ignore[arg-type]
        seeds=seeds,
        sumo_options=tuple(options),
        cameras=cameras,
        description=data.get("description", ""),
    )


def _cameras(raw: object, fname: str, number, problems: list[str]) -> CameraConfig:
    label = f"{fname}: cameras"
    if not isinstance(raw, dict):
        problems.append(f"{label}: must be a table ([cameras])")
        return CameraConfig()
    for key in sorted(set(raw) - _CAMERA_KEYS):
        problems.append(f"{label}.{key}: unknown key (expected one of {sorted(_CAMERA_KEYS)})")
    interval = number("interval_s", raw, 300.0, f"{label}.interval_s", low=1)
    rate = number("detection_rate", raw, 1.0, f"{label}.detection_rate", low=0, high=1)
    noise = number("noise_sd", raw, 0.0, f"{label}.noise_sd", low=0)
    outage = number("outage_rate", raw, 0.0, f"{label}.outage_rate", low=0, high=1)
    outages: list[Outage] = []
    raw_out = raw.get("outages", [])
    if not isinstance(raw_out, list):
        problems.append(f"{label}.outages: must be a list of tables")
        raw_out = []
    for i, o in enumerate(raw_out):
        olabel = f"{label}.outages[{i}]"
        if not isinstance(o, dict) or not isinstance(o.get("camera_id"), str):
            problems.append(f"{olabel}: needs camera_id (string), start_s and end_s")
            continue
        s = number("start_s", o, None, f"{olabel}.start_s", low=0)
        e = number("end_s", o, None, f"{olabel}.end_s", low=0)
        if s is None or e is None or e <= s:
            problems.append(f"{olabel}: needs start_s < end_s (seconds from the begin)")
            continue
        outages.append(Outage(o["camera_id"], s, e))
    return CameraConfig(interval, rate, noise, outage, tuple(outages))  # type: ignore[arg-type]
