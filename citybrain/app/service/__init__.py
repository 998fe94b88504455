"""The plan service: store, lifecycle, auth, audit and push targets of signal plans.

``create_app(settings)`` builds the FastAPI app (``citybrain serve`` serves it with uvicorn);
:class:`~citybrain.app.service.lifecycle.PlanService` holds every operation, each change in one
database transaction with its audit rows. See ``docs/service.md`` for the HTTP contract.
"""

from .settings import SETTINGS, ServiceSettings

__all__ = ["SETTINGS", "ServiceSettings", "create_app"]


def create_app(settings: ServiceSettings):
    """Return the FastAPI app of the plan service (see :func:`citybrain.app.service.api.create_app`)."""
    from .api import create_app as _create

    return _create(settings)
