"""One episode of the twin with its lights' decisions taken from outside: the RL seam.

:class:`TwinSession` runs :meth:`simulation.Twin.run` in a thread of its own. The learning
lights are driven by :class:`ExternalController`\\ s sharing one ``batch``: at each decision
step the twin hands their observations to the session, which returns them to the
environment and waits for its actions. So the twin steps, observes, inserts the safety
gate's transitions and enforces minimum greens exactly as for every other controller; the
session only exchanges observations and actions at decision steps (two queue hand-offs).
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from citybrain.control import Observation, get_protocol
from citybrain.exceptions import SimulationError
from citybrain.network import RoadNetwork, graph_from_sumo_net
from simulation import RunResult, RunSpec, Twin
from simulation.scenario import Scenario

__all__ = ["ExternalController", "TwinSession"]


class _Stop(Exception):
    """Raised inside the twin's thread to end an episode early."""


@dataclass
class _Batch:
    session: TwinSession

    def decide_all(self, observations: dict[str, Observation]) -> dict[str, int | None]:
        return self.session._exchange(observations)


class ExternalController:
    """The controller of a learning light: its choices come from the environment (``batch``)."""

    name = "rl"
    program_driven = False

    def __init__(self, batch: _Batch) -> None:
        self.batch = batch

    def decide(self, observation: Observation) -> int | None:
        """Never called: the twin asks the shared ``batch``."""
        msg = "ExternalController decides through its batch only."
        raise SimulationError(msg)


class TwinSession:
    """Run one scenario episode, pausing at every decision step of the learning lights.

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
        self._thread: threading.Thread | None = None
        self._to_env: queue.Queue = queue.Queue(maxsize=1)
        self._to_twin: queue.Queue = queue.Queue(maxsize=1)
        self._workdir: tempfile.TemporaryDirectory | None = None

    @property
    def running(self) -> bool:
        """Whether an episode is running (waiting for actions)."""
        return self._thread is not None and self._thread.is_alive()

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
        batch = _Batch(self)
        twin = Twin(spec, self._workdir.name, network=self.network,
                    controllers={t: ExternalController(batch) for t in self.lights})
        self.result = None
        self._thread = threading.Thread(target=self._run, args=(twin,), name="citybrain-rl-twin", daemon=True)
        self._thread.start()
        return self._receive()

    def step(self, actions: Mapping[str, int | None]) -> dict[str, Observation] | None:
        """Apply the lights' choices; return the next decision's observations, ``None`` at the window's end.

        Raises
        ------
        SimulationError
            If SUMO fails or the episode is not running.
        """
        if not self.running:
            msg = "No episode is running: call start() (reset()) first."
            raise SimulationError(msg)
        self._to_twin.put(dict(actions))
        return self._receive()

    def close(self) -> None:
        """End the running episode, if any (safe to call twice)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            if thread.is_alive():
                self._to_twin.put(_Stop)
            thread.join()
        self._drain()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None

    # -- the twin's thread -------------------------------------------------------------
    def _run(self, twin: Twin) -> None:
        try:
            self._to_env.put(("done", twin.run()))
        except _Stop:
            pass
        except BaseException as exc:  # handed to the environment's thread
            self._to_env.put(("error", exc))

    def _exchange(self, observations: dict[str, Observation]) -> dict[str, int | None]:
        self._to_env.put(("obs", observations))
        answer = self._to_twin.get()
        if answer is _Stop:
            raise _Stop
        return answer

    def _receive(self) -> dict[str, Observation] | None:
        kind, value = self._to_env.get()
        if kind == "obs":
            return value
        self._thread = None
        if kind == "done":
            self.result = value
            return None
        raise value

    def _drain(self) -> None:
        for q in (self._to_env, self._to_twin):
            while not q.empty():
                q.get_nowait()
