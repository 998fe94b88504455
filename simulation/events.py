"""High-resolution controller events from the twin, in the Indiana enumerations ATSPM reads.

Per run (``RunSpec(events=True)``, ``citybrain simulate --events-out DIR``) the twin writes the
event log a controller would (``events.csv``: ``timestamp, signal_id, event_code, event_param``)
and its detector map (``detectors.csv``: ``signal_id, channel, phase, kind, lane, distance_m,
speed_mps``; the speed is the lane's limit, which projects arrivals to the stop bar).
The format, phase numbering and detector placement are documented in ``docs/formats.md``.

- Phases: the green phases of the light's program at the start of the run (phases with a green
  and no yellow), numbered 1..n in the program's (the plan's) order. Signal events come from the
  light's state each step: 1 begin green when the green links equal a phase's, 8 begin yellow when
  a yellow appears, 9 end yellow and 10 begin red clearance when the yellow ends, 11 end red
  clearance when the next phase turns green.
- Detectors: per approach lane of the light, a stop-bar presence zone of 12 m ending 0.5 m before
  the stop line and an advance (point) detector ``advance_m`` (default 120 m) before it, or at the
  lane's start when the lane is shorter. They are SUMO ``instantInductionLoop``s written as an
  additional file (two per zone: a vehicle occupies the zone from its front passing the upstream
  loop until its back leaves the downstream one), so the on / off times (82 / 81) cost no
  per-step call; the zone is on while any vehicle occupies it. A lane calls the first phase
  that gives it a protected green (``G``), else the first with a permissive one (``g``).
- Pre-emption (``RunSpec.preempt``): 102 input on, 104 input off, 105 entry started, 107 begin
  dwell, 110 max presence exceeded, 111 begin exit interval, the parameter being the preempt
  number (:mod:`simulation.preemption`).
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from citybrain.network import RoadNetwork, SignalProgram

__all__ = ["EventLog", "EventRecorder", "ADVANCE_M", "STOPBAR_M", "STOPBAR_ZONE_M"]

ADVANCE_M = 120.0
STOPBAR_M = 0.5
STOPBAR_ZONE_M = 12.0
_GREEN, _YELLOW, _RED = "green", "yellow", "red"


@dataclass(frozen=True, slots=True)
class EventLog:
    """One run's hi-res events (``timestamp`` ISO 8601 to 0.1 s) and its detector map."""

    events: pd.DataFrame
    detectors: pd.DataFrame

    def write(self, folder: Path, prefix: str = "") -> tuple[Path, Path]:
        """Write ``<prefix>events.csv`` and ``<prefix>detectors.csv`` into ``folder``; return both paths."""
        folder.mkdir(parents=True, exist_ok=True)
        ev, det = folder / f"{prefix}events.csv", folder / f"{prefix}detectors.csv"
        self.events.to_csv(ev, index=False)
        self.detectors.to_csv(det, index=False)
        return ev, det


def _green_phases(program: SignalProgram) -> list[frozenset[int]]:
    """The green link sets of the program's green phases, in order (phase k+1 is entry k)."""
    out = []
    for p in program.phases:
        if "y" in p.state.lower():
            continue
        green = frozenset(i for i, c in enumerate(p.state) if c in "Gg")
        if green:
            out.append(green)
    return out


class EventRecorder:
    """Emulated detectors and the signal event log of the twin's lights.

    Parameters
    ----------
    network
        The run's network (lane lengths).
    programs
        Each recorded light's program at the start of the run (phase numbering).
    begin_s
        Simulation time of the run's first step (seconds).
    start_date
        ISO date of simulation time 0.
    workdir
        Where the detector definitions and their output go.
    advance_m
        Distance of the advance detectors from the stop line (metres).
    step_s
        The run's step length (seconds).
    """

    def __init__(self, network: RoadNetwork, programs: dict[str, SignalProgram], *, begin_s: float,
                 start_date: str, workdir: Path, advance_m: float = ADVANCE_M, step_s: float = 1.0) -> None:
        self.step_s = step_s
        self.origin = pd.Timestamp(date.fromisoformat(start_date))
        self.phases = {t: _green_phases(p) for t, p in programs.items()}
        self.output = workdir / "events_loops.xml"
        self.additional = workdir / "events_loops.add.xml"
        lengths = {e: d["length_m"] for e, d in network.edges.items()}
        speeds = {e: d["speed_mps"] for e, d in network.edges.items()}
        rows = []
        for tls, prog in programs.items():
            phase_of: dict[str, int] = {}
            for strong in (True, False):
                for link in prog.links:
                    if link.from_lane in phase_of:
                        continue
                    for k, p in enumerate(prog.phases):
                        c = p.state[link.index] if link.index < len(p.state) else "r"
                        if "y" in p.state.lower() or c not in ("G" if strong else "Gg"):
                            continue
                        k_green = next(n for n, g in enumerate(self.phases[tls]) if g == frozenset(
                            i for i, x in enumerate(p.state) if x in "Gg"))
                        phase_of[link.from_lane] = k_green + 1
                        break
            lanes = [x for x in dict.fromkeys(link.from_lane for link in prog.links) if x in phase_of]
            for kind, n0 in (("stopbar", 0), ("advance", len(lanes))):
                for i, lane in enumerate(lanes):
                    length = float(lengths.get(lane.rsplit("_", 1)[0], 0.0))
                    dist = min(STOPBAR_M if kind == "stopbar" else advance_m, length)
                    pos = max(0.0, length - dist)
                    up = max(0.0, pos - STOPBAR_ZONE_M) if kind == "stopbar" else pos
                    rows.append({"signal_id": tls, "channel": n0 + i + 1, "phase": phase_of[lane], "kind": kind,
                                 "lane": lane, "distance_m": round(dist, 1),
                                 "speed_mps": round(float(speeds.get(lane.rsplit("_", 1)[0], 0.0)), 2),
                                 "pos_m": pos, "up_m": up})
        cols = ["signal_id", "channel", "phase", "kind", "lane", "distance_m", "speed_mps"]
        self._map = pd.DataFrame(rows, columns=[*cols, "pos_m", "up_m"])
        self.detectors = self._map[cols].copy()
        self._state: dict[str, tuple[str, int | None]] = {}
        self._rows: list[tuple[float, str, int, int]] = []

    def write_additional(self) -> Path:
        """Write the detectors as SUMO ``instantInductionLoop``s; return the additional file."""
        lines = ["<additional>"]
        for r in self._map.itertuples():
            ends = (("dn", r.pos_m), ("up", r.up_m)) if r.kind == "stopbar" else (("dn", r.pos_m),)
            for end, pos in ends:
                lines.append(f'    <instantInductionLoop id="{_loop_id(r.signal_id, r.channel, end)}" '
                             f'lane="{r.lane}" pos="{pos:.2f}" friendlyPos="true" file="{self.output}"/>')
        lines.append("</additional>")
        self.additional.write_text("\n".join(lines) + "\n")
        return self.additional

    def observe(self, t: float, tls_state: dict[str, str]) -> None:
        """Record the signal events of one step from the lights' states (``StepData.tls_state``).

        ``t`` is the time the step began (the time SUMO switched the lights to these states, and the
        clock of its detectors), i.e. the backend's time after the step less the step length.
        """
        for tls, phases in self.phases.items():
            state = tls_state.get(tls)
            if state is None:
                continue
            green = frozenset(i for i, c in enumerate(state) if c in "Gg")
            kind, cur = self._state.get(tls, (_RED, None))
            match = next((k for k, g in enumerate(phases) if g == green), None)
            if match is not None:
                new = (_GREEN, match + 1)
            elif "y" in state.lower():
                new = (_YELLOW, cur)
            else:
                new = (_RED, cur)
            if (kind, cur) == new:
                continue
            add = self._rows.append
            if cur is not None:
                if kind == _GREEN and new != (kind, cur):
                    add((t, tls, 8, cur))
                if kind in (_GREEN, _YELLOW) and new[0] != _YELLOW:
                    add((t, tls, 9, cur))
                    add((t, tls, 10, cur))
                if new[0] == _GREEN:
                    add((t, tls, 11, cur))
            if new[0] == _GREEN:
                add((t, tls, 1, new[1]))
            self._state[tls] = new

    def add(self, t: float, tls: str, code: int, param: int) -> None:
        """Record one event the lights' states do not show (pre-emption's 102-111, parameter the preempt number)."""
        self._rows.append((t, tls, code, param))

    def log(self) -> EventLog:
        """The run's event log: signal events merged with the detectors' on / off events, by time."""
        by_id = {_loop_id(r.signal_id, r.channel, end): (r.signal_id, int(r.channel), r.kind, end)
                 for r in self._map.itertuples() for end in ("dn", "up")}
        rows = list(self._rows)
        zones: dict[tuple[str, int], dict[str, list[float]]] = {}  # stop bar -> vehicle -> [in, out]
        if self.output.is_file():
            for _, el in ET.iterparse(self.output):
                if el.tag != "instantOut":
                    continue
                state = el.get("state")
                if state in ("enter", "leave"):
                    sig, chan, kind, end = by_id[el.get("id")]
                    # SUMO stamps a move from step k to k+1 at k - 1 + fraction: shifted onto the lights' clock
                    t = float(el.get("time")) + self.step_s
                    if kind == "advance":
                        rows.append((t, sig, 82 if state == "enter" else 81, chan))
                    elif (end, state) in (("up", "enter"), ("dn", "leave")):
                        span = zones.setdefault((sig, chan), {}).setdefault(el.get("vehID"), [math.nan, math.nan])
                        span[0 if end == "up" else 1] = t
                el.clear()
        for (sig, chan), spans in zones.items():
            rows += _presence(sig, chan, [v for v in spans.values() if v[0] <= v[1]])
        # truncated (not rounded) to 0.1 s: an actuation just before a signal event stays before it
        t = np.floor(np.array([r[0] for r in rows], float) * 10.0 + 1e-6) / 10.0
        order = np.argsort(t, kind="stable")
        stamps = (self.origin + pd.to_timedelta(t[order], unit="s")).strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-5]
        events = pd.DataFrame({
            "timestamp": stamps,
            "signal_id": [rows[i][1] for i in order],
            "event_code": [rows[i][2] for i in order],
            "event_param": [rows[i][3] for i in order],
        })
        return EventLog(events, self.detectors)


def _loop_id(tls: str, channel: int, end: str) -> str:
    return f"citybrain_hires_{tls}_{channel}_{end}"


def _presence(sig: str, chan: int, spans: list[list[float]]) -> list[tuple[float, str, int, int]]:
    """Detector on / off events of a presence zone from its vehicles' [front in, back out] times."""
    out = []
    cur = None
    for a, b in sorted(spans):
        if cur is not None and a <= cur[1]:
            cur[1] = max(cur[1], b)
            continue
        if cur is not None:
            out += [(cur[0], sig, 82, chan), (cur[1], sig, 81, chan)]
        cur = [a, b]
    if cur is not None:
        out += [(cur[0], sig, 82, chan), (cur[1], sig, 81, chan)]
    return out
