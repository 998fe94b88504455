"""Speed of flow estimation: the numba direct solver vs scipy ``lsq_linear``, and a 10k-junction city.

1. **Ratio**: the same per-interval problems (built once by
   :func:`citybrain.estimation.build_problem` from synthetic flow-conserving demand and the
   issue's camera protocol) solved by the library's default solver (``method="direct"``:
   junction blocks inverted and the system condensed onto the links, one factorisation for
   all intervals, numba kernels for the blocks, the triangular solves and the bound polish)
   and by :func:`scipy.optimize.lsq_linear` per interval (BVLS, dense; the library's
   ``method="lsq_linear"``). The numba coordinate-descent kernel ``_solve_bounded_lsq`` is timed
   beside them. Equal accuracy is checked: the share of hourly movement flows with GEH < 5
   against the truth, and the largest difference between the solutions.
2. **City**: a 100 x 100 signalised grid (10,000 junctions, 120,000 movements) x 96 intervals of
   15 min, same settings as the accuracy benchmark: time of the stages (problem build, solve,
   standard errors), of ``estimate_flows`` end to end (from a ``CountTable`` and a loaded
   ``RoadNetwork`` to the finished ``FlowEstimate``: problem build, solve, standard errors, the
   11.5 million-row flows table and the fit table of every count included; loading the
   network, ``network_load_s``, and building the count table are not), and the peak memory
   (RSS high-water mark of the process, and tracemalloc's peak of the call). The synthetic
   counts are built directly, not validated: some exceed the saturation-flow check.
3. **City from Parquet**: the same counts written once to a Parquet file, then in a fresh
   process (so its peak RSS is the pipeline's alone): the network loaded, the file read
   (:func:`citybrain.counts.read_count_cells`), validated against the network
   (:func:`citybrain.counts.counts_from_frame`, lenient) and the flows estimated. Each stage is
   printed with its time and the process's RSS; ``pipeline_s`` is read + validate + estimate.
   The synthetic demand knows no saturation (a few counts imply up to 5000 veh/h per lane), so
   this validation's ceiling is ``max_lane_flow_vph=5000``: no row is dropped and the estimate
   solves the city case's counts. Then the same frame is validated again at the default
   ceiling (2000 veh/h per lane), which reports 0.8 % of the rows as implausible and drops
   them (``bad_validate_s``, the report's problems; not estimated).
   The city case also times ``estimate_flows`` with 1 % of the counts missing at random
   (no interval has the factorised pattern: conjugate gradients preconditioned by it) beside
   the complete case, and the largest difference from a 50x tighter ``tol_vph``.

Usage: ``python benchmarks/bench_estimation.py [--quick]`` (``--quick``: 30 x 30 grid, 24 intervals).
Appends JSON lines to ``benchmarks/results/estimation.jsonl``.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

# BLAS on one thread, set before numpy loads it: lsq_linear's dense per-interval problems gain
# nothing from BLAS threads, and BLAS threads spinning beside numba's made the reference up to
# 60x slower on this shared 2-core machine (a ratio against that would flatter numba)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results" / "estimation.jsonl"
CACHE = Path(tempfile.gettempdir()) / "citybrain_bench_speed"


def _network(kind: str, size: int = 0):
    from citybrain.generate import generate_grid
    from citybrain.network import graph_from_sumo_net

    if kind == "grid4x4":
        return graph_from_sumo_net(ROOT / "networks" / "grid4x4.net.xml")
    CACHE.mkdir(parents=True, exist_ok=True)
    pkl = CACHE / f"grid{size}.pkl"
    if pkl.exists():
        with pkl.open("rb") as fh:
            return pickle.load(fh)
    path = CACHE / f"grid{size}.net.xml"
    if not path.exists():
        generate_grid(path, size, size)
    net = graph_from_sumo_net(path)
    net.to_arrays()
    with pkl.open("wb") as fh:
        pickle.dump(net, fh)
    return net


def _inputs(network, n_intervals: int, seed: int = 0, cache: str | None = None):
    if cache is not None:
        pkl = CACHE / f"inputs_{cache}_{n_intervals}_{seed}.pkl"
        if pkl.exists():
            with pkl.open("rb") as fh:
                return pickle.load(fh)
        out = _inputs(network, n_intervals, seed)
        with pkl.open("wb") as fh:
            pickle.dump(out, fh)
        return out
    from citybrain.counts import CountTable
    from citybrain.synthetic import sample_camera_counts, synthetic_movement_flows

    truth = synthetic_movement_flows(network, n_intervals=n_intervals, interval_s=900.0, seed=seed)
    sig = set(network.signalised_junctions)
    truth = truth[truth["junction"].isin(sig)].reset_index(drop=True)
    counts = sample_camera_counts(truth, network, seed=seed)
    frame = counts.assign(row=np.arange(len(counts)) + 2, count=counts["count"].astype(float))
    frame["interval_start"] = frame["interval_start"].astype(float)
    frame["interval_s"] = frame["interval_s"].astype(float)
    # validated like read_counts would (timed separately in the table below); built directly for speed
    return truth, CountTable(frame=frame, origin=None, interval_s=900.0)


def _missing_at_random(table, share: float, seed: int):
    """``table`` without a random ``share`` of its counts (camera outages spread over every interval)."""
    from citybrain.counts import CountTable

    keep = np.random.default_rng(seed).random(len(table.frame)) >= share
    return CountTable(frame=table.frame[keep].reset_index(drop=True), origin=None, interval_s=table.interval_s)


def _hourly_share(network, problem, x, truth) -> float:
    from citybrain.estimation import geh

    a = network.to_arrays()
    n_t = x.shape[0]
    hourly_est = x.reshape(n_t // 4, 4, -1).mean(axis=1) if n_t % 4 == 0 else x.mean(axis=0, keepdims=True)
    sig = np.array([bool(network.graph.nodes[j].get("tls")) for j in a.junction_ids])[a.mov_junction[problem.mov]]
    true = truth.pivot_table(index="interval_start", columns=["junction", "from_edge", "to_edge"], values="count", aggfunc="sum")
    keys = list(zip(np.array(a.junction_ids)[a.mov_junction[problem.mov]], np.array(a.edge_ids)[a.mov_from_edge[problem.mov]],
                    np.array(a.edge_ids)[a.mov_to_edge[problem.mov]], strict=True))
    cols = [keys[i] for i in np.flatnonzero(sig)]
    t = true[cols].to_numpy(dtype=float) * 4.0  # veh per 15 min -> veh/h
    t_h = t.reshape(-1, 4, t.shape[1]).mean(axis=1) if t.shape[0] % 4 == 0 else t.mean(axis=0, keepdims=True)
    return float((geh(hourly_est[:, sig], t_h) < 5).mean())


def ratio_benchmark(n_intervals: int, repeat: int = 5) -> dict:
    from citybrain.estimation import EstimationSettings, build_problem
    from citybrain.estimation.solvers import solve

    direct, descent = EstimationSettings(), EstimationSettings(method="coordinate-descent")

    net = _network("grid4x4")
    truth, table = _inputs(net, n_intervals)
    p = build_problem(net, table)
    solve(p, direct)  # compile (or load the cache)
    solve(p, descent)
    t_nb, t_cd = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        x_nb, sweeps = solve(p, direct)
        t_nb.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        x_cd, sweeps_cd = solve(p, descent)
        t_cd.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    x_ref, _ = solve(p, EstimationSettings(method="lsq_linear"))
    t_ref = time.perf_counter() - t0
    return {
        "case": "ratio",
        "network": "grid4x4",
        "variables": p.n_var,
        "rows": p.n_rows,
        "intervals": n_intervals,
        "method": "direct",
        "numba_s": float(np.median(t_nb)),
        "numba_coordinate_descent_s": float(np.median(t_cd)),
        "geh5_share_coordinate_descent": _hourly_share(net, p, x_cd, truth),
        "lsq_linear_s": t_ref,
        "ratio": t_ref / float(np.median(t_nb)),
        "max_abs_diff_vph": float(np.abs(x_nb - x_ref).max()),
        "geh5_share_numba": _hourly_share(net, p, x_nb, truth),
        "geh5_share_lsq_linear": _hourly_share(net, p, x_ref, truth),
        "sweeps_max": int(sweeps.max()),
        "sweeps_max_coordinate_descent": int(sweeps_cd.max()),
    }


def city_benchmark(size: int, n_intervals: int, missing_share: float = 0.01) -> dict:
    from citybrain.estimation import EstimationSettings, build_problem, estimate_flows
    from citybrain.estimation.solvers import solve, standard_errors

    t0 = time.perf_counter()
    net = _network("grid", size)
    t_net = time.perf_counter() - t0
    truth, table = _inputs(net, n_intervals, cache=f"grid{size}")
    # warm up compilation on a tiny slice
    small = net if size <= 10 else _network("grid4x4")
    _, small_table = _inputs(small, 2)
    estimate_flows(small, small_table)
    load = os.getloadavg()
    t0 = time.perf_counter()
    p = build_problem(net, table)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    x, sweeps = solve(p, EstimationSettings())
    t_solve = time.perf_counter() - t0
    t0 = time.perf_counter()
    standard_errors(p, EstimationSettings())
    t_se = time.perf_counter() - t0
    tight = EstimationSettings(tol_vph=EstimationSettings().tol_vph / 50)
    diff_complete = float(np.abs(x - solve(p, tight)[0]).max())
    del p, x
    # end to end three times (the machine is shared: report the fastest and the median)
    t_runs = []
    for k in range(3):
        t0 = time.perf_counter()
        est = estimate_flows(net, table)
        t_runs.append(time.perf_counter() - t0)
        if k < 2:
            del est
    t_full = float(np.median(t_runs))
    rss_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    geh5 = _hourly_share(net, est._problem, est._x, truth)
    n_rows_flows = len(est.flows)
    p_rows, p_var = est._problem.n_rows, est._problem.n_var
    del est
    # validating the same counts as read_counts would (lenient: some synthetic counts exceed
    # the saturation-flow check); not part of the end-to-end figure
    from citybrain.counts import COUNT_COLUMNS, counts_from_frame, write_counts

    t0 = time.perf_counter()
    counts_from_frame(table.frame[list(COUNT_COLUMNS)], net, strict=False)
    t_validate = time.perf_counter() - t0
    parquet = CACHE / f"counts_grid{size}_{n_intervals}.parquet"  # the file of pipeline_benchmark
    if not parquet.exists():
        write_counts(table, parquet)
    # memory of one call, measured apart (tracemalloc slows Python allocations)
    tracemalloc.start()
    estimate_flows(net, table)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    gappy = _missing_at_random(table, missing_share, seed=1)
    t0 = time.perf_counter()
    est = estimate_flows(net, gappy)
    t_missing = time.perf_counter() - t0
    x_missing, sweeps_missing = est._x, est.sweeps
    del est
    # the same problem solved to a 50x tighter tolerance: how far the default result is from it
    p = build_problem(net, gappy)
    x_tight, _ = solve(p, tight)
    diff_missing = float(np.abs(x_missing - x_tight).max())
    del p, x_tight
    return {
        "case": "city",
        "method": "direct",
        "junctions": len(net.signalised_junctions),
        "variables": p_var,
        "rows": p_rows,
        "counts": int(len(table.frame)),
        "intervals": n_intervals,
        "network_load_s": t_net,
        "count_validation_s": t_validate,
        "build_s": t_build,
        "kernel_solve_s": t_solve,
        "kernel_se_s": t_se,
        "kernels_total_s": t_solve + t_se,
        "estimate_flows_s": t_full,
        "estimate_flows_runs_s": t_runs,
        "estimate_flows_min_s": min(t_runs),
        "sweeps_max": int(sweeps.max()),
        "sweeps_mean": float(sweeps.mean()),
        "geh5_share": geh5,
        "missing_share": missing_share,
        "missing_counts": int(len(table.frame) - len(gappy.frame)),
        "estimate_flows_missing_s": t_missing,
        "sweeps_max_missing": int(sweeps_missing.max()),
        "max_abs_diff_missing_vs_tight_vph": diff_missing,
        "max_abs_diff_complete_vs_tight_vph": diff_complete,
        "flows_rows": n_rows_flows,
        "tracemalloc_peak_mb": traced_peak / 2**20,
        "rss_peak_mb": rss_peak_mb,
        "loadavg_1_5_15": list(load),
        "loadavg_after": list(os.getloadavg()),
    }


def _rss_mb(field: str = "VmRSS") -> float:
    """The process's resident memory now (``VmRSS``) or its high-water mark (``VmHWM``), MB.

    ``/proc/self/status`` is of the process's own memory map, so a child started by fork and
    exec does not carry its parent's peak (``ru_maxrss`` does, on Linux).
    """
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def pipeline_stages(size: int, n_intervals: int) -> dict:
    """Network load, Parquet read, validation and estimate, each timed (run in a fresh process)."""
    from citybrain.counts import counts_from_frame, read_count_cells
    from citybrain.estimation import estimate_flows

    path = CACHE / f"counts_grid{size}_{n_intervals}.parquet"
    out: dict = {}

    def stage(name: str, t0: float) -> None:
        out[f"{name}_s"] = time.perf_counter() - t0
        out[f"{name}_rss_mb"] = _rss_mb()
        print(f"  {name:<9} {out[f'{name}_s']:6.2f} s   RSS {out[f'{name}_rss_mb']:6.0f} MB", flush=True)

    t0 = time.perf_counter()
    net = _network("grid", size)
    stage("load", t0)
    # warm up compilation on a tiny slice (cached kernels are loaded, not compiled)
    small = _network("grid4x4")
    _, small_table = _inputs(small, 2)
    estimate_flows(small, small_table)
    counts_from_frame(small_table.frame, small, strict=False)
    out["load_average"] = list(os.getloadavg())
    t_start = t0 = time.perf_counter()
    frame = read_count_cells(path)
    stage("read", t0)
    t0 = time.perf_counter()
    table = counts_from_frame(frame, net, strict=False, source=str(path), max_lane_flow_vph=5000.0)
    stage("validate", t0)
    out["dropped_rows"] = len(table.report.dropped_rows)
    t0 = time.perf_counter()
    est = estimate_flows(net, table)
    stage("estimate", t0)
    out["pipeline_s"] = time.perf_counter() - t_start
    out["flows_rows"] = len(est.flows)
    out["rss_peak_mb"] = _rss_mb("VmHWM")
    print(f"  end to end (read + validate + estimate) {out['pipeline_s']:.2f} s; peak RSS {out['rss_peak_mb']:.0f} MB", flush=True)
    del est, table
    t0 = time.perf_counter()
    bad = counts_from_frame(frame, net, strict=False, source=str(path))
    stage("bad_validate", t0)
    out["bad_dropped_rows"] = len(bad.report.dropped_rows)
    out["bad_report"] = [p.format()[:300] for p in bad.report.problems]
    print(f"  at the default ceiling: {out['bad_dropped_rows']} rows reported and dropped; {out['bad_report'][0][:160]}...", flush=True)
    out["rss_peak_after_bad_mb"] = _rss_mb("VmHWM")
    return out


def pipeline_benchmark(size: int, n_intervals: int, n_counts: int) -> dict:
    """Time :func:`pipeline_stages` in a fresh process (the Parquet file written by :func:`city_benchmark`)."""
    path = CACHE / f"counts_grid{size}_{n_intervals}.parquet"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--pipeline-only", "--size", str(size), "--intervals", str(n_intervals)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    lines = done.stdout.splitlines()
    print("\n".join(lines[:-1]), flush=True)
    return {"case": "city-parquet", "junctions": size * size, "counts": n_counts, "intervals": n_intervals,
            "parquet_mb": path.stat().st_size / 2**20, **json.loads(lines[-1])}


def main(argv: list[str] | None = None) -> int:
    from bench_estimation_accuracy import _provenance

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--size", type=int, default=100, help="grid side (junctions = size^2)")
    parser.add_argument("--intervals", type=int, default=96)
    parser.add_argument("--ratio-intervals", type=int, default=96, help="intervals of the numba vs lsq_linear case")
    parser.add_argument("--pipeline-only", action="store_true", help="only the from-Parquet stages (its Parquet file must exist)")
    args = parser.parse_args(argv)
    size, n_int = (30, 24) if args.quick else (args.size, args.intervals)
    if args.pipeline_only:
        print(json.dumps(pipeline_stages(size, n_int)))
        return 0
    prov = _provenance()
    import numba

    prov["numba_threads"] = numba.get_num_threads()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    r = ratio_benchmark(24 if args.quick else args.ratio_intervals)
    print(f"ratio  grid4x4 {r['variables']} flows x {r['intervals']} intervals: numba {r['numba_s'] * 1e3:.1f} ms, "
          f"lsq_linear {r['lsq_linear_s']:.2f} s, ratio {r['ratio']:.0f}x "
          f"(coordinate descent {r['numba_coordinate_descent_s'] * 1e3:.1f} ms); max |diff| {r['max_abs_diff_vph']:.2f} veh/h; "
          f"GEH<5 numba {r['geh5_share_numba']:.3f} vs lsq_linear {r['geh5_share_lsq_linear']:.3f}", flush=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps({**r, **prov, "quick": args.quick}) + "\n")
    c = city_benchmark(size, n_int)
    print(f"city   {c['junctions']} junctions, {c['variables']} flows x {c['intervals']} intervals, {c['counts']} counts: "
          f"kernels {c['kernels_total_s']:.2f} s (direct solve {c['kernel_solve_s']:.2f}, se {c['kernel_se_s']:.2f}; "
          f"bound-polish sweeps max {c['sweeps_max']}, mean {c['sweeps_mean']:.1f}); build {c['build_s']:.2f} s; "
          f"estimate_flows end to end {c['estimate_flows_s']:.2f} s median of 3 (fastest {c['estimate_flows_min_s']:.2f} s; not included: network load {c['network_load_s']:.2f} s, "
          f"count validation {c['count_validation_s']:.1f} s); GEH<5 {c['geh5_share']:.3f}; "
          f"peak RSS {c['rss_peak_mb']:.0f} MB, traced peak of the call {c['tracemalloc_peak_mb']:.0f} MB; "
          f"load average {c['loadavg_1_5_15'][0]:.1f} (before) {c['loadavg_after'][0]:.1f} (after) on {os.cpu_count()} cores", flush=True)
    print(f"city   with {c['missing_share']:.0%} of the counts missing at random ({c['missing_counts']} counts): estimate_flows "
          f"{c['estimate_flows_missing_s']:.2f} s vs {c['estimate_flows_s']:.2f} s complete "
          f"(x{c['estimate_flows_missing_s'] / c['estimate_flows_s']:.2f}); bound-polish sweeps max {c['sweeps_max_missing']}; "
          f"max |diff| vs a 50x tighter tol_vph {c['max_abs_diff_missing_vs_tight_vph']:.3f} veh/h "
          f"(complete case {c['max_abs_diff_complete_vs_tight_vph']:.3f} veh/h)", flush=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps({**c, **prov, "quick": args.quick}) + "\n")
    print(f"city from Parquet, in a fresh process ({c['counts']} counts):", flush=True)
    pq = pipeline_benchmark(size, n_int, c["counts"])
    print(f"city   from Parquet: read {pq['read_s']:.2f} s + validate {pq['validate_s']:.2f} s + estimate {pq['estimate_s']:.2f} s "
          f"= {pq['pipeline_s']:.2f} s end to end (target < 4 s); network load {pq['load_s']:.2f} s (target < 10 s); "
          f"peak RSS {pq['rss_peak_mb']:.0f} MB (target < 3000); at the default ceiling validate {pq['bad_validate_s']:.2f} s "
          f"({pq['bad_dropped_rows']} rows reported); load average {pq['load_average'][0]:.1f} on {os.cpu_count()} cores", flush=True)
    with RESULTS.open("a") as fh:
        fh.write(json.dumps({**pq, **prov, "quick": args.quick}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
