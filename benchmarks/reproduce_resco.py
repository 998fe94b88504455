"""Reproduce RESCO's published Fixed-time delay on cologne1 and ingolstadt1.

    python benchmarks/reproduce_resco.py --sumo-binary DIR/sumo/bin/sumo [--seeds 10]

where DIR comes from ``pip install --no-deps --target DIR eclipse-sumo==1.9.1`` (the SUMO the
published table was made with). Without ``--sumo-binary`` it runs the installed SUMO 1.28,
whose figures are lower (about 43 s and 30 s; insertion delay changed). Needs the shared
real-scenario folder ``../shared/real``. Prints measured and published mean delay and
whether they agree within 3%; appends a JSON line to ``benchmarks/results/resco.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
import time

from _record import REAL, ROOT, record

from simulation import RunSpec, load_scenario, run_seeds, summarise

PUBLISHED = {"cologne1": 56.61, "ingolstadt1": 39.40}
TOLERANCE = 0.03


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sumo-binary", help="sumo program to drive over TraCI (SUMO 1.9.1)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()
    if not REAL.is_dir():
        print(f"real scenarios not found at {REAL}", file=sys.stderr)
        return 2
    backend = "traci" if args.sumo_binary else "libsumo"
    figures: dict = {"seeds": args.seeds, "backend": backend, "scenarios": {}}
    ok = True
    for name, published in PUBLISHED.items():
        sc = load_scenario(ROOT / "scenarios" / f"resco_{name}.toml")
        spec = RunSpec(sc, controller="fixed", backend=backend, sumo_binary=args.sumo_binary)
        started = time.perf_counter()
        runs = run_seeds(spec, list(range(args.seeds)), workers=args.workers)
        failed = [r for r in runs if not r.ok]
        stats = summarise([r.delay_s for r in runs if r.ok])
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
    record("resco", figures)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
