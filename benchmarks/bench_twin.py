"""Twin overhead: plain ``sumo`` against the twin driving the same scenario.

    python benchmarks/bench_twin.py [--quick] [--repeat 3]

Runs the 4x4 grid demo hour (``scenarios/grid4x4.toml``, seed 0) these ways, each the best
of ``--repeat`` runs:

- ``sumo``: the plain SUMO program with the same options (tripinfo, RESCO defaults);
- ``libsumo floor``: libsumo (imported and started in a fresh process, as the twin does)
  stepping the same simulation in one ``simulationStep`` call, reading nothing: the least any
  libsumo twin can cost;
- ``twin-libsumo``: the twin with the fixed controller under the native protocol (in a fresh
  process): SUMO runs the programs while the twin reads every step each light's phase and shown
  state and the halting vehicles of its 128 approach lanes (the queue totals), reads the rest of
  the lanes only at decisions and gridlock checks, and writes edge data;
- ``twin-traci``: the same over TraCI;
- ``max-pressure``: the twin with the max-pressure controller deciding every second (libsumo).

Prints wall times, the ratios to plain ``sumo`` and to the libsumo floor (target: the twin and
max-pressure each <= 1.10x the floor), and appends a JSON line to ``benchmarks/results/twin.jsonl``.
``--quick`` simulates 15 minutes once.

``--city`` adds the 900-signal city: ``citybrain network grid --rows 30 --cols 30`` and half an
hour of SUMO's ``randomTrips.py`` (seed 42, a trip every 0.25 s), generated into a temporary
folder; plain ``sumo``, the libsumo floor and the fixed twin each run in a fresh process, whose
peak resident memory is reported beside its time.
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

from _record import ROOT, record

from citybrain.generate import generate_grid
from citybrain.sumo_tools import sumo_binary, sumo_home, sumo_tool
from simulation import load_scenario


def _child(cmd: list[str], env: dict | None = None) -> tuple[str, float, float]:
    """Run ``cmd``; return its standard output, wall time (s) and peak resident memory (MB)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode:
            raise SystemExit(f"{Path(cmd[0]).name} failed: {err.read().strip()[-500:]}")
        return out.read(), wall, usage.ru_maxrss / 1024  # Linux: kB


def plain_sumo(scenario, workdir: Path) -> tuple[float, float]:
    """Wall time (s) and peak memory (MB) of the plain sumo program on the scenario, seed 0."""
    args = scenario.sumo_args(0) + ["--tripinfo-output", str(workdir / "plain.xml")]
    args += ["--tripinfo-output.write-undeparted", "true"]
    _, wall, rss = _child([str(sumo_binary()), *args])
    return wall, rss


_FLOOR = """
import sys, time
started = time.perf_counter()
import libsumo
libsumo.start(sys.argv[1:-1])
libsumo.simulationStep(float(sys.argv[-1]))
libsumo.close()
print(time.perf_counter() - started)
"""


def libsumo_floor(scenario, workdir: Path) -> tuple[float, float]:
    """Wall time (s) and peak memory (MB) of libsumo running the scenario in a fresh process, no reads, seed 0."""
    args = scenario.sumo_args(0) + ["--tripinfo-output", str(workdir / "floor.xml")]
    args += ["--tripinfo-output.write-undeparted", "true"]
    out, _, rss = _child([sys.executable, "-c", _FLOOR, str(sumo_binary()), *args, str(scenario.end_s)])
    return float(out.strip().splitlines()[-1]), rss


_TWIN = """
import sys, tempfile
from dataclasses import replace
from simulation import RunSpec, load_scenario
from simulation.twin import Twin
path, end_s, backend, controller = sys.argv[1:]
scenario = replace(load_scenario(path), end_s=float(end_s))
with tempfile.TemporaryDirectory() as tmp:
    print(Twin(RunSpec(scenario, controller=controller, protocol="native", backend=backend), tmp).run().wall_s)
"""


def twin(scenario, backend: str, controller: str = "fixed") -> tuple[float, float]:
    """Wall time (s, measured inside the run: SUMO start to metrics) and peak memory (MB) of one twin run."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    cmd = [sys.executable, "-c", _TWIN, str(scenario.source), str(scenario.end_s), backend, controller]
    out, _, rss = _child(cmd, env)
    return float(out.strip().splitlines()[-1]), rss


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


def _best(runs) -> tuple[float, float]:
    """The fastest of ``(wall_s, rss_mb)`` runs."""
    return min(runs, key=lambda r: r[0])


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
        plain, _ = _best(plain_sumo(sc, Path(tmp)) for _ in range(repeat))
        floor, _ = _best(libsumo_floor(sc, Path(tmp)) for _ in range(repeat))
    lib, _ = _best(twin(sc, "libsumo") for _ in range(repeat))
    mp, _ = _best(twin(sc, "libsumo", "maxpressure") for _ in range(repeat))
    tra, _ = _best(twin(sc, "traci") for _ in range(repeat))
    load = os.getloadavg()[0]
    figures = {
        "scenario": sc.name,
        "simulated_s": sc.duration_s,
        "repeat": repeat,
        "load_average": round(load, 1),
        "sumo_s": round(plain, 3),
        "libsumo_floor_s": round(floor, 3),
        "ratio_libsumo_floor": round(floor / plain, 3),
        "twin_libsumo_s": round(lib, 3),
        "twin_traci_s": round(tra, 3),
        "twin_maxpressure_libsumo_s": round(mp, 3),
        "ratio_maxpressure_libsumo": round(mp / plain, 3),
        "ratio_libsumo": round(lib / plain, 3),
        "ratio_traci": round(tra / plain, 3),
        "floor_ratio_libsumo": round(lib / floor, 3),
        "floor_ratio_maxpressure": round(mp / floor, 3),
        "target_floor_ratio": 1.10,
    }
    print(f"plain sumo     {plain:7.2f} s")
    print(f"libsumo floor  {floor:7.2f} s   ratio {floor / plain:5.2f}  (libsumo stepping alone, no reads)")
    print(f"twin libsumo   {lib:7.2f} s   ratio {lib / plain:5.2f}  {lib / floor:5.2f}x the floor (target <= 1.10)")
    print(f"twin traci     {tra:7.2f} s   ratio {tra / plain:5.2f}")
    print(f"max-pressure   {mp:7.2f} s   ratio {mp / plain:5.2f}  {mp / floor:5.2f}x the floor "
          "(libsumo, decisions every second; target <= 1.10)")
    if args.city:
        with tempfile.TemporaryDirectory() as tmp:
            town = city(Path(tmp))
            c_plain, c_plain_mb = plain_sumo(town, Path(tmp))
            c_floor, c_floor_mb = libsumo_floor(town, Path(tmp))
            c_twin, c_twin_mb = twin(town, "libsumo")
        figures["city"] = {
            "scenario": town.name, "simulated_s": town.duration_s, "repeat": 1,
            "sumo_s": round(c_plain, 3), "libsumo_floor_s": round(c_floor, 3), "twin_fixed_s": round(c_twin, 3),
            "floor_ratio_fixed": round(c_twin / c_floor, 3),
            "sumo_mb": round(c_plain_mb), "libsumo_floor_mb": round(c_floor_mb), "twin_fixed_mb": round(c_twin_mb),
        }
        print(f"city {town.name}: plain sumo {c_plain:.1f} s ({c_plain_mb:.0f} MB), libsumo floor {c_floor:.1f} s "
              f"({c_floor_mb:.0f} MB), fixed twin {c_twin:.1f} s ({c_twin_mb:.0f} MB): "
              f"{c_twin / c_floor:.2f}x the floor (target <= 1.10)")
        load = max(load, os.getloadavg()[0])
        figures["load_average"] = round(load, 1)
    print(f"load average during the run: {load:.1f} on {os.cpu_count()} cores")
    record("twin", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
