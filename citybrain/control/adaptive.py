"""Adaptive splits on a coordinated plan (SCATS-like).

The light keeps its plan's cycle and offset, so coordination with its neighbours holds, and
each cycle moves green between phases by their smoothed degree of saturation (DS): the share
of a phase's green during which the detector of its busiest lane was occupied or last crossed
within the passage time (green that traffic used). Next cycle's green of phase ``k``
moves ``gain`` of the way towards ``total_green x u_k / sum(u)`` with ``u_k = DS_k x green_k``
the green it used, which equalises the degrees of saturation, within
``[min_green_s, max_green_s]`` (Lowrie 1982, SCATS). The base plan is a
:class:`~citybrain.plans.SignalPlan` when one is given, else the network's own program.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..plans.formats.sumo import phase_program_indices
from .actuated import DEFAULT_GAP_S, phase_lanes
from .base import DEFAULT_MIN_GREEN_S, Observation, lane_positions, register_controller

if TYPE_CHECKING:
    from citybrain.network import RoadNetwork
    from citybrain.plans import SignalPlan

__all__ = ["AdaptivePlanController", "rebalance_greens"]


def rebalance_greens(
    greens: dict[int, float], ds: dict[int, float], *, gain: float, min_green_s: float, max_green_s: float
) -> dict[int, float]:
    """Return greens (s) moved towards equal degrees of saturation.

    A phase's demand is the green it used (``DS x green``); greens move towards shares
    proportional to it, which equalises the DS of the phases (SCATS).

    The total green is kept; each green stays within ``[min_green_s, max_green_s]`` (the
    bounds win when the total cannot be kept within them).
    """
    total = sum(greens.values())
    weights = {k: max(ds.get(k, 0.0), 0.05) * g for k, g in greens.items()}  # green the phase used
    wsum = sum(weights.values())
    out = {k: g + gain * (total * weights[k] / wsum - g) for k, g in greens.items()}
    for _ in range(len(greens) + 1):  # clip, then share what clipping freed among those with room
        out = {k: min(max(v, min_green_s), max_green_s) for k, v in out.items()}
        excess = total - sum(out.values())
        room = [k for k, v in out.items() if (v < max_green_s if excess > 0 else v > min_green_s)]
        if abs(excess) < 1e-9 or not room:
            break
        for k in room:
            out[k] += excess / len(room)
    return out


class AdaptivePlanController:
    """SCATS-like adaptive splits within a fixed cycle and offset.

    Parameters
    ----------
    network, tls
        The road network and the SUMO id of the light.
    plan
        The coordinated plan of this light (cycle, offset, greens); ``network`` must run it
        as the light's program (:func:`~citybrain.plans.formats.sumo.plan_program`), whose
        phases the controller chooses. The network's own program when ``None``.
    gain
        Fraction (0-1) of the way to the DS-proportional greens moved per cycle.
    smoothing
        Weight (0-1) of the last cycle in the exponentially smoothed DS of each phase.
    gap_s
        Passage time (s) within which a detector actuation counts the green as used.
    max_green_s
        Upper bound (s) on any phase's green.
    """

    name = "adaptive-plan"
    program_driven = False
    needs_detectors = True

    def __init__(self, network: RoadNetwork, tls: str, *, plan: SignalPlan | None = None, gain: float = 0.2,
                 smoothing: float = 0.3, gap_s: float = DEFAULT_GAP_S, max_green_s: float = 90.0) -> None:
        self.tls, self.gain, self.smoothing = tls, gain, smoothing
        self.gap_s, self.max_green_s = gap_s, max_green_s
        program = network.programs[tls]
        if plan is None:
            order = list(program.green_phases())
            greens = {k: program.phases[k].duration_s for k in order}
            trans = {}
            for i, k in enumerate(order):
                nxt = order[(i + 1) % len(order)]
                j, lost = (k + 1) % len(program.phases), 0.0
                while j != nxt and j != k:
                    lost += program.phases[j].duration_s
                    j = (j + 1) % len(program.phases)
                trans[k] = lost
            self.cycle_s, self.offset_s = program.cycle_s, program.offset_s
        else:
            order = list(phase_program_indices(plan))
            greens = {k: ph.green_s for k, ph in zip(order, plan.phases, strict=True)}
            trans = {k: ph.duration_s - ph.green_s for k, ph in zip(order, plan.phases, strict=True)}
            self.cycle_s, self.offset_s = plan.cycle_s, plan.sumo_offset_s()
        self.order, self.greens, self.trans = order, greens, trans
        self.min_green_s = min(DEFAULT_MIN_GREEN_S, *greens.values())
        self.lanes = phase_lanes(network, tls)
        self._positions: dict[int, list[int]] | None = None
        self._cycle: int | None = None
        self._used = {k: [0.0] * len(self.lanes.get(k, ())) for k in order}
        self._seen = dict.fromkeys(order, 0.0)
        self._ds = dict.fromkeys(order, 0.5)
        self._last_t: float | None = None

    def scheduled_phase(self, time_s: float) -> int:
        """The green phase the current splits call for at ``time_s`` (the next one during a transition)."""
        pos = (time_s - self.offset_s) % self.cycle_s
        start = 0.0
        for i, k in enumerate(self.order):
            if pos < start + self.greens[k]:
                return k
            if pos < start + self.greens[k] + self.trans[k]:
                return self.order[(i + 1) % len(self.order)]
            start += self.greens[k] + self.trans[k]
        return self.order[0]

    def _measure(self, observation: Observation) -> None:
        t = observation.time_s
        # seconds of this green since the last call (none of a transition in between)
        dt = 0.0 if self._last_t is None else min(t - self._last_t, observation.time_in_phase_s)
        self._last_t = t
        k = observation.green
        if k is None or k not in self._seen or dt <= 0:
            return
        if self._positions is None:
            self._positions = lane_positions(self.lanes, observation.lanes)
        self._seen[k] += dt
        used = self._used[k]
        for j, i in enumerate(self._positions.get(k, [])):
            if observation.lane_gap_s[i] < self.gap_s:  # occupied or just crossed
                used[j] += dt

    def decide(self, observation: Observation) -> int | None:
        """Follow the adapted splits; re-balance them at each cycle boundary."""
        self._measure(observation)
        cycle = math.floor((observation.time_s - self.offset_s) / self.cycle_s)
        if self._cycle is not None and cycle != self._cycle:
            for k in self.order:
                if self._seen[k] > 0:
                    busiest = max(self._used[k], default=0.0)
                    self._ds[k] += self.smoothing * (busiest / self._seen[k] - self._ds[k])
            if any(self._seen.values()):
                self.greens = rebalance_greens(self.greens, self._ds, gain=self.gain, min_green_s=self.min_green_s,
                                               max_green_s=self.max_green_s)
            self._used = {k: [0.0] * len(self.lanes.get(k, ())) for k in self.order}
            self._seen = dict.fromkeys(self.order, 0.0)
        self._cycle = cycle
        want = self.scheduled_phase(observation.time_s)
        return None if want == observation.green else want


register_controller("adaptive-plan", AdaptivePlanController)
