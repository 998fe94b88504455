"""Benchmark: building a RoadNetwork and its arrays.

Times ``graph_from_sumo_net`` on the largest real network in ``../shared/real`` and on a
generated grid (30 x 30 by default), against sumolib's own ``readNet`` of the same file in the
same run (our loader reads with sumolib, so the ratio is the cost of building movements,
programs and foes on top), ``to_arrays()``, and ``conflict_arrays()`` (classifying every
junction's conflicts).

    python benchmarks/bench_network.py [--quick] [--grid N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import sumolib
from _record import REAL, record

from citybrain.generate import generate_grid
from citybrain.network import graph_from_sumo_net


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench(path: Path, repeat: int) -> dict:
    """Time sumolib's read, our load and to_arrays() on one network (seconds, best of ``repeat``)."""
    t_sumolib = _best(lambda: sumolib.net.readNet(str(path), withPrograms=True, withLatestPrograms=True,
                                                  withPedestrianConnections=True), repeat)
    t_load = _best(lambda: graph_from_sumo_net(path), repeat)
    road = graph_from_sumo_net(path)
    t_arrays = _best(lambda: graph_from_sumo_net(path).to_arrays(), repeat) - t_load
    t_conflicts = _best(lambda: graph_from_sumo_net(path).conflict_arrays(), repeat) - t_load - t_arrays
    s = road.summary()
    return {
        "network": path.name,
        "junctions": s["junctions"],
        "signalised": s["signalised"],
        "edges": s["edges"],
        "movements": s["movements"],
        "sumolib_read_s": round(t_sumolib, 4),
        "load_s": round(t_load, 4),
        "load_over_sumolib": round(t_load / t_sumolib, 2),
        "to_arrays_s": round(max(t_arrays, 0.0), 4),
        "conflict_arrays_s": round(max(t_conflicts, 0.0), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 10 x 10 grid and one repeat (for CI)")
    parser.add_argument("--grid", type=int, default=30, help="grid size N for an N x N grid")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n, repeat = (10, 1) if args.quick else (args.grid, args.repeat)

    rows = []
    real = sorted(REAL.glob("**/*.net.xml"), key=lambda p: p.stat().st_size) if REAL.exists() else []
    if real:
        rows.append(bench(real[-1], repeat))
    else:
        print(f"(no real networks at {REAL}; skipping the real-network row)")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        grid = generate_grid(Path(tmp) / f"grid{n}x{n}.net.xml", n, n)
        print(f"generated {grid.name} with netgenerate in {time.perf_counter() - t0:.2f} s")
        rows.append(bench(grid, repeat))

    header = f"{'network':<24} {'junct':>6} {'signals':>7} {'moves':>6} {'sumolib s':>9} {'load s':>7} {'ratio':>6} {'arrays s':>8} {'conflicts s':>11}"
    print(header)
    for r in rows:
        print(f"{r['network'][:24]:<24} {r['junctions']:>6} {r['signalised']:>7} {r['movements']:>6} "
              f"{r['sumolib_read_s']:>9.3f} {r['load_s']:>7.3f} {r['load_over_sumolib']:>6.2f} {r['to_arrays_s']:>8.3f} "
              f"{r['conflict_arrays_s']:>11.3f}")
    path = record("network", {"quick": args.quick, "rows": rows, "median_ratio": statistics.median(r["load_over_sumolib"] for r in rows)})
    print(f"recorded in {path}")


if __name__ == "__main__":
    main()
