"""The Gymnasium and PettingZoo environments over the twin (:class:`SignalEnv`, :class:`ParallelSignalEnv`).

One step is one decision interval of the protocol (10 s under ``resco``): the agents' actions
go to the twin as their lights' choices (:mod:`.encoding`), the twin runs to the next decision
step, and each agent gets its light's observation vector and reward. An episode is the
scenario's window; its end truncates the episode (``truncated=True``). ``info`` carries the
``action_mask`` and, at the end, the run's headline ``delay_s`` and mean ``queue_veh``.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from citybrain.control import Observation
from citybrain.network import graph_from_sumo_net
from simulation import Scenario, load_scenario, scenario_from_sumocfg

from .encoding import REWARDS, ObservationLayout, action_phase, reward
from .session import TwinSession

__all__ = ["OBS_HIGH", "ParallelSignalEnv", "SignalEnv", "as_scenario"]

#: Upper bound of every observation entry (vehicles, seconds): finite, far above any count.
OBS_HIGH = 1e6


def as_scenario(scenario: str | Path | Scenario) -> Scenario:
    """A scenario from a TOML or ``.sumocfg`` path (or as given)."""
    if isinstance(scenario, Scenario):
        return scenario
    path = Path(scenario)
    return scenario_from_sumocfg(path) if path.suffix == ".sumocfg" else load_scenario(path)


class _Episode:
    """What both environments share: the session, the layout, the last observations."""

    def __init__(self, scenario, lights, protocol, reward_name, seed, others, backend) -> None:
        if reward_name not in REWARDS:
            msg = f"Unknown reward {reward_name!r}; expected one of {list(REWARDS)}."
            raise ValueError(msg)
        self.reward_name, self.seed = reward_name, int(seed)
        sc = as_scenario(scenario)
        network = graph_from_sumo_net(sc.network)
        lights = tuple(sorted(network.programs)) if lights is None else tuple(lights)
        self.session = TwinSession(sc, lights, protocol=protocol, others=others, backend=backend, network=network)
        self.lights = lights
        first = self.session.start(self.seed)  # one short start learns every light's sizes
        if first is None or set(first) != set(lights):
            self.session.close()
            msg = f"Scenario {sc.name!r}: lights {sorted(set(lights) - set(first or {}))} never decide in its window."
            raise ValueError(msg)
        self.layout = ObservationLayout.of(first.values())
        self.last: dict[str, Observation] = first
        self.fresh = True
        self.halted = dict.fromkeys(lights, 0.0)

    def reset(self, seed: int | None) -> dict[str, Observation]:
        if not self.fresh or not self.session.running or (seed is not None and seed != self.seed):
            self.seed = self.seed if seed is None else int(seed)
            first = self.session.start(self.seed)
            if first is None:
                msg = "The scenario's window ends before the first decision."
                raise ValueError(msg)
            self.last = first
        self.fresh = False
        self.halted = {t: self.session.halting_s(t) for t in self.lights}
        return self.last

    def step(self, actions: dict[str, int]) -> bool:
        """Send the actions; update the last observations; return whether the window ended."""
        choices = {t: action_phase(self.last[t], a) for t, a in actions.items() if t in self.last}
        nxt = self.session.step(choices)
        if nxt is None:
            return True
        self.last = {**self.last, **nxt}
        return False

    def reward(self, tls: str) -> float:
        """The light's reward for the interval just run (to the window's end for the last one)."""
        halted = self.session.halting_s(tls)
        out = reward(self.reward_name, self.last[tls], halted - self.halted[tls])
        self.halted[tls] = halted
        return out

    def encode(self, tls: str) -> np.ndarray:
        return self.layout.encode(self.last[tls])

    def info(self, tls: str, done: bool) -> dict:
        out = {"action_mask": self.layout.mask(self.last[tls]), "time_s": self.last[tls].time_s}
        if done and self.session.result is not None:
            out["delay_s"], out["queue_veh"] = self.session.result.delay_s, self.session.result.queue_veh
        return out

    def space(self) -> spaces.Box:
        return spaces.Box(0.0, OBS_HIGH, (self.layout.size,), np.float32)


class SignalEnv(gym.Env):
    """A Gymnasium environment for one traffic light of a scenario (see :func:`citybrain.app.rl.make_env`)."""

    metadata = {"render_modes": []}

    def __init__(self, scenario, tls: str | None = None, protocol: str = "resco", reward: str = "delay",
                 seed: int = 0, others: str = "fixed", backend: str = "libsumo") -> None:
        sc = as_scenario(scenario)
        if tls is None:
            lights = sorted(graph_from_sumo_net(sc.network).programs)
            if len(lights) != 1:
                msg = f"Scenario {sc.name!r} has {len(lights)} traffic lights; name one with tls= (e.g. {lights[0]!r})."
                raise ValueError(msg)
            tls = lights[0]
        self.tls = tls
        self._ep = _Episode(sc, (tls,), protocol, reward, seed, others, backend)
        self.observation_space = self._ep.space()
        self.action_space = spaces.Discrete(self._ep.layout.phases)
        self.layout = self._ep.layout

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        """Start an episode (SUMO seeded with ``seed``, else the environment's)."""
        super().reset(seed=seed)
        self._ep.reset(seed)
        return self._ep.encode(self.tls), self._ep.info(self.tls, False)

    def step(self, action):
        """Run one decision interval with ``action`` (index into the light's green phases)."""
        done = self._ep.step({self.tls: int(action)})
        r = self._ep.reward(self.tls)
        return self._ep.encode(self.tls), r, False, done, self._ep.info(self.tls, done)

    def close(self) -> None:
        """End the running episode."""
        self._ep.session.close()


class ParallelSignalEnv(ParallelEnv):
    """A PettingZoo parallel environment, one agent per light (see :func:`citybrain.app.rl.make_parallel_env`)."""

    metadata = {"name": "citybrain_signals_v0", "render_modes": []}

    def __init__(self, scenario, lights=None, protocol: str = "resco", reward: str = "delay", seed: int = 0,
                 others: str = "fixed", backend: str = "libsumo") -> None:
        self._ep = _Episode(scenario, lights, protocol, reward, seed, others, backend)
        self.possible_agents = list(self._ep.lights)
        self.agents: list[str] = []
        self.layout = self._ep.layout
        self._obs_space = self._ep.space()
        self._act_space = spaces.Discrete(self.layout.phases)
        self.render_mode = None

    def observation_space(self, agent: str) -> spaces.Box:
        """The padded observation vector (:class:`~.encoding.ObservationLayout`)."""
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Discrete:
        """The padded green-phase choice; ``info[agent]["action_mask"]`` marks the light's own."""
        return self._act_space

    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode; return every agent's observation and info."""
        self._ep.reset(seed)
        self.agents = list(self.possible_agents)
        return ({a: self._ep.encode(a) for a in self.agents}, {a: self._ep.info(a, False) for a in self.agents})

    def step(self, actions: dict[str, int]):
        """Run one decision interval with every agent's action."""
        done = self._ep.step({a: int(x) for a, x in actions.items()})
        agents = list(self.agents)
        obs = {a: self._ep.encode(a) for a in agents}
        rew = {a: self._ep.reward(a) for a in agents}
        terminated = dict.fromkeys(agents, False)
        truncated = dict.fromkeys(agents, done)
        infos = {a: self._ep.info(a, done) for a in agents}
        if done:
            self.agents = []
        return obs, rew, terminated, truncated, infos

    def close(self) -> None:
        """End the running episode."""
        self._ep.session.close()
