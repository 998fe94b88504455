"""The options of :func:`~citybrain.estimation.estimate_flows`, in one validated object."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from ..exceptions import ValidationError

__all__ = ["EstimationSettings", "METHODS", "COUNT_SD_FROM", "TURN_PRIOR_VARIANCE"]

#: Solvers of :func:`~citybrain.estimation.estimate_flows` (``EstimationSettings.method``).
METHODS: tuple[str, ...] = ("direct", "coordinate-descent", "lsq_linear")
#: What a count's variance follows (``EstimationSettings.count_sd_from``).
COUNT_SD_FROM: tuple[str, ...] = ("camera", "count")
#: How a turning-prior row's variance is set (``EstimationSettings.turn_prior_variance``).
TURN_PRIOR_VARIANCE: tuple[str, ...] = ("flow", "constant")
_JUNCTIONS = ("signalised", "all")

# fields by the kind of value they take (every field is in exactly one)
_POSITIVE = (
    "count_sd_floor_vph", "conservation_sd_vph", "turn_prior_sd_vph", "level_prior_sd_vph", "entry_level_sd_vph",
    "max_lane_flow_vph", "tol_vph", "jam_spacing_m",
)
_NON_NEGATIVE = ("noise_rel", "uturn_prior_factor", "ratio_period_s")
_FLAGS = ("count_poisson", "learn_turn_factors", "standard_errors", "raise_on_nonconvergence")
_CHOICES = {"method": METHODS, "count_sd_from": COUNT_SD_FROM, "turn_prior_variance": TURN_PRIOR_VARIANCE}


@dataclass(frozen=True)
class EstimationSettings:
    """Options of :func:`~citybrain.estimation.estimate_flows` (the model: :mod:`citybrain.estimation`).

    Validated once, when made: a bad value raises before any work. The estimate keeps the
    settings it used (:attr:`FlowEstimate.settings <citybrain.estimation.FlowEstimate>`).

    Attributes
    ----------
    method
        ``"direct"`` (default: one factorisation for all intervals, then work-list coordinate
        descent for the bounds), ``"coordinate-descent"`` (whole sweeps, no factorisation) or
        ``"lsq_linear"`` (:func:`scipy.optimize.lsq_linear`; same problem, slow reference).
    junctions
        Which junctions' movements to report: ``"signalised"`` (default), ``"all"``, or junction
        ids (stored as a tuple). Every junction takes part in the estimate either way.
    noise_rel
        Relative standard deviation of a camera count (0.1 = 10%); ``>= 0``.
    count_sd_floor_vph
        Standard deviation (veh/h) added to every count's; ``> 0``.
    count_poisson
        Add Poisson counting noise (``y * 3600 / interval_s``, (veh/h)^2) to each count's
        variance; turn off (with ``noise_rel=0`` and a tiny floor) to reproduce exact counts.
    conservation_sd_vph
        Standard deviation (veh/h) of the mid-block gain or loss on a link; ``> 0``.
    turn_prior_sd_vph
        Standard deviation (veh/h) of a movement around its prior share of the approach (of a
        movement at the median prior flow when ``turn_prior_variance="flow"``); ``> 0``.
    level_prior_sd_vph
        Standard deviation (veh/h) of the weak prior on each movement's level; ``> 0``.
    entry_level_sd_vph
        Standard deviation (veh/h) of the level prior of a movement from an uncounted entry
        approach (one no modelled movement feeds); ``> 0``.
    max_lane_flow_vph
        Upper bound (veh/h) of a movement's flow per lane it uses; ``> 0``.
    uturn_prior_factor
        Scale of a U-turn's lane-use prior share (U-turns are rare); ``>= 0``.
    learn_turn_factors
        Scale the lane-use prior per turn type (through, left, right ...) and per exit edge to
        fit the cameras of the count table that count per movement (empirical Bayes; uses only
        the input counts). The exit factors are skipped when a turning-ratio history is given;
        the turn-type factors are ignored for approaches it covers.
    count_sd_from
        ``"camera"`` (default): a count's variance follows its camera's mean rate over the
        table (no pull towards low counts, one weight per camera); ``"count"``: the count itself.
    turn_prior_variance
        ``"flow"`` (default): a turning-prior row's variance is proportional to the movement's
        prior flow (entropy model); ``"constant"``: ``turn_prior_sd_vph`` for every movement.
    standard_errors
        Compute ``se_vph`` (veh/h); NaN when ``False``.
    max_sweeps
        Most coordinate-descent sweeps (the direct solver's bound step: ``max_sweeps * n_flows``
        updates, after at most ``max_sweeps`` conjugate-gradient steps for the intervals whose
        counts differ from the factorised ones); an integer ``>= 1``.
    tol_vph
        Coordinate descent stops when no flow moved more than ``tol_vph`` (veh/h) in a sweep (a
        flow that moves less does not wake its neighbours in the bound step); ``> 0``.
    raise_on_nonconvergence
        Raise :class:`~citybrain.exceptions.ConvergenceError` when an interval used every sweep.
    jam_spacing_m
        Road length (m) a queued vehicle takes: a queue reading of at least ``lanes * range_m /
        jam_spacing_m`` vehicles filled the camera's range (:mod:`~citybrain.estimation.demand`); ``> 0``.
    ratio_period_s
        Turning ratios pooled over periods of this length (seconds; 0: no pooling, each
        interval's split follows the turning prior alone): within a period every approach's
        ratios are constant while its flow varies, estimated jointly with the flows
        (:mod:`citybrain.estimation.pooling`); ``>= 0``.
    """

    method: str = "direct"
    junctions: str | tuple[str, ...] = "signalised"
    noise_rel: float = 0.1
    count_sd_floor_vph: float = 10.0
    count_poisson: bool = True
    conservation_sd_vph: float = 60.0
    turn_prior_sd_vph: float = 120.0
    level_prior_sd_vph: float = 600.0
    entry_level_sd_vph: float = 400.0
    max_lane_flow_vph: float = 2000.0
    uturn_prior_factor: float = 0.05
    learn_turn_factors: bool = True
    count_sd_from: str = "camera"
    turn_prior_variance: str = "flow"
    standard_errors: bool = True
    max_sweeps: int = 500
    tol_vph: float = 0.05
    raise_on_nonconvergence: bool = False
    jam_spacing_m: float = 8.0
    ratio_period_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.junctions, str) and _is_sequence(self.junctions):
            object.__setattr__(self, "junctions", tuple(self.junctions))
        problems = [p for p in map(self._problem, _field_names()) if p]
        if problems:
            raise ValidationError(" ".join(problems), problems if len(problems) > 1 else None)

    def _problem(self, name: str) -> str | None:
        """What is wrong with field ``name`` (``None`` when nothing)."""
        value = getattr(self, name)
        start = f"The {name!r} field of EstimationSettings must be"
        unit = " (veh/h)" if name.endswith("_vph") else " (m)" if name.endswith("_m") else ""
        if name in _POSITIVE and not (_is_real(value) and value > 0 and math.isfinite(value)):
            return f"{start} a positive number{unit}. Got {value!r} instead."
        if name in _NON_NEGATIVE and not (_is_real(value) and value >= 0 and math.isfinite(value)):
            return f"{start} a number >= 0. Got {value!r} instead."
        if name in _FLAGS and not isinstance(value, (bool, np.bool_)):
            return f"{start} True or False. Got {value!r} instead."
        if name in _CHOICES and not (isinstance(value, str) and value in _CHOICES[name]):
            return f"{start} one of {', '.join(_CHOICES[name])}. Got {value!r} instead."
        if name == "max_sweeps" and not (isinstance(value, Integral) and not isinstance(value, bool) and value >= 1):
            return f"{start} an integer >= 1. Got {value!r} instead."
        if name == "junctions" and not (
            (isinstance(value, str) and value in _JUNCTIONS)
            or (isinstance(value, tuple) and all(isinstance(j, str) for j in value))
        ):
            return f"{start} 'signalised', 'all' or a list of junction ids. Got {value!r} instead."
        return None

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (``junctions`` ids as a list), e.g. for JSON."""
        out = asdict(self)
        if isinstance(self.junctions, tuple):
            out["junctions"] = list(self.junctions)
        return out


def _field_names() -> tuple[str, ...]:
    return tuple(EstimationSettings.__dataclass_fields__)


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, (bool, np.bool_))


def _is_sequence(value: object) -> bool:
    return isinstance(value, (list, tuple, set, frozenset)) or (isinstance(value, np.ndarray) and value.ndim == 1)
