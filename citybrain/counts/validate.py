"""Validation of a raw count frame: every problem, with its file rows, before any decision.

The checks run in a fixed order (times, interval lengths, counts, ids, the interval grid and
gaps, duplicates, places in the network, the camera registry, plausibility), so a report lists
its problems in that order. A file-level problem (empty, missing or mistyped columns) stops the
checks: the file is unusable as a whole.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd

from ..network import RoadNetwork
from .places import check_places
from .schema import COUNT_COLUMNS, QUEUE_COLUMN, CountReport, Problem, examples, missing_columns

__all__ = ["validate_counts"]

#: Largest |interval_start| (seconds) accepted; beyond it a start is reported as a bad time.
_MAX_START_S = 1e9


class _Unusable(Exception):
    """A file-level problem was found: the checks stop."""


class _Findings:
    """The problems found so far in one frame, and the rows that have a row-level problem."""

    def __init__(self, n: int) -> None:
        self.rows = np.arange(n, dtype=np.int64) + 2  # file row numbers: the header is row 1
        self.bad = np.zeros(n, dtype=bool)
        self.problems: list[Problem] = []

    def flag(self, code: str, mask: np.ndarray, message: str, fld: str) -> None:
        """Record a row-level problem on the rows of ``mask``, if there is any."""
        if mask.any():
            self.problems.append(Problem(code, message, tuple(int(r) for r in self.rows[mask]), fld))
            self.bad[mask] = True

    def unusable(self, code: str, message: str, fld: str = "") -> None:
        """Record a file-level problem and stop the checks."""
        self.problems.append(Problem(code, message, field=fld))
        raise _Unusable


def validate_counts(
    frame: pd.DataFrame,
    network: RoadNetwork | None = None,
    *,
    registry: pd.DataFrame | None = None,
    source: str = "<frame>",
    max_lane_flow_vph: float = 2000.0,
) -> tuple[CountReport, pd.DataFrame, pd.Timestamp | None]:
    """Check a raw count frame (strings) and return the report and the parsed frame.

    Parameters
    ----------
    frame
        The file's cells as read by :func:`~citybrain.counts.read_count_frame` (or any frame
        with the schema columns).
    network
        Road network to check junctions, edges and movements against; ``None`` skips those
        checks.
    registry
        Camera registry (from :func:`~citybrain.counts.read_registry`); counts whose camera is
        missing from it or that disagree with it are reported, and its ``lanes`` bound the
        plausibility check; with a ``queue_veh`` column, each row's camera ``range_m`` is kept
        beside it.
    source
        Name used in messages.
    max_lane_flow_vph
        Plausibility ceiling: the highest flow per lane (veh/h) a count may imply; a count
        above ``lanes x`` this for its interval is reported as implausible.

    Returns
    -------
    report : CountReport
        Every problem found (``dropped_rows`` lists rows with a row-level problem).
    parsed : pandas.DataFrame
        Schema columns parsed (``interval_start``/``interval_s``/``count`` float, NaN where
        unparsable) plus ``row``; empty when the file is unusable.
    origin : pandas.Timestamp or None
        Time of second 0 for ISO 8601 files.
    """
    n = len(frame)
    found = _Findings(n)
    try:
        if n == 0:
            found.unusable("empty", "the file has a header but no data rows")
        missing = missing_columns(frame, COUNT_COLUMNS, "a count file")
        if missing is not None:
            found.problems.append(missing)
            raise _Unusable
        text = {c: frame[c].astype(str).str.strip() for c in COUNT_COLUMNS}
        start, origin = _interval_starts(text["interval_start"], found)
        length, interval_s = _interval_lengths(text["interval_s"], found)
        count = _vehicle_counts(text["count"], found)
    except _Unusable:
        return CountReport(source, n, tuple(found.problems)), pd.DataFrame(), None
    for col in ("camera_id", "junction", "from_edge"):
        found.flag("empty-id", (text[col] == "").to_numpy(), f"{col} is empty", col)

    parsed = pd.DataFrame(
        {
            "row": found.rows,
            "interval_start": start,
            "interval_s": length,
            "camera_id": text["camera_id"].to_numpy(dtype=object),
            "junction": text["junction"].to_numpy(dtype=object),
            "from_edge": text["from_edge"].to_numpy(dtype=object),
            "to_edge": text["to_edge"].replace({"nan": "", "None": ""}).to_numpy(dtype=object),
            "count": count,
        }
    )
    for col in frame.columns:
        if col not in COUNT_COLUMNS and col != "row":
            parsed[col] = frame[col].to_numpy()
    if QUEUE_COLUMN in frame.columns:
        parsed[QUEUE_COLUMN] = _queue_lengths(frame[QUEUE_COLUMN].astype(str).str.strip(), found)

    _check_grid(parsed, text["interval_start"], interval_s, origin, found)
    key = parsed[["camera_id", "interval_start", "from_edge", "to_edge"]]
    found.flag(
        "duplicate",
        key.duplicated(keep=False).to_numpy() & np.isfinite(start),
        "duplicate (camera_id, interval_start, from_edge, to_edge): each camera counts a movement once per interval",
        "camera_id",
    )
    lanes = np.full(n, np.nan)
    if network is not None:
        place_problems, bad_place, lanes = check_places(parsed, found.rows, network)
        found.problems.extend(place_problems)
        found.bad |= bad_place
    if registry is not None:
        _check_registry(parsed, registry, lanes, found)
        if QUEUE_COLUMN in parsed and "range_m" in registry:  # how far each camera's queue reading reaches
            reach = registry.drop_duplicates("camera_id").set_index("camera_id")["range_m"]
            parsed["range_m"] = parsed["camera_id"].map(reach).to_numpy(dtype=np.float64)
    _check_plausible(count, length, lanes, max_lane_flow_vph, found)

    report = CountReport(source, n, tuple(found.problems), tuple(int(r) for r in found.rows[found.bad]))
    parsed["_bad"] = found.bad
    return report, parsed, origin


def _interval_starts(start_text: pd.Series, found: _Findings) -> tuple[np.ndarray, pd.Timestamp | None]:
    """Parse ``interval_start``: seconds or ISO 8601 times, one kind per file (the kind most rows use).

    Returns the starts in seconds from the origin (NaN where bad) and the origin of ISO times.
    """
    n = len(start_text)
    start_num = pd.to_numeric(start_text, errors="coerce").to_numpy(dtype=np.float64)
    origin: pd.Timestamp | None = None
    is_num = np.isfinite(start_num)
    if is_num.sum() >= n / 2:
        start = start_num
        found.flag(
            "bad-time",
            ~is_num,
            f"interval_start must be seconds (a number) like the other rows; got {examples(start_text[~is_num])}",
            "interval_start",
        )
    else:
        stamps = pd.to_datetime(start_text, errors="coerce", format="ISO8601", utc=False)
        ok = stamps.notna().to_numpy()
        if ok.sum() == 0:
            found.unusable(
                "mistyped-column",
                f"interval_start must hold seconds or ISO 8601 times; got {examples(start_text)}",
                "interval_start",
            )
        try:
            origin = stamps[ok].min()
            start = np.full(n, np.nan)
            start[ok] = (stamps[ok] - origin).dt.total_seconds().to_numpy()
        except (TypeError, ValueError):
            found.unusable(
                "mistyped-column",
                "interval_start mixes time zones; use one time zone (or none) for the whole file",
                "interval_start",
            )
        found.flag(
            "bad-time",
            ~ok,
            f"interval_start must be an ISO 8601 time like the other rows; got {examples(start_text[~ok])}",
            "interval_start",
        )

    # beyond ~30 years of seconds a start is an entry error (and would overflow the slot arithmetic)
    too_far = np.isfinite(start) & (np.abs(start) > _MAX_START_S)
    found.flag(
        "bad-time",
        too_far,
        f"interval_start must be within {_MAX_START_S:.0e} s (about 30 years) of the time origin; got {examples(start_text[too_far])}",
        "interval_start",
    )
    return np.where(too_far, np.nan, start), origin


def _interval_lengths(length_text: pd.Series, found: _Findings) -> tuple[np.ndarray, float]:
    """Parse ``interval_s``: positive, one length per file. Returns the lengths and the file's length (s)."""
    length = pd.to_numeric(length_text, errors="coerce").to_numpy(dtype=np.float64)
    good_len = np.isfinite(length) & (length > 0)
    if not good_len.any():
        found.unusable(
            "mistyped-column",
            f"interval_s must be a positive number of seconds; got {examples(length_text)}",
            "interval_s",
        )
    found.flag(
        "bad-interval",
        ~good_len,
        f"interval_s must be a positive number of seconds; got {examples(length_text[~good_len])}",
        "interval_s",
    )
    values, freq = np.unique(length[good_len], return_counts=True)
    interval_s = float(values[np.argmax(freq)])
    if len(values) > 1:
        other = good_len & (length != interval_s)
        found.flag(
            "mixed-interval",
            other,
            f"interval_s must be the same on every row; most rows have {interval_s:g} s, "
            f"these have {examples(pd.Series(length[other]).map(lambda v: f'{v:g}'))}",
            "interval_s",
        )
    return length, interval_s


def _vehicle_counts(count_text: pd.Series, found: _Findings) -> np.ndarray:
    """Parse ``count``: numeric, not NaN, non-negative, whole. Returns the counts (NaN where unparsable)."""
    count = pd.to_numeric(count_text, errors="coerce").to_numpy(dtype=np.float64)
    blank = count_text.str.lower().isin(["", "nan", "na", "null", "none"]).to_numpy()
    not_number = np.isnan(count) & ~blank
    if not_number.all():
        found.unusable(
            "mistyped-column",
            f"count must hold whole numbers of vehicles; got {examples(count_text)}",
            "count",
        )
    found.flag("nan-count", blank, "count is missing (empty or NaN); expected a whole number of vehicles", "count")
    found.flag(
        "mistyped-count",
        not_number,
        f"count must be a number of vehicles; got {examples(count_text[not_number])}",
        "count",
    )
    finite = np.isfinite(count)
    found.flag("infinite-count", np.isinf(count), "count is infinite; expected a whole number of vehicles", "count")
    neg = finite & (count < 0)
    found.flag("negative-count", neg, f"negative count; expected >= 0, got {examples(count_text[neg])}", "count")
    frac = finite & (count != np.floor(count))
    found.flag(
        "non-integer-count",
        frac,
        f"non-integer count; expected a whole number of vehicles, got {examples(count_text[frac])}",
        "count",
    )
    return count


def _queue_lengths(queue_text: pd.Series, found: _Findings) -> np.ndarray:
    """Parse the optional ``queue_veh``: blank (not reported, NaN) or a finite number >= 0 (vehicles)."""
    queue = pd.to_numeric(queue_text, errors="coerce").to_numpy(dtype=np.float64)
    blank = queue_text.str.lower().isin(["", "nan", "na", "null", "none"]).to_numpy()
    not_number = np.isnan(queue) & ~blank
    found.flag(
        "mistyped-queue",
        not_number,
        f"queue_veh must be a number of queued vehicles (or blank); got {examples(queue_text[not_number])}",
        QUEUE_COLUMN,
    )
    found.flag(
        "infinite-queue", np.isinf(queue), "queue_veh is infinite; expected a finite number of vehicles", QUEUE_COLUMN
    )
    neg = np.isfinite(queue) & (queue < 0)
    found.flag("negative-queue", neg, f"negative queue; expected >= 0, got {examples(queue_text[neg])}", QUEUE_COLUMN)
    return np.where(np.isfinite(queue) & (queue >= 0), queue, np.nan)


def _check_grid(
    parsed: pd.DataFrame, start_text: pd.Series, interval_s: float, origin: pd.Timestamp | None, found: _Findings
) -> None:
    """Starts on the file's interval grid; no interval without counts, no camera missing an interval."""
    start = parsed["interval_start"].to_numpy(dtype=np.float64)
    t_ok = np.isfinite(start)
    if not t_ok.any():
        return
    t0 = float(np.min(start[t_ok]))
    with np.errstate(invalid="ignore"):  # inf / NaN starts are reported elsewhere
        phase = np.mod(start - t0, interval_s)
    misaligned = t_ok & (np.minimum(phase, interval_s - phase) > 1e-6)
    found.flag(
        "misaligned",
        misaligned,
        f"interval_start is not on the {interval_s:g} s grid that starts at the file's first interval "
        f"({_time_text(t0, origin)}); got {examples(start_text[misaligned])}",
        "interval_start",
    )
    aligned = t_ok & ~misaligned
    if not aligned.any():
        return
    slot = np.full(len(start), -1, dtype=np.int64)
    slot[aligned] = np.rint((start[aligned] - t0) / interval_s).astype(np.int64)
    present = set(np.unique(slot[aligned]).tolist())
    missing_slots = sorted(set(range(int(slot.max()) + 1)) - present)
    if missing_slots:
        found.problems.append(
            Problem(
                "gap",
                f"no counts at all for {len(missing_slots)} interval(s) starting "
                f"{_slot_list(missing_slots, t0, interval_s, origin)}; expected every interval "
                f"from the first to the last",
                field="interval_start",
            )
        )
    per_camera: dict[str, set[int]] = defaultdict(set)
    for cam, s in zip(parsed["camera_id"].to_numpy()[aligned], slot[aligned], strict=True):
        per_camera[cam].add(int(s))
    for cam, slots in sorted(per_camera.items()):
        lack = sorted(present - slots)
        if cam and lack:
            found.problems.append(
                Problem(
                    "camera-gap",
                    f"camera {cam!r} has no counts for {len(lack)} interval(s) starting "
                    f"{_slot_list(lack, t0, interval_s, origin)} that other cameras counted",
                    field="camera_id",
                )
            )


def _time_text(t: float, origin: pd.Timestamp | None) -> str:
    if origin is None:
        return f"{t:g} s"
    return (origin + pd.Timedelta(seconds=t)).isoformat()


def _slot_list(slots: list[int], t0: float, interval_s: float, origin: pd.Timestamp | None) -> str:
    shown = ", ".join(_time_text(t0 + s * interval_s, origin) for s in slots[:8])
    return shown + (f" and {len(slots) - 8} more" if len(slots) > 8 else "")


def _check_registry(parsed: pd.DataFrame, registry: pd.DataFrame, lanes: np.ndarray, found: _Findings) -> None:
    """Every camera in the registry, at its registered place and movement; fills ``lanes`` from it."""
    n = len(parsed)
    reg_place = registry.drop_duplicates("camera_id").set_index("camera_id")
    reg_lanes = {
        (c, t): float(k) for c, t, k in registry[["camera_id", "to_edge", "lanes"]].itertuples(index=False, name=None)
    }
    cams = parsed["camera_id"].to_numpy(dtype=object)
    tos = parsed["to_edge"].to_numpy(dtype=object)
    known = np.array([c in reg_place.index for c in cams], dtype=bool)
    found.flag(
        "unknown-camera",
        ~known & (parsed["camera_id"] != "").to_numpy(),
        f"camera not in the registry: {examples(parsed['camera_id'][~known])}",
        "camera_id",
    )
    if not known.any():
        return
    idx = np.flatnonzero(known)
    sub = reg_place.loc[cams[idx]]
    for col in ("junction", "from_edge"):
        differ = np.zeros(n, dtype=bool)
        differ[idx] = sub[col].to_numpy(dtype=object) != parsed[col].to_numpy(dtype=object)[idx]
        found.flag("registry-mismatch", differ, f"{col} differs from the camera registry's entry for that camera", col)
    unseen = np.zeros(n, dtype=bool)
    for i in idx:
        value = reg_lanes.get((cams[i], tos[i]))
        if value is None:
            unseen[i] = True
        else:
            lanes[i] = value
    found.flag(
        "registry-mismatch",
        unseen,
        "the registry does not list this movement (to_edge) for that camera",
        "to_edge",
    )


def _check_plausible(
    count: np.ndarray, length: np.ndarray, lanes: np.ndarray, max_lane_flow_vph: float, found: _Findings
) -> None:
    """No count above ``max_lane_flow_vph`` per lane seen over its interval."""
    rows = found.rows
    good_len = np.isfinite(length) & (length > 0)
    with np.errstate(invalid="ignore"):
        cap = lanes * max_lane_flow_vph * length / 3600.0
        high = np.isfinite(count) & np.isfinite(cap) & good_len & (count > cap)
    if high.any():
        shown = ", ".join(
            f"row {rows[i]}: {count[i]:g} > {cap[i]:.0f} ({lanes[i]:g} lane(s))" for i in np.flatnonzero(high)[:5]
        )
        found.flag(
            "implausible-count",
            high,
            f"count above saturation flow ({max_lane_flow_vph:g} veh/h per lane over the interval): {shown}",
            "count",
        )
