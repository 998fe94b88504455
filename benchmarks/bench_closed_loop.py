"""The closed loop against plans made once (issue 7, "Must show").

Protocol (see :mod:`citybrain.app.runner.closed_loop`): on the shipped day-long scenario
(``scenarios/day.toml``, six simulated hours on the demo arterial, a morning peak eastbound
and an evening peak westbound), both variants run the existing programs for the first hour
while the emulated cameras count; then

* **plans-once** estimates flows from that first hour's counts, makes plans (Webster) once
  and pushes them into the running twin, where they stay to the end;
* **closed-loop** does the same at the end of the first hour and then, every
  ``--replan-every`` minutes, re-estimates flows from the latest counts and pushes new plans
  (live plan change at each light's cycle boundary, through yellow and all-red).

Same seeds for both; delay is the twin's RESCO delay over the whole window.

Usage::

    python benchmarks/bench_closed_loop.py                  # 6 h, seeds 0..2, re-plan every 15 min
    python benchmarks/bench_closed_loop.py --quick          # 2 h (one hour counting + the morning peak), seed 0
    python benchmarks/bench_closed_loop.py --replan-every 30 --seeds 5

Prints both variants' delay and the margin, and appends a JSON line to
``benchmarks/results/closed_loop.jsonl``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _record import ROOT, record  # noqa: E402


def main(argv=None) -> int:
    """Run the benchmark; return 0 when the closed loop beats plans made once, else 1."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=str(ROOT / "scenarios" / "day.toml"))
    ap.add_argument("--replan-every", type=float, default=15.0, help="minutes")
    ap.add_argument("--seeds", type=int, default=None, help="seeds 0..N-1 (default 3; --quick: 1)")
    ap.add_argument("--quick", action="store_true", help="2 simulated hours, one seed (CI)")
    ap.add_argument("--out", default=None, help="keep the runs here (default: a temporary folder)")
    ap.add_argument("--no-record", action="store_true", help="do not append to benchmarks/results")
    args = ap.parse_args(argv)

    from citybrain.app.runner.closed_loop import run_closed_loop

    seeds = args.seeds or (1 if args.quick else 3)
    duration = 7200.0 if args.quick else None
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="citybrain-closed-loop-") as tmp:
        out = Path(args.out) if args.out else Path(tmp)
        res = run_closed_loop(args.scenario, out, replan_every_min=args.replan_every, seeds=seeds,
                              duration_s=duration)
    wall = time.perf_counter() - started
    for line in res.lines:
        print(line)
    ok = [r for r in res.runs if r.error is None]
    by = {v: [r.result.delay_s for r in ok if r.variant == v] for v in ("plans-once", "closed-loop")}
    mean = {v: (sum(x) / len(x) if x else float("nan")) for v, x in by.items()}
    margin = mean["plans-once"] - mean["closed-loop"]
    print(f"wall time {wall:.0f} s")
    if not args.no_record:
        path = record("closed_loop", {
            "scenario": Path(args.scenario).stem, "quick": args.quick, "seeds": seeds,
            "replan_every_min": args.replan_every, "delay_plans_once_s": by["plans-once"],
            "delay_closed_loop_s": by["closed-loop"], "margin_s": margin, "wall_s": round(wall, 1),
            "failed": [f"{r.variant}/{r.seed}" for r in res.runs if r.error],
        })
        print(f"appended {path}")
    return 0 if margin > 0 and len(ok) == len(res.runs) else 1


if __name__ == "__main__":
    sys.exit(main())
