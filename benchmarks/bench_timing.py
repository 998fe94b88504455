"""Benchmark signal timing: offsets for a grid, and the numba delay model against pure numpy.

Usage: ``python benchmarks/bench_timing.py [--quick] [--rows 10 --cols 10]``. Prints the
figures and appends one JSON line to ``benchmarks/results/timing.jsonl`` (machine,
versions, commit, load average before the timed run: on a shared machine the figure
scales with it).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from citybrain._kernels.timing import _network_delay  # noqa: E402
from citybrain.generate import generate_grid  # noqa: E402
from citybrain.network import graph_from_sumo_net  # noqa: E402
from citybrain.estimation import FLOW_COLUMNS  # noqa: E402
from citybrain.timing import TimingOptions, optimise_plan  # noqa: E402
from citybrain.timing.delay_model import delay_model, offsets_of  # noqa: E402
from citybrain.timing.flows import movement_flows  # noqa: E402
from tests.naive import timing as naive  # noqa: E402


def flows_for(network, share=0.08, seed=0):
    rng = np.random.default_rng(seed)
    rows = [(0.0, 3600.0, m.junction, m.from_edge, m.to_edge, float(rng.uniform(0.5, 1.5) * share * m.sat_flow_vph), 10.0)
            for m in network.movements if m.turn != "crossing" and m.tls]
    return pd.DataFrame(rows, columns=list(FLOW_COLUMNS))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="Smaller grid and fewer repeats (CI).")
    ap.add_argument("--rows", type=int, default=10)
    ap.add_argument("--cols", type=int, default=10)
    args = ap.parse_args()
    rows, cols = (4, 4) if args.quick else (args.rows, args.cols)
    with tempfile.TemporaryDirectory() as tmp:
        net_path = generate_grid(Path(tmp) / "grid.net.xml", rows, cols)
        network = graph_from_sumo_net(net_path)
    flows = flows_for(network)
    optimise_plan(network, flows, "coordinated", TimingOptions(seed=0), n_restarts=1, n_passes=1)  # JIT warm-up
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    plan = optimise_plan(network, flows, "coordinated", TimingOptions(seed=0))
    t_offsets = time.perf_counter() - t0

    q = movement_flows(network, flows)
    plans = plan.periods[0].by_tls
    model = delay_model(network, plans, q)
    offsets = offsets_of(model, plans)
    n, c = len(model.movements), model.cycle_s
    dep, delay = np.empty((n, c)), np.empty(n)
    args_k = (offsets, model.cap_local, model.light, model.q, model.up_ptr, model.up_mov, model.shift, model.factor, 3)
    reps = 3 if args.quick else 10
    t0 = time.perf_counter()
    for _ in range(reps):
        total = _network_delay(*args_k, dep, delay)
    t_numba = (time.perf_counter() - t0) / reps
    t0 = time.perf_counter()
    ref, _ = naive.network_delay(*args_k)
    t_numpy = time.perf_counter() - t0
    assert abs(ref - total) <= 1e-6 * max(1.0, abs(ref)), (ref, total)

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    import numba
    import scipy

    record = {
        "benchmark": "timing",
        "quick": args.quick,
        "junctions": len(plans),
        "movements_in_model": n,
        "cycle_s": c,
        "offsets_s": round(t_offsets, 3),
        "offsets_under_10s": t_offsets < 10.0,
        "model_delay_zero_offsets_vehh_per_h": round(plan.meta["model_delay_zero_offsets_vehh_per_h"], 3),
        "model_delay_vehh_per_h": round(plan.meta["model_delay_vehh_per_h"], 3),
        "delay_model_numba_s": t_numba,
        "delay_model_numpy_s": t_numpy,
        "numpy_over_numba": round(t_numpy / t_numba, 1),
        "load_avg_1_5_15": [round(x, 2) for x in load_before],
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "python": platform.python_version()},
        "versions": {"numpy": np.__version__, "numba": numba.__version__, "scipy": scipy.__version__},
        "commit": commit,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    print(f"offsets for a {rows}x{cols} grid ({len(plans)} lights, {n} movements, cycle {c} s): {t_offsets:.2f} s "
          f"(load average {load_before[0]:.2f} on {os.cpu_count()} CPUs)")
    print(f"  modelled delay {record['model_delay_zero_offsets_vehh_per_h']} -> {record['model_delay_vehh_per_h']} veh*h/h")
    print(f"delay model: numba {t_numba * 1e3:.2f} ms, pure numpy {t_numpy * 1e3:.1f} ms, ratio {t_numpy / t_numba:.0f}x")
    out = ROOT / "benchmarks" / "results" / "timing.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
