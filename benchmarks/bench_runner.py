"""The run pool and the RL step: parallel efficiency of ``run_many``, RL ``step()`` overhead, and a full bench sweep.

1. **Parallel efficiency** of the one process pool (:func:`simulation.runner.run_many`): the same
   8 runs (demo arterial, ``maxpressure``, seeds 1..8) with 1 worker and with 2; efficiency =
   serial time / (parallel time x 2). Aim >= 0.9.
2. **RL step overhead**: one PettingZoo ``step()`` against the twin's own decision interval on
   the same decisions (the functions of ``bench_rl_step.py``). Aim <= 10%.
3. With ``--sweep``: the issue's sweep, 3 scenarios (demo, arterial5, grid4x4) x 4 controllers
   (fixed, maxpressure, actuated-pressure, webster) x 3 seeds with 2 workers through
   ``citybrain bench``: killed (SIGKILL of the command and its runs) once a third of the runs
   are stored, then re-run (only the missing runs run), then reported; with ``--dask`` the same
   sweep also runs on a ``dask scheduler`` and two ``dask worker``s on loopback and the per-seed
   delays are compared.

Prints every figure with the machine's load average (the figures are wall-clock times) and
appends a JSON line to ``benchmarks/results/runner.jsonl``.

Usage: ``python benchmarks/bench_runner.py [--quick] [--sweep [--dask]]`` (quick: 600 s windows).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, record  # noqa: E402
from bench_rl_step import env_run, twin_run  # noqa: E402

from citybrain.app.bench import RunStore  # noqa: E402
from citybrain.app.rl import make_parallel_env  # noqa: E402
from citybrain.network import graph_from_sumo_net  # noqa: E402
from simulation import RunSpec, load_scenario, run_many  # noqa: E402

SWEEP_SCENARIOS = ("scenarios/demo.toml", "scenarios/arterial5.toml", "scenarios/grid4x4.toml")
SWEEP_CONTROLLERS = ("fixed", "maxpressure", "actuated-pressure", "webster")


def parallel_efficiency(window_s: float, runs: int = 8, workers: int = 2) -> dict:
    """Serial and parallel wall time of the same runs, and serial / (parallel x workers)."""
    scenario = replace(load_scenario(ROOT / "scenarios" / "demo.toml"), end_s=window_s)
    specs = [RunSpec(scenario, controller="maxpressure", seed=k) for k in range(1, runs + 1)]
    times, cpu = {}, {}
    for n in (1, workers):
        started = time.perf_counter()
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        results = run_many(specs, workers=n)
        times[n] = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[n] = after.ru_utime + after.ru_stime - used.ru_utime - used.ru_stime
        failed = [r.error for r in results if not r.ok]
        if failed:
            msg = f"runs failed: {failed}"
            raise RuntimeError(msg)
    return {"runs": runs, "workers": workers, "window_s": window_s, "serial_s": round(times[1], 2),
            "parallel_s": round(times[workers], 2), "serial_cpu_s": round(cpu[1], 2),
            "parallel_cpu_s": round(cpu[workers], 2),
            "efficiency": round(times[1] / (times[workers] * workers), 3)}


def rl_overhead(window_s: float, repeats: int) -> dict:
    """Best-of-``repeats`` wall time of the twin's run and of the environment's episode on the same decisions."""
    scenario = replace(load_scenario(ROOT / "scenarios" / "demo.toml"), end_s=window_s)
    network = graph_from_sumo_net(scenario.network)
    env = make_parallel_env(scenario, seed=0)
    env.close()
    twin_s, env_s = [], []
    for _ in range(repeats):
        twin_s.append(twin_run(scenario, network, 0)[0])
        wall, _, steps = env_run(env, 0)
        env_s.append(wall)
    env.close()
    t, e = min(twin_s), min(env_s)
    return {"window_s": window_s, "steps": steps, "twin_s": round(t, 3), "env_s": round(e, 3),
            "overhead": round(e / t - 1.0, 4)}


def _bench(*args) -> list[str]:
    return [sys.executable, "-m", "citybrain.app.cli", "bench", *map(str, args)]


def _sweep_args(results: Path, window_s: float, *extra: str) -> list[str]:
    return ["--scenarios", *(ROOT / s for s in SWEEP_SCENARIOS), "--controllers", *SWEEP_CONTROLLERS,
            "--seeds", "3", "--duration", f"{window_s:g}", "--results", results, *extra]


def full_sweep(window_s: float, dask: bool) -> dict:
    """The 3 x 4 x 3 sweep: killed a third of the way, resumed, reported; optionally again on Dask."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out: dict = {}
    with tempfile.TemporaryDirectory(prefix="citybrain-bench-") as tmp:
        results = Path(tmp) / "local"
        started = time.perf_counter()
        proc = subprocess.Popen(_bench(*_sweep_args(results, window_s, "--workers", "2")), cwd=ROOT, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        while len(list((results / "runs").glob("*.parquet"))) < 12 and proc.poll() is None:
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        before = len(RunStore(results).done_ids())
        out["killed_after_s"] = round(time.perf_counter() - started, 1)
        out["stored_when_killed"] = before
        t = time.perf_counter()
        rerun = subprocess.run(_bench(*_sweep_args(results, window_s, "--workers", "2")), cwd=ROOT, env=env,
                               capture_output=True, text=True, check=False)
        out["rerun_s"] = round(time.perf_counter() - t, 1)
        out["rerun_exit"] = rerun.returncode
        out["rerun_plan"] = rerun.stderr.splitlines()[0] if rerun.stderr else ""
        final = RunStore(results).final()
        out["runs_ok"] = int((final["status"] == "ok").sum())
        out["attempt_files"] = len(list((results / "runs").glob("*.parquet")))
        report = subprocess.run(_bench("report", results), cwd=ROOT, env=env, capture_output=True, text=True,
                                check=False)
        out["report_exit"] = report.returncode
        out["delay_s"] = {f"{r.scenario}/{r.controller}/{r.seed}": round(r.delay_s, 3) for r in final.itertuples()}
        summary = (results / "report.md").read_text() if (results / "report.md").is_file() else ""
        print("\n".join(x for x in summary.splitlines() if x.startswith(("## ", "| ")) and "violations" not in x))
        if dask:
            out["dask"] = _on_dask(Path(tmp), window_s, env, final)
    return out


def _on_dask(tmp: Path, window_s: float, env: dict, local) -> dict:
    dask = shutil.which("dask", path=str(Path(sys.executable).parent))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"env": env, "cwd": tmp, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                              **quiet)]
    procs += [subprocess.Popen([dask, "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard"],
                               **quiet) for _ in range(2)]
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
        t = time.perf_counter()
        run = subprocess.run(_bench(*_sweep_args(tmp / "dask", window_s, "--scheduler", address)), cwd=ROOT, env=env,
                             capture_output=True, text=True, check=False)
        wall = time.perf_counter() - t
    finally:
        for proc in procs[::-1]:
            proc.terminate()
            proc.wait(timeout=30)
    remote = RunStore(tmp / "dask").final()
    key = ["scenario", "controller", "seed"]
    both = local.merge(remote, on=key, suffixes=("_local", "_dask"))
    same = int((both["delay_s_local"] == both["delay_s_dask"]).sum())
    return {"exit": run.returncode, "wall_s": round(wall, 1), "runs": len(remote), "same_delay_as_local": same}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 s windows, 2 repeats of the RL episode")
    parser.add_argument("--sweep", action="store_true", help="also the 3 x 4 x 3 bench sweep (killed, resumed)")
    parser.add_argument("--dask", action="store_true", help="with --sweep: the same sweep on a loopback Dask cluster")
    args = parser.parse_args()
    window, repeats = (600.0, 2) if args.quick else (1800.0, 3)
    load = os.getloadavg()
    print(f"machine: {os.cpu_count()} CPUs, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    eff = parallel_efficiency(window)
    print(f"parallel efficiency: 8 runs (demo, maxpressure, {window:g} s) serial {eff['serial_s']:.1f} s, "
          f"2 workers {eff['parallel_s']:.1f} s -> {eff['efficiency']:.2f} (aim >= 0.9); CPU time of the runs "
          f"{eff['serial_cpu_s']:.1f} s serial, {eff['parallel_cpu_s']:.1f} s parallel")
    rl = rl_overhead(window, repeats)
    print(f"RL step overhead: ParallelEnv {rl['env_s']:.2f} s vs twin {rl['twin_s']:.2f} s over {rl['steps']} "
          f"decisions -> {100 * rl['overhead']:+.1f}% (aim <= 10%)")
    figures = {"load_average": [round(x, 2) for x in load], "parallel": eff, "rl_step": rl, "quick": args.quick}
    if args.sweep:
        sweep = full_sweep(window, args.dask)
        print(f"sweep 3 x 4 x 3 with 2 workers: killed after {sweep['killed_after_s']} s with "
              f"{sweep['stored_when_killed']} runs stored; re-run ({sweep['rerun_plan']}) took {sweep['rerun_s']} s, "
              f"exit {sweep['rerun_exit']}; {sweep['runs_ok']} of 36 runs ok in {sweep['attempt_files']} files")
        if "dask" in sweep:
            d = sweep["dask"]
            print(f"on Dask (2 workers): exit {d['exit']}, {d['wall_s']} s, {d['same_delay_as_local']} of "
                  f"{d['runs']} runs with the local run's delay exactly")
        figures["sweep"] = sweep
    print(f"recorded in {record('runner', figures)}")


if __name__ == "__main__":
    main()
