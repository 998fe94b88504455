"""Validation of a raw count frame: every problem, with its file rows, before any decision.

The checks run in a fixed order (times, interval lengths, counts, ids, the interval grid and
gaps, duplicates, places in the network, the camera registry, plausibility), so a report lists
its problems in that order. A file-level problem (empty, missing or mistyped columns) stops the
checks: the file is unusable as a whole.

No check makes a Python object per row: numeric columns are parsed as they are (their text is
made only for the rows a message quotes), ids are categories (each distinct text checked
once), and rows are numbered by (camera, place) and placed on the interval grid by the numba
kernels of :mod:`citybrain._kernels.counts`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._kernels.counts import _camera_slots, _grid_slots, _number_code_rows, _shared_rows
from ..network import RoadNetwork
from .places import check_places
from .files import cells_as_text
from .schema import COUNT_COLUMNS, QUEUE_COLUMN, CountReport, Problem, examples, missing_columns

__all__ = ["validate_counts", "validate_cells", "text_ids"]

_ID_COLUMNS = ("camera_id", "junction", "from_edge", "to_edge")

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
    """Check a raw count frame and return the report and the parsed frame.

    Parameters
    ----------
    frame
        The file's cells as read by :func:`~citybrain.counts.read_count_frame` or
        :func:`~citybrain.counts.read_count_cells` (or any frame with the schema columns: text,
        numbers or categories). A cell is judged, and quoted, by its text as
        :func:`~citybrain.counts.files.cells_as_text` renders it, whatever the column's type.
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
    report, parsed, origin = validate_cells(
        frame, network, registry=registry, source=source, max_lane_flow_vph=max_lane_flow_vph
    )
    return report, text_ids(parsed), origin


def text_ids(parsed: pd.DataFrame) -> pd.DataFrame:
    """The parsed frame of :func:`validate_cells` with its id columns as plain text (Arrow strings)."""
    for col in _ID_COLUMNS:
        if col in parsed:
            parsed[col] = _text_column(parsed[col])
    return parsed


def validate_cells(
    frame: pd.DataFrame,
    network: RoadNetwork | None = None,
    *,
    registry: pd.DataFrame | None = None,
    source: str = "<frame>",
    max_lane_flow_vph: float = 2000.0,
) -> tuple[CountReport, pd.DataFrame, pd.Timestamp | None]:
    """As :func:`validate_counts`, but the parsed id columns stay categorical.

    Filter the rows first, then :func:`text_ids`: the ids' text is made for the kept rows only.
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
        start_cells = _Cells(frame["interval_start"])
        start, origin = _interval_starts(start_cells, found)
        length, interval_s = _interval_lengths(_Cells(frame["interval_s"]), found)
        count = _vehicle_counts(_Cells(frame["count"]), found)
    except _Unusable:
        return CountReport(source, n, tuple(found.problems)), pd.DataFrame(), None
    ids = {col: _id_cells(frame[col]) for col in _ID_COLUMNS}
    ids["to_edge"] = _renamed(ids["to_edge"], {"nan": "", "None": ""})
    for col in ("camera_id", "junction", "from_edge"):
        empty = (ids[col].categories == "")[ids[col].codes]
        found.flag("empty-id", empty, f"{col} is empty", col)

    # the arrays are this call's own: no copy, no consolidation into one block
    parsed = pd.DataFrame(
        {"row": found.rows.copy(), "interval_start": start, "interval_s": length, **ids, "count": count}, copy=False
    )
    for col in frame.columns:
        if col not in COUNT_COLUMNS and col != "row":
            parsed[col] = cells_as_text(frame[col]).to_numpy()
    if QUEUE_COLUMN in frame.columns:
        parsed[QUEUE_COLUMN] = _queue_lengths(_Cells(frame[QUEUE_COLUMN]), found)

    slot = _check_grid(parsed, start_cells, interval_s, origin, found)
    # one number per distinct (camera_id, junction, from_edge, to_edge), in order of first appearance
    place, place_first = _number_code_rows(tuple(ids[c].codes.astype(np.int32, copy=False) for c in _ID_COLUMNS))
    found.flag(
        "duplicate",
        _duplicated(place, len(place_first), start, slot),
        "duplicate (camera_id, interval_start, from_edge, to_edge): each camera counts a movement once per interval",
        "camera_id",
    )
    lanes = np.full(n, np.nan)
    if network is not None:
        place_problems, bad_place, lanes = check_places(parsed, found.rows, network, place=place, place_first=place_first)
        found.problems.extend(place_problems)
        found.bad |= bad_place
    if registry is not None:
        _check_registry(parsed, place, place_first, registry, lanes, found)
        if QUEUE_COLUMN in parsed and "range_m" in registry:  # how far each camera's queue reading reaches
            reach = registry.drop_duplicates("camera_id").set_index("camera_id")["range_m"]
            cams = parsed["camera_id"].cat
            parsed["range_m"] = cams.categories.map(reach).to_numpy(dtype=np.float64)[cams.codes]
    _check_plausible(count, length, lanes, max_lane_flow_vph, found)

    report = CountReport(source, n, tuple(found.problems), tuple(int(r) for r in found.rows[found.bad]))
    parsed["_bad"] = found.bad
    return report, parsed, origin


class _Cells:
    """One column of the file as read (typed, or text cells) and its cells as text on demand.

    A column of numpy floats or integers is parsed without text; its text, the cells as
    :func:`~citybrain.counts.files.cells_as_text` renders them, is made only for the rows a
    message quotes. Any other column is turned into text once and parsed from it.
    """

    def __init__(self, values: pd.Series) -> None:
        self.values = values
        self.numeric = isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiu"
        self._text = None if self.numeric else cells_as_text(values).astype(str).str.strip()

    def text(self, mask: np.ndarray | None = None) -> pd.Series:
        """The stripped text of every cell, or of the rows of ``mask``."""
        if self._text is not None:
            return self._text if mask is None else self._text[mask]
        values = self.values if mask is None else self.values[mask]
        return cells_as_text(values).astype(str).str.strip()

    def numbers(self) -> np.ndarray:
        """The cells as float64 numbers, NaN where a cell is not a number."""
        if self.numeric:
            return self.values.to_numpy(dtype=np.float64, copy=True)  # the caller's own array
        return pd.to_numeric(self._text, errors="coerce").to_numpy(dtype=np.float64)

    def blank(self) -> np.ndarray:
        """Cells that report no value: empty, NaN, NA, null or none (any case)."""
        if self.numeric:
            return np.isnan(self.values.to_numpy(dtype=np.float64))
        return self._text.str.lower().isin(["", "nan", "na", "null", "none"]).to_numpy()


def _id_cells(values: pd.Series) -> pd.Categorical:
    """An id column's stripped text as a categorical (each distinct text one category, no missing code)."""
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        values = values.astype("category")  # Arrow text: numbered by Arrow, then each distinct text stripped once
    if isinstance(values.dtype, pd.CategoricalDtype):
        categories = values.cat.categories
        if pd.api.types.infer_dtype(categories, skipna=False) == "string":  # text as it stands
            text = categories.to_series().str.strip().to_numpy(dtype=object)
        else:
            text = cells_as_text(pd.Series(categories.astype(object))).astype(str).str.strip().to_numpy(dtype=object)
        codes = values.cat.codes.to_numpy()
        first, uniq = pd.factorize(text)
        if len(codes) and codes.min() >= 0 and len(uniq) == len(text):  # already distinct texts, none missing
            return pd.Categorical.from_codes(codes, categories=pd.Index(text, dtype=object), validate=False)
        first, uniq = pd.factorize(np.append(text, "nan"))
        return pd.Categorical.from_codes(first[np.where(codes < 0, len(text), codes)], categories=pd.Index(uniq, dtype=object))
    first, uniq = pd.factorize(cells_as_text(values).astype(str).str.strip().to_numpy(dtype=object))
    return pd.Categorical.from_codes(first, categories=pd.Index(uniq, dtype=object))


def _renamed(cells: pd.Categorical, names: dict[str, str]) -> pd.Categorical:
    """The categorical with some texts replaced (categories merged where they meet)."""
    if not any(c in names for c in cells.categories):
        return cells
    text = np.array([names.get(c, c) for c in cells.categories], dtype=object)
    first, uniq = pd.factorize(text)
    return pd.Categorical.from_codes(first[cells.codes], categories=pd.Index(uniq, dtype=object))


def _text_column(values: pd.Series) -> pd.Series:
    """A categorical text column as a plain text column (Arrow strings), without a Python string per row."""
    import pyarrow as pa

    cells = values.cat
    words = pa.array(cells.categories.to_numpy(dtype=object), type=pa.large_string())
    return pd.Series(words.take(pa.array(cells.codes.to_numpy())), index=values.index, dtype="str")


def _duplicated(place: np.ndarray, n_places: int, start: np.ndarray, slot: np.ndarray) -> np.ndarray:
    """Rows with a finite start whose (place, interval_start) another row shares.

    Starts on the grid are told apart by their ``slot``, the others by value (``+ 0.0`` makes
    -0.0 and 0.0 one value).
    """
    when = slot.copy()
    off_grid = slot == -2
    if off_grid.any():
        other, _ = _number_code_rows(((start[off_grid] + 0.0).view(np.int64),))
        when[off_grid] = int(slot.max()) + 1 + other
    n_when = int(when.max()) + 1
    if n_when <= 0:
        return np.zeros(len(start), dtype=bool)
    if n_places * n_when <= max(2 * len(when), 1 << 20):  # a dense (place, start) table
        return _shared_rows(place, when, n_when, n_places)
    ok = when >= 0
    key, _ = _number_code_rows((place[ok], when[ok]))
    dup = np.zeros(len(start), dtype=bool)
    dup[ok] = np.bincount(key)[key] > 1
    return dup


def _interval_starts(cells: _Cells, found: _Findings) -> tuple[np.ndarray, pd.Timestamp | None]:
    """Parse ``interval_start``: seconds or ISO 8601 times, one kind per file (the kind most rows use).

    Returns the starts in seconds from the origin (NaN where bad) and the origin of ISO times.
    """
    n = len(cells.values)
    start_num = cells.numbers()
    origin: pd.Timestamp | None = None
    is_num = np.isfinite(start_num)
    if is_num.sum() >= n / 2:
        start = start_num
        found.flag(
            "bad-time",
            ~is_num,
            f"interval_start must be seconds (a number) like the other rows; got {examples(cells.text(~is_num))}",
            "interval_start",
        )
    else:
        start_text = cells.text()
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
        f"interval_start must be within {_MAX_START_S:.0e} s (about 30 years) of the time origin; got {examples(cells.text(too_far))}",
        "interval_start",
    )
    return np.where(too_far, np.nan, start), origin


def _interval_lengths(cells: _Cells, found: _Findings) -> tuple[np.ndarray, float]:
    """Parse ``interval_s``: positive, one length per file. Returns the lengths and the file's length (s)."""
    length = cells.numbers()
    good_len = np.isfinite(length) & (length > 0)
    if not good_len.any():
        found.unusable(
            "mistyped-column",
            f"interval_s must be a positive number of seconds; got {examples(cells.text())}",
            "interval_s",
        )
    found.flag(
        "bad-interval",
        ~good_len,
        f"interval_s must be a positive number of seconds; got {examples(cells.text(~good_len))}",
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


def _vehicle_counts(cells: _Cells, found: _Findings) -> np.ndarray:
    """Parse ``count``: numeric, not NaN, non-negative, whole. Returns the counts (NaN where unparsable)."""
    count = cells.numbers()
    blank = cells.blank()
    not_number = np.isnan(count) & ~blank
    if not_number.all():
        found.unusable(
            "mistyped-column",
            f"count must hold whole numbers of vehicles; got {examples(cells.text())}",
            "count",
        )
    found.flag("nan-count", blank, "count is missing (empty or NaN); expected a whole number of vehicles", "count")
    found.flag(
        "mistyped-count",
        not_number,
        f"count must be a number of vehicles; got {examples(cells.text(not_number))}",
        "count",
    )
    finite = np.isfinite(count)
    found.flag("infinite-count", np.isinf(count), "count is infinite; expected a whole number of vehicles", "count")
    neg = finite & (count < 0)
    found.flag("negative-count", neg, f"negative count; expected >= 0, got {examples(cells.text(neg))}", "count")
    frac = finite & (count != np.floor(count))
    found.flag(
        "non-integer-count",
        frac,
        f"non-integer count; expected a whole number of vehicles, got {examples(cells.text(frac))}",
        "count",
    )
    return count


def _queue_lengths(cells: _Cells, found: _Findings) -> np.ndarray:
    """Parse the optional ``queue_veh``: blank (not reported, NaN) or a finite number >= 0 (vehicles)."""
    queue = cells.numbers()
    blank = cells.blank()
    not_number = np.isnan(queue) & ~blank
    found.flag(
        "mistyped-queue",
        not_number,
        f"queue_veh must be a number of queued vehicles (or blank); got {examples(cells.text(not_number))}",
        QUEUE_COLUMN,
    )
    found.flag(
        "infinite-queue", np.isinf(queue), "queue_veh is infinite; expected a finite number of vehicles", QUEUE_COLUMN
    )
    neg = np.isfinite(queue) & (queue < 0)
    found.flag("negative-queue", neg, f"negative queue; expected >= 0, got {examples(cells.text(neg))}", QUEUE_COLUMN)
    return np.where(np.isfinite(queue) & (queue >= 0), queue, np.nan)


def _check_grid(
    parsed: pd.DataFrame, start_cells: _Cells, interval_s: float, origin: pd.Timestamp | None, found: _Findings
) -> np.ndarray:
    """Starts on the file's interval grid; no interval without counts, no camera missing an interval.

    Returns each row's slot on the grid (``-1``: no finite start, ``-2``: off the grid).
    """
    start = parsed["interval_start"].to_numpy(dtype=np.float64)
    t_ok = np.isfinite(start)
    if not t_ok.any():
        return np.full(len(start), -1, dtype=np.int64)
    t0 = float(np.min(start, where=t_ok, initial=np.inf))
    slot = _grid_slots(start, t0, float(interval_s), 1e-6)
    misaligned = slot == -2
    found.flag(
        "misaligned",
        misaligned,
        f"interval_start is not on the {interval_s:g} s grid that starts at the file's first interval "
        f"({_time_text(t0, origin)}); got {examples(start_cells.text(misaligned))}",
        "interval_start",
    )
    n_slots = int(slot.max()) + 1
    if n_slots <= 0:
        return slot
    cameras = parsed["camera_id"].cat
    names = cameras.categories.to_numpy(dtype=object)
    cam = cameras.codes.to_numpy().astype(np.int32, copy=False)  # one kernel signature for any number of cameras
    dense = len(names) * n_slots <= max(2 * len(cam), 1 << 20)
    if dense:
        seen = _camera_slots(cam, slot, len(names), n_slots)
        counted = seen.any(axis=0)
    else:
        counted = np.zeros(n_slots, dtype=bool)
        counted[slot[slot >= 0]] = True
    present = np.flatnonzero(counted)
    missing_slots = np.flatnonzero(~counted).tolist()
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
    # the slots each camera counted
    if dense:
        per_camera = seen[:, present].sum(axis=1)
        slots_of = lambda c: np.flatnonzero(seen[c])  # noqa: E731
    else:  # sparse: the sorted (camera, slot) pairs
        aligned = slot >= 0
        pairs = np.unique(cam[aligned].astype(np.int64) * n_slots + slot[aligned])
        per_camera = np.bincount(pairs // n_slots, minlength=len(names))
        bounds = np.searchsorted(pairs, np.arange(len(names) + 1) * n_slots)
        slots_of = lambda c: pairs[bounds[c] : bounds[c + 1]] - c * n_slots  # noqa: E731
    short = np.flatnonzero((per_camera > 0) & (per_camera < len(present)) & (names != ""))
    for c in sorted(short.tolist(), key=lambda c: names[c]):
        lack = np.setdiff1d(present, slots_of(c)).tolist()
        found.problems.append(
            Problem(
                "camera-gap",
                f"camera {names[c]!r} has no counts for {len(lack)} interval(s) starting "
                f"{_slot_list(lack, t0, interval_s, origin)} that other cameras counted",
                field="camera_id",
            )
        )
    return slot


def _time_text(t: float, origin: pd.Timestamp | None) -> str:
    if origin is None:
        return f"{t:g} s"
    return (origin + pd.Timedelta(seconds=t)).isoformat()


def _slot_list(slots: list[int], t0: float, interval_s: float, origin: pd.Timestamp | None) -> str:
    shown = ", ".join(_time_text(t0 + s * interval_s, origin) for s in slots[:8])
    return shown + (f" and {len(slots) - 8} more" if len(slots) > 8 else "")


def _check_registry(
    parsed: pd.DataFrame, place: np.ndarray, place_first: np.ndarray, registry: pd.DataFrame, lanes: np.ndarray, found: _Findings
) -> None:
    """Every camera in the registry, at its registered place and movement; fills ``lanes`` from it.

    Each distinct camera, and each distinct (camera, place), is looked up once.
    """
    reg_place = registry.drop_duplicates("camera_id").set_index("camera_id")
    reg_lanes = {
        (c, t): float(k) for c, t, k in registry[["camera_id", "to_edge", "lanes"]].itertuples(index=False, name=None)
    }
    cameras = parsed["camera_id"].cat
    cam = cameras.codes.to_numpy()
    names = cameras.categories.to_numpy(dtype=object)
    known = np.array([c in reg_place.index for c in names], dtype=bool)[cam]
    found.flag(
        "unknown-camera",
        ~known & (names != "")[cam],
        f"camera not in the registry: {examples(parsed['camera_id'][~known])}",
        "camera_id",
    )
    if not known.any():
        return
    for col in ("junction", "from_edge"):
        values = parsed[col].cat
        registered = reg_place[col].reindex(names).to_numpy(dtype=object)  # each camera's entry (NaN if unknown)
        differ = known & (values.categories.get_indexer(registered)[cam] != values.codes.to_numpy())
        found.flag("registry-mismatch", differ, f"{col} differs from the camera registry's entry for that camera", col)
    to_names = parsed["to_edge"].cat.categories.to_numpy(dtype=object)
    to_code = parsed["to_edge"].cat.codes.to_numpy()
    entries = [reg_lanes.get((names[cam[r]], to_names[to_code[r]])) for r in place_first]
    listed = np.array([e is not None for e in entries], dtype=bool)[place]
    unseen = known & ~listed
    lanes[known & listed] = np.array([np.nan if e is None else e for e in entries], dtype=np.float64)[place][known & listed]
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
