"""One episode of the twin with its lights' decisions taken from outside: the RL seam.

:class:`TwinSession` drives :meth:`simulation.Twin.episode`, the twin's step-wise run: the
learning lights get :class:`ExternalController`\\ s, and at each of their decision steps the
twin pauses and hands out their observations; the session sends back the environment's
choices. So the twin steps, observes, inserts the safety gate's transitions and enforces
minimum greens exactly as for every other controller.
"""

from __future__ import annotations

import tempfile
from collections.abc import Generator, Mapping, Sequence

from citybrain.control import Observation, get_protocol
from citybrain.exceptions import SimulationError
from citybrain.network import RoadNetwork, graph_from_sumo_net
from simulation import RunResult, RunSpec, Scenario, Twin

__all__ = ["ExternalController", "TwinSession"]


class ExternalController:
    """The controller of a learning light: the twin hands its observations out (``external``)."""

    name = "rl"
    program_driven = False
    external = True

    def decide(self, observation: Observation) -> int | None:
        """Never called: the twin's step-wise run asks from outside."""
        msg = "An external controller's choices come through Twin.episode()."
        raise SimulationError(msg)


class TwinSession:
    """Run scenario episodes, pausing at every decision step of the learning lights.

    Parameters
    ----------
    scenario : Scenario
        The scenario to run.
    lights : sequence of str
        The learning lights (the others run ``others``).
    protocol : str
        Decision protocol (``"resco"`` or ``"native"``).
    others : str
        Registered controller of the other lights.
    backend : str
        ``"libsumo"`` (one running session per process) or ``"traci"``.
    network : RoadNetwork or None
        The scenario's network, if already loaded.

    Raises
    ------
    ValueError
        If a light is not in the network, or the protocol is unknown.
    """

    def __init__(self, scenario: Scenario, lights: Sequence[str], *, protocol: str = "resco",
                 others: str = "fixed", backend: str = "libsumo", network: RoadNetwork | None = None) -> None:
        self.scenario, self.lights, self.others, self.backend = scenario, tuple(lights), others, backend
        self.protocol = get_protocol(protocol)
        self.network = network or graph_from_sumo_net(scenario.network)
        unknown = sorted(set(self.lights) - set(self.network.programs))
        if unknown:
            msg = f"Unknown traffic lights {unknown}; the network has {sorted(self.network.programs)[:12]}."
            raise ValueError(msg)
        self.result: RunResult | None = None
        self._episode: Generator | None = None
        self._twin: Twin | None = None
        self._workdir: tempfile.TemporaryDirectory | None = None

    @property
    def running(self) -> bool:
        """Whether an episode is running (waiting for actions)."""
        return self._episode is not None

    def start(self, seed: int) -> dict[str, Observation] | None:
        """Start an episode (ending any running one); return the first decision's observations.

        ``None`` when the window ends before any decision.

        Raises
        ------
        SimulationError
            If SUMO fails.
        """
        self.close()
        self._workdir = tempfile.TemporaryDirectory(prefix="citybrain-rl-")
        spec = RunSpec(self.scenario, controller=self.others, protocol=self.protocol.name, seed=int(seed),
                       backend=self.backend)
        twin = Twin(spec, self._workdir.name, network=self.network,
                    controllers={t: ExternalController() for t in self.lights})
        self.result = None
        self._twin, self._episode = twin, twin.episode()
        return self._advance(None)

    def step(self, actions: Mapping[str, int | None]) -> dict[str, Observation] | None:
        """Apply the lights' choices; return the next decision's observations, ``None`` at the window's end.

        Raises
        ------
        SimulationError
            If SUMO fails or no episode is running.
        """
        if self._episode is None:
            msg = "No episode is running: call start() (reset()) first."
            raise SimulationError(msg)
        return self._advance(dict(actions))

    def halting_s(self, tls: str) -> float:
        """Vehicle-seconds halting (speed < 0.1 m/s) on the light's approach lanes since the episode began."""
        twin = self._twin
        if twin is None or twin.halting_steps is None:
            return 0.0
        return float(twin.halting_steps[twin.layout.in_slice[tls]].sum()) * self.scenario.step_s

    def close(self) -> None:
        """End the running episode, if any (safe to call twice)."""
        episode, self._episode = self._episode, None
        if episode is not None:
            episode.close()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    def _advance(self, actions: dict | None) -> dict[str, Observation] | None:
        try:
            return self._episode.send(actions)
        except StopIteration as stop:
            self.result, self._episode = stop.value, None
            return None
        except BaseException:
            self._episode = None
            raise
