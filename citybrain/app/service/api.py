"""The plan service's HTTP API (FastAPI): ``create_app(settings)``; the contract is in ``docs/service.md``.

Every answer is JSON; every error is ``{"detail": str, "problems": [str]}`` with 401 (no or bad
token), 403 (role, or the author approving), 404, 409 (stale version, lifecycle state, a push in
flight, a coordinated light pushed alone), 422 (unsafe or malformed), 502 (the target failed) and
503 (the database cannot be reached).
"""


import json
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from citybrain.network import graph_from_sumo_net

from . import auth
from .console import add_console
from .db import connect
from .errors import ServiceError, Unprocessable
from .lifecycle import PlanService
from .public import public_router
from .settings import ServiceSettings

__all__ = ["create_app"]

#: Largest request body read (bytes).
MAX_BODY_BYTES = 8 * 1024 * 1024


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class VersionBody(_Strict):
    version: int | None = Field(None, ge=1, description="The version; default the latest.")


class PushBody(_Strict):
    target: str = Field(description="http://127.0.0.1:PORT of a live twin, or a file: URL under the export folder.")
    force: bool = Field(False, description="Push some lights of a coordinated group alone (audited as forced).")
    version: int | None = Field(None, ge=1)
    lights: list[str] | None = Field(None, description="Only these lights of the plan (default all).")


class RollbackBody(_Strict):
    force: bool = False


class TokenBody(_Strict):
    name: str = Field(min_length=1)
    role: str


def _error(status: int, detail: str, problems: list[str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "problems": list(problems or [])}, status_code=status)


def create_app(settings: ServiceSettings) -> FastAPI:
    """Build the service over ``settings.db`` and ``settings.network`` (migrating the store, reconciling pushes).

    Raises
    ------
    ValidationError
        If the database or the network cannot be used.
    """
    network = graph_from_sumo_net(settings.network, conflicts=settings.conflicts)
    engine = connect(settings.db)
    service = PlanService(engine, network, profile=settings.profile, export_dir=settings.export_dir,
                          target_timeout_s=settings.target_timeout_s)
    service.reconcile()
    app = FastAPI(title="citybrain plan service", version="1",
                  description="Store, check, approve, push, audit and roll back signal plans.")
    app.state.service = service
    app.state.settings = settings
    app.include_router(public_router(settings.traffic_state, settings.public_per_minute))

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return _error(exc.status, exc.detail, exc.problems)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [f"{'.'.join(str(x) for x in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()]
        return _error(422, "the request is malformed", problems)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, str(exc.detail))

    @app.exception_handler(OperationalError)
    async def _db_down(_request: Request, exc: OperationalError) -> JSONResponse:
        return _error(503, f"the plan store cannot be reached: {' '.join(str(exc.orig).split())[:200]}")

    def user(authorization: Annotated[str | None, Header()] = None) -> auth.User:
        return auth.authenticate(engine, authorization)

    User = Annotated[auth.User, Depends(user)]

    async def plan_body(request: Request) -> object:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise Unprocessable(f"the body has {len(raw)} bytes; at most {MAX_BODY_BYTES}")
        try:
            return json.loads(raw or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise Unprocessable(f"the body is not JSON: {exc}") from exc

    Body = Annotated[object, Depends(plan_body)]

    @app.get("/health")
    def health() -> dict:
        """Liveness (no token): the database kind, the network and its light count."""
        return {"status": "ok", "db": engine.dialect.name, "network": str(settings.network),
                "lights": len(network.programs)}

    @app.post("/plans", status_code=201)
    def create_plan(u: User, body: Body) -> dict:
        """Store a NetworkPlan JSON (as `citybrain optimise` writes it) as a new plan (engineer+)."""
        return service.create_plan(u, body)

    @app.post("/plans/{plan_id}/versions", status_code=201)
    def add_version(plan_id: int, u: User, body: Body, base_version: Annotated[int | None, Query(ge=1)] = None) -> dict:
        """Store a new version; `base_version`, when given, must be the latest (else 409)."""
        return service.add_version(u, plan_id, body, base_version)

    @app.get("/plans")
    def list_plans(u: User) -> dict:
        return {"plans": service.list_plans()}

    @app.get("/plans/{plan_id}")
    def get_plan(plan_id: int, u: User) -> dict:
        return service.get_plan(plan_id)

    @app.get("/plans/{plan_id}/versions/{version}")
    def get_version(plan_id: int, version: int, u: User) -> dict:
        return service.get_version(plan_id, version)

    @app.get("/plans/{plan_id}/diff")
    def diff(plan_id: int, u: User, from_: Annotated[int, Query(alias="from", ge=1)],
             to: Annotated[int, Query(ge=1)]) -> dict:
        return service.diff(plan_id, from_, to)

    @app.post("/plans/{plan_id}/check")
    def check(plan_id: int, u: User, body: VersionBody | None = None) -> dict:
        """Run the safety gate: `{"safe", "errors", "warnings"}`; a safe draft becomes checked."""
        return service.check(u, plan_id, body.version if body else None)

    @app.post("/plans/{plan_id}/approve")
    def approve(plan_id: int, u: User, body: VersionBody | None = None) -> dict:
        """Approve a checked version (operator; not its author: 403)."""
        return service.approve(u, plan_id, body.version if body else None)

    @app.post("/plans/{plan_id}/push")
    def push(plan_id: int, u: User, body: PushBody) -> dict:
        """Push an approved, safe version to a target (operator)."""
        return service.push(u, plan_id, body.target, force=body.force, version=body.version, tls=body.lights)

    @app.get("/lights")
    def lights(u: User) -> dict:
        return {"lights": service.lights_status()}

    @app.get("/lights/{tls}")
    def light(tls: str, u: User) -> dict:
        """A light's active plan, what its target reports it runs, and its push history."""
        return service.light(tls)

    @app.post("/lights/{tls}/rollback")
    def rollback(tls: str, u: User, body: RollbackBody | None = None) -> dict:
        """Back to the light's previous acknowledged plan (operator)."""
        return service.rollback(u, tls, force=body.force if body else False)

    @app.get("/audit")
    def audit_log(u: User, tls: str | None = None, since: str | None = None, user: str | None = None,
                  action: str | None = None) -> dict:
        return {"entries": service.audit_entries(tls=tls, since=since, user=user, action=action)}

    @app.post("/tokens", status_code=201)
    def create_token(u: User, body: TokenBody) -> dict:
        """Make a token (admin); its value is shown only here."""
        auth.require_role(u, "admin", "making tokens")
        try:
            token_id, token = auth.create_token(engine, body.name, body.role, by=u)
        except ValueError as exc:
            raise Unprocessable(str(exc)) from exc
        return {"id": token_id, "name": body.name, "role": body.role, "token": token}

    @app.get("/tokens")
    def list_tokens(u: User) -> dict:
        auth.require_role(u, "admin", "listing tokens")
        return {"tokens": auth.list_tokens(engine)}

    @app.delete("/tokens/{token_id}")
    def revoke_token(token_id: int, u: User) -> dict:
        auth.require_role(u, "admin", "revoking tokens")
        auth.revoke_token(engine, token_id, by=u)
        return {"id": token_id, "revoked": True}

    add_console(app, service, user)

    return app
