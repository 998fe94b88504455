"""Twin overhead: plain ``sumo`` against the twin driving the same scenario.

    python benchmarks/bench_twin.py [--quick] [--repeat 3]

Runs the 4x4 grid demo hour (``scenarios/grid4x4.toml``, seed 0) these ways, each the best
of ``--repeat`` runs:

- ``sumo``: the plain SUMO program with the same options (tripinfo, RESCO defaults);
- ``libsumo floor``: libsumo (imported and started in a fresh process, as the twin does)
  stepping the same simulation in one ``simulationStep`` call, reading nothing: the least any
  libsumo twin can cost;
- ``twin-libsumo``: the twin with the fixed controller under the native protocol: SUMO runs
  the programs while the twin reads every step the vehicles and halting vehicles of all 160
  watched lanes and every light's phase (what a controller's observations are built from),
  sums the queues and writes edge data;
- ``twin-traci``: the same over TraCI;
- ``max-pressure``: the twin with the max-pressure controller deciding every second (libsumo).

Prints wall times and the ratios to plain ``sumo`` (target: libsumo <= 1.10), and appends a
JSON line to ``benchmarks/results/twin.jsonl``. ``--quick`` simulates 15 minutes once.
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

from citybrain.sumo_tools import sumo_binary
from simulation import RunSpec, load_scenario, run_seeds


def plain_sumo(scenario, workdir: Path) -> float:
    """Wall time (s) of the plain sumo program on the scenario, seed 0."""
    args = scenario.sumo_args(0) + ["--tripinfo-output", str(workdir / "plain.xml")]
    args += ["--tripinfo-output.write-undeparted", "true"]
    started = time.perf_counter()
    subprocess.run([str(sumo_binary()), *args], check=True, capture_output=True)
    return time.perf_counter() - started


_FLOOR = """
import sys, time
started = time.perf_counter()
import libsumo
libsumo.start(sys.argv[1:-1])
libsumo.simulationStep(float(sys.argv[-1]))
libsumo.close()
print(time.perf_counter() - started)
"""


def libsumo_floor(scenario, workdir: Path) -> float:
    """Wall time (s) of libsumo running the scenario in a fresh process with no reads, seed 0."""
    args = scenario.sumo_args(0) + ["--tripinfo-output", str(workdir / "floor.xml")]
    args += ["--tripinfo-output.write-undeparted", "true"]
    proc = subprocess.run(
        [sys.executable, "-c", _FLOOR, str(sumo_binary()), *args, str(scenario.end_s)],
        check=True, capture_output=True, text=True,
    )
    return float(proc.stdout.strip().splitlines()[-1])


def twin(scenario, backend: str, controller: str = "fixed") -> float:
    """Wall time (s) of one twin run, measured inside its process (SUMO start to metrics)."""
    spec = RunSpec(scenario, controller=controller, protocol="native", backend=backend)
    (res,) = run_seeds(spec, [0], workers=1, progress=False)
    if not res.ok:
        raise SystemExit(f"twin run failed: {res.error}")
    return res.wall_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="15 simulated minutes, one run each")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sc = load_scenario(ROOT / "scenarios" / "grid4x4.toml")
    repeat = 1 if args.quick else args.repeat
    if args.quick:
        sc = replace(sc, end_s=900.0)
    with tempfile.TemporaryDirectory() as tmp:
        plain = min(plain_sumo(sc, Path(tmp)) for _ in range(repeat))
        floor = min(libsumo_floor(sc, Path(tmp)) for _ in range(repeat))
    lib = min(twin(sc, "libsumo") for _ in range(repeat))
    mp = min(twin(sc, "libsumo", "maxpressure") for _ in range(repeat))
    tra = min(twin(sc, "traci") for _ in range(repeat))
    figures = {
        "scenario": sc.name,
        "simulated_s": sc.duration_s,
        "repeat": repeat,
        "sumo_s": round(plain, 3),
        "libsumo_floor_s": round(floor, 3),
        "ratio_libsumo_floor": round(floor / plain, 3),
        "twin_libsumo_s": round(lib, 3),
        "twin_traci_s": round(tra, 3),
        "twin_maxpressure_libsumo_s": round(mp, 3),
        "ratio_maxpressure_libsumo": round(mp / plain, 3),
        "ratio_libsumo": round(lib / plain, 3),
        "ratio_traci": round(tra / plain, 3),
        "target_ratio_libsumo": 1.10,
    }
    print(f"plain sumo     {plain:7.2f} s")
    print(f"libsumo floor  {floor:7.2f} s   ratio {floor / plain:5.2f}  (libsumo stepping alone, no reads)")
    print(f"twin libsumo   {lib:7.2f} s   ratio {lib / plain:5.2f}  (target <= 1.10)")
    print(f"twin traci     {tra:7.2f} s   ratio {tra / plain:5.2f}")
    print(f"max-pressure   {mp:7.2f} s   ratio {mp / plain:5.2f}  (libsumo, decisions every second; target <= 1.10)")
    print(f"load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    record("twin", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
