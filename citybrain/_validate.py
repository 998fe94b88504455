"""Read dict-shaped input (TOML tables, JSON objects) field by field, collecting every problem.

Scenario files, plan JSON, conflict overrides and camera registries are all dicts of fields with
a type and a range. :class:`Fields` reads one such dict: each accessor returns the value or a
default and records a problem naming the field's place (``plan.json: periods[0].plans[2].tls``)
and what was expected, so a reader reports every problem at once and raises one
:class:`~citybrain.exceptions.ValidationError` at the end (:meth:`Problems.raise_if_any`).

Examples
--------
>>> problems = Problems("demo.toml")
>>> table = Fields({"end_s": "soon", "extra": 1}, "demo.toml", problems)
>>> table.unknown({"end_s"})
>>> table.number("end_s", required=True) is None
True
>>> problems.messages
["demo.toml: 'extra': unknown key (expected one of ['end_s'])", "demo.toml: 'end_s': must be a number, got 'soon'"]
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from .exceptions import ValidationError

__all__ = ["Problems", "Fields", "read_json"]


def read_json(path: str | Path, what: str) -> object:
    """The JSON value in a file; ``what`` names the file's kind in the error ("plan file").

    Raises
    ------
    ValidationError
        If the file cannot be read or is not JSON, naming the file and the reason.
    """
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path}: not a readable JSON {what} ({exc})."
        raise ValidationError(msg) from exc


class Problems:
    """Every problem found in one input, in the order found."""

    def __init__(self, source: object) -> None:
        self.source = str(source)
        self.messages: list[str] = []

    def add(self, message: str) -> None:
        """Record one problem (the message already names its place)."""
        self.messages.append(message)

    def __bool__(self) -> bool:
        return bool(self.messages)

    def raise_if_any(self, what: str) -> None:
        """Raise one :class:`ValidationError` listing every problem, if there is any.

        ``what`` names the input in the message: ``"scenario"`` gives "demo.toml: 2 problem(s) in
        the scenario:" followed by one problem per line.
        """
        if self.messages:
            head = f"{self.source}: {len(self.messages)} problem(s) in the {what}:"
            raise ValidationError("\n  ".join([head, *self.messages]), self.messages)


class Fields:
    """One dict-shaped value read field by field; a bad field is recorded, never raised.

    Parameters
    ----------
    data
        The value read from the file. Anything but a dict is recorded as a problem and read as
        an empty dict.
    where
        Its place, the prefix of every message (``"plan.json: periods[0]"``).
    problems
        Where the problems go.
    """

    def __init__(self, data: object, where: str, problems: Problems) -> None:
        self.where = where
        self.problems = problems
        if isinstance(data, dict):
            self.data: dict[str, Any] = data
        else:
            problems.add(f"{where}: expected a table of fields, got {data!r}")
            self.data = {}

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def place(self, key: str) -> str:
        """The place of one field, for messages."""
        return f"{self.where}: {key!r}"

    def problem(self, key: str, message: str) -> None:
        """Record a problem with one field."""
        self.problems.add(f"{self.place(key)}: {message}")

    def unknown(self, allowed: Collection[str]) -> None:
        """Record every key that is not in ``allowed``."""
        for key in sorted(set(self.data) - set(allowed)):
            self.problem(key, f"unknown key (expected one of {sorted(allowed)})")

    def _missing(self, key: str, required: bool, expected: str) -> bool:
        if key in self.data:
            return False
        if required:
            self.problem(key, f"required ({expected})")
        return True

    def number(self, key: str, default: float | None = None, *, required: bool = False,
               low: float | None = None, high: float | None = None, what: str = "a number") -> float | None:
        """A real number in ``[low, high]``, as float; ``default`` when absent or bad."""
        if self._missing(key, required, what):
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            self.problem(key, f"must be {what}, got {value!r}")
            return default
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"[{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
            self.problem(key, f"must be in {bounds}, got {value!r}")
            return default
        return float(value)

    def integer(self, key: str, default: int | None = None, *, required: bool = False,
                low: int | None = None) -> int | None:
        """A whole number of at least ``low``; ``default`` when absent or bad."""
        if self._missing(key, required, "a whole number"):
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low):
            floor = "" if low is None else f" >= {low}"
            self.problem(key, f"must be a whole number{floor}, got {value!r}")
            return default
        return value

    def string(self, key: str, default: str | None = None, *, required: bool = False,
               choices: Collection[str] | None = None) -> str | None:
        """A non-empty string (one of ``choices`` when given); ``default`` when absent or bad."""
        expected = f"one of {sorted(choices)}" if choices is not None else "a non-empty string"
        if self._missing(key, required, expected):
            return default
        value = self.data[key]
        if not isinstance(value, str) or not value or (choices is not None and value not in choices):
            self.problem(key, f"must be {expected}, got {value!r}")
            return default
        return value

    def strings(self, key: str, *, required: bool = False) -> list[str]:
        """A list of strings (a lone string counts as a list of one); empty when absent or bad."""
        if self._missing(key, required, "a list of strings"):
            return []
        value = self.data[key]
        if isinstance(value, str):
            return [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, f"must be a list of strings, got {value!r}")
            return []
        return list(value)

    def items(self, key: str, *, required: bool = False, non_empty: bool = False) -> list[Any]:
        """A list, as it is; empty when absent or not a list."""
        if self._missing(key, required, "a list"):
            return []
        value = self.data[key]
        if not isinstance(value, list) or (non_empty and not value):
            self.problem(key, f"must be a {'non-empty ' if non_empty else ''}list, got {value!r}")
            return []
        return value

    def tables(self, key: str, *, required: bool = False, non_empty: bool = False) -> Iterator[Fields]:
        """Each entry of a list of tables, read as :class:`Fields` placed ``key[i]``."""
        for i, entry in enumerate(self.items(key, required=required, non_empty=non_empty)):
            yield Fields(entry, f"{self.where}: {key}[{i}]", self.problems)

    def table(self, key: str, *, required: bool = False) -> Fields | None:
        """A nested table, read as :class:`Fields`; None when absent."""
        if self._missing(key, required, "a table"):
            return None
        return Fields(self.data[key], f"{self.where}: {key}", self.problems)
