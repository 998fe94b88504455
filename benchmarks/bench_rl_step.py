"""Overhead of the RL environments' ``step()`` against the twin's own run of the same decisions.

Runs the demo arterial (5 lights, RESCO protocol: a decision every 10 s) twice per repeat over
the same window and seed, with the same decisions (every light moves on to its next green at
every decision):

- the twin alone: :class:`simulation.Twin` with a controller choosing the next green;
- the PettingZoo environment: ``reset()`` and ``step()`` until the window ends, the actions
  computed from the observation vectors (the next green after the one-hot current one).

Both times include building the run (controllers, SUMO load) and its end (tripinfo read); the
figures are the best of the repeats. The two runs' delays are printed too: equal delays show the
environment ran the same decisions. Prints the overhead per step and appends a JSON line to
``benchmarks/results/rl_step.jsonl``.

Usage: ``python benchmarks/bench_rl_step.py [--quick]`` (quick: a 600 s window, 2 repeats).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import ROOT, record  # noqa: E402

from citybrain.app.rl import make_parallel_env  # noqa: E402
from citybrain.control import Observation  # noqa: E402
from citybrain.control.base import phases_after  # noqa: E402
from citybrain.network import graph_from_sumo_net  # noqa: E402
from simulation import RunSpec, Twin, load_scenario  # noqa: E402


class NextGreen:
    """Moves on to the next green of the program at every decision."""

    name, program_driven = "next-green", False

    def decide(self, observation: Observation) -> int | None:
        return phases_after(observation)[0]


def twin_run(scenario, network, seed: int) -> tuple[float, float]:
    """Wall seconds and delay of the twin's own run."""
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        twin = Twin(RunSpec(scenario, protocol="resco", seed=seed), work, network=network,
                    controllers={t: NextGreen() for t in network.programs})
        result = twin.run()
        return time.perf_counter() - started, result.delay_s


def env_run(env, seed: int) -> tuple[float, float, int]:
    """Wall seconds, delay and steps of one episode of the environment."""
    p = env.layout.phases
    started = time.perf_counter()
    obs, infos = env.reset(seed=seed)
    steps = 0
    while env.agents:
        actions = {}
        for a in env.agents:
            n = int(infos[a]["action_mask"].sum())
            hot = obs[a][:p]
            actions[a] = (int(np.argmax(hot)) + 1) % n if hot.any() else 0
        obs, _, _, _, infos = env.step(actions)
        steps += 1
    wall = time.perf_counter() - started
    return wall, next(iter(infos.values()))["delay_s"], steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a 600 s window and 2 repeats")
    args = parser.parse_args()
    window, repeats = (600.0, 2) if args.quick else (3600.0, 3)
    scenario = replace(load_scenario(ROOT / "scenarios" / "demo.toml"), end_s=window)
    network = graph_from_sumo_net(scenario.network)
    env = make_parallel_env(scenario, seed=0)  # starts one episode to learn the layout
    env.close()  # libsumo runs one simulation per process: the twin's run comes first
    twin_s, env_s = [], []
    for _ in range(repeats):
        w, twin_delay = twin_run(scenario, network, 0)
        twin_s.append(w)
        w, env_delay, steps = env_run(env, 0)
        env_s.append(w)
    env.close()
    t, e = min(twin_s), min(env_s)
    overhead = e / t - 1.0
    figures = {
        "scenario": "demo (arterial5, 5 lights)", "protocol": "resco", "window_s": window, "steps": steps,
        "twin_run_s": round(t, 4), "env_episode_s": round(e, 4),
        "twin_per_step_ms": round(1e3 * t / steps, 3), "env_per_step_ms": round(1e3 * e / steps, 3),
        "overhead": round(overhead, 4), "twin_delay_s": round(twin_delay, 3), "env_delay_s": round(env_delay, 3),
        "quick": args.quick,
    }
    print(f"demo arterial, 5 lights, RESCO protocol, {window:.0f} s window, {steps} decisions, best of {repeats}")
    print(f"  twin alone      {t:7.3f} s  ({1e3 * t / steps:6.2f} ms per decision interval)  delay {twin_delay:.2f} s")
    print(f"  ParallelEnv     {e:7.3f} s  ({1e3 * e / steps:6.2f} ms per step())             delay {env_delay:.2f} s")
    print(f"  RL step overhead: {100 * overhead:+.1f}% (aim <= 10%)")
    print(f"recorded in {record('rl_step', figures)}")


if __name__ == "__main__":
    main()
