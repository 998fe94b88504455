"""Errors of the plan service, each with its HTTP status (the JSON body: ``{"detail", "problems"}``).

::

    ServiceError (CityBrainError)
     +-- Unauthorized   401  no token, or an unknown or revoked one
     +-- Forbidden      403  the role may not do this; the author approving their own plan
     +-- NotFound       404  an unknown plan, version, light or token
     +-- Conflict       409  a stale version, the wrong lifecycle state, a push in flight
     +-- Unprocessable  422  an unsafe or malformed plan, an unknown light
     +-- TargetFailed   502  the push target could not be reached or did not acknowledge
"""

from __future__ import annotations

from citybrain.exceptions import CityBrainError

__all__ = ["Conflict", "Forbidden", "NotFound", "ServiceError", "TargetFailed", "Unauthorized", "Unprocessable"]


class ServiceError(CityBrainError):
    """A refused request: ``status`` (HTTP), ``detail`` (one line) and every problem."""

    status = 400

    def __init__(self, detail: str, problems: list[str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems or [])


class Unauthorized(ServiceError):
    status = 401


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404


class Conflict(ServiceError):
    status = 409


class Unprocessable(ServiceError):
    status = 422


class TargetFailed(ServiceError):
    status = 502
