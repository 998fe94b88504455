"""Controllers of the bench tests, loaded by reference (``file.py:Class`` / ``module:Class``) in the runs' processes."""

from __future__ import annotations

import os
import signal
import time

from citybrain.control import Observation
from citybrain.control.base import phases_after


class NextGreen:
    """Moves on to the next green once the current one has run ``green_s`` seconds."""

    name, program_driven = "next-green", False

    def __init__(self, network, tls: str, green_s: float = 20.0) -> None:
        self.green_s = green_s

    def decide(self, observation: Observation) -> int | None:
        if observation.green is not None and observation.time_in_phase_s < self.green_s:
            return None
        return phases_after(observation)[0]


class KillsItsRunOnce(NextGreen):
    """Kills its own run's process (SUMO with it) at its first decision, once per ``marker`` file."""

    def __init__(self, network, tls: str, marker: str = "") -> None:
        super().__init__(network, tls)
        self.marker = marker

    def decide(self, observation: Observation) -> int | None:
        if observation.time_s > 60:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return super().decide(observation)


class Raises(NextGreen):
    """A controller with a bug."""

    def decide(self, observation: Observation) -> int | None:
        raise RuntimeError("a bug in the controller")


class Hangs(NextGreen):
    """A controller that never answers."""

    def decide(self, observation: Observation) -> int | None:
        time.sleep(3600)
        return None


class NotAController:
    """Builds from (network, tls) but has no ``decide``."""

    name = "not-a-controller"

    def __init__(self, network, tls: str) -> None:
        self.tls = tls
