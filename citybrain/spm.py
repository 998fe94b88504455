"""Signal performance measures (ATSPM-style) from a high-resolution controller event log.

The log follows the Indiana hi-res enumerations (Sturdevant et al. 2012, INDOT/Purdue), as UDOT's
open-source ATSPM reads them: one row per event, columns ``timestamp`` (ISO 8601), ``signal_id``,
``event_code``, ``event_param``. Codes used here: 1 phase begin green, 8 begin yellow, 10 begin
red clearance, 11 end red clearance (param = phase); 81 detector off, 82 detector on (param =
detector channel). The detector map (``detectors.csv``: ``signal_id, channel, phase, kind,
lane, distance_m`` and, optionally, ``speed_mps``; kind ``stopbar`` or ``advance``) says which
phase each channel calls.

Measures per light and phase (:func:`measures`):

- arrivals: detector-on events of the phase's advance detectors, projected to the stop bar by the
  travel time ``distance_m / speed_mps`` (ATSPM's detector offset from the distance to the stop
  bar and the approach speed; no shift where the map has no speed); arrivals on green are those
  whose projected time falls in a green interval (begin green to begin yellow).
- ``aog_pct`` = 100 * arrivals on green / arrivals; ``platoon_ratio`` = (aog_pct / 100) /
  (green time / total time of the phase's cycles) (the HCM platoon ratio Rp).
- split failures: cycles whose green occupancy of the stop-bar detectors (union over the phase's
  channels) exceeds 79 % and whose occupancy in the first 5 s of the following red also exceeds 79 %
  (ATSPM's split failure definition).
- split monitor: mean and 85th percentile of the phase's green + yellow + red clearance (seconds).
- approach volume (veh/h over the observed cycles) and delay: each arrival on red waits until the
  next begin green (ATSPM's approach delay), seconds per arriving vehicle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import ValidationError

__all__ = [
    "EVENT_COLUMNS",
    "DETECTOR_COLUMNS",
    "BEGIN_GREEN",
    "BEGIN_YELLOW",
    "BEGIN_RED_CLEARANCE",
    "END_RED_CLEARANCE",
    "DETECTOR_OFF",
    "DETECTOR_ON",
    "PhaseTimeline",
    "read_events",
    "read_detectors",
    "phase_timelines",
    "arrival_times",
    "measures",
    "split_monitor",
]

EVENT_COLUMNS = ("timestamp", "signal_id", "event_code", "event_param")
DETECTOR_COLUMNS = ("signal_id", "channel", "phase", "kind", "lane", "distance_m")
SPEED_COLUMN = "speed_mps"  # optional: the approach speed that projects arrivals to the stop bar
BEGIN_GREEN, BEGIN_YELLOW, BEGIN_RED_CLEARANCE, END_RED_CLEARANCE = 1, 8, 10, 11
DETECTOR_OFF, DETECTOR_ON = 81, 82
OCCUPANCY_LIMIT = 0.79
RED_WINDOW_S = 5.0


def _bad(path, problems: list[str], what: str) -> None:
    if problems:
        shown = problems[:10] + ([f"... and {len(problems) - 10} more"] if len(problems) > 10 else [])
        raise ValidationError(f"{path}: {len(problems)} bad {what}: " + "; ".join(shown), problems)


def read_events(path: str | Path) -> pd.DataFrame:
    """Read and check a hi-res event log; return it sorted by time with ``t_s`` (seconds from its first event).

    Raises
    ------
    ValidationError
        Naming every bad row (row 1 is the header): a missing column, a timestamp that is not
        ISO 8601, an event code or parameter that is not a non-negative integer.
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(f"{path}: not a CSV event log ({' '.join(str(exc).split())})") from None
    missing = [c for c in EVENT_COLUMNS if c not in raw.columns]
    if missing:
        msg = f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(EVENT_COLUMNS)}"
        raise ValidationError(msg)
    ts = pd.to_datetime(raw["timestamp"], format="ISO8601", errors="coerce")
    code = pd.to_numeric(raw["event_code"], errors="coerce")
    param = pd.to_numeric(raw["event_param"], errors="coerce")
    problems = []
    for i in range(len(raw)):
        row = i + 2
        if pd.isna(ts.iloc[i]):
            problems.append(f"row {row}: timestamp {raw['timestamp'].iloc[i]!r} is not ISO 8601")
        for name, v in (("event_code", code), ("event_param", param)):
            x = v.iloc[i]
            if pd.isna(x) or x < 0 or x != int(x):
                problems.append(f"row {row}: {name} {raw[name].iloc[i]!r} is not a non-negative integer")
        if not raw["signal_id"].iloc[i].strip():
            problems.append(f"row {row}: signal_id is empty")
    _bad(path, problems, "event row(s)")
    out = pd.DataFrame({
        "timestamp": ts, "signal_id": raw["signal_id"].str.strip(),
        "event_code": code.astype(int), "event_param": param.astype(int),
    })
    out = out.sort_values("timestamp", kind="stable").reset_index(drop=True)
    out["t_s"] = (out["timestamp"] - out["timestamp"].iloc[0]).dt.total_seconds() if len(out) else []
    return out


def read_detectors(path: str | Path) -> pd.DataFrame:
    """Read and check a detector map (``detectors.csv``).

    Raises
    ------
    ValidationError
        Naming every bad row: missing columns, a channel or phase that is not a positive integer,
        a kind other than ``stopbar`` / ``advance``, a distance that is not a number >= 0, a
        speed (when the column is there) that is not a number > 0.
    """
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise ValidationError(f"{path}: not a CSV detector map ({' '.join(str(exc).split())})") from None
    missing = [c for c in DETECTOR_COLUMNS if c not in raw.columns]
    if missing:
        msg = f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(DETECTOR_COLUMNS)}"
        raise ValidationError(msg)
    problems = []
    chan = pd.to_numeric(raw["channel"], errors="coerce")
    phase = pd.to_numeric(raw["phase"], errors="coerce")
    dist = pd.to_numeric(raw["distance_m"], errors="coerce")
    has_speed = SPEED_COLUMN in raw.columns
    speed = pd.to_numeric(raw[SPEED_COLUMN], errors="coerce") if has_speed else pd.Series(np.nan, index=raw.index)
    for i in range(len(raw)):
        row = i + 2
        for name, v in (("channel", chan), ("phase", phase)):
            x = v.iloc[i]
            if pd.isna(x) or x < 1 or x != int(x):
                problems.append(f"row {row}: {name} {raw[name].iloc[i]!r} is not a positive integer")
        if raw["kind"].iloc[i] not in ("stopbar", "advance"):
            problems.append(f"row {row}: kind {raw['kind'].iloc[i]!r} is not 'stopbar' or 'advance'")
        if pd.isna(dist.iloc[i]) or dist.iloc[i] < 0:
            problems.append(f"row {row}: distance_m {raw['distance_m'].iloc[i]!r} is not a number >= 0")
        if has_speed and not (speed.iloc[i] > 0 and np.isfinite(speed.iloc[i])):
            problems.append(f"row {row}: {SPEED_COLUMN} {raw[SPEED_COLUMN].iloc[i]!r} is not a number > 0")
    _bad(path, problems, "detector row(s)")
    return pd.DataFrame({
        "signal_id": raw["signal_id"], "channel": chan.astype(int), "phase": phase.astype(int),
        "kind": raw["kind"], "lane": raw["lane"], "distance_m": dist.astype(float),
        SPEED_COLUMN: speed.astype(float),
    })


@dataclass(frozen=True, slots=True)
class PhaseTimeline:
    """One phase's signal intervals (seconds from the log's first event).

    ``green`` is an (n, 2) array of [begin green, begin yellow); ``red`` of [begin red clearance,
    next begin green) (the last red is open to the log's end).
    """

    signal_id: str
    phase: int
    green: np.ndarray
    red: np.ndarray
    served_s: np.ndarray  # green + yellow + red clearance of each cycle


def phase_timelines(events: pd.DataFrame) -> dict[tuple[str, int], PhaseTimeline]:
    """Pair each phase's begin-green / begin-yellow / begin-red-clearance events into intervals."""
    end = float(events["t_s"].max()) if len(events) else 0.0
    out = {}
    sig = events[events["event_code"].isin([BEGIN_GREEN, BEGIN_YELLOW, BEGIN_RED_CLEARANCE, END_RED_CLEARANCE])]
    for (s, p), g in sig.groupby(["signal_id", "event_param"], sort=True):
        greens, reds, served = [], [], []
        g_on = r_on = None
        for code, t in zip(g["event_code"], g["t_s"], strict=True):
            if code == BEGIN_GREEN:
                if r_on is not None:
                    reds.append((r_on, t))
                    r_on = None
                g_on = t
            elif code == BEGIN_YELLOW and g_on is not None:
                greens.append((g_on, t))
                g_on = None
            elif code == BEGIN_RED_CLEARANCE:
                r_on = t
            elif code == END_RED_CLEARANCE and greens and len(served) < len(greens):
                served.append(t - greens[-1][0])
        if r_on is not None:
            reds.append((r_on, end))
        out[(str(s), int(p))] = PhaseTimeline(
            str(s), int(p), np.array(greens, float).reshape(-1, 2), np.array(reds, float).reshape(-1, 2),
            np.array(served, float),
        )
    return out


def _inside(t: np.ndarray, iv: np.ndarray) -> np.ndarray:
    """Which times fall in one of the half-open intervals ``iv`` (sorted, disjoint)."""
    if len(iv) == 0:
        return np.zeros(len(t), bool)
    k = np.searchsorted(iv[:, 0], t, side="right") - 1
    ok = k >= 0
    ok[ok] = t[ok] < iv[k[ok], 1]
    return ok


def _occupied(on_off: np.ndarray, a: float, b: float) -> float:
    """Fraction of [a, b) covered by the union of the occupancy intervals ``on_off``."""
    if b <= a or len(on_off) == 0:
        return 0.0
    iv = np.clip(on_off, a, b)
    iv = iv[iv[:, 1] > iv[:, 0]]
    if len(iv) == 0:
        return 0.0
    iv = iv[np.argsort(iv[:, 0])]
    total, cur_a, cur_b = 0.0, iv[0, 0], iv[0, 1]
    for x, y in iv[1:]:
        if x > cur_b:
            total += cur_b - cur_a
            cur_a, cur_b = x, y
        else:
            cur_b = max(cur_b, y)
    return (total + cur_b - cur_a) / (b - a)


def _detector_intervals(events: pd.DataFrame, signal_id: str, channels,
                        shift_s: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Detector-on times (each channel's shifted by ``shift_s[channel]`` seconds, if given) and
    [on, off) occupancy intervals of some channels of one light."""
    d = events[(events["signal_id"] == signal_id) & events["event_param"].isin(list(channels))
               & events["event_code"].isin([DETECTOR_ON, DETECTOR_OFF])]
    ons, ivs = [], []
    end = float(events["t_s"].max())
    for channel, g in d.groupby("event_param"):
        on, shift = None, (shift_s or {}).get(channel, 0.0)
        for code, t in zip(g["event_code"], g["t_s"], strict=True):
            if code == DETECTOR_ON:
                ons.append(t + shift)
                on = t if on is None else on
            elif on is not None:
                ivs.append((on, t))
                on = None
        if on is not None:
            ivs.append((on, end))
    return np.sort(np.array(ons, float)), np.array(ivs, float).reshape(-1, 2)


def arrival_times(events: pd.DataFrame, detectors: pd.DataFrame, signal_id: str, phase: int) -> np.ndarray:
    """Sorted arrival times at the stop bar (s) of one phase: its advance detectors' on events plus each
    detector's travel time ``distance_m / speed_mps`` (0 where the map gives no speed)."""
    mine = detectors[(detectors["signal_id"].astype(str) == signal_id) & (detectors["phase"] == phase)
                     & (detectors["kind"] == "advance")]
    speed = mine[SPEED_COLUMN] if SPEED_COLUMN in mine.columns else pd.Series(np.nan, index=mine.index)
    travel = (mine["distance_m"] / speed).fillna(0.0)
    return _detector_intervals(events, signal_id, mine["channel"], dict(zip(mine["channel"], travel, strict=True)))[0]


def measures(events: pd.DataFrame, detectors: pd.DataFrame) -> pd.DataFrame:
    """Per light and phase measures (one row each): see the module docstring.

    Columns: ``signal_id, phase, cycles, arrivals, arrivals_on_green, aog_pct, split_failures,
    platoon_ratio, green_s_mean, cycle_s_mean, volume_vph, delay_s_per_veh``. Phases with no
    detector in the map get arrivals 0 and NaN ratios.
    """
    rows = []
    for (s, p), tl in phase_timelines(events).items():
        mine = detectors[(detectors["signal_id"].astype(str) == s) & (detectors["phase"] == p)]
        bar = mine.loc[mine["kind"] == "stopbar", "channel"]
        arr = arrival_times(events, detectors, s, p)
        _, occ = _detector_intervals(events, s, bar)
        greens = tl.green
        # cycles: begin green to next begin green; the arrivals counted are those inside them
        starts = greens[:, 0]
        cycles = max(len(starts) - 1, 0)
        if cycles:
            span = (starts[0], starts[-1])
            arr = arr[(arr >= span[0]) & (arr < span[1])]
            g_iv = greens[:-1]
        else:
            arr, g_iv = arr[:0], greens[:0]
        on_green = _inside(arr, g_iv)
        n, n_g = len(arr), int(on_green.sum())
        failures = 0
        if len(bar):
            for g0, g1 in g_iv:
                red = tl.red[tl.red[:, 0] >= g1]
                if not len(red):
                    continue
                r0 = red[0, 0]
                if (_occupied(occ, g0, g1) > OCCUPANCY_LIMIT
                        and _occupied(occ, r0, r0 + RED_WINDOW_S) > OCCUPANCY_LIMIT):
                    failures += 1
        total = (starts[-1] - starts[0]) if cycles else 0.0
        green_s = float((g_iv[:, 1] - g_iv[:, 0]).sum())
        aog = 100.0 * n_g / n if n else float("nan")
        next_green = starts[np.minimum(np.searchsorted(starts, arr[~on_green], side="right"), len(starts) - 1)]
        delay = float((next_green - arr[~on_green]).sum()) / n if n else float("nan")
        rows.append({
            "signal_id": s, "phase": p, "cycles": cycles, "arrivals": n, "arrivals_on_green": n_g,
            "aog_pct": aog, "split_failures": failures,
            "platoon_ratio": (aog / 100.0) / (green_s / total) if n and green_s > 0 else float("nan"),
            "green_s_mean": green_s / cycles if cycles else float("nan"),
            "cycle_s_mean": total / cycles if cycles else float("nan"),
            "volume_vph": 3600.0 * n / total if total else float("nan"),
            "delay_s_per_veh": delay,
        })
    return pd.DataFrame(rows, columns=[
        "signal_id", "phase", "cycles", "arrivals", "arrivals_on_green", "aog_pct", "split_failures",
        "platoon_ratio", "green_s_mean", "cycle_s_mean", "volume_vph", "delay_s_per_veh",
    ])


def split_monitor(events: pd.DataFrame) -> pd.DataFrame:
    """Per light and phase: cycles served and the split (green + yellow + red clearance, s): mean, p85, max."""
    rows = []
    for (s, p), tl in phase_timelines(events).items():
        x = tl.served_s
        rows.append({
            "signal_id": s, "phase": p, "cycles": len(x),
            "split_s_mean": float(x.mean()) if len(x) else float("nan"),
            "split_s_p85": float(np.percentile(x, 85)) if len(x) else float("nan"),
            "split_s_max": float(x.max()) if len(x) else float("nan"),
        })
    return pd.DataFrame(rows, columns=["signal_id", "phase", "cycles", "split_s_mean", "split_s_p85", "split_s_max"])
