"""Demand replay: does SUMO demand built from an estimate reproduce the estimated movement flows?

The path of ``citybrain run SCENARIO --counts C`` (and ``citybrain demand``), per scenario:

1. a counting run: the scenario's own demand under its own programs, the twin's cameras on
   (seed 1000, the main job's counting seed);
2. the estimate of every junction from those counts (``junctions="all"``, as the main job
   builds its validation demand), with queue readings, so ``demand_vph`` is estimated;
3. SUMO demand from the estimate (:func:`simulation.demand.write_jtr_demand`, ``--method``);
4. a replay: that demand alone, under the same programs, cameras on (seed 0);
5. per movement of the signalised junctions, GEH of the replay against the estimate:

   * ``flow``: the replay's true stop-line crossings over the window (veh/h) against the
     estimated crossings (``flow_vph``, window mean) -- under the same programs a faithful
     demand is metered the same way as the original, so it crosses the same flows;
   * ``demand``: the replay's demand measured as the project measures demand (the same
     estimate on the replay's own camera counts: discharge plus queue growth, with the
     vehicles SUMO could not insert queued at the network entry) against the estimated
     ``demand_vph``;
   * ``flow_15min``: as ``flow``, per 15-minute period (a time-varying check);
   * ``drained``: the replay's crossings over the window and a further ``DRAIN_S`` (no new
     departures), per hour of the window, against ``demand_vph``: what was demanded has
     crossed once the queues have had time to discharge (oversaturated scenarios).

A movement is within GEH 5 when ``GEH(replay, estimate) < 5`` (hourly rates).

Usage::

    python benchmarks/bench_demand_replay.py                       # every scenario, jtrrouter
    python benchmarks/bench_demand_replay.py --scenarios demo --method routesampler

Prints a table and appends one JSON line per scenario and method to
``benchmarks/results/demand_replay.jsonl``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import REAL, ROOT, record  # noqa: E402

from citybrain.estimation import EstimationSettings, estimate_flows, geh  # noqa: E402
from citybrain.network import graph_from_sumo_net  # noqa: E402
from simulation import RunSpec, Twin, load_scenario  # noqa: E402
from simulation.demand import METHODS, write_demand  # noqa: E402

SCENARIOS = {
    "demo": ROOT / "scenarios" / "demo.toml",
    "grid4x4": ROOT / "scenarios" / "grid4x4.toml",
    "ingolstadt7": ROOT / "scenarios" / "resco_ingolstadt7.toml",
    "cologne3": ROOT / "scenarios" / "resco_cologne3.toml",
    "atlanta": ROOT / "scenarios" / "atlanta.toml",
}
COUNT_SEED = 1000
KEYS = ["junction", "from_edge", "to_edge"]
PERIOD_S = 900.0
DRAIN_S = 1800.0


def _window_vph(frame: pd.DataFrame, column: str, keys: list[str], window_s: float) -> pd.Series:
    """Mean rate (veh/h) of ``column`` over the window, per key: vehicles summed over intervals."""
    vehicles = frame[column] * frame["interval_s"] / 3600.0
    return vehicles.groupby([frame[k] for k in keys]).sum() * 3600.0 / window_s


def _share_within(replay: pd.Series, estimate: pd.Series) -> tuple[float, int]:
    """Share of keys with GEH < 5 (a key missing on one side counts as 0 there), and the key count."""
    estimate, replay = estimate.align(replay, fill_value=0.0)
    if len(estimate) == 0:
        return float("nan"), 0
    return float(np.mean(geh(replay.to_numpy(), estimate.to_numpy()) < 5.0)), len(estimate)


def replay_scenario(name: str, path: Path, method: str, work: Path, movements_out: Path | None = None) -> dict:
    """Count, estimate, build demand, replay and compare one scenario (per-movement table to ``movements_out``)."""
    sc = load_scenario(path)
    network = graph_from_sumo_net(sc.network)
    window = sc.duration_s
    t0 = time.perf_counter()
    counted = Twin(RunSpec(sc, controller="fixed", seed=COUNT_SEED, cameras=True), workdir=work / "count",
                   network=network).run()
    if not counted.ok:
        raise RuntimeError(f"{name}: the counting run failed: {counted.error}")
    table = counted.cameras.count_table(network, strict=False)
    everywhere = estimate_flows(network, table, EstimationSettings(junctions="all"))
    signalised = estimate_flows(network, table)
    source = everywhere if method == "jtrrouter" else signalised  # routeSampler: only counted movements constrain
    routed = write_demand(source.flows, network, work / "demand", method=method, begin_offset_s=sc.begin_s)
    t_build = time.perf_counter() - t0
    longer = replace(sc.with_demand((routed["routes"],)), end_s=sc.end_s + DRAIN_S)
    replayed = Twin(RunSpec(longer, controller="fixed", seed=0, cameras=True), workdir=work / "replay",
                    network=network).run()
    if not replayed.ok:
        raise RuntimeError(f"{name}: the replay failed: {replayed.error}")
    est = signalised.flows
    drained = replayed.cameras.truth
    drained = drained[drained["to_edge"] != ""]
    cameras = replayed.cameras.between(0.0, window)
    truth = cameras.truth
    truth = truth[truth["to_edge"] != ""]
    moved = truth.assign(vph=truth["count"] * 3600.0 / truth["interval_s"])
    flow_share, n_mov = _share_within(_window_vph(moved, "vph", KEYS, window), _window_vph(est, "flow_vph", KEYS, window))
    period = (est["interval_start"].astype(float) // PERIOD_S).rename("period")
    est_p = est.assign(period=period)
    moved_p = moved.assign(period=moved["interval_start"].astype(float) // PERIOD_S)
    p_share, n_p = _share_within(_window_vph(moved_p, "vph", [*KEYS, "period"], PERIOD_S),
                                 _window_vph(est_p, "flow_vph", [*KEYS, "period"], PERIOD_S))
    demand_share = float("nan")
    if "demand_vph" in est.columns:
        again = estimate_flows(network, cameras.count_table(network, strict=False))
        demand_share, _ = _share_within(_window_vph(again.flows, "demand_vph", KEYS, window),
                                        _window_vph(est, "demand_vph", KEYS, window))
    column = "demand_vph" if "demand_vph" in est.columns else "flow_vph"
    moved_all = drained.assign(vph=drained["count"] * 3600.0 / drained["interval_s"])
    drained_share, _ = _share_within(_window_vph(moved_all, "vph", KEYS, window), _window_vph(est, column, KEYS, window))
    if movements_out is not None:
        table = pd.DataFrame({
            "estimated_flow_vph": _window_vph(est, "flow_vph", KEYS, window),
            "estimated_demand_vph": _window_vph(est, column, KEYS, window),
            "original_flow_vph": _window_vph(counted.cameras.truth.assign(
                vph=counted.cameras.truth["count"] * 3600.0 / counted.cameras.truth["interval_s"]), "vph", KEYS, window),
            "replay_flow_vph": _window_vph(moved, "vph", KEYS, window),
            "replay_drained_vph": _window_vph(moved_all, "vph", KEYS, window),
        }).fillna(0.0)
        if "queue_capped" in est.columns:
            table["queue_capped_share"] = est.groupby(KEYS)["queue_capped"].mean()
        movements_out.mkdir(parents=True, exist_ok=True)
        table.round(1).to_csv(movements_out / f"{name}_{method}.csv")
    orig_truth = counted.cameras.truth
    orig_truth = orig_truth[orig_truth["to_edge"] != ""]
    return {
        "scenario": name, "method": method, "window_s": window, "movements": n_mov,
        "geh5_flow": flow_share, "geh5_demand": demand_share, "geh5_flow_15min": p_share, "periods": n_p,
        "geh5_drained": drained_share,
        "vehicles_original": int(orig_truth["count"].sum()), "vehicles_replay": int(truth["count"].sum()),
        "never_inserted_original": counted.never_inserted, "never_inserted_replay_drained": replayed.never_inserted,
        "build_s": round(t_build, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenarios", default=",".join(SCENARIOS), help="Comma-separated, of: " + ", ".join(SCENARIOS))
    ap.add_argument("--method", default="jtrrouter", choices=sorted(METHODS))
    ap.add_argument("--movements-out", type=Path, default=None, help="Write a per-movement table per scenario here.")
    args = ap.parse_args(argv)
    rows = []
    for name in [s.strip() for s in args.scenarios.split(",") if s.strip()]:
        path = SCENARIOS[name]
        if "shared" in path.read_text() and not REAL.is_dir():
            print(f"{name}: skipped ({REAL} missing)")
            continue
        with tempfile.TemporaryDirectory(prefix=f"replay-{name}-") as work:
            row = replay_scenario(name, path, args.method, Path(work), args.movements_out)
        row["load"] = round(os.getloadavg()[0], 2)
        record("demand_replay", row)
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False), flush=True)
    if rows:
        cols = ["scenario", "method", "movements", "geh5_flow", "geh5_demand", "geh5_flow_15min", "geh5_drained",
                "vehicles_original", "vehicles_replay", "never_inserted_original", "never_inserted_replay_drained", "load"]
        print()
        print(pd.DataFrame(rows)[cols].to_string(index=False, float_format=lambda x: f"{x:.3f}"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
