"""Camera counts: the count schema, readers, validation against a road network.

A count file (CSV or Parquet) holds one row per camera observation:

``interval_start``
    start of the counting interval: seconds from the scenario's begin (a number) or an
    ISO 8601 time (``2024-05-01T07:15:00``). One file uses one kind.
``interval_s``
    length of the interval (seconds), e.g. 300, 900 or 3600. One file uses one length.
``camera_id``
    the camera that counted.
``junction``
    SUMO junction (node) id the approach edge ends at (not the traffic-light id).
``from_edge``
    the approach edge (SUMO edge id).
``to_edge``
    the exit edge for a movement count; empty for an approach total.
``count``
    vehicles counted in the interval (a non-negative integer).

Extra columns are kept and ignored. A camera registry (``camera_id, junction, from_edge,
to_edge, lanes``) says what each camera sees; :func:`read_registry` reads one.

:func:`read_counts` reads and validates a file and returns a :class:`CountTable`. Validation
collects **every** problem (with the file row number: the header is row 1, the first data row
row 2) before it decides: in strict mode any problem raises one
:class:`~citybrain.exceptions.ValidationError` listing them all; in lenient mode the rows with
problems are dropped and the :class:`CountReport` travels with the table. Problems that make
the whole file unusable (unreadable, empty, missing or mistyped columns) always raise.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .exceptions import ValidationError
from .network import RoadNetwork

__all__ = [
    "COUNT_COLUMNS",
    "REGISTRY_COLUMNS",
    "Problem",
    "CountReport",
    "CountTable",
    "read_count_frame",
    "read_counts",
    "counts_from_frame",
    "validate_counts",
    "check_counts",
    "read_registry",
    "write_counts",
]

#: Columns every count file must have, in schema order.
COUNT_COLUMNS: tuple[str, ...] = (
    "interval_start",
    "interval_s",
    "camera_id",
    "junction",
    "from_edge",
    "to_edge",
    "count",
)
#: Columns of a camera registry.
REGISTRY_COLUMNS: tuple[str, ...] = ("camera_id", "junction", "from_edge", "to_edge", "lanes")

#: Problem codes that concern the whole file rather than rows (always unusable input).
FILE_CODES = frozenset({"unreadable", "empty", "missing-column", "mistyped-column"})

_MAX_LISTED_ROWS = 20


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem found in a count file.

    Attributes
    ----------
    code : str
        Short kind, e.g. ``"negative-count"``, ``"unknown-edge"``, ``"gap"``.
    message : str
        What is wrong, what was expected and what was received.
    rows : tuple of int
        File row numbers concerned (header = row 1); empty for file-level problems.
    field : str
        The column concerned, or ``""``.
    """

    code: str
    message: str
    rows: tuple[int, ...] = ()
    field: str = ""

    def format(self, source: str = "") -> str:
        """Return a one-line description: ``file: rows 4, 9 (field): message [code]``."""
        where = []
        if source:
            where.append(source)
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:_MAX_LISTED_ROWS])
            more = f" and {len(self.rows) - _MAX_LISTED_ROWS} more" if len(self.rows) > _MAX_LISTED_ROWS else ""
            word = "row" if len(self.rows) == 1 else "rows"
            where.append(f"{word} {shown}{more}")
        if self.field:
            where.append(f"field {self.field!r}")
        prefix = ": ".join([", ".join(where)]) if where else ""
        return f"{prefix}: {self.message} [{self.code}]" if prefix else f"{self.message} [{self.code}]"


@dataclass(frozen=True, slots=True)
class CountReport:
    """Every problem found in one count file.

    Attributes
    ----------
    source : str
        File name (or ``"<frame>"``).
    n_rows : int
        Data rows read.
    problems : tuple of Problem
        Every problem found, in the order of the checks.
    dropped_rows : tuple of int
        File row numbers dropped in lenient mode (rows with a row-level problem).
    """

    source: str
    n_rows: int
    problems: tuple[Problem, ...] = ()
    dropped_rows: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def unusable(self) -> bool:
        """True when a file-level problem makes the whole file unusable."""
        return any(p.code in FILE_CODES for p in self.problems)

    def lines(self) -> list[str]:
        """One line per problem, each naming the file, rows and field."""
        return [p.format(self.source) for p in self.problems]

    def format(self) -> str:
        """Return the full human-readable report."""
        if self.ok:
            return f"{self.source}: {self.n_rows} rows, no problems."
        head = f"{self.source}: {self.n_rows} rows, {len(self.problems)} problem(s):"
        return "\n".join([head, *("  " + line for line in self.lines())])

    def to_dict(self) -> dict:
        """Return the report as JSON-ready data."""
        return {
            "source": self.source,
            "rows": self.n_rows,
            "ok": self.ok,
            "dropped_rows": list(self.dropped_rows),
            "problems": [
                {"code": p.code, "field": p.field, "rows": list(p.rows), "message": p.message} for p in self.problems
            ],
        }


@dataclass(frozen=True)
class CountTable:
    """Validated camera counts.

    Attributes
    ----------
    frame : pandas.DataFrame
        One row per observation with the schema columns (``interval_start`` and
        ``interval_s`` as float seconds from ``origin``; ``to_edge`` ``""`` for an approach
        total; ``count`` float) plus ``row`` (the file row number) and any extra columns.
    origin : pandas.Timestamp or None
        The time of second 0 when the file used ISO 8601 times, else ``None``.
    interval_s : float
        The (single) interval length of the file, seconds.
    report : CountReport
        The validation report (non-empty only in lenient mode).
    """

    frame: pd.DataFrame
    origin: pd.Timestamp | None
    interval_s: float
    report: CountReport = field(default_factory=lambda: CountReport("<frame>", 0))

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def intervals(self) -> np.ndarray:
        """Sorted distinct interval starts (seconds from ``origin``)."""
        return np.unique(self.frame["interval_start"].to_numpy(dtype=np.float64))


# -- reading ----------------------------------------------------------------------------
#: Largest |interval_start| (seconds) accepted; beyond it a start is reported as a bad time.
_MAX_START_S = 1e9

def read_count_frame(path: str | Path) -> pd.DataFrame:
    """Read a count or registry file (CSV or Parquet) as strings, without validating it.

    Every column is read as text (``""`` for empty cells) so that validation can report
    mistyped values by row.

    Raises
    ------
    ValidationError
        If the file is missing, unreadable or has no rows.
    """
    path = Path(path)
    if not path.exists() or path.is_dir():
        msg = f"{path}: no such file."
        raise ValidationError(msg)
    suffix = "".join(path.suffixes[-2:]).lower()
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            frame = _read_parquet(path)
        else:
            frame = pd.read_csv(
                path,
                dtype=str,
                keep_default_na=False,
                skipinitialspace=True,
                compression="infer",
            )
    except ValidationError:
        raise
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError, ValueError) as exc:
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"{path}: cannot read as {'Parquet' if 'parquet' in suffix else 'CSV'}: {detail}."
        raise ValidationError(msg) from exc
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    try:
        import pyarrow  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from .exceptions import BackendUnavailableError

        msg = f"{path}: reading Parquet needs pyarrow. Install it with: pip install 'pyarrow==23.*'"
        raise BackendUnavailableError(msg) from exc
    frame = pd.read_parquet(path)
    out = pd.DataFrame(index=frame.index)
    for col in frame.columns:
        values = frame[col]
        if pd.api.types.is_datetime64_any_dtype(values):
            text = values.dt.strftime("%Y-%m-%dT%H:%M:%S")
        else:
            text = _cells_as_text(values)
        out[str(col)] = text.fillna("").astype(str)
    return out


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return repr(value)
    return str(value)


def _cells_as_text(values: pd.Series) -> pd.Series:
    """Every cell as the text :func:`_cell_text` gives it, vectorised for typed columns."""
    if pd.api.types.is_float_dtype(values.dtype) and isinstance(values.dtype, np.dtype):
        return pd.Series(values.to_numpy().astype(str), index=values.index, dtype=object)  # numpy's repr text
    if (pd.api.types.is_integer_dtype(values.dtype) or pd.api.types.is_bool_dtype(values.dtype)) and isinstance(
        values.dtype, np.dtype
    ):
        return pd.Series(values.to_numpy().astype(str), index=values.index, dtype=object)
    if pd.api.types.is_string_dtype(values.dtype) and not pd.api.types.is_object_dtype(values.dtype):
        return values.fillna("nan")  # a missing text cell reads as NaN, as _cell_text renders it
    return values.astype(object).map(_cell_text)


def read_registry(path: str | Path, network: RoadNetwork | None = None) -> pd.DataFrame:
    """Read a camera registry (``camera_id, junction, from_edge, to_edge, lanes``).

    ``lanes`` is the number of lanes the camera watches, or their space-separated SUMO lane
    ids (as the twin writes them); it is returned as the number.

    Parameters
    ----------
    path
        CSV or Parquet file.
    network
        When given, junctions, edges and movements are checked against it.

    Returns
    -------
    pandas.DataFrame
        One row per camera, ``to_edge`` ``""`` for an approach camera, ``lanes`` int.

    Raises
    ------
    ValidationError
        Listing every problem (missing columns, duplicate cameras, bad lane numbers,
        unknown junctions or edges), each with its row number.
    """
    frame = read_count_frame(path)
    source = str(path)
    problems: list[Problem] = []
    missing = [c for c in REGISTRY_COLUMNS if c not in frame.columns]
    if missing:
        problems.append(
            Problem(
                "missing-column",
                f"missing column(s) {', '.join(missing)}; a registry needs {', '.join(REGISTRY_COLUMNS)} "
                f"(found {', '.join(frame.columns) or 'none'})",
            )
        )
        _raise(source, problems, len(frame))
    rows = np.arange(len(frame)) + 2
    frame = frame.copy()
    for col in ("camera_id", "junction", "from_edge", "to_edge"):
        frame[col] = frame[col].astype(str).str.strip()
    lane_text = frame["lanes"].astype(str).str.strip()
    lanes = pd.to_numeric(lane_text, errors="coerce")
    as_ids = lanes.isna() & (lane_text != "") & (lane_text.str.lower() != "nan")
    lanes[as_ids] = lane_text[as_ids].str.split().map(len)
    bad = ~(lanes.notna() & (lanes >= 1) & (lanes == np.floor(lanes)))
    if bad.any():
        problems.append(
            Problem(
                "bad-lanes",
                "lanes must be a whole number >= 1 or the space-separated lane ids; "
                f"got {_examples(frame['lanes'][bad])}",
                tuple(rows[bad.to_numpy()]),
                "lanes",
            )
        )
    dup = frame[["camera_id", "to_edge"]].duplicated(keep=False)
    if dup.any():
        problems.append(
            Problem(
                "duplicate-camera",
                f"(camera_id, to_edge) listed more than once: {_examples(frame['camera_id'][dup])}",
                tuple(rows[dup.to_numpy()]),
                "camera_id",
            )
        )
    places = frame.groupby("camera_id")[["junction", "from_edge"]].nunique()
    split = places[(places["junction"] > 1) | (places["from_edge"] > 1)].index
    if len(split):
        mask = frame["camera_id"].isin(split).to_numpy()
        problems.append(
            Problem(
                "camera-places",
                f"a camera watches one approach (junction, from_edge); these list several: {_examples(pd.Series(split))}",
                tuple(rows[mask]),
                "camera_id",
            )
        )
    empty = frame["camera_id"] == ""
    if empty.any():
        problems.append(Problem("empty-id", "camera_id is empty", tuple(rows[empty.to_numpy()]), "camera_id"))
    if network is not None:
        problems.extend(_check_places(frame, rows, network))
    if problems:
        _raise(source, problems, len(frame))
    frame["lanes"] = lanes.astype(np.int64)
    return frame[list(REGISTRY_COLUMNS) + [c for c in frame.columns if c not in REGISTRY_COLUMNS]]


def _raise(source: str, problems: list[Problem], n_rows: int) -> None:
    report = CountReport(source, n_rows, tuple(problems))
    msg = report.format()
    raise ValidationError(msg, report.lines())


def _examples(values: pd.Series, limit: int = 5) -> str:
    uniq = list(dict.fromkeys(str(v) for v in values))
    shown = ", ".join(repr(v) for v in uniq[:limit])
    return shown + (f" and {len(uniq) - limit} more" if len(uniq) > limit else "")


# -- validation --------------------------------------------------------------------------
def validate_counts(
    frame: pd.DataFrame,
    network: RoadNetwork | None = None,
    *,
    registry: pd.DataFrame | None = None,
    source: str = "<frame>",
    sat_flow_per_lane_vph: float = 2000.0,
) -> tuple[CountReport, pd.DataFrame, pd.Timestamp | None]:
    """Check a raw count frame (strings) and return the report and the parsed frame.

    Parameters
    ----------
    frame
        The file's cells as read by :func:`read_count_frame` (or any frame with the schema
        columns).
    network
        Road network to check junctions, edges and movements against; ``None`` skips those
        checks.
    registry
        Camera registry (from :func:`read_registry`); counts whose camera is missing from it
        or that disagree with it are reported, and its ``lanes`` bound the plausibility check.
    source
        Name used in messages.
    sat_flow_per_lane_vph
        Highest plausible flow per lane (veh/h); a count above ``lanes x`` this for its
        interval is reported as implausible.

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
    problems: list[Problem] = []
    if n == 0:
        problems.append(Problem("empty", "the file has a header but no data rows"))
        return CountReport(source, 0, tuple(problems)), pd.DataFrame(), None
    missing = [c for c in COUNT_COLUMNS if c not in frame.columns]
    if missing:
        problems.append(
            Problem(
                "missing-column",
                f"missing column(s) {', '.join(missing)}; a count file needs {', '.join(COUNT_COLUMNS)} "
                f"(found {', '.join(map(str, frame.columns))})",
            )
        )
        return CountReport(source, n, tuple(problems)), pd.DataFrame(), None

    rows = np.arange(n, dtype=np.int64) + 2
    bad_rows = np.zeros(n, dtype=bool)
    text = {c: frame[c].astype(str).str.strip() for c in COUNT_COLUMNS}

    def flag(code: str, mask: np.ndarray, message: str, fld: str, *, row_level: bool = True) -> None:
        if mask.any():
            problems.append(Problem(code, message, tuple(int(r) for r in rows[mask]), fld))
            if row_level:
                bad_rows[mask] = True

    # ---- interval_start: numbers or ISO 8601 times, one kind per file
    start_text = text["interval_start"]
    start_num = pd.to_numeric(start_text, errors="coerce").to_numpy(dtype=np.float64)
    origin: pd.Timestamp | None = None
    is_num = np.isfinite(start_num)
    if is_num.sum() >= n / 2:
        start = start_num
        flag(
            "bad-time",
            ~is_num,
            f"interval_start must be seconds (a number) like the other rows; got {_examples(start_text[~is_num])}",
            "interval_start",
        )
    else:
        stamps = pd.to_datetime(start_text, errors="coerce", format="ISO8601", utc=False)
        ok = stamps.notna().to_numpy()
        if ok.sum() == 0:
            problems.append(
                Problem(
                    "mistyped-column",
                    f"interval_start must hold seconds or ISO 8601 times; got {_examples(start_text)}",
                    field="interval_start",
                )
            )
            return CountReport(source, n, tuple(problems)), pd.DataFrame(), None
        try:
            origin = stamps[ok].min()
            start = np.full(n, np.nan)
            start[ok] = (stamps[ok] - origin).dt.total_seconds().to_numpy()
        except (TypeError, ValueError):
            problems.append(
                Problem(
                    "mistyped-column",
                    "interval_start mixes time zones; use one time zone (or none) for the whole file",
                    field="interval_start",
                )
            )
            return CountReport(source, n, tuple(problems)), pd.DataFrame(), None
        flag(
            "bad-time",
            ~ok,
            f"interval_start must be an ISO 8601 time like the other rows; got {_examples(start_text[~ok])}",
            "interval_start",
        )

    # beyond ~30 years of seconds a start is an entry error (and would overflow the slot arithmetic)
    too_far = np.isfinite(start) & (np.abs(start) > _MAX_START_S)
    flag(
        "bad-time",
        too_far,
        f"interval_start must be within {_MAX_START_S:.0e} s (about 30 years) of the time origin; got {_examples(start_text[too_far])}",
        "interval_start",
    )
    start = np.where(too_far, np.nan, start)

    # ---- interval_s: positive, one length per file
    length = pd.to_numeric(text["interval_s"], errors="coerce").to_numpy(dtype=np.float64)
    good_len = np.isfinite(length) & (length > 0)
    if not good_len.any():
        problems.append(
            Problem(
                "mistyped-column",
                f"interval_s must be a positive number of seconds; got {_examples(text['interval_s'])}",
                field="interval_s",
            )
        )
        return CountReport(source, n, tuple(problems)), pd.DataFrame(), None
    flag(
        "bad-interval",
        ~good_len,
        f"interval_s must be a positive number of seconds; got {_examples(text['interval_s'][~good_len])}",
        "interval_s",
    )
    values, freq = np.unique(length[good_len], return_counts=True)
    interval_s = float(values[np.argmax(freq)])
    if len(values) > 1:
        other = good_len & (length != interval_s)
        flag(
            "mixed-interval",
            other,
            f"interval_s must be the same on every row; most rows have {interval_s:g} s, "
            f"these have {_examples(pd.Series(length[other]).map(lambda v: f'{v:g}'))}",
            "interval_s",
        )

    # ---- count: numeric, not NaN, non-negative, whole
    count_text = text["count"]
    count = pd.to_numeric(count_text, errors="coerce").to_numpy(dtype=np.float64)
    blank = count_text.str.lower().isin(["", "nan", "na", "null", "none"]).to_numpy()
    not_number = np.isnan(count) & ~blank
    if not_number.all():
        problems.append(
            Problem(
                "mistyped-column",
                f"count must hold whole numbers of vehicles; got {_examples(count_text)}",
                field="count",
            )
        )
        return CountReport(source, n, tuple(problems)), pd.DataFrame(), None
    flag("nan-count", blank, "count is missing (empty or NaN); expected a whole number of vehicles", "count")
    flag(
        "mistyped-count",
        not_number,
        f"count must be a number of vehicles; got {_examples(count_text[not_number])}",
        "count",
    )
    finite = np.isfinite(count)
    flag("infinite-count", np.isinf(count), "count is infinite; expected a whole number of vehicles", "count")
    neg = finite & (count < 0)
    flag("negative-count", neg, f"negative count; expected >= 0, got {_examples(count_text[neg])}", "count")
    frac = finite & (count != np.floor(count))
    flag(
        "non-integer-count",
        frac,
        f"non-integer count; expected a whole number of vehicles, got {_examples(count_text[frac])}",
        "count",
    )

    # ---- ids
    for col in ("camera_id", "junction", "from_edge"):
        flag("empty-id", (text[col] == "").to_numpy(), f"{col} is empty", col)

    parsed = pd.DataFrame(
        {
            "row": rows,
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

    # ---- alignment and gaps
    t_ok = np.isfinite(start)
    if t_ok.any():
        t0 = float(np.min(start[t_ok]))
        with np.errstate(invalid="ignore"):  # inf / NaN starts are reported elsewhere
            phase = np.mod(start - t0, interval_s)
        misaligned = t_ok & (np.minimum(phase, interval_s - phase) > 1e-6)
        flag(
            "misaligned",
            misaligned,
            f"interval_start is not on the {interval_s:g} s grid that starts at the file's first interval "
            f"({_time_text(t0, origin)}); got {_examples(start_text[misaligned])}",
            "interval_start",
        )
        aligned = t_ok & ~misaligned
        slot = np.full(n, -1, dtype=np.int64)
        slot[aligned] = np.rint((start[aligned] - t0) / interval_s).astype(np.int64)
        if aligned.any():
            n_slots = int(slot.max()) + 1
            all_slots = set(range(n_slots))
            present = set(np.unique(slot[aligned]).tolist())
            missing_slots = sorted(all_slots - present)
            if missing_slots:
                problems.append(
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
                if not cam:
                    continue
                lack = sorted(present - slots)
                if lack:
                    problems.append(
                        Problem(
                            "camera-gap",
                            f"camera {cam!r} has no counts for {len(lack)} interval(s) starting "
                            f"{_slot_list(lack, t0, interval_s, origin)} that other cameras counted",
                            field="camera_id",
                        )
                    )

    # ---- duplicates
    key = parsed[["camera_id", "interval_start", "from_edge", "to_edge"]]
    dup = key.duplicated(keep=False).to_numpy() & t_ok
    flag(
        "duplicate",
        dup,
        "duplicate (camera_id, interval_start, from_edge, to_edge): each camera counts a movement once per interval",
        "camera_id",
    )

    # ---- network
    lanes = np.full(n, np.nan)
    if network is not None:
        place_problems, bad_place, lanes = _check_places_rows(parsed, rows, network)
        problems.extend(place_problems)
        bad_rows |= bad_place

    # ---- registry
    if registry is not None:
        reg_place = registry.drop_duplicates("camera_id").set_index("camera_id")
        reg_lanes = {
            (c, t): float(n)
            for c, t, n in registry[["camera_id", "to_edge", "lanes"]].itertuples(index=False, name=None)
        }
        cams = parsed["camera_id"].to_numpy(dtype=object)
        tos = parsed["to_edge"].to_numpy(dtype=object)
        known = np.array([c in reg_place.index for c in cams], dtype=bool)
        flag(
            "unknown-camera",
            ~known & (parsed["camera_id"] != "").to_numpy(),
            f"camera not in the registry: {_examples(parsed['camera_id'][~known])}",
            "camera_id",
        )
        if known.any():
            idx = np.flatnonzero(known)
            sub = reg_place.loc[cams[idx]]
            for col in ("junction", "from_edge"):
                differ = np.zeros(n, dtype=bool)
                differ[idx] = sub[col].to_numpy(dtype=object) != parsed[col].to_numpy(dtype=object)[idx]
                flag(
                    "registry-mismatch",
                    differ,
                    f"{col} differs from the camera registry's entry for that camera",
                    col,
                )
            unseen = np.zeros(n, dtype=bool)
            for i in idx:
                value = reg_lanes.get((cams[i], tos[i]))
                if value is None:
                    unseen[i] = True
                else:
                    lanes[i] = value
            flag(
                "registry-mismatch",
                unseen,
                "the registry does not list this movement (to_edge) for that camera",
                "to_edge",
            )

    # ---- plausibility: above saturation flow for the lanes seen
    with np.errstate(invalid="ignore"):
        cap = lanes * sat_flow_per_lane_vph * length / 3600.0
        high = np.isfinite(count) & np.isfinite(cap) & good_len & (count > cap)
    if high.any():
        examples = ", ".join(
            f"row {rows[i]}: {count[i]:g} > {cap[i]:.0f} ({lanes[i]:g} lane(s))" for i in np.flatnonzero(high)[:5]
        )
        flag(
            "implausible-count",
            high,
            f"count above saturation flow ({sat_flow_per_lane_vph:g} veh/h per lane over the interval): {examples}",
            "count",
        )

    report = CountReport(source, n, tuple(problems), tuple(int(r) for r in rows[bad_rows]))
    parsed["_bad"] = bad_rows
    return report, parsed, origin


def _time_text(t: float, origin: pd.Timestamp | None) -> str:
    if origin is None:
        return f"{t:g} s"
    return (origin + pd.Timedelta(seconds=t)).isoformat()


def _slot_list(slots: list[int], t0: float, interval_s: float, origin) -> str:
    shown = ", ".join(_time_text(t0 + s * interval_s, origin) for s in slots[:8])
    return shown + (f" and {len(slots) - 8} more" if len(slots) > 8 else "")


def _check_places_rows(parsed: pd.DataFrame, rows: np.ndarray, network: RoadNetwork):
    """Junction/edge/movement checks per row; return problems, bad-row mask and lanes seen."""
    n = len(parsed)
    problems: list[Problem] = []
    bad = np.zeros(n, dtype=bool)
    nodes = network.graph.nodes
    edges = network.edges
    approach_lanes: dict[tuple[str, str], set[str]] = defaultdict(set)
    movement_lanes: dict[tuple[str, str, str], int] = {}
    for m in network.movements:
        if m.turn == "crossing":
            continue
        approach_lanes[(m.junction, m.from_edge)].update(m.from_lanes)
        movement_lanes[(m.junction, m.from_edge, m.to_edge)] = len(m.from_lanes)

    # check each distinct (junction, from_edge, to_edge) once, in order of first appearance
    code = np.zeros(n, dtype=np.int64)
    for col in ("junction", "from_edge", "to_edge"):
        c, uniq = pd.factorize(parsed[col], sort=False)
        code, _ = pd.factorize(code * max(len(uniq), 1) + c, sort=False)  # renumbered: no overflow
    code = np.asarray(code, dtype=np.int64)
    first = np.flatnonzero(np.diff(np.maximum.accumulate(code), prepend=-1) > 0) if n else np.zeros(0, np.int64)
    junction = parsed["junction"].to_numpy(dtype=object)[first]
    frm = parsed["from_edge"].to_numpy(dtype=object)[first]
    to = parsed["to_edge"].to_numpy(dtype=object)[first]
    codes = ("unknown-junction", "unknown-from-edge", "unknown-to-edge", "not-an-approach", "not-a-movement")
    kind = np.full(len(first), -1, dtype=np.int64)
    key_lanes = np.full(len(first), np.nan)
    values: dict[str, list[str]] = defaultdict(list)
    for u in range(len(first)):
        j, f, t = junction[u], frm[u], to[u]
        if not j or not f:
            continue
        if j not in nodes:
            kind[u], value = 0, j
        elif f not in edges:
            kind[u], value = 1, f
        elif t and t not in edges:
            kind[u], value = 2, t
        elif (j, f) not in approach_lanes:
            kind[u], value = 3, f"{f} at {j} (it ends at {edges[f]['to']})"
        elif t and (j, f, t) not in movement_lanes:
            kind[u], value = 4, f"{j}: {f} -> {t}"
        else:
            key_lanes[u] = movement_lanes[(j, f, t)] if t else len(approach_lanes[(j, f)])
            continue
        values[codes[kind[u]]].append(value)
    lanes = key_lanes[code]
    row_kind = kind[code]
    groups = {c: np.flatnonzero(row_kind == k) for k, c in enumerate(codes) if values.get(c)}
    text = {
        "unknown-junction": ("junction", "unknown junction id (not a node of the network)"),
        "unknown-from-edge": ("from_edge", "unknown from_edge (not an edge of the network)"),
        "unknown-to-edge": ("to_edge", "unknown to_edge (not an edge of the network)"),
        "not-an-approach": ("from_edge", "from_edge does not carry vehicles into that junction"),
        "not-a-movement": ("to_edge", "from_edge -> to_edge is not a movement of that junction"),
    }
    for code, idx in groups.items():
        fld, what = text[code]
        mask = np.zeros(n, dtype=bool)
        mask[idx] = True
        problems.append(Problem(code, f"{what}: {_examples(pd.Series(values[code]))}", tuple(int(r) for r in rows[mask]), fld))
        bad |= mask
    return problems, bad, lanes


def _check_places(frame: pd.DataFrame, rows: np.ndarray, network: RoadNetwork) -> list[Problem]:
    problems, _, _ = _check_places_rows(frame, rows, network)
    return problems


# -- public front ------------------------------------------------------------------------
def counts_from_frame(
    frame: pd.DataFrame,
    network: RoadNetwork | None = None,
    *,
    strict: bool = True,
    registry: pd.DataFrame | None = None,
    source: str = "<frame>",
    sat_flow_per_lane_vph: float = 2000.0,
) -> CountTable:
    """Validate a count frame and return a :class:`CountTable`.

    Parameters
    ----------
    frame
        A frame with the schema columns (values may be text or numbers).
    network, registry, source, sat_flow_per_lane_vph
        As in :func:`validate_counts`.
    strict
        Raise on any problem (``True``), or drop the rows with problems and keep the report
        (``False``).

    Returns
    -------
    CountTable

    Raises
    ------
    ValidationError
        With every problem listed: in strict mode for any problem, in lenient mode when the
        file is unusable as a whole (empty, missing or mistyped columns) or no row survives.
    """
    raw = frame.copy()
    for col in raw.columns:
        raw[col] = _cells_as_text(raw[col])
    report, parsed, origin = validate_counts(
        raw, network, registry=registry, source=source, sat_flow_per_lane_vph=sat_flow_per_lane_vph
    )
    if report.unusable or (strict and not report.ok):
        _raise(source, list(report.problems), report.n_rows)
    keep = ~parsed.pop("_bad").to_numpy()
    if not keep.any():
        msg = report.format() + "\nNo usable row is left."
        raise ValidationError(msg, report.lines())
    table = parsed[keep].reset_index(drop=True)
    values, freq = np.unique(table["interval_s"].to_numpy(), return_counts=True)
    return CountTable(frame=table, origin=origin, interval_s=float(values[np.argmax(freq)]), report=report)


def read_counts(
    path: str | Path,
    network: RoadNetwork | None = None,
    *,
    strict: bool = True,
    registry: pd.DataFrame | str | Path | None = None,
    sat_flow_per_lane_vph: float = 2000.0,
) -> CountTable:
    """Read a count file (CSV or Parquet), validate it and return a :class:`CountTable`.

    Parameters
    ----------
    path
        ``.csv`` (optionally compressed) or ``.parquet`` file in the count schema.
    network
        Road network to check ids and movements against (recommended).
    strict
        ``True`` (default): any problem raises. ``False``: rows with problems are dropped and
        the report is kept in ``CountTable.report``.
    registry
        Camera registry frame or file.
    sat_flow_per_lane_vph
        Highest plausible flow per lane (veh/h) for the plausibility check.

    Returns
    -------
    CountTable

    Raises
    ------
    ValidationError
        Listing every problem with file row numbers (see :func:`counts_from_frame`).
    """
    if registry is not None and not isinstance(registry, pd.DataFrame):
        registry = read_registry(registry, network)
    frame = read_count_frame(path)
    return counts_from_frame(
        frame,
        network,
        strict=strict,
        registry=registry,
        source=str(path),
        sat_flow_per_lane_vph=sat_flow_per_lane_vph,
    )


def check_counts(
    path: str | Path,
    network: RoadNetwork | None = None,
    *,
    registry: pd.DataFrame | str | Path | None = None,
    sat_flow_per_lane_vph: float = 2000.0,
) -> CountReport:
    """Return the full validation report of a count file without raising for row problems.

    Raises
    ------
    ValidationError
        Only when the file (or the registry) cannot be read at all.
    """
    if registry is not None and not isinstance(registry, pd.DataFrame):
        registry = read_registry(registry, network)
    frame = read_count_frame(path)
    report, _, _ = validate_counts(
        frame, network, registry=registry, source=str(path), sat_flow_per_lane_vph=sat_flow_per_lane_vph
    )
    return report


def write_counts(table: CountTable | pd.DataFrame, path: str | Path) -> Path:
    """Write counts in the count schema to CSV or Parquet (by the file suffix).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    path = Path(path)
    frame = table.frame if isinstance(table, CountTable) else table
    out = frame[list(COUNT_COLUMNS)].copy()
    if isinstance(table, CountTable) and table.origin is not None:
        out["interval_start"] = [
            (table.origin + pd.Timedelta(seconds=float(s))).isoformat() for s in out["interval_start"]
        ]
    if path.suffix.lower() in (".parquet", ".pq"):
        out.to_parquet(path, index=False)
    else:
        out.to_csv(path, index=False)
    return path
