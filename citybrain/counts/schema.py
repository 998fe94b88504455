"""The count schema: columns of count files and camera registries, problems, reports, tables.

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
``queue_veh`` (optional)
    vehicles queued on the approach at the interval's end, up to the camera's range
    (registry ``range_m``, default :data:`DEFAULT_CAMERA_RANGE_M`); blank when not reported.

Extra columns are kept and ignored. A camera registry (``camera_id, junction, from_edge,
to_edge, lanes``) says what each camera sees.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..exceptions import ValidationError

__all__ = [
    "COUNT_COLUMNS",
    "QUEUE_COLUMN",
    "DEFAULT_CAMERA_RANGE_M",
    "REGISTRY_COLUMNS",
    "FILE_CODES",
    "Problem",
    "CountReport",
    "CountTable",
    "missing_columns",
    "raise_problems",
    "examples",
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
#: Optional column of count rows: vehicles queued on the approach at the interval's end.
QUEUE_COLUMN = "queue_veh"
#: How far back from the stop line a camera sees a queue (metres) when the registry has no ``range_m``.
DEFAULT_CAMERA_RANGE_M = 100.0
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


def missing_columns(frame: pd.DataFrame, columns: tuple[str, ...], what: str) -> Problem | None:
    """Return the ``missing-column`` problem of a frame that lacks any of ``columns``, else None.

    ``what`` names the kind of file in the message (``"a count file"``, ``"a registry"``).
    """
    missing = [c for c in columns if c not in frame.columns]
    if not missing:
        return None
    return Problem(
        "missing-column",
        f"missing column(s) {', '.join(missing)}; {what} needs {', '.join(columns)} "
        f"(found {', '.join(map(str, frame.columns)) or 'none'})",
    )


def raise_problems(source: str, problems: list[Problem], n_rows: int, *, note: str = "") -> None:
    """Raise one :class:`ValidationError` with the report of ``problems`` (and a last ``note`` line).

    Raises
    ------
    ValidationError
        Always; its ``problems`` are the report's lines.
    """
    report = CountReport(source, n_rows, tuple(problems))
    msg = report.format() + (f"\n{note}" if note else "")
    raise ValidationError(msg, report.lines())


def examples(values: pd.Series, limit: int = 5) -> str:
    """Quote the distinct values of ``values`` for a message: ``'a', 'b' and 3 more``."""
    uniq = list(dict.fromkeys(str(v) for v in pd.Series(values).unique()))
    shown = ", ".join(repr(v) for v in uniq[:limit])
    return shown + (f" and {len(uniq) - limit} more" if len(uniq) > limit else "")
