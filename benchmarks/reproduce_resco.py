"""Reproduce RESCO's published Fixed-time delay, and set our controllers beside the published table.

    python benchmarks/reproduce_resco.py --sumo-binary DIR/sumo/bin/sumo [--seeds 10]
    python benchmarks/reproduce_resco.py --sumo-binary DIR/sumo/bin/sumo --controllers actuated-pressure maxpressure

where DIR comes from ``pip install --no-deps --target DIR eclipse-sumo==1.9.1`` (the SUMO the
published table was made with). Without ``--sumo-binary`` it runs the installed SUMO 1.28,
whose figures are lower (about 43 s and 30 s; insertion delay changed). Needs the shared
real-scenario folder ``../shared/real``. Prints measured and published mean delay and
whether they agree within 3%; appends a JSON line to ``benchmarks/results/resco.jsonl``.
Every figure is RESCO's metric (``resco_delay_s``: RESCO's ``readXML.py``, never-inserted
vehicles counted), with the plain tripinfo delay beside it.

With ``--controllers``, each named controller also runs under the RESCO protocol (decide every
10 s, 3 s yellow, the program's green phases) on cologne1, cologne3, ingolstadt1 and
ingolstadt7, printed beside every published controller (``../shared/real/resco_published.csv``:
baselines are means over episodes, learning controllers their best episode) with the best
published figure and our margin to it.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time

from _record import REAL, ROOT, record

from simulation import RunSpec, load_scenario, run_seeds, summarise

PUBLISHED = {"cologne1": 56.61, "ingolstadt1": 39.40}
TOLERANCE = 0.03
RESCO_SCENARIOS = ("cologne1", "cologne3", "ingolstadt1", "ingolstadt7")


def published_table() -> dict[str, dict[str, float]]:
    """Published delay (s) per scenario and controller, from the shared RESCO result data."""
    table: dict[str, dict[str, float]] = {}
    with (REAL / "resco_published.csv").open() as fh:
        for row in csv.DictReader(fh):
            table.setdefault(row["scenario"], {})[row["controller"]] = float(row["delay_s"])
    return table


def compare_controllers(controllers, args, backend: str) -> dict:
    """Our controllers under the RESCO protocol beside the published table (s/veh)."""
    published = published_table()
    out: dict = {}
    for name in RESCO_SCENARIOS:
        sc = load_scenario(ROOT / "scenarios" / f"resco_{name}.toml")
        pub = published.get(name, {})
        best = min(pub, key=pub.get) if pub else None
        print(f"\n{name}: published " + ", ".join(f"{c} {v:.2f}" for c, v in sorted(pub.items(), key=lambda kv: kv[1])))
        out[name] = {"published": pub, "ours": {}}
        for ctl in controllers:
            spec = RunSpec(sc, controller=ctl, protocol="resco", backend=backend, sumo_binary=args.sumo_binary)
            runs = run_seeds(spec, list(range(args.seeds)), workers=args.workers)
            done = [r for r in runs if r.ok]
            stats = summarise([r.resco_delay_s for r in done])
            stats["tripinfo_delay_s"] = summarise([r.delay_s for r in done])
            stats["n"], stats["gridlocked"] = len(done), sum(r.gridlocked for r in done)
            out[name]["ours"][ctl] = stats
            verdict = ""
            if best is not None:
                margin = pub[best] - stats["mean"]
                verdict = f"  {'beats' if margin > 0 else 'behind'} best published ({best} {pub[best]:.2f}) by {abs(margin):.2f} s"
            jam = f", {stats['gridlocked']} gridlocked" if stats["gridlocked"] else ""
            print(f"  {ctl:<20} {stats['mean']:7.2f} s (sd {stats['sd']:.2f}, tripinfo {stats['tripinfo_delay_s']['mean']:.2f}, "
                  f"{len(done)}/{len(runs)} seeds{jam}){verdict}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sumo-binary", help="sumo program to drive over TraCI (SUMO 1.9.1)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--controllers", nargs="*", default=[],
                        help="also run these controllers under the RESCO protocol beside the published table")
    parser.add_argument("--skip-fixed", action="store_true", help="leave out the Fixed-time reproduction")
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"real scenarios not found at {REAL}", file=sys.stderr)
        return 2
    backend = "traci" if args.sumo_binary else "libsumo"
    figures: dict = {"seeds": args.seeds, "backend": backend, "scenarios": {}}
    ok = True
    for name, published in ({} if args.skip_fixed else PUBLISHED).items():
        sc = load_scenario(ROOT / "scenarios" / f"resco_{name}.toml")
        spec = RunSpec(sc, controller="fixed", backend=backend, sumo_binary=args.sumo_binary)
        started = time.perf_counter()
        runs = run_seeds(spec, list(range(args.seeds)), workers=args.workers)
        failed = [r for r in runs if not r.ok]
        stats = summarise([r.resco_delay_s for r in runs if r.ok])
        version = next((r.sumo_version for r in runs if r.sumo_version), "?")
        diff = (stats["mean"] - published) / published
        within = abs(diff) <= TOLERANCE and not failed
        ok &= within
        print(
            f"{name:12s} SUMO {version:8s} measured {stats['mean']:6.2f} s (sd {stats['sd']:.2f}, "
            f"{args.seeds} seeds)  published {published:6.2f} s  diff {100 * diff:+5.1f}%  "
            f"{'OK' if within else 'NOT within 3%'}"
            + (f"  [{len(failed)} failed: {failed[0].error}]" if failed else "")
        )
        figures["scenarios"][name] = {
            "sumo_version": version,
            "delay_s": stats,
            "published_s": published,
            "diff_frac": diff,
            "wall_s": time.perf_counter() - started,
        }
    if args.controllers:
        figures["controllers"] = compare_controllers(args.controllers, args, backend)
    record("resco", figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
