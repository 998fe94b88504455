"""The twin's conflict monitor over every scenario and strategy (issue 13, "Must show").

For every shipped scenario (``scenarios/*.toml``; the real ones point into ``../shared/real/``),
one seed (0), every strategy runs in the twin and :class:`simulation.monitor.ConflictMonitor`
counts its violations by kind:

* baselines (not ours): ``network`` (the network's own programs, controller ``fixed``),
  ``sumo-actuated``, ``sumo-delay-based``;
* our controllers: every other registered controller;
* our plans: ``plan:webster`` and ``plan:coordinated``, optimised from the emulated cameras'
  estimated flows (``bench_plans_twin.camera_counts``, 30% of cameras dropped, 10% noise), each
  checked by the gate and run with ``--plan`` (the plan controller).

Where the network's own program is unsafe even with clearances, our controllers refuse to run
on it; they then run choosing among the coordinated plan's phases (``--plan``), marked ``^``.

It also times the monitor's overhead: the same run in this process with the monitor and with
it replaced by a no-op.

Usage::

    python benchmarks/bench_monitor.py                          # every scenario
    python benchmarks/bench_monitor.py --scenarios demo grid4x4 hangzhou_bc_tyc

Prints the table scenario x strategy (violations by kind: conflict / no-yellow / short-yellow /
short-green, ``*`` marks ours) and writes it to ``benchmarks/results/monitor.txt``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
RESULTS = ROOT / "benchmarks" / "results"
BASELINES = ("network", "sumo-actuated", "sumo-delay-based")
PLANS = ("plan:webster", "plan:coordinated")
#: German networks follow RiLSA (as in bench_plans_twin).
PROFILE = {"resco_cologne1": "eu", "resco_cologne3": "eu", "resco_ingolstadt1": "eu", "resco_ingolstadt7": "eu"}


def scenarios(names: list[str] | None) -> list[Path]:
    """The shipped scenario files (all, or those named by their stem)."""
    files = sorted((ROOT / "scenarios").glob("*.toml"))
    if names:
        files = [f for f in files if f.stem in names]
    return files


def strategies() -> list[str]:
    """Baselines, our controllers, our plans, in table order."""
    from citybrain.control import CONTROLLERS

    ours = sorted(c for c in CONTROLLERS if c not in BASELINES and c != "fixed")
    return [*BASELINES, *ours, *PLANS]


def make_plans(sc, network, work: Path, profile) -> dict[str, Path]:
    """Our webster and coordinated plans (JSON files) from the camera run's estimated flows."""
    from bench_plans_twin import camera_counts, estimated_flows

    from citybrain.plans import require_safe, write_plans_json
    from citybrain.timing import TimingOptions, optimise_plan

    counts, _ = camera_counts(sc, network, work)
    flows = estimated_flows(network, counts)
    out = {}
    for method in ("webster", "coordinated"):
        plan = optimise_plan(network, flows, method, TimingOptions(profile=profile, seed=0))
        require_safe(plan, network, profile, source=f"our {method} plan")
        out[f"plan:{method}"] = write_plans_json(plan, work / f"{method}.json")
    return out


def bench_scenario(path: Path, work: Path, workers: int) -> tuple[dict, dict]:
    """Run every strategy on one scenario (seed 0); return strategy -> monitor summary (or error), facts."""
    from citybrain.network import graph_from_sumo_net
    from simulation import RunSpec, load_scenario
    from simulation.runner import run_many

    sc = load_scenario(path)
    sc = replace(sc, sumo_options=(*sc.sumo_options, "--no-warnings", "true"))
    network = graph_from_sumo_net(sc.network)
    t0 = time.perf_counter()
    facts: dict = {"lights": len(network.programs), "window_s": sc.end_s - sc.begin_s}
    try:
        plans = make_plans(sc, network, work, PROFILE.get(path.stem))
    except Exception as exc:  # noqa: BLE001 - report it in the table and go on
        plans = {}
        facts["plan_error"] = str(exc).splitlines()[0]
    facts["plans_s"] = round(time.perf_counter() - t0, 1)
    names, specs = [], []
    for s in strategies():
        if s.startswith("plan:"):
            if s in plans:
                names.append(s)
                specs.append(RunSpec(sc, controller="plan", seed=0, plan=str(plans[s])))
        else:
            names.append(s)
            specs.append(RunSpec(sc, controller="fixed" if s == "network" else s, seed=0))
    t0 = time.perf_counter()
    results = run_many(specs, [work / n.replace(":", "_") for n in names], workers=workers)
    facts["runs_s"] = round(time.perf_counter() - t0, 1)
    refused = [n for n, r in zip(names, results, strict=True)
               if not r.ok and "network's own program" in str(r.error) and "plan:coordinated" in plans]
    if refused:
        again = run_many([RunSpec(sc, controller=n, seed=0, plan=str(plans["plan:coordinated"])) for n in refused],
                         [work / f"{n}_with_plan" for n in refused], workers=workers)
        results = [again[refused.index(n)] if n in refused else r for n, r in zip(names, results, strict=True)]
    out = {}
    for n, r in zip(names, results, strict=True):
        out[n] = r.monitor if r.ok else {"error": str(r.error).splitlines()[0]}
        if r.ok:
            out[n]["delay_s"] = r.delay_s
            out[n]["wall_s"] = r.wall_s
            out[n]["with_plan"] = n in refused
    return out, facts


def overhead(path: Path, controller: str, work: Path, repeats: int = 3) -> dict:
    """The monitor's cost in one run in this process: its own time inside the run, and the run's wall
    time (s) with the monitor and with a no-op in its place (best of ``repeats`` each, interleaved)."""
    import simulation.twin as twin_mod
    from simulation import RunSpec, Twin, load_scenario

    spent = []

    class _Timed(twin_mod.ConflictMonitor):
        def observe(self, time_s, states):
            t0 = time.perf_counter()
            super().observe(time_s, states)
            spent[-1] += time.perf_counter() - t0

    class _Off(twin_mod.ConflictMonitor):
        def observe(self, time_s, states):
            return None

    sc = load_scenario(path)
    spec = RunSpec(sc, controller=controller, seed=0)
    times: dict[str, list[float]] = {"on": [], "off": []}
    original = twin_mod.ConflictMonitor
    for label in ("on", "off") * repeats:
        twin_mod.ConflictMonitor = _Timed if label == "on" else _Off
        spent.append(0.0)
        try:
            t0 = time.perf_counter()
            Twin(spec, work / f"overhead_{label}").run()
            times[label].append(time.perf_counter() - t0)
        finally:
            twin_mod.ConflictMonitor = original
    on, off = min(times["on"]), min(times["off"])
    inside = min(spent[0::2])
    return {"scenario": path.stem, "controller": controller, "monitor_s": round(inside, 3),
            "monitor_pct_of_run": round(100 * inside / on, 1), "run_with_s": round(on, 2),
            "run_without_s": round(off, 2)}


def cell(summary: dict, strategy: str) -> str:
    """``c/ny/sy/sg`` counts, ``^`` when run on the coordinated plan's phases, ``*`` when ours, or the error."""
    if summary is None:
        return "-"
    if "error" in summary:
        return "FAILED"
    c = summary["counts"]
    text = "/".join(str(c[k]) for k in ("conflict", "no-yellow", "short-yellow", "short-green"))
    mark = "^" if summary.get("with_plan") else ""
    return text + mark + ("*" if strategy not in BASELINES and summary["total"] else "")


def table(all_results: dict) -> str:
    """The scenario x strategy table of violation counts."""
    cols = strategies()
    width = max(len(c) for c in cols) + 1
    lines = [f"{'scenario':<20}" + "".join(f"{c:>{width}}" for c in cols)]
    for name, res in all_results.items():
        lines.append(f"{name:<20}" + "".join(f"{cell(res.get(c), c):>{width}}" for c in cols))
    return "\n".join(lines)


def firsts(all_results: dict) -> list[str]:
    """The first violation of each kind, per scenario and strategy."""
    out = []
    for name, res in all_results.items():
        for strategy, m in res.items():
            if not m or "error" in m:
                if m and "error" in m:
                    out.append(f"{name} {strategy}: FAILED: {m['error']}")
                continue
            for kind, f in m["first"].items():
                out.append(f"{name} {strategy}: {kind} x{m['counts'][kind]}, first t={f['time_s']:g} s "
                           f"light {f['tls']}: {f['detail'][:160]}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="*", help="scenario file stems (default: all in scenarios/)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--no-overhead", action="store_true")
    args = parser.parse_args(argv)
    files = scenarios(args.scenarios)
    all_results, all_facts = {}, {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_monitor_") as tmp:
        for f in files:
            t0 = time.perf_counter()
            all_results[f.stem], all_facts[f.stem] = bench_scenario(f, Path(tmp) / f.stem, args.workers)
            print(f"{f.stem}: {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        over = [] if args.no_overhead else [overhead(ROOT / "scenarios" / f"{name}.toml", c, Path(tmp))
                                            for name in ("grid4x4", "resco_cologne3") for c in ("fixed", "maxpressure")]
    text = ["Conflict monitor: violations by kind, conflict/no-yellow/short-yellow/short-green, seed 0, "
            "'*' = ours (fails the run), '^' = our controller choosing among the coordinated plan's phases "
            "(the network's own program is unsafe)", "", table(all_results), "", "First of each kind:", *firsts(all_results),
            "", "Per scenario: " + "; ".join(f"{k}: {v}" for k, v in all_facts.items())]
    if over:
        text += ["", "Monitor overhead (one process; the monitor's own time in the run, and the run's wall time "
                 "with it and with a no-op, best of 3; wall times vary with the machine's other load):",
                 *[str(o) for o in over]]
    text.append(f"\nTotal wall time {time.perf_counter() - started:.0f} s")
    body = "\n".join(text) + "\n"
    print(body)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "monitor.txt").write_text(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
