"""The citybrain error tree.

::

    CityBrainError
    ├── NetworkError (ValueError)          a road network file that cannot be used
    ├── ValidationError (ValueError)       input that breaks the documented schema or rules
    │   └── UnsafePlanError                a plan that breaks a hard safety rule
    ├── InfeasiblePlanError                no plan meets the constraints
    ├── ConvergenceError                   an iterative method did not converge
    ├── SimulationError (RuntimeError)     SUMO failed, hung or gridlocked
    └── BackendUnavailableError (ImportError)  an optional backend or extra is not installed

Each error subclasses a built-in where one fits, so ``except ValueError`` in a caller still catches
it. The CLI turns every ``CityBrainError`` into a one-line message and an exit code.
"""

from __future__ import annotations

__all__ = [
    "CityBrainError",
    "NetworkError",
    "ValidationError",
    "UnsafePlanError",
    "InfeasiblePlanError",
    "ConvergenceError",
    "SimulationError",
    "BackendUnavailableError",
]


class CityBrainError(Exception):
    """Base class of every error citybrain raises on purpose."""


class NetworkError(CityBrainError, ValueError):
    """A road network file is missing, unreadable or not a usable SUMO network."""


class ValidationError(CityBrainError, ValueError):
    """Input breaks the documented schema or rules; ``problems`` lists every one found.

    With no ``problems``, the message is the one problem.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class UnsafePlanError(ValidationError):
    """A plan breaks a hard safety rule; ``problems`` lists every error (the one gate,
    :func:`citybrain.plans.safety.require_safe`, raises it)."""


class InfeasiblePlanError(CityBrainError):
    """No signal plan satisfies the constraints (cycle bounds, minimum greens, safety rules)."""


class ConvergenceError(CityBrainError):
    """An iterative method stopped before reaching its tolerance."""


class SimulationError(CityBrainError, RuntimeError):
    """SUMO crashed, hung past its wall-clock limit, or the run gridlocked."""


class BackendUnavailableError(CityBrainError, ImportError):
    """An optional backend or extra is missing; the message gives the install command."""
