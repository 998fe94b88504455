"""What a safe fixed plan can reach on atlanta, and what the unsafe features of SUMO's tools are worth.

A diagnostic for issue 5 (atlanta is the one scenario where ``tlsCycleAdaptation.py`` +
``tlsCoordinator.py`` beat our coordinated plan in ``bench_plans_twin.py``). Nothing here is
used to make our plans: every safe plan below is built from the scenario's **true** demand
(movement counts of its routes over the window, veh/h), which our side never sees.

Rows, each run as a static program in the twin (controller ``fixed``, as ``bench_plans_twin``):

* ``network``: the network's own programs; ``sumo-tools``: tlsCycleAdaptation + tlsCoordinator.
* SUMO tools' plan taken apart (it keeps the network's phases, which ``citybrain plans check``
  rejects: conflicting greens, no yellow, 4 s greens):
  ``+yellow`` inserts 3 s of yellow after every green a link loses (cycle lengthened, offsets
  kept); ``-never`` reddens the lighter of two never-together streams; ``-conflicts`` also
  shows every stream that must give way as permissive ``g`` (what
  :func:`citybrain.timing.phases.sanitise_state` does without flows); ``-conflicts+yellow``
  both.
* ``safe C=...``: :func:`citybrain.timing.optimise_plan` (``method="coordinated"``, true flows,
  not clipped to the own programs' capacity) at a fixed common cycle without half-cycle
  lights (``auto``: the optimiser's own cycle choice, half cycles allowed). Yellow and
  all-red are the US profile's (ITE); every such plan passes
  :func:`citybrain.plans.check_network_plan` without errors.
* ``... -all-red``: the same plan with the all-red folded into the green (a profile
  *warning*, not an error; shown to price the all-red, not as a candidate).
* ``--search N``: greedy coordinate search in the twin from the best safe row, on the search
  seed only: each light's offset +-10/20 s and 4 s (10 s for two-phase lights) moved between
  any two phases, the best move per light kept if it gains over 2 s; ``N`` rounds.

Delay is the twin's RESCO metric: mean ``timeLoss + departDelay`` over all tripinfo entries
(finished and unfinished); ``delay_all`` also counts never-inserted vehicles.

Usage::

    python benchmarks/bench_atlanta_bound.py                      # rows on seed 0
    python benchmarks/bench_atlanta_bound.py --search 2 --validate 5

Prints the table, writes ``benchmarks/results/atlanta_bound.txt`` and appends a JSON line to
``benchmarks/results/atlanta_bound.jsonl``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_plans_twin as twin

RESULTS = twin.RESULTS
PROFILE = "us"
CYCLES = (90, 120, 140, 180)


def true_flows(scenario, network, workdir: Path) -> pd.DataFrame:
    """Flow table (veh/h over the window) of every signalised movement from the scenario's routes."""
    counts: Counter = Counter()
    for path in twin._routed_demand(scenario, workdir):
        for _, elem in ET.iterparse(path):
            if elem.tag == "route" and elem.get("edges"):
                edges = elem.get("edges").split()
                counts.update(itertools.pairwise(edges))
    hours = (scenario.end_s - scenario.begin_s) / 3600.0
    rows = [{"interval_start": scenario.begin_s, "interval_s": scenario.end_s - scenario.begin_s,
             "junction": m.junction, "from_edge": m.from_edge, "to_edge": m.to_edge,
             "flow_vph": counts[m.from_edge, m.to_edge] / hours, "se_vph": 0.0}
            for m in network.movements if m.tls is not None and m.turn != "crossing"]
    return pd.DataFrame(rows)


def read_programs(*paths) -> dict[str, dict]:
    """``{tls: {"offset": s, "phases": [(duration_s, state)]}}``; later files may set offsets only."""
    out: dict[str, dict] = {}
    for path in paths:
        for tl in ET.parse(path).getroot().iter("tlLogic"):
            phases = [(float(p.get("duration")), p.get("state")) for p in tl.iter("phase")]
            if phases:
                out[tl.get("id")] = {"offset": float(tl.get("offset", 0)), "phases": phases}
            elif tl.get("id") in out:
                out[tl.get("id")]["offset"] = float(tl.get("offset", 0))
    return out


def write_programs(programs: dict[str, dict], path: Path) -> Path:
    """Write programs as a SUMO additional file (programID ``bound``)."""
    lines = ["<additional>"]
    for t, d in programs.items():
        lines.append(f'  <tlLogic id="{t}" type="static" programID="bound" offset="{d["offset"]:.2f}">')
        lines += [f'    <phase duration="{dur:.2f}" state="{st}"/>' for dur, st in d["phases"]]
        lines.append("  </tlLogic>")
    path.write_text("\n".join([*lines, "</additional>"]))
    return path


def with_yellow(programs: dict[str, dict], yellow_s: float = 3.0) -> dict[str, dict]:
    """Insert ``yellow_s`` of yellow after each phase whose end takes green from a link (cycle grows)."""
    from citybrain.plans.model import transition_states

    out = {}
    for t, d in programs.items():
        ph, new = d["phases"], []
        for k, (dur, state) in enumerate(ph):
            nxt = ph[(k + 1) % len(ph)][1]
            new.append((dur, state))
            if any(a in "Gg" and b not in "Gg" for a, b in zip(state, nxt)):
                new.append((yellow_s, transition_states(state, nxt)[0]))
        out[t] = {"offset": d["offset"], "phases": new}
    return out


def without_conflicts(programs: dict[str, dict], network, *, permissive: bool) -> dict[str, dict]:
    """Redden the lighter of never-together streams; with ``permissive`` also show yielding streams ``g``."""
    from citybrain.timing.phases import sanitise_state

    def fix(state, t):
        s = sanitise_state(state, network, t)
        return s if permissive else "".join("G" if a == "G" and b == "g" else b for a, b in zip(state, s))

    return {t: {"offset": d["offset"], "phases": [(dur, fix(st, t)) for dur, st in d["phases"]]}
            for t, d in programs.items()}


def safe_plan(network, flows, path: Path, **kwargs) -> tuple[Path, dict]:
    """Coordinated plan from ``flows``, checked, written; returns the file and the ``{tls: SignalPlan}``."""
    from citybrain.timing import TimingOptions, optimise_plan

    plan = optimise_plan(network, flows, "coordinated", TimingOptions(profile=PROFILE, seed=0), clip_to_program=False,
                         **kwargs)
    plans = dict(plan.periods[0].by_tls)
    return write_safe(plans, network, path), plans


def write_safe(plans: dict, network, path: Path) -> Path:
    """Check ``{tls: SignalPlan}`` (no safety errors allowed) and write it as a SUMO additional file."""
    from citybrain.plans import check_network_plan
    from citybrain.plans.formats import write_sumo_additional
    from citybrain.plans.model import NetworkPlan

    plan = NetworkPlan.single(list(plans.values()))
    errors = [v for v in check_network_plan(plan, network, PROFILE) if v.severity == "error"]
    if errors:
        msg = f"{path.name}: unsafe: " + "; ".join(str(v) for v in errors[:3])
        raise RuntimeError(msg)
    return write_sumo_additional(plan, path, program_id="bound")


def errors_of(path: Path, network) -> int:
    """Number of safety errors of a plan file (``citybrain plans check``)."""
    from citybrain.plans import check_network_plan
    from citybrain.plans.formats import read_sumo_additional

    plan = read_sumo_additional(path, network=network)
    return sum(v.severity == "error" for v in check_network_plan(plan, network, PROFILE))


def network_errors(network) -> int:
    """Number of safety errors of the network's own programs."""
    from citybrain.plans import check_network_plan
    from citybrain.plans.formats import plans_from_network

    return sum(v.severity == "error" for v in check_network_plan(plans_from_network(network), network, PROFILE))


def run_rows(scenario, rows: dict[str, list[Path]], seeds, workdir: Path, workers: int) -> dict[str, list]:
    """Run each row's additional files on ``seeds`` (one pool, ``workers`` SUMO runs at a time)."""
    from simulation import RunSpec
    from simulation.runner import run_many

    jobs = [(name, k) for name in rows for k in seeds]
    specs = [RunSpec(replace(scenario, additional=(*scenario.additional, *rows[name])), controller="fixed", seed=k)
             for name, k in jobs]
    results = run_many(specs, [workdir / name / f"seed{k}" for name, k in jobs], workers=workers)
    out: dict[str, list] = {name: [] for name in rows}
    for (name, _), r in zip(jobs, results, strict=True):
        out[name].append(r)
    return out


def no_all_red(plans: dict) -> dict:
    """Fold each phase's all-red into its green (same cycle)."""
    return {t: replace(p, phases=tuple(replace(x, green_s=x.green_s + x.all_red_s, all_red_s=0.0) for x in p.phases))
            for t, p in plans.items()}


def neighbours(plans: dict, t: str) -> dict[str, dict]:
    """Plans one move away at light ``t``: offset +-10/20 s, 4 s (10 s too for two phases) between phases."""
    from citybrain.plans.safety import get_profile

    p, out = plans[t], {}
    for d in (-20, -10, 10, 20):
        out[f"off{d:+d}"] = {**plans, t: replace(p, offset_s=(p.offset_s + d) % p.cycle_s)}
    floor = get_profile(PROFILE).min_green_s
    for a, b in itertools.permutations(range(len(p.phases)), 2):
        for step in (4.0,) if len(p.phases) > 2 else (4.0, 10.0):
            g = [x.green_s for x in p.phases]
            g[a] -= step
            g[b] += step
            if g[a] >= max(floor, p.phases[a].min_green_s or 0.0) - 1e-9:
                out[f"g{a}to{b}-{step:g}"] = {**plans, t: p.with_timing(g, cycle_s=p.cycle_s)}
    return out


def search(scenario, network, plans: dict, rounds: int, seed: int, workdir: Path, workers: int, log=print):
    """Greedy coordinate search in the twin (see the module docstring); returns plans and delay."""
    def delay_of(cands: dict[str, dict]) -> dict[str, float]:
        rows = {k: [write_safe(v, network, workdir / f"{k}.add.xml")] for k, v in cands.items()}
        return {k: float(r[0].delay_s) for k, r in run_rows(scenario, rows, [seed], workdir, workers).items()
                if r[0].ok}

    workdir.mkdir(parents=True, exist_ok=True)
    best = delay_of({"start": plans})["start"]
    n = 0
    for rnd in range(rounds):
        for t in sorted(plans):
            cands = {}
            for move, cand in neighbours(plans, t).items():
                n += 1
                cands[f"s{n}-{t}-{move}"] = cand
            got = delay_of(cands)
            name = min(got, key=got.get)
            if got[name] < best - 2.0:
                best, plans = got[name], cands[name]
                log(f"  search: {name} -> {best:.1f} s")
        log(f"  search round {rnd + 1}: {best:.1f} s")
    return plans, best


def _fmt(runs) -> str:
    d = twin.delays(runs)
    if not len(d):
        return "failed"
    if len(d) == 1:
        return f"{d[0]:7.1f}"
    return f"{d.mean():7.1f} +- {d.std(ddof=1):5.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="seed of the rows and of the search (default 0)")
    parser.add_argument("--search", type=int, default=0, help="rounds of the coordinate search (default none)")
    parser.add_argument("--validate", type=int, default=0,
                        help="also run SUMO tools, the best safe row and the searched plan on seeds 1..N")
    parser.add_argument("--workers", type=int, default=2, help="SUMO runs at a time (default 2)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep plans and SUMO outputs here")
    args = parser.parse_args(argv)
    from citybrain.network import graph_from_sumo_net

    scenario = twin.load("atlanta")
    if scenario is None:
        print(f"atlanta: files not found under {twin.REAL}")
        return 1
    tmp = tempfile.TemporaryDirectory(prefix="citybrain-atlanta-bound-") if args.workdir is None else None
    work = Path(tmp.name) if tmp else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    network = graph_from_sumo_net(scenario.network)
    flows = true_flows(scenario, network, work)
    tools = read_programs(*twin.sumo_tools_plan(scenario, work))
    rows: dict[str, list[Path]] = {"network": [], "sumo-tools": [write_programs(tools, work / "tools.add.xml")]}
    for name, prog in (("sumo-tools +yellow", with_yellow(tools)),
                       ("sumo-tools -never", without_conflicts(tools, network, permissive=False)),
                       ("sumo-tools -conflicts", without_conflicts(tools, network, permissive=True)),
                       ("sumo-tools -conflicts+yellow", with_yellow(without_conflicts(tools, network, permissive=True)))):
        rows[name] = [write_programs(prog, work / f"{name.replace(' ', '_')}.add.xml")]
    safe: dict[str, dict] = {}
    for cycle in (None, *CYCLES):
        name = "safe C=auto" if cycle is None else f"safe C={cycle}"
        kw = {} if cycle is None else {"cycle_s": cycle, "half_cycles": False}
        path, safe[name] = safe_plan(network, flows, work / f"{name.replace(' ', '_')}.add.xml", **kw)
        rows[name] = [path]
    rows["safe C=140 -all-red"] = [write_safe(no_all_red(safe["safe C=140"]), network, work / "safe_C140_noAR.add.xml")]
    errors = {name: errors_of(adds[0], network) if adds else network_errors(network) for name, adds in rows.items()}
    runs = run_rows(scenario, rows, [args.seed], work / "runs", args.workers)
    version = next(r.sumo_version for rs in runs.values() for r in rs if r.ok)
    head = (f"atlanta, seed {args.seed}, true demand; delay (s/veh, RESCO metric: mean timeLoss + departDelay "
            f"over all tripinfo entries); SUMO {version}, load {os.getloadavg()[0]:.1f}")
    out = [head]
    out += [f"  {name:30s} {_fmt(rs)}   safety errors {errors[name]:4d}" for name, rs in runs.items()]
    print("\n".join(out))
    best_safe = min((n for n in safe if n in runs), key=lambda n: twin.delays(runs[n]).mean())
    figures = {"seed": args.seed, "rows": {n: {"delay_s": twin.delays(rs).tolist(), "errors": errors[n]}
                                           for n, rs in runs.items()}, "best_safe": best_safe}
    validate = {"sumo-tools": rows["sumo-tools"], best_safe: rows[best_safe]}
    if args.search:
        plans, got = search(scenario, network, safe[best_safe], args.search, args.seed, work / "search", args.workers)
        validate["searched"] = [write_safe(plans, network, work / "searched.add.xml")]
        validate["searched -all-red"] = [write_safe(no_all_red(plans), network, work / "searched_noAR.add.xml")]
        figures["searched_delay_s"] = got
        out.append(f"  {'searched (from ' + best_safe + ')':30s} {got:7.1f}")
        print(out[-1])
    if args.validate:
        seeds = list(range(1, args.validate + 1))
        val = run_rows(scenario, validate, seeds, work / "validate", 1)
        out += ["", f"validation on seeds {seeds[0]}..{seeds[-1]}, load {os.getloadavg()[0]:.1f}"]
        out += [f"  {name:30s} {_fmt(rs)}" for name, rs in val.items()]
        print("\n".join(out[-len(val) - 1:]))
        figures["validation"] = {"seeds": seeds, "rows": {n: twin.delays(rs).tolist() for n, rs in val.items()}}
    figures["wall_s"] = round(time.perf_counter() - started, 1)
    (RESULTS / "atlanta_bound.txt").write_text("\n".join(out) + "\n")
    figures["load_1min"] = os.getloadavg()[0]
    from _record import record

    print(f"recorded: {record('atlanta_bound', twin._jsonable(figures))}")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
