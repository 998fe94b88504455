"""Signal performance measures from the twin's hi-res events: checks and the demo arterial.

1. Agreement: on arterial5 with a known fixed plan (netconvert's 90 s programs) and known demand
   (650 veh/h W->E, 1100 veh/h on the one-lane N1->S1 side street: over capacity), ``citybrain.spm``
   on the twin's ``events.csv`` against a direct count in SUMO (``tests/naive/spm.py``: vehicles
   crossing the advance detector while their lane shows green; interpolated stop-bar occupancy).
2. The demo (scenarios/demo.toml, seed 0, one hour): arrivals on green of the arterial phases under
   the network's existing programs and under the coordinated plan (``optimise --method coordinated``
   from the existing run's camera counts).
3. The cost of recording events: wall time of the demo hour with and without ``events``.

Run: ``python benchmarks/bench_spm.py [--quick]``; prints a table and appends to results/spm.jsonl.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks._record import record  # noqa: E402
from citybrain.spm import measures, phase_timelines, read_events  # noqa: E402
from simulation import RunSpec, load_scenario  # noqa: E402
from simulation.twin import Twin  # noqa: E402
from tests.simulation.test_events import _scenario  # noqa: E402
from tests.naive.spm import DirectCount  # noqa: E402
from citybrain.network import graph_from_sumo_net  # noqa: E402
from simulation.events import EventRecorder  # noqa: E402


def agreement(end_s: float, tmp: Path) -> list[dict]:
    sc = _scenario(end_s)
    net = graph_from_sumo_net(sc.network)
    lights = tuple(sorted(net.programs))
    rec = EventRecorder(net, {t: net.programs[t] for t in lights}, begin_s=0.0, start_date=sc.start_date, workdir=tmp)
    pos = {f"{r.signal_id}:{r.channel}": r.pos_m for r in rec._map.itertuples()}
    zones = {f"{r.signal_id}:{r.channel}": (r.up_m, r.pos_m) for r in rec._map.itertuples()}
    links: dict = {t: {} for t in lights}
    for t in lights:
        for link in net.programs[t].links:
            links[t].setdefault(link.from_lane, []).append(link.index)
    direct = DirectCount(rec.detectors, pos, zones, links)
    r = Twin(RunSpec(scenario=sc, events=True), workdir=tmp / "agree", on_step=direct).run()
    ev_path, _ = r.events.write(tmp / "agree_out")
    ev = read_events(ev_path)
    tl = phase_timelines(ev)
    rows = []
    for m in measures(ev, r.events.detectors).itertuples():
        g = tl[(m.signal_id, m.phase)].green
        n, ng = direct.counts(g[0, 0], g[-1, 0], m.signal_id, m.phase)
        rows.append({"signal": m.signal_id, "phase": m.phase, "cycles": m.cycles, "spm_arrivals": m.arrivals,
                     "direct_arrivals": n, "spm_on_green": m.arrivals_on_green, "direct_on_green": ng,
                     "spm_split_failures": m.split_failures,
                     "direct_split_failures": direct.split_failures(m.signal_id, m.phase)})
    return rows


def _cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "citybrain.app.cli", *args], cwd=ROOT, check=True,
                   capture_output=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})


def arterial_aog(events: Path, detectors: Path) -> tuple[float, dict]:
    """Arrivals on green (%) over the phases called by the arterial's lanes (not N*/S* side streets)."""
    import pandas as pd

    det = pd.read_csv(detectors)
    ev = read_events(events)
    m = measures(ev, det)
    art = det[(det["kind"] == "advance") & ~det["lane"].str.match(r"^[NS]\d")]
    keys = set(zip(art["signal_id"], art["phase"], strict=True))
    sel = m[[(s, p) in keys for s, p in zip(m["signal_id"], m["phase"], strict=True)]]
    per = {f"{s}/{p}": round(float(a), 1) for s, p, a in zip(sel["signal_id"], sel["phase"], sel["aog_pct"], strict=True)}
    return 100.0 * sel["arrivals_on_green"].sum() / sel["arrivals"].sum(), per


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="Shorter windows (CI).")
    quick = ap.parse_args().quick
    tmp = Path(tempfile.mkdtemp(prefix="bench_spm_"))
    rows = agreement(600.0 if quick else 3600.0, tmp)
    print("1. spm vs direct count, arterial5, fixed 90 s programs, saturated side street at J1")
    print(" signal phase cycles  arrivals(spm/direct)  on green(spm/direct)  split failures(spm/direct)")
    for r in rows:
        print(f" {r['signal']:>6} {r['phase']:>5} {r['cycles']:>6}  {r['spm_arrivals']:>8} / {r['direct_arrivals']:<8}"
              f"  {r['spm_on_green']:>8} / {r['direct_on_green']:<8}  {r['spm_split_failures']:>8} / {r['direct_split_failures']}")
    demo = ROOT / "scenarios" / "demo.toml"
    _cli("simulate", str(demo), "--seed", "0", "--cameras-out", str(tmp / "cams"), "--events-out", str(tmp / "ex"))
    _cli("optimise", "--network", str(ROOT / "networks" / "arterial5.net.xml"), "--counts",
         str(tmp / "cams" / "demo_seed0_counts.csv"), "--method", "coordinated", "--out", str(tmp / "plan.json"))
    _cli("simulate", str(demo), "--seed", "0", "--plan", str(tmp / "plan.json"), "--events-out", str(tmp / "co"))
    aog_ex, per_ex = arterial_aog(tmp / "ex" / "demo_seed0_events.csv", tmp / "ex" / "demo_seed0_detectors.csv")
    aog_co, per_co = arterial_aog(tmp / "co" / "demo_seed0_events.csv", tmp / "co" / "demo_seed0_detectors.csv")
    print("\n2. demo (seed 0, 1 h): arrivals on green of the arterial phases (advance detectors at 120 m, arrivals projected to the stop bar)")
    print(f" existing programs : {aog_ex:5.1f} %  {per_ex}")
    print(f" coordinated plan  : {aog_co:5.1f} %  {per_co}")
    sc = load_scenario(demo)
    wall = {}
    for ev in (False, True, False, True):
        t0 = time.perf_counter()
        Twin(RunSpec(scenario=sc, events=ev), workdir=tmp / f"cost{ev}").run()
        wall.setdefault(ev, []).append(time.perf_counter() - t0)
    off, on = min(wall[False]), min(wall[True])
    print(f"\n3. cost: demo hour, libsumo, best of 2: {off:.2f} s without events, {on:.2f} s with "
          f"({100 * (on / off - 1):+.0f} %)")
    record("spm", {"quick": quick, "agreement": rows, "demo_aog_existing_pct": round(aog_ex, 2),
                   "demo_aog_coordinated_pct": round(aog_co, 2), "wall_s_no_events": round(off, 3),
                   "wall_s_events": round(on, 3)})


if __name__ == "__main__":
    main()
