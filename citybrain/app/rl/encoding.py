"""Observations as fixed-size vectors, rewards and actions of the RL environments.

One light's :class:`~citybrain.control.Observation` becomes a ``float32`` vector of a fixed
layout, :class:`ObservationLayout`, padded with zeros to sizes shared by every light of a
scenario so that lights with different phase, movement and lane counts fit one ``Box``:

====================  ==========  ===========================================================
slice                 length      content
====================  ==========  ===========================================================
``green``             ``phases``  one-hot of the green being served (all zero in a transition)
``time_in_phase``     1           seconds since the phase (or transition) began
``movement_vehicles`` ``moves``   per movement, vehicles on its approach lanes
``movement_halting``  ``moves``   per movement, halting vehicles on its approach lanes
``movement_out``      ``moves``   per movement, vehicles on its exit lanes
``lane_vehicles``     ``lanes``   per approach lane, vehicles
``lane_halting``      ``lanes``   per approach lane, halting vehicles
``action_mask``       ``phases``  1 where action ``k`` is one of the light's green phases
====================  ==========  ===========================================================

Action ``k`` asks for the light's ``k``-th green phase (``Observation.green_phases[k]``, a phase
of its checked program); a padded action (``k >= len(green_phases)``) keeps the current green.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from citybrain.control import Observation

__all__ = ["REWARDS", "ObservationLayout", "action_phase", "reward"]

#: Reward names of :func:`reward`.
REWARDS = ("delay", "pressure", "queue")


@dataclass(frozen=True, slots=True)
class ObservationLayout:
    """Padded sizes of the observation vector: green phases, movements and approach lanes."""

    phases: int
    moves: int
    lanes: int

    @classmethod
    def of(cls, observations: Iterable[Observation]) -> ObservationLayout:
        """The smallest layout that fits every one of these observations."""
        obs = list(observations)
        return cls(max(len(o.green_phases) for o in obs), max(len(o.movements) for o in obs),
                   max(len(o.lanes) for o in obs))

    @property
    def size(self) -> int:
        """Length of the vector."""
        return 2 * self.phases + 1 + 3 * self.moves + 2 * self.lanes

    def fits(self, observation: Observation) -> bool:
        """Whether the observation's light fits this layout."""
        o = observation
        return len(o.green_phases) <= self.phases and len(o.movements) <= self.moves and len(o.lanes) <= self.lanes

    def encode(self, observation: Observation) -> np.ndarray:
        """The observation as the layout's ``float32`` vector (see the module docstring).

        Raises
        ------
        ValueError
            If the light has more phases, movements or lanes than the layout.
        """
        o = observation
        if not self.fits(o):
            msg = (f"Light {o.tls!r} has {len(o.green_phases)} green phases, {len(o.movements)} movements and "
                   f"{len(o.lanes)} lanes; the observation layout fits at most {self.phases}, {self.moves} "
                   f"and {self.lanes}.")
            raise ValueError(msg)
        v = np.zeros(self.size, np.float32)
        p, m, n = self.phases, self.moves, self.lanes
        if o.green is not None:
            v[o.green_phases.index(o.green)] = 1.0
        v[p] = o.time_in_phase_s
        at = p + 1
        for values, width in ((o.movement_vehicles, m), (o.movement_halting, m), (o.movement_out_vehicles, m),
                              (o.lane_vehicles, n), (o.lane_halting, n)):
            v[at : at + len(values)] = values
            at += width
        v[at : at + len(o.green_phases)] = 1.0
        return v

    def mask(self, observation: Observation) -> np.ndarray:
        """The action mask (``int8``): 1 for each of the light's green phases."""
        out = np.zeros(self.phases, np.int8)
        out[: len(observation.green_phases)] = 1
        return out


def action_phase(observation: Observation, action: int) -> int | None:
    """The program phase action ``action`` asks for, ``None`` (keep) for a padded action."""
    k = int(action)
    return observation.green_phases[k] if 0 <= k < len(observation.green_phases) else None


def reward(name: str, observation: Observation, halted_s: float) -> float:
    """One light's reward for the decision interval ending at ``observation``.

    ``delay``: minus ``halted_s``, the vehicle-seconds its approach lanes' vehicles stood
    (speed < 0.1 m/s) during the interval, summed over every simulation step; ``queue``: minus
    the halting vehicles on its approach lanes at the decision; ``pressure``: minus the
    absolute difference of vehicles on the approach and exit lanes of its movements (Varaiya's
    max-pressure) at the decision.
    """
    if name == "delay":
        return -float(halted_s)
    if name == "queue":
        return -float(sum(observation.lane_halting))
    return -abs(float(sum(observation.movement_vehicles)) - float(sum(observation.movement_out_vehicles)))
