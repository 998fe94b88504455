"""Signal plans in the twin: our plans from camera-estimated flows against the network's own
programs and SUMO's tlsCycleAdaptation.py + tlsCoordinator.py (issue 5, "Must show").

Protocol, per scenario:

1. **Cameras.** Seed 0 of the scenario runs under the network's own programs with the twin's
   emulated stop-line cameras (10% multiplicative noise, ``noise_sd = 0.1``); 30% of the
   cameras are then removed at random (the rows of their ``camera_id`` dropped).
2. **Estimate.** :func:`citybrain.estimation.estimate_flows` turns what is left into movement
   flows per interval; the true routes are never used by our side.
3. **Plans.** :func:`citybrain.timing.optimise_plan` with ``method="coordinated"`` (and the
   isolated ``"webster"`` for reference); every plan must pass
   :func:`citybrain.plans.check_network_plan` without errors. The cameras read queues
   (``queue_veh``), so the plans are timed for the estimated demand (discharge plus queue
   growth); ``coordinated-discharge`` is the coordinated plan from the same counts without
   the queue readings (timed for the discharge alone, as before queues were read).
4. **SUMO's tools** get the scenario's demand itself (route files; trips are routed with
   ``duarouter`` first): ``tlsCycleAdaptation.py`` (Webster) and ``tlsCoordinator.py`` on
   its output (offsets).
5. **Validation** on seeds 1..N (not the seed the cameras saw): every strategy runs as a
   static SUMO program from an additional file in the twin (controller ``fixed``, so SUMO
   shows exactly the plan's greens, yellows and all-reds). Delay is the RESCO metric of the
   twin (mean of ``timeLoss + departDelay`` over all tripinfo entries); ``delay_all`` also
   counts never-inserted vehicles from their scheduled departure.

Usage::

    python benchmarks/bench_plans_twin.py            # all scenarios, seeds 1..5
    python benchmarks/bench_plans_twin.py --quick    # grid4x4 and arterial5, seeds 1..2
    python benchmarks/bench_plans_twin.py --scenarios cologne3 atlanta --seeds 3

Prints the table scenario x strategy (delay mean +- sd), writes a PNG with error bars to
``benchmarks/results/plans_twin.png`` and appends a JSON line to
``benchmarks/results/plans_twin.jsonl``.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real"
RESULTS = ROOT / "benchmarks" / "results"

#: Scenario name -> scenario TOML in scenarios/ or .sumocfg under ../shared/real.
SCENARIOS: dict[str, str] = {
    "cologne3": "real:resco/cologne3/cologne3.sumocfg",
    "ingolstadt7": "real:resco/ingolstadt7/ingolstadt7.sumocfg",
    "atlanta": "real:atlanta/atlanta_1x5.sumocfg",
    "hangzhou_bc-tyc": "real:hangzhou/1x1_bc-tyc_18041610_1h/hangzhou_1x1_bc-tyc_18041610_1h.sumocfg",
    "hangzhou_kn-hz": "real:hangzhou/1x1_kn-hz_18041608_1h/hangzhou_1x1_kn-hz_18041608_1h.sumocfg",
    "hangzhou_qc-yn": "real:hangzhou/1x1_qc-yn_18041608_1h/hangzhou_1x1_qc-yn_18041608_1h.sumocfg",
    "hangzhou_sb-sx": "real:hangzhou/1x1_sb-sx_18041607_1h/hangzhou_1x1_sb-sx_18041607_1h.sumocfg",
    "grid4x4": "scenarios/grid4x4.toml",
    "arterial5": "scenarios/arterial5.toml",
}
QUICK = ("grid4x4", "arterial5")
#: Safety profile per scenario: the German networks follow RiLSA (3 s yellow at 50 km/h);
#: the others the US ITE profile (the default).
PROFILE = {"cologne3": "eu", "ingolstadt7": "eu"}
#: Strategies in table order.
STRATEGIES = ("network", "sumo-webster+coord", "webster", "coordinated", "coordinated-discharge")
#: Diagnostic: the coordinated plan from the camera run's *true* movement counts (``--diagnose``).
TRUE_FLOWS = "coordinated@truth"
DROP_SHARE = 0.3
NOISE_SD = 0.1


@dataclass
class ScenarioResult:
    """Per-strategy runs of one scenario plus how the plans were made."""

    name: str
    runs: dict[str, list] = field(default_factory=dict)
    notes: dict[str, object] = field(default_factory=dict)


def load(name: str, spec: str | None = None):
    """Return the :class:`simulation.Scenario` of a benchmark scenario (None if its files are absent)."""
    from simulation import load_scenario, scenario_from_sumocfg

    spec = spec or SCENARIOS[name]
    if spec.startswith("real:"):
        path = REAL / spec.removeprefix("real:")
        if not path.is_file():
            return None
        scenario = scenario_from_sumocfg(path, name=name)
    else:
        scenario = load_scenario(ROOT / spec)
    return replace(scenario, sumo_options=(*scenario.sumo_options, "--no-warnings", "true"))


def camera_counts(scenario, network, workdir: Path, *, seed: int = 0, drop_share: float = DROP_SHARE,
                  noise_sd: float = NOISE_SD) -> tuple[pd.DataFrame, dict]:
    """Counts of the emulated cameras of one run (own programs), with ``drop_share`` of them removed.

    Returns
    -------
    counts : pandas.DataFrame
        Count schema, the kept cameras only.
    info : dict
        Cameras kept and removed, the run's delay.
    """
    from simulation import CameraConfig, RunSpec, run_seeds

    cams = replace(scenario.cameras, noise_sd=noise_sd, detection_rate=1.0, outage_rate=0.0)
    sc = replace(scenario, cameras=CameraConfig(cams.interval_s, 1.0, noise_sd, 0.0, ()))
    (res,) = run_seeds(RunSpec(sc, controller="fixed", seed=seed, cameras=True), [seed], workers=1,
                       workdir=workdir / "cameras")
    if not res.ok:
        msg = f"{scenario.name}: the camera run failed: {res.error}"
        raise RuntimeError(msg)
    counts = res.cameras.counts
    ids = sorted(counts["camera_id"].unique())
    rng = np.random.default_rng([seed, 0x5EED])
    removed = set(rng.choice(ids, size=int(round(drop_share * len(ids))), replace=False).tolist())
    kept = counts[~counts["camera_id"].isin(removed)].reset_index(drop=True)
    truth = res.cameras.truth
    truth = truth[truth["to_edge"].astype(str) != ""]
    true_flows = truth.assign(flow_vph=truth["count"] * 3600.0 / truth["interval_s"], se_vph=0.0)
    return kept, {"cameras": len(ids), "removed": len(removed), "camera_run_delay_s": res.delay_s,
                  "true_flows": true_flows[["interval_start", "interval_s", "junction", "from_edge", "to_edge",
                                            "flow_vph", "se_vph"]]}


def estimated_flows(network, counts: pd.DataFrame) -> pd.DataFrame:
    """Movement flows (flow table) estimated from camera counts."""
    from citybrain.counts import counts_from_frame
    from citybrain.estimation import estimate_flows

    table = counts_from_frame(counts, network, strict=False, source="emulated cameras")
    return estimate_flows(network, table).flows


def our_plan(network, flows: pd.DataFrame, method: str, out: Path, *, profile=None) -> tuple[Path, dict]:
    """Optimise, check and write our plan as a SUMO additional file; return it and facts."""
    from citybrain.plans import check_network_plan
    from citybrain.plans.formats import read_sumo_additional, write_plans_json, write_sumo_additional
    from citybrain.timing import TimingOptions, optimise_plan

    from citybrain.timing.flows import design_aggregate

    # as `citybrain run`: the peak 15 minutes' demand when queues were read, else the mean flow
    options = TimingOptions(profile=profile, seed=0, aggregate=design_aggregate(flows))
    plan = optimise_plan(network, flows, method, options)
    errors = [v for v in check_network_plan(plan, network, profile) if v.severity == "error"]
    if errors:
        msg = f"our {method} plan is unsafe: " + "; ".join(str(v) for v in errors[:5])
        raise RuntimeError(msg)
    write_plans_json(plan, out.with_suffix(".json"))
    path = write_sumo_additional(plan, out, program_id=f"citybrain-{method}")
    # what SUMO runs is the written file: it must pass the same check when read back
    errors = [v for v in check_network_plan(read_sumo_additional(path, network=network), network, profile)
              if v.severity == "error"]
    if errors:
        msg = f"our {method} plan is unsafe as written to {path}: " + "; ".join(str(v) for v in errors[:5])
        raise RuntimeError(msg)
    cycles = sorted({round(p.cycle_s, 1) for _, p in plan.all_plans()})
    facts = {"cycles_s": cycles, "profile": profile or "us",
             "warnings": sum(1 for v in check_network_plan(plan, network, profile))}
    facts.update({k: plan.meta[k] for k in ("left_turns", "start", "half_cycle_tls") if k in plan.meta})
    return path, facts


def _routed_demand(scenario, workdir: Path) -> list[Path]:
    """Route files with explicit routes for SUMO's tools (trips and flows routed with duarouter)."""
    from citybrain.sumo_tools import run_sumo_program
    from simulation.scenario import _cfg_files

    files = list(_cfg_files(scenario.sumocfg, "route-files")) if scenario.sumocfg else []
    files += list(scenario.demand)
    if scenario.flows:
        flows = workdir / "flows.rou.xml"
        flows.write_text(scenario.flows_xml())
        files.append(flows)
    needs_routing = False
    for f in files:
        for _, elem in ET.iterparse(f, events=("start",)):
            if elem.tag in ("trip", "flow") and "route" not in elem.attrib:
                needs_routing = True
                break
            if elem.tag in ("vehicle",):
                break
    if not needs_routing:
        return files
    out = workdir / "routed.rou.xml"
    run_sumo_program("duarouter", ["-n", str(scenario.network), "-r", ",".join(map(str, files)), "-o", str(out),
                                   "--ignore-errors", "--no-warnings", "--begin", f"{scenario.begin_s:g}",
                                   "--end", f"{scenario.end_s:g}", "--no-step-log"], timeout_s=1800)
    return [out]


def sumo_tools_plan(scenario, workdir: Path) -> list[Path]:
    """SUMO's tlsCycleAdaptation.py then tlsCoordinator.py on the scenario's demand; their additional files."""
    from citybrain.sumo_tools import sumo_home, sumo_tool

    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    routes = ",".join(str(p) for p in _routed_demand(scenario, workdir))
    webster = workdir / "sumo_webster.add.xml"
    coord = workdir / "sumo_coord.add.xml"
    for cmd in (
        [sys.executable, str(sumo_tool("tlsCycleAdaptation.py")), "-n", str(scenario.network), "-r", routes,
         "-b", f"{scenario.begin_s:g}", "-o", str(webster), "-p", "sumo-webster"],
        [sys.executable, str(sumo_tool("tlsCoordinator.py")), "-n", str(scenario.network), "-r", routes,
         "-a", str(webster), "-o", str(coord)],
    ):
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=workdir, check=False, timeout=1800)
        if proc.returncode != 0:
            msg = f"{Path(cmd[1]).name} failed on {scenario.name}: {proc.stderr.strip()[-800:]}"
            raise RuntimeError(msg)
    return [webster, coord]


def run_strategy(scenario, additional: list[Path], seeds: list[int], workdir: Path, workers: int) -> list:
    """Run the scenario with extra additional files (plans) on ``seeds``; return the RunResults."""
    from simulation import RunSpec, run_seeds

    sc = replace(scenario, additional=(*scenario.additional, *additional))
    return run_seeds(RunSpec(sc, controller="fixed"), seeds, workers=workers, workdir=workdir)


def bench_scenario(name: str, seeds: list[int], workers: int, workdir: Path, *, strategies=STRATEGIES,
                   scenario=None, log=print) -> ScenarioResult | None:
    """Run the whole protocol on one scenario."""
    from citybrain.network import graph_from_sumo_net

    scenario = scenario or load(name)
    if scenario is None:
        log(f"{name}: skipped (files not found under {REAL})")
        return None
    work = workdir / name
    work.mkdir(parents=True, exist_ok=True)
    network = graph_from_sumo_net(scenario.network)
    out = ScenarioResult(name)
    t0 = time.perf_counter()
    counts, info = camera_counts(scenario, network, work)
    true_flows = info.pop("true_flows")
    flows = estimated_flows(network, counts)
    out.notes.update(info)
    out.notes["estimate_s"] = round(time.perf_counter() - t0, 1)
    adds: dict[str, list[Path]] = {"network": []}
    for method in ("webster", "coordinated"):
        if method in strategies:
            path, facts = our_plan(network, flows, method, work / f"{method}.add.xml", profile=PROFILE.get(name))
            adds[method] = [path]
            out.notes[method] = facts
    if "coordinated-discharge" in strategies:
        from citybrain.estimation import DEMAND_COLUMNS

        discharge = flows.drop(columns=[c for c in DEMAND_COLUMNS if c in flows.columns])
        path, facts = our_plan(network, discharge, "coordinated", work / "coordinated_discharge.add.xml",
                               profile=PROFILE.get(name))
        adds["coordinated-discharge"] = [path]
        out.notes["coordinated-discharge"] = facts
    if TRUE_FLOWS in strategies:
        path, facts = our_plan(network, true_flows, "coordinated", work / "coordinated_truth.add.xml",
                               profile=PROFILE.get(name))
        adds[TRUE_FLOWS] = [path]
        out.notes[TRUE_FLOWS] = facts
    if "sumo-webster+coord" in strategies:
        try:
            adds["sumo-webster+coord"] = sumo_tools_plan(scenario, work)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            out.notes["sumo-webster+coord"] = f"failed: {exc}"
    for strategy in strategies:
        if strategy not in adds:
            continue
        t = time.perf_counter()
        out.runs[strategy] = run_strategy(scenario, adds[strategy], seeds, work / strategy, workers)
        log(f"  {name:16s} {strategy:20s} {_fmt(out.runs[strategy])}  ({time.perf_counter() - t:.0f} s)")
    return out


def delays(runs, key: str = "delay_s") -> np.ndarray:
    """Delays (s) of the runs that finished."""
    return np.array([getattr(r, key) for r in runs if r.ok and getattr(r, key) is not None], dtype=float)


def _fmt(runs, key: str = "delay_s") -> str:
    d = delays(runs, key)
    failed = sum(1 for r in runs if not r.ok)
    if not len(d):
        return "failed".rjust(15)
    text = f"{d.mean():7.1f} +- {d.std(ddof=1) if len(d) > 1 else 0.0:5.1f}"
    return text + (f" ({failed} failed)" if failed else "")


def table(results: list[ScenarioResult], key: str = "delay_s") -> str:
    """The scenario x strategy table of delay mean +- sd (seconds)."""
    strategies = [s for s in (*STRATEGIES, TRUE_FLOWS) if any(s in r.runs for r in results)]
    head = f"{'scenario':18s}" + "".join(f"{s:>22s}" for s in strategies) + "   best"
    lines = [head, "-" * len(head)]
    for r in results:
        row = f"{r.name:18s}"
        means = {}
        for s in strategies:
            if s in r.runs:
                row += f"{_fmt(r.runs[s], key):>22s}"
                d = delays(r.runs[s], key)
                if len(d):
                    means[s] = d.mean()
            else:
                row += f"{'-':>22s}"
        lines.append(row + "   " + (min(means, key=means.get) if means else "-"))
    return "\n".join(lines)


def plot(results: list[ScenarioResult], path: Path) -> Path:
    """Bar chart of delay per scenario x strategy with 1-sd error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = [s for s in (*STRATEGIES, TRUE_FLOWS) if any(s in r.runs for r in results)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.4 * len(results) + 2), 4.5))
    width = 0.8 / max(1, len(strategies))
    x = np.arange(len(results))
    for k, s in enumerate(strategies):
        mean = [delays(r.runs[s]).mean() if s in r.runs and len(delays(r.runs[s])) else np.nan for r in results]
        sd = [delays(r.runs[s]).std(ddof=1) if s in r.runs and len(delays(r.runs[s])) > 1 else 0.0 for r in results]
        ax.bar(x + (k - (len(strategies) - 1) / 2) * width, mean, width, yerr=sd, capsize=3, label=s)
    ax.set_xticks(x, [r.name for r in results], rotation=30, ha="right")
    ax.set_ylabel("delay (s/veh), mean +- sd over seeds")
    ax.set_yscale("log")
    ax.set_title("Signal plans in the twin (SUMO); plans from camera-estimated flows")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    global REAL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK)}, seeds 1..2")
    parser.add_argument("--scenarios", nargs="*", choices=sorted(SCENARIOS), help="scenarios to run")
    parser.add_argument("--seeds", type=int, default=None, help="validation seeds 1..N (default 5, quick 2)")
    parser.add_argument("--workers", type=int, default=2, help="SUMO runs at a time (default 2)")
    parser.add_argument("--diagnose", action="store_true",
                        help="also run the coordinated plan from the camera run's true counts")
    parser.add_argument("--workdir", type=Path, default=None, help="keep SUMO outputs here")
    parser.add_argument("--strategies", nargs="*", choices=STRATEGIES, help="strategies to run (default: all)")
    parser.add_argument("--real", type=Path, default=None,
                        help=f"the real-world scenarios folder (default {REAL}, beside the repository)")
    args = parser.parse_args(argv)
    if args.real is not None:
        REAL = args.real
    names = args.scenarios or (list(QUICK) if args.quick else list(SCENARIOS))
    n = args.seeds or (2 if args.quick else 5)
    seeds = list(range(1, n + 1))
    tmp = None
    workdir = args.workdir
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="citybrain-plans-twin-")
        workdir = Path(tmp.name)
    started = time.perf_counter()
    results = []
    try:
        for name in names:
            chosen = tuple(args.strategies) if args.strategies else STRATEGIES
            strategies = (*chosen, TRUE_FLOWS) if args.diagnose else chosen
            r = bench_scenario(name, seeds, args.workers, workdir, strategies=strategies)
            if r is not None:
                results.append(r)
    finally:
        if tmp is not None:
            tmp.cleanup()
    version = next((x.sumo_version for r in results for runs in r.runs.values() for x in runs if x.ok), "")
    print(f"\nDelay (s/veh, RESCO metric), mean +- sd over seeds {seeds[0]}..{seeds[-1]}; SUMO {version}")
    print(table(results))
    print("\nDelay counting never-inserted vehicles (delay_all), same runs")
    print(table(results, "delay_all_s"))
    for r in results:
        print(f"{r.name}: {r.notes}")
    png = plot(results, RESULTS / ("plans_twin_quick.png" if args.quick else "plans_twin.png"))
    print(f"plot: {png}")
    from _record import record

    figures = {
        "quick": bool(args.quick),
        "seeds": seeds,
        "sumo": version,
        "diagnose": bool(args.diagnose),
        "protocol": {"camera_seed": 0, "cameras_removed": DROP_SHARE, "noise_sd": NOISE_SD},
        "wall_s": round(time.perf_counter() - started, 1),
        "scenarios": {
            r.name: {
                "strategies": {
                    s: {
                        "delay_s": delays(runs).tolist(),
                        "delay_all_s": delays(runs, "delay_all_s").tolist(),
                        "failed": [x.error for x in runs if not x.ok],
                        "gridlocked": [x.seed for x in runs if x.gridlocked],
                    }
                    for s, runs in r.runs.items()
                },
                "notes": {k: (v if isinstance(v, (int, float, str, list, dict)) else str(v)) for k, v in r.notes.items()},
            }
            for r in results
        },
    }
    print(f"recorded: {record('plans_twin', _jsonable(figures))}")
    return 0


def _jsonable(obj):
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
