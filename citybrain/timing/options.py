"""The options every timing method shares: :class:`TimingOptions`, validated once."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from ..exceptions import ValidationError
from ..plans.safety import PROFILES, SafetyProfile, get_profile

__all__ = ["TimingOptions", "AGGREGATES"]

#: How several intervals of one movement's flow combine (``"peak15"``: the highest 15-minute flow rate).
AGGREGATES: tuple[str, ...] = ("mean", "max", "median", "peak15")


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


@dataclass(frozen=True, slots=True)
class TimingOptions:
    """Options of every timing method (``webster``, ``hcm``, ``coordinated``), checked once.

    Every field is checked when the object is made, so a bad value is refused before any
    work; methods take the object whole and record :meth:`to_dict` as ``meta["options"]``
    of the plan they return.

    Parameters
    ----------
    tls
        Lights to time (a traffic-light id or ids); ``None``: every light of the network.
    profile
        Safety profile for yellow, all-red, walk and minimum green: ``"us"``, ``"eu"``, a
        :class:`~citybrain.plans.safety.SafetyProfile`, or ``None`` (US).
    cycle_bounds_s
        ``(min, max)`` cycle (seconds), ``0 < min <= max``.
    permissive_factor
        Share of saturation flow a permissive (``g``) movement gets, in ``[0, 1]``.
    aggregate
        How the intervals of the flow table combine per movement: ``"mean"``, ``"max"``,
        ``"median"`` or ``"peak15"`` (the highest 15-minute flow rate,
        :func:`~citybrain.timing.flows.movement_flows`).
    min_green_s
        Minimum green (seconds, > 0); ``None``: the profile's.
    seed
        Seed (int >= 0) of a method's random search (``coordinated``'s offset restarts);
        ``None``: fresh entropy. Deterministic methods ignore it.

    Raises
    ------
    ValidationError
        Naming every bad field and what was expected.

    Examples
    --------
    >>> TimingOptions(profile="eu", cycle_bounds_s=(40, 120)).cycle_bounds_s
    (40.0, 120.0)
    """

    tls: tuple[str, ...] | None = None
    profile: str | SafetyProfile | None = None
    cycle_bounds_s: tuple[float, float] = (30.0, 180.0)
    permissive_factor: float = 0.5
    aggregate: str = "mean"
    min_green_s: float | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        problems = []

        def bad(field: str, expected: str, got) -> None:
            problems.append(f"The '{field}' of TimingOptions must be {expected}. Got {got!r} instead.")

        tls = self.tls
        if isinstance(tls, str):
            tls = (tls,)
        elif tls is not None:
            try:
                tls = tuple(tls)
            except TypeError:
                tls = None
                bad("tls", "None, a traffic-light id or a list of ids", self.tls)
            else:
                if not tls or not all(isinstance(t, str) and t for t in tls):
                    bad("tls", "None, a traffic-light id or a non-empty list of ids", self.tls)
        object.__setattr__(self, "tls", tls)
        if self.profile is not None and not isinstance(self.profile, SafetyProfile) and (
                not isinstance(self.profile, str) or self.profile not in PROFILES):
            bad("profile", f"one of {sorted(PROFILES)}, a SafetyProfile or None", self.profile)
        try:
            lo, hi = self.cycle_bounds_s
        except (TypeError, ValueError):
            bad("cycle_bounds_s", "(min, max) seconds with 0 < min <= max", self.cycle_bounds_s)
        else:
            if _is_number(lo) and _is_number(hi) and 0 < lo <= hi:
                object.__setattr__(self, "cycle_bounds_s", (float(lo), float(hi)))
            else:
                bad("cycle_bounds_s", "(min, max) seconds with 0 < min <= max", self.cycle_bounds_s)
        if not _is_number(self.permissive_factor) or not 0.0 <= self.permissive_factor <= 1.0:
            bad("permissive_factor", "a number in [0, 1]", self.permissive_factor)
        if self.aggregate not in AGGREGATES:
            bad("aggregate", f"one of {list(AGGREGATES)}", self.aggregate)
        if self.min_green_s is not None and (not _is_number(self.min_green_s) or self.min_green_s <= 0):
            bad("min_green_s", "None or a number of seconds > 0", self.min_green_s)
        if self.seed is not None:
            if isinstance(self.seed, numbers.Integral) and not isinstance(self.seed, bool) and self.seed >= 0:
                object.__setattr__(self, "seed", int(self.seed))
            else:
                bad("seed", "None or an int >= 0", self.seed)
        if len(problems) == 1:
            raise ValidationError(problems[0])
        if problems:
            msg = f"TimingOptions has {len(problems)} problems:\n" + "\n".join(problems)
            raise ValidationError(msg, problems)

    def to_dict(self) -> dict:
        """The options as JSON-ready values (``profile`` by name), as plans record them."""
        return {"tls": None if self.tls is None else list(self.tls), "profile": get_profile(self.profile).name,
                "cycle_bounds_s": list(self.cycle_bounds_s), "permissive_factor": float(self.permissive_factor),
                "aggregate": self.aggregate, "min_green_s": self.min_green_s, "seed": self.seed}
