"""Traffic state against SUMO (issue 20): modelled link travel times vs SUMO's own edge travel times.

Per scenario: one twin run under the network's own programs with cameras on (seed 0); flows
estimated from its counts; ``citybrain.traffic_state.link_states`` under the same programs;
compared with SUMO's ``edgeData`` travel time on every link with traffic.

The reference: SUMO's edge ``traveltime`` over the whole window is the edge's length over the
vehicles' mean speed on it (distance driven over vehicle-seconds spent), i.e. the mean time of
the vehicles that drove over it, each weighted by the share of the edge it drove; the
junctions' internal lanes are not part of any edge. A link has traffic when at least
``--min-vehicles`` vehicles drove onto it (``entered``); links where the demand inserts its
vehicles (``departed``, not ``entered``) do not count: SUMO's insertion is not traffic the
model describes.

Usage::

    python benchmarks/bench_traffic_state.py                          # demo, ingolstadt7, cologne3
    python benchmarks/bench_traffic_state.py --scenarios demo --seconds 1800

Prints per scenario: links compared, share within 15%, share within 15% or 1 s (one simulation
step: on links a car crosses in well under a second, SUMO's time is a few tenths of a second
and a tenth is tens of percent), median and 90th percentile of the absolute relative error, and
the network congestion index; appends to ``benchmarks/results/traffic_state.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

from _record import record  # noqa: E402

from citybrain.estimation import estimate_flows  # noqa: E402
from citybrain.network import graph_from_sumo_net  # noqa: E402
from citybrain.plans import plans_from_network  # noqa: E402
from citybrain.timing.flows import movement_flows  # noqa: E402
from citybrain.traffic_state import congestion_index, link_states  # noqa: E402
from simulation import RunSpec, load_scenario  # noqa: E402
from simulation.runner import run_one  # noqa: E402

SCENARIOS = {"demo": "demo.toml", "ingolstadt7": "resco_ingolstadt7.toml", "cologne3": "resco_cologne3.toml"}


def compare(name: str, seconds: float, min_vehicles: int) -> dict:
    """Run, estimate, model and compare one scenario; return its figures."""
    sc = load_scenario(ROOT / "scenarios" / SCENARIOS[name])
    sc = replace(sc, end_s=min(sc.end_s, sc.begin_s + seconds))
    network = graph_from_sumo_net(sc.network)
    with tempfile.TemporaryDirectory() as tmp:
        res = run_one(RunSpec(scenario=sc, controller="fixed", seed=0, cameras=True), tmp)
        if not res.ok:
            sys.exit(f"bench_traffic_state: the {name} run failed: {res.error}")
        sumo = {e.get("id"): (float(e.get("traveltime")), float(e.get("entered", 0)))
                for e in ET.parse(Path(tmp) / "edgedata.xml").iter("edge") if e.get("traveltime")}
    flows = estimate_flows(network, res.cameras.count_table(network, strict=False, source=name)).flows
    states = link_states(network, movement_flows(network, flows), plans_from_network(network).periods[0].by_tls,
                         period_h=(sc.end_s - sc.begin_s) / 3600.0)
    by = states.set_index("edge")
    busy = [e for e, (_, n) in sumo.items() if n >= min_vehicles and e in by.index]
    err = np.abs(np.array([by.loc[e, "travel_s"] / sumo[e][0] - 1 for e in busy]))
    err_s = np.abs(np.array([by.loc[e, "travel_s"] - sumo[e][0] for e in busy]))
    return {"links": len(busy), "within_15pct": round(float(np.mean(err <= 0.15)), 3),
            "within_15pct_or_1s": round(float(np.mean((err <= 0.15) | (err_s <= 1.0))), 3),
            "median_abs_err": round(float(np.median(err)), 3), "p90_abs_err": round(float(np.percentile(err, 90)), 3),
            "congestion_index": round(congestion_index(states)["index"], 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", nargs="+", choices=sorted(SCENARIOS),
                        default=["demo", "ingolstadt7", "cologne3"])
    parser.add_argument("--seconds", type=float, default=3600.0)
    parser.add_argument("--min-vehicles", type=int, default=20)
    args = parser.parse_args()
    results = {}
    print(f"{'scenario':<12} {'links':>5} {'<=15%':>6} {'or 1 s':>6} {'median':>7} {'p90':>6} {'index':>6}")
    for name in args.scenarios:
        r = results[name] = compare(name, args.seconds, args.min_vehicles)
        print(f"{name:<12} {r['links']:>5} {r['within_15pct']:>6.0%} {r['within_15pct_or_1s']:>6.0%} "
              f"{r['median_abs_err']:>7.1%} "
              f"{r['p90_abs_err']:>6.1%} {r['congestion_index']:>6.2f}", flush=True)
    record("traffic_state", {"seconds": args.seconds, "min_vehicles": args.min_vehicles, **results})


if __name__ == "__main__":
    main()
