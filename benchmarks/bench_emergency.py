"""Emergency-vehicle pre-emption in the twin (issue 20): emergency travel time and the cost to other traffic.

    python benchmarks/bench_emergency.py [--seeds 5] [--scenarios ingolstadt7 cologne3 grid4x4]
                                         [--controller fixed] [--every-min 10] [--real DIR] [--quick]

Per scenario (RESCO ingolstadt7 and cologne3 from ``../shared/real``, the generated 4x4 grid):
an emergency vehicle every ``--every-min`` minutes between random fringe edges
(``simulation.emergency``), the same seeds run without and with pre-emption
(``RunSpec.preempt``, the default detection 30 s ahead at the speed limits) under the same
controller (SUMO 1.28, libsumo, native protocol). Prints per scenario: emergency runs (finished
in both), their mean travel time without / with pre-emption and the change, the change a
pre-emption leaving the emergency vehicles no delay at all would give (``no delay``: their
travel time without pre-emption less their delay then, the bound for this vehicle model), their
mean delay, the other traffic's mean delay (RESCO's, emergency vehicles left out) and its
change, the pre-emptions (of which clearance calls), and the conflict monitor's violations
without and with pre-emption (all lights; ours), each light's violations named under the table
with the first one's detail. Appends a JSON line to
``benchmarks/results/emergency.jsonl`` and writes the table to ``benchmarks/results/emergency.txt``
(``emergency_<controller>.txt`` for another controller than ``fixed``, ``..._ahead<S>s`` for
another detection time).
``--quick``: the grid, two seeds, 20 simulated minutes, an emergency vehicle every 5 minutes.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import replace
from pathlib import Path

from _record import REAL, RESULTS, ROOT, record

from citybrain.control.preempt import PreemptionSettings
from simulation import RunSpec, load_scenario, run_seeds, scenario_from_sumocfg
from simulation.emergency import EmergencyConfig

SCENARIOS = {
    "ingolstadt7": "resco/ingolstadt7/ingolstadt7.sumocfg",
    "cologne3": "resco/cologne3/cologne3.sumocfg",
    "grid4x4": None,  # scenarios/grid4x4.toml
}
TARGETS = {"emergency_travel_time_pct": -40.0, "other_delay_pct": 5.0, "violations": 0}


def scenario(name: str, real: Path):
    """The scenario ``name``: a RESCO .sumocfg under ``real``, or a shipped TOML."""
    if SCENARIOS[name] is None:
        return load_scenario(ROOT / "scenarios" / f"{name}.toml")
    path = real / SCENARIOS[name]
    if not path.is_file():
        raise SystemExit(f"bench_emergency: {path} not found; give --real (the shared real-scenario folder)")
    return scenario_from_sumocfg(path)


def _mean(xs):
    xs = [x for x in xs if x is not None and not math.isnan(x)]
    return statistics.fmean(xs) if xs else math.nan


def compare(name: str, *, real: Path, seeds: list[int], controller: str, every_min: float,
            settings: PreemptionSettings, end_s: float | None) -> dict:
    """Run one scenario without and with pre-emption on the same seeds; return its figures."""
    sc = scenario(name, real)
    sc = replace(sc, emergency=EmergencyConfig(every_min=every_min))
    if end_s is not None:
        sc = replace(sc, end_s=min(sc.end_s, sc.begin_s + end_s))
    runs = {}
    for label, preempt in (("off", None), ("on", settings)):
        t0 = time.perf_counter()
        results = run_seeds(RunSpec(sc, controller=controller, preempt=preempt), seeds, workers=1, progress=False)
        failed = [r for r in results if not r.ok]
        if failed:
            raise SystemExit(f"bench_emergency: {name} ({label}) seed {failed[0].seed} failed: {failed[0].error}")
        runs[label] = results
        print(f"  {name:<12} pre-emption {label:<3} {len(results)} runs [{time.perf_counter() - t0:6.1f} s]", flush=True)
    off, on = runs["off"], runs["on"]
    e_off = [r.emergency for r in off]
    e_on = [r.emergency for r in on]
    finished = sum(min(a["finished"], b["finished"]) for a, b in zip(e_off, e_on, strict=True))

    def trip_mean(es, key):
        done = sum(e["finished"] for e in es)
        return sum(e[key] * e["finished"] for e in es if e["finished"]) / done if done else math.nan

    tt_off, tt_on = trip_mean(e_off, "trip_time_s"), trip_mean(e_on, "trip_time_s")
    d_off, d_on = _mean([r.delay_s for r in off]), _mean([r.delay_s for r in on])
    records = [p for r in on for p in r.preemptions]
    return {
        "scenario": name,
        "controller": controller,
        "seeds": seeds,
        "emergency_runs": sum(e["count"] for e in e_on),
        "emergency_finished_both": finished,
        "emergency_travel_time_off_s": tt_off,
        "emergency_travel_time_on_s": tt_on,
        "emergency_travel_time_pct": 100.0 * (tt_on - tt_off) / tt_off,
        "emergency_no_delay_pct": -100.0 * trip_mean(e_off, "delay_s") / tt_off,
        "emergency_delay_off_s": trip_mean(e_off, "delay_s"),
        "emergency_delay_on_s": trip_mean(e_on, "delay_s"),
        "emergency_stops_off": trip_mean(e_off, "stops"),
        "emergency_stops_on": trip_mean(e_on, "stops"),
        "other_delay_off_s": d_off,
        "other_delay_on_s": d_on,
        "other_delay_pct": 100.0 * (d_on - d_off) / d_off,
        "other_delay_pct_by_seed": [100.0 * (b.delay_s - a.delay_s) / a.delay_s for a, b in zip(off, on, strict=True)],
        "preemptions": len(records),
        "clearance_calls": sum(p.clearance for p in records),
        "preemptions_refused": sum(p.entry_s is None and p.reason not in ("passed", "gone", "max-presence")
                                   for p in records),
        "max_presence": sum(p.reason == "max-presence" for p in records),
        "violations_off": sum(r.monitor["total"] for r in off),
        "violations_on": sum(r.monitor["total"] for r in on),
        "violations_on_ours": sum(r.monitor["ours"]["total"] for r in on),
        "violations_by_light": _by_light([*off, *on]),
    }


def _by_light(results) -> dict[str, dict]:
    """Per light with violations (either arm): their count by kind and the first one's detail."""
    out: dict[str, dict] = {}
    for r in results:
        for tls, kinds in r.monitor["by_tls"].items():
            entry = out.setdefault(tls, {"counts": {}, "detail": ""})
            for kind, n in kinds.items():
                entry["counts"][kind] = entry["counts"].get(kind, 0) + n
        for e in r.monitor["events"]:
            entry = out.get(e["tls"])
            if entry is not None and not entry["detail"]:
                entry["detail"] = f"{e['kind']}: {e['detail']}" + (" (ours)" if e["ours"] else "")
    return out


def table(rows: list[dict], header: str) -> str:
    """The printed table."""
    lines = [header,
             f"{'scenario':<12} {'runs':>5} {'EV trip off':>11} {'EV trip on':>10} {'change':>7} {'no delay':>8} "
             f"{'EV delay off/on':>16} {'other delay off':>15} {'on':>7} {'change':>7} {'preempts (clear)':>16} "
             f"{'viol. off':>9} {'on (ours)':>10}"]
    for r in rows:
        lines.append(
            f"{r['scenario']:<12} {r['emergency_finished_both']:>5} {r['emergency_travel_time_off_s']:10.1f}s "
            f"{r['emergency_travel_time_on_s']:9.1f}s {r['emergency_travel_time_pct']:+6.1f}% "
            f"{r['emergency_no_delay_pct']:+7.1f}% "
            f"{r['emergency_delay_off_s']:7.1f}/{r['emergency_delay_on_s']:5.1f} s "
            f"{r['other_delay_off_s']:14.2f}s {r['other_delay_on_s']:6.2f}s {r['other_delay_pct']:+6.1f}% "
            f"{r['preemptions']:>9} ({r['clearance_calls']:>4}) {r['violations_off']:>9} "
            f"{r['violations_on']:>5} ({r['violations_on_ours']})")
    for r in rows:
        for tls, v in r["violations_by_light"].items():
            counts = ", ".join(f"{n} {k}" for k, n in v["counts"].items())
            lines.append(f"  {r['scenario']} violations at {tls} (both arms): {counts}; first: {v['detail']}")
    lines.append(f"targets: EV travel time <= {TARGETS['emergency_travel_time_pct']:g}%, other delay <= "
                 f"+{TARGETS['other_delay_pct']:g}%, violations {TARGETS['violations']}")
    return "\n".join(lines)


def main(argv=None) -> None:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=list(SCENARIOS))
    ap.add_argument("--controller", default="fixed")
    ap.add_argument("--every-min", type=float, default=10.0)
    ap.add_argument("--ahead-s", type=float, default=PreemptionSettings().detect_time_s)
    ap.add_argument("--real", type=Path, default=REAL, help="the shared real-scenario folder (default ../shared/real)")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    names, seeds, end_s, every = args.scenarios, list(range(args.seeds)), None, args.every_min
    if args.quick:
        names, seeds, end_s, every = ["grid4x4"], [0, 1], 1200.0, 5.0
    settings = PreemptionSettings(detect_time_s=args.ahead_s)
    rows = [compare(n, real=args.real, seeds=seeds, controller=args.controller, every_min=every,
                    settings=settings, end_s=end_s) for n in names]
    header = (f"emergency pre-emption | controller {args.controller} | an emergency vehicle every {every:g} min | "
              f"detection {args.ahead_s:g} s ahead | seeds {seeds[0]}..{seeds[-1]}")
    text = table(rows, header)
    print(text)
    if not args.quick:
        suffix = "" if args.controller == "fixed" else f"_{args.controller}"
        if args.ahead_s != PreemptionSettings().detect_time_s:
            suffix += f"_ahead{args.ahead_s:g}s"
        (RESULTS / f"emergency{suffix}.txt").write_text(text + "\n")
        record("emergency", {"every_min": every, "detect_time_s": args.ahead_s, "rows": rows})


if __name__ == "__main__":
    main()
