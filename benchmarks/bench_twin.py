"""Twin overhead: plain ``sumo`` against the twin driving the same scenario.

    python benchmarks/bench_twin.py [--quick] [--repeat 3]

Runs the 4x4 grid demo hour (``scenarios/grid4x4.toml``, seed 0) these ways, each the best
of ``--repeat`` runs:

- ``sumo``: the plain SUMO program with the same options (tripinfo, RESCO defaults);
- ``libsumo floor``: libsumo (imported and started in a fresh process, as the twin does)
  stepping the same simulation in one ``simulationStep`` call, reading nothing: the least any
  libsumo twin can cost;
- ``twin-libsumo``: the twin with the fixed controller under the native protocol (in a fresh
  process): SUMO runs the programs while the twin observes every step what its own figures need
  (the halting vehicles of every watched lane, read lane by lane only on edges with any; the
  vehicles of lanes with halting ones, for the gridlock check; each light's phase and state
  after its next switch or a command), and writes edge data;
- ``twin-traci``: the same over TraCI (every watched lane and light each step, by subscription);
- ``max-pressure``: the twin with the max-pressure controller deciding every second (libsumo):
  every watched lane read whole each step for the observations.

Prints wall times, the ratios to plain ``sumo`` and to the libsumo floor (target: the twin and
max-pressure each <= 1.10x the floor), max-pressure's own time (reading for its decisions,
observations, deciding, applying; measured inside the run) against SUMO's stepping time, and
appends a JSON line to ``benchmarks/results/twin.jsonl``. ``--quick`` simulates 15 minutes once.

``--city`` adds the 900-signal city: ``citybrain network grid --rows 30 --cols 30`` and half an
hour of SUMO's ``randomTrips.py`` (seed 42, a trip every 0.25 s), generated into a temporary
folder; plain ``sumo``, the libsumo floor, the fixed twin (target <= 1.10x the floor) and the
twin under the recommended controller (target: its own time <= 10% of SUMO's stepping time)
each run once in a fresh process, whose peak resident memory is reported beside its time.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from _record import ROOT, record

from citybrain.generate import generate_grid
from citybrain.sumo_tools import sumo_binary, sumo_home, sumo_tool
from simulation import load_scenario


class Run(NamedTuple):
    """One measured run: wall time and CPU time (s) and peak resident memory (MB) of its process.

    A twin run also says the wall time (s) of SUMO's steps and of its controllers' own work
    (observing for their decisions and deciding), measured inside the run.
    """

    wall_s: float
    cpu_s: float
    rss_mb: float
    sumo_step_s: float = 0.0
    control_s: float = 0.0


def _child(cmd: list[str], env: dict | None = None) -> tuple[str, Run]:
    """Run ``cmd``; return its standard output and its :class:`Run` (the whole process)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{Path(cmd[0]).name} failed: {err.read().strip()[-500:]}")
        return out.read(), Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024)  # Linux: kB


def _inside(out: str, whole: Run) -> Run:
    """The run as its process measured it (last line: wall and CPU seconds, then any step and control seconds)."""
    wall, cpu, *clock = map(float, out.strip().splitlines()[-1].split())
    return Run(wall, cpu, whole.rss_mb, *clock)


def plain_sumo(scenario, workdir: Path) -> Run:
    """The plain sumo program on the scenario, seed 0."""
    args = scenario.sumo_args(0) + ["--tripinfo-output", str(workdir / "plain.xml")]
    args += ["--tripinfo-output.write-undeparted", "true"]
    return _child([str(sumo_binary()), *args])[1]


_FLOOR = """
import sys, time
started, cpu = time.perf_counter(), time.process_time()
import libsumo
libsumo.start(sys.argv[1:-1])
libsumo.simulationStep(float(sys.argv[-1]))
libsumo.close()
print(time.perf_counter() - started, time.process_time() - cpu)
"""


def libsumo_floor(scenario, workdir: Path) -> Run:
    """libsumo running the scenario in a fresh process, reading nothing, seed 0 (times from import to close)."""
    args = scenario.sumo_args(0) + ["--tripinfo-output", str(workdir / "floor.xml")]
    args += ["--tripinfo-output.write-undeparted", "true"]
    return _inside(*_child([sys.executable, "-c", _FLOOR, str(sumo_binary()), *args, str(scenario.end_s)]))


_TWIN = """
import sys, tempfile, time
from dataclasses import replace
from simulation import RunSpec, load_scenario
from simulation.twin import Twin
path, end_s, backend, controller = sys.argv[1:]
scenario = replace(load_scenario(path), end_s=float(end_s))
with tempfile.TemporaryDirectory() as tmp:
    twin = Twin(RunSpec(scenario, controller=controller, protocol="native", backend=backend), tmp)
    cpu = time.process_time()
    wall = twin.run().wall_s
    print(wall, time.process_time() - cpu, twin.timing["sumo_step_s"], twin.timing["control_s"])
"""


def twin(scenario, backend: str, controller: str = "fixed") -> Run:
    """One twin run in a fresh process (times inside the run: SUMO start to metrics)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-c", _TWIN, str(scenario.source), str(scenario.end_s), backend, controller]
    return _inside(*_child(cmd, env))


def city(folder: Path, rows: int = 30, cols: int = 30, duration_s: float = 1800.0):
    """The 900-signal city generated into ``folder``: a rows x cols grid, random trips; its scenario."""
    net, trips = folder / "city.net.xml", folder / "city.rou.xml"
    generate_grid(net, rows, cols)
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    subprocess.run(
        [sys.executable, str(sumo_tool("randomTrips.py")), "-n", str(net), "-r", str(trips), "-b", "0",
         "-e", str(duration_s), "-p", "0.25", "--fringe-factor", "10", "--seed", "42", "--validate"],
        check=True, capture_output=True, env=env, cwd=folder,
    )
    toml = folder / "city.toml"
    toml.write_text(
        f'name = "city{rows}x{cols}"\ndescription = "Benchmark: {rows}x{cols} signalised grid, random trips"\n'
        f'network = "{net.name}"\ndemand = ["{trips.name}"]\nbegin_s = 0.0\nend_s = {duration_s}\nstep_s = 1.0\n'
    )
    return load_scenario(toml)


def _best(runs) -> Run:
    """The run of least wall time, with the least CPU time and memory of the runs."""
    runs = list(runs)
    best = min(runs, key=lambda r: r.wall_s)
    return best._replace(cpu_s=min(r.cpu_s for r in runs), rss_mb=min(r.rss_mb for r in runs))


def _line(label: str, run: Run, floor: Run | None, note: str = "") -> str:
    ratio = f"  {run.wall_s / floor.wall_s:5.2f}x / {run.cpu_s / floor.cpu_s:5.2f}x the floor" if floor else ""
    return f"{label:<14} {run.wall_s:7.2f} s wall {run.cpu_s:7.2f} s CPU {run.rss_mb:6.0f} MB{ratio}  {note}".rstrip()


def _figures(runs: dict[str, Run], floor: Run) -> dict:
    out = {}
    for name, run in runs.items():
        out[f"{name}_s"], out[f"{name}_cpu_s"], out[f"{name}_mb"] = round(run.wall_s, 3), round(run.cpu_s, 3), round(run.rss_mb)
        out[f"floor_ratio_{name}"] = round(run.wall_s / floor.wall_s, 3)
        out[f"floor_cpu_ratio_{name}"] = round(run.cpu_s / floor.cpu_s, 3)
        if run.sumo_step_s:
            out[f"{name}_sumo_step_s"], out[f"{name}_control_s"] = round(run.sumo_step_s, 3), round(run.control_s, 3)
            out[f"control_share_{name}"] = round(run.control_s / run.sumo_step_s, 4)
    return out


def _control(run: Run) -> str:
    """The controllers' own time against SUMO's stepping time, measured inside the run."""
    return f"controller {run.control_s:.2f} s = {run.control_s / run.sumo_step_s:.1%} of SUMO's {run.sumo_step_s:.2f} s of steps"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 simulated minutes, one run each")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--city", action="store_true", help="also the 900-signal city (half an hour, minutes per run)")
    args = parser.parse_args()
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    repeat = 1 if args.quick else args.repeat
    if args.quick:
        sc = replace(sc, end_s=900.0)
    with tempfile.TemporaryDirectory() as tmp:
        plain = _best(plain_sumo(sc, Path(tmp)) for _ in range(repeat))
        floor = _best(libsumo_floor(sc, Path(tmp)) for _ in range(repeat))
    lib = _best(twin(sc, "libsumo") for _ in range(repeat))
    mp = _best(twin(sc, "libsumo", "maxpressure") for _ in range(repeat))
    tra = _best(twin(sc, "traci") for _ in range(repeat))
    load = os.getloadavg()[0]
    figures = {
        "scenario": sc.name,
        "simulated_s": sc.duration_s,
        "repeat": repeat,
        "sumo_s": round(plain.wall_s, 3),
        "sumo_cpu_s": round(plain.cpu_s, 3),
        "libsumo_floor_s": round(floor.wall_s, 3),
        "libsumo_floor_cpu_s": round(floor.cpu_s, 3),
        "ratio_libsumo_floor": round(floor.wall_s / plain.wall_s, 3),
        "ratio_maxpressure_libsumo": round(mp.wall_s / plain.wall_s, 3),
        "ratio_libsumo": round(lib.wall_s / plain.wall_s, 3),
        "ratio_traci": round(tra.wall_s / plain.wall_s, 3),
        **_figures({"twin_libsumo": lib, "twin_maxpressure_libsumo": mp, "twin_traci": tra}, floor),
        "target_floor_ratio": 1.10,
    }
    print(_line("plain sumo", plain, None))
    print(_line("libsumo floor", floor, None, "(libsumo stepping alone, no reads)"))
    print(_line("twin libsumo", lib, floor, "(target <= 1.10)"))
    print(_line("twin traci", tra, floor))
    print(_line("max-pressure", mp, floor, "(libsumo, decisions every second; target <= 1.10)"))
    print(f"{'':<14} max-pressure: {_control(mp)}")
    if args.city:
        with tempfile.TemporaryDirectory() as tmp:
            town = city(Path(tmp))
            c_plain, c_floor, c_twin = plain_sumo(town, Path(tmp)), libsumo_floor(town, Path(tmp)), twin(town, "libsumo")
            c_rec = twin(town, "libsumo", "recommended")
        figures["city"] = {
            "scenario": town.name, "simulated_s": town.duration_s, "repeat": 1,
            "sumo_s": round(c_plain.wall_s, 3), "sumo_cpu_s": round(c_plain.cpu_s, 3), "sumo_mb": round(c_plain.rss_mb),
            "libsumo_floor_s": round(c_floor.wall_s, 3), "libsumo_floor_cpu_s": round(c_floor.cpu_s, 3),
            "libsumo_floor_mb": round(c_floor.rss_mb),
            **_figures({"twin_fixed": c_twin, "twin_recommended": c_rec}, c_floor),
            "target_control_share": 0.10,
        }
        print(f"city {town.name} ({town.duration_s:.0f} s simulated, one run each):")
        print(_line("plain sumo", c_plain, None))
        print(_line("libsumo floor", c_floor, None))
        print(_line("fixed twin", c_twin, c_floor, "(target <= 1.10)"))
        print(_line("recommended", c_rec, c_floor))
        print(f"{'':<14} recommended: {_control(c_rec)} (target <= 10%)")
        print(f"{'':<14} memory: fixed twin {c_twin.rss_mb:.0f} MB, recommended {c_rec.rss_mb:.0f} MB, "
              f"plain sumo {c_plain.rss_mb:.0f} MB, libsumo floor {c_floor.rss_mb:.0f} MB")
        load = max(load, os.getloadavg()[0])
    figures["load_average"] = round(load, 1)
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")
    record("twin", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
