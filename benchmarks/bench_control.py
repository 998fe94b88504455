"""Adaptive control in the twin: delay of every controller on every scenario.

    python benchmarks/bench_control.py [--seeds 5] [--scenarios ...] [--controllers ...] [--quick]

Runs each scenario (the real ones in ``../shared/real`` through ``scenarios/*.toml``, the
generated grid and arterial) under each controller with the same seeds (SUMO 1.28, libsumo,
native protocol), prints delay mean +- sd per scenario x controller, marks SUMO's best own
adaptive program (``sumo-actuated``, ``sumo-delay-based``) and says by how much our
recommended controller (:data:`RECOMMENDED`) beats or loses to it. Controllers of ours choose
among each light's checked plan: its own program, or where that fails the safety gate the
plan citybrain generates (:func:`simulation.controllers.checked_base_plan`); the table names the
scenarios and lights that run a generated plan. Writes a PNG bar chart
and appends a JSON line to ``benchmarks/results/control.jsonl``. ``--quick``: two scenarios,
two seeds, 20 simulated minutes.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import replace

from _record import REAL, RESULTS, ROOT, record

from citybrain.network import graph_from_sumo_net
from simulation import RunSpec, load_scenario, run_seeds, summarise
from simulation.controllers import OWN, checked_base_plan

RECOMMENDED = "recommended"
CONTROLLERS = ["fixed", "sumo-actuated", "sumo-delay-based", "maxpressure", "actuated-pressure", "efficient-mp",
               "advanced-mp", "greedy", RECOMMENDED]
SUMO_OWN = ("sumo-actuated", "sumo-delay-based")
SCENARIOS = {
    "cologne1": "resco_cologne1.toml",
    "cologne3": "resco_cologne3.toml",
    "ingolstadt1": "resco_ingolstadt1.toml",
    "ingolstadt7": "resco_ingolstadt7.toml",
    "hangzhou_bc_tyc": "hangzhou_bc_tyc.toml",
    "hangzhou_kn_hz": "hangzhou_kn_hz.toml",
    "hangzhou_qc_yn": "hangzhou_qc_yn.toml",
    "hangzhou_sb_sx": "hangzhou_sb_sx.toml",
    "atlanta": "atlanta.toml",
    "grid4x4": "grid4x4.toml",
    "arterial5": "arterial5.toml",
}
GENERATED = ("grid4x4", "arterial5")


def generated_lights(scenario) -> list[str]:
    """The scenario's lights whose own program fails the gate: ours run citybrain's generated plan there."""
    network = graph_from_sumo_net(scenario.network)
    return [t for t in sorted(network.programs) if checked_base_plan(network, t)[1] != OWN]


def run_table(names, controllers, seeds, *, workers, end_s=None) -> dict:
    """Delay summary {scenario: {controller: {mean, sd, ci95, n}}} over the same seeds."""
    table: dict = {}
    for name in names:
        sc = load_scenario(ROOT / "scenarios" / SCENARIOS[name])
        if end_s is not None:
            sc = replace(sc, end_s=min(sc.end_s, sc.begin_s + end_s))
        table[name] = {}
        for ctl in controllers:
            t0 = time.perf_counter()
            results = run_seeds(RunSpec(sc, controller=ctl), list(range(seeds)), workers=workers, progress=False)
            failed = [r for r in results if not r.ok]
            row = summarise([r.delay_s for r in results if r.ok])
            row["resco_delay_s"] = summarise([r.resco_delay_s for r in results if r.ok])
            row["n"] = len(results) - len(failed)
            row["gridlocked"] = sum(r.gridlocked for r in results)
            table[name][ctl] = row
            note = f" ({len(failed)} failed: {failed[0].error.splitlines()[0]})" if failed else ""
            note += f" GRIDLOCKED x{row['gridlocked']}" if row["gridlocked"] else ""
            print(f"  {name:<16} {ctl:<18} {row['mean']:8.2f} +- {row['sd']:6.2f}  [{time.perf_counter() - t0:5.1f} s]{note}", flush=True)
    return table


def verdicts(table: dict) -> dict:
    """Per scenario: SUMO's best own program and our recommended controller's margin (s, %)."""
    out = {}
    for name, row in table.items():
        own = {c: row[c]["mean"] for c in SUMO_OWN if c in row and not math.isnan(row[c]["mean"])}
        if not own or RECOMMENDED not in row:
            continue
        best = min(own, key=own.get)
        ours = row[RECOMMENDED]["mean"]
        out[name] = {"sumo_best": best, "sumo_best_s": own[best], "ours_s": ours,
                     "margin_s": own[best] - ours, "margin_pct": 100.0 * (own[best] - ours) / own[best]}
    return out


def plot(table: dict, controllers, path) -> None:
    """Grouped bars: delay mean +- sd per scenario and controller."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(table)
    x = np.arange(len(names))
    width = 0.8 / len(controllers)
    fig, ax = plt.subplots(figsize=(max(8, 1.4 * len(names)), 5))
    for i, ctl in enumerate(controllers):
        means = [table[n][ctl]["mean"] for n in names]
        sds = [table[n][ctl]["sd"] for n in names]
        ax.bar(x + (i - len(controllers) / 2 + 0.5) * width, means, width, yerr=sds, label=ctl, capsize=2)
    ax.set_xticks(x, names, rotation=30, ha="right")
    ax.set_ylabel("delay (s/veh): timeLoss + departDelay")
    ax.set_yscale("log")
    ax.set_title("Controllers in the SUMO 1.28 twin (mean +- sd over seeds)")
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scenarios", nargs="*", default=None, choices=sorted(SCENARIOS))
    parser.add_argument("--controllers", nargs="*", default=CONTROLLERS)
    parser.add_argument("--quick", action="store_true", help="grid and cologne1, 2 seeds, 20 simulated minutes")
    args = parser.parse_args()
    names = args.scenarios or [n for n in SCENARIOS if n in GENERATED or REAL.is_dir()]
    seeds, end_s = args.seeds, None
    if args.quick:
        names = [n for n in ("grid4x4", "cologne1") if n in GENERATED or REAL.is_dir()]
        seeds, end_s = 2, 1200.0
    print(f"{len(names)} scenarios x {len(args.controllers)} controllers x {seeds} seeds (SUMO 1.28, native protocol)")
    generated = {}
    for name in names:
        lights = generated_lights(load_scenario(ROOT / "scenarios" / SCENARIOS[name]))
        if lights:
            generated[name] = lights
    table = run_table(names, args.controllers, seeds, workers=args.workers, end_s=end_s)
    print()
    header = f"{'scenario':<16}" + "".join(f"{c:>20}" for c in args.controllers)
    print(header)
    for name, row in table.items():
        print(f"{name:<16}" + "".join(f"{row[c]['mean']:>10.1f} +- {row[c]['sd']:5.1f}{'*' * row[c]['gridlocked']:<1}"
                                      for c in args.controllers))
    print("(* one per gridlocked run)")
    for name, lights in generated.items():
        print(f"{name}: its own program fails the safety gate at {len(lights)} light(s) ({', '.join(lights)}); "
              "our controllers run citybrain's generated plan there")
    found = verdicts(table)
    print(f"\n{RECOMMENDED} against SUMO's best own adaptive program:")
    for name, v in found.items():
        word = "beats" if v["margin_s"] > 0 else "LOSES to"
        print(f"  {name:<16} {word} {v['sumo_best']} ({v['sumo_best_s']:.1f} s) by {abs(v['margin_s']):.1f} s "
              f"({abs(v['margin_pct']):.0f}%): {v['ours_s']:.1f} s")
    png = RESULTS / ("control_quick.png" if args.quick else "control.png")
    plot(table, args.controllers, png)
    print(f"\nplot: {png}")
    record("control", {"quick": args.quick, "seeds": seeds, "end_s": end_s, "table": table, "verdicts": found,
                       "generated_plan_lights": generated})


if __name__ == "__main__":
    main()
