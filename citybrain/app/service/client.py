"""An HTTP client of the plan service (its API: :mod:`citybrain.app.service.api`), used by ``citybrain ops``.

One method per endpoint; each returns the answer's JSON. A non-2xx answer raises
:class:`ServiceClientError` with the service's ``detail`` and ``problems``; a service that
cannot be reached raises it with ``status=None``.

Examples
--------
::

    client = ServiceClient("http://127.0.0.1:8000", os.environ["CITYBRAIN_TOKEN"])
    plan = client.create_plan(json.loads(Path("plan.json").read_text()))
    client.check(plan["id"])
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from citybrain.exceptions import CityBrainError, ValidationError

__all__ = ["ServiceClient", "ServiceClientError"]


class ServiceClientError(CityBrainError):
    """The service answered an error, or could not be reached.

    Parameters
    ----------
    status : int or None
        The HTTP status; None when no answer came (unreachable, timed out, not JSON).
    detail : str
        The service's one-line ``detail`` (or what went wrong).
    problems : list of str
        Every problem the service listed (``[detail]`` when it listed none).
    """

    def __init__(self, status: int | None, detail: str, problems: list[str] | None = None) -> None:
        super().__init__(detail if status is None else f"HTTP {status}: {detail}")
        self.status = status
        self.detail = detail
        self.problems = list(problems) if problems else [detail]


class ServiceClient:
    """Talk to a plan service at ``server`` with a bearer token.

    Parameters
    ----------
    server : str
        ``http://HOST:PORT`` (an optional path prefix is kept).
    token : str
        The API token (``Authorization: Bearer``).
    timeout_s : float
        Seconds to wait for each answer (a push waits for the target's acknowledgement).

    Raises
    ------
    ValidationError
        If ``server`` is not an http(s) URL with a host.
    """

    def __init__(self, server: str, token: str, timeout_s: float = 10.0) -> None:
        try:
            parts = urlsplit(server)
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            msg = f"--server {server!r}: not a valid URL ({exc})"
            raise ValidationError(msg) from exc
        if parts.scheme not in ("http", "https") or not parts.hostname:
            msg = f"--server {server!r}: expected the service's URL, e.g. http://127.0.0.1:8000"
            raise ValidationError(msg)
        self.server = server.rstrip("/")
        self._http = httpx.Client(base_url=self.server, timeout=timeout_s,
                                  headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, *, json: object = None, params: dict | None = None) -> dict:
        params = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            resp = self._http.request(method, path, json=json, params=params)
        except httpx.HTTPError as exc:
            msg = f"cannot reach the plan service at {self.server}: {exc or type(exc).__name__}"
            raise ServiceClientError(None, msg) from exc
        try:
            body = resp.json() if resp.content else {}
        except ValueError:
            body = None
        if not resp.is_success:
            body = body if isinstance(body, dict) else {}
            detail = body.get("detail")
            detail = detail if isinstance(detail, str) else resp.reason_phrase or "error"
            raise ServiceClientError(resp.status_code, detail, [str(p) for p in body.get("problems") or []])
        if not isinstance(body, dict):
            msg = f"{self.server}{path} answered HTTP {resp.status_code} with no JSON object; is it a plan service?"
            raise ServiceClientError(None, msg)
        return body

    # -- service --------------------------------------------------------------------------
    def health(self) -> dict:
        """``GET /health``: status, database kind, network and number of lights."""
        return self._call("GET", "/health")

    # -- plans ----------------------------------------------------------------------------
    def list_plans(self) -> dict:
        """``GET /plans``."""
        return self._call("GET", "/plans")

    def get_plan(self, plan_id: int | str) -> dict:
        """``GET /plans/{id}``: the plan and its version summaries."""
        return self._call("GET", f"/plans/{plan_id}")

    def get_version(self, plan_id: int | str, version: int) -> dict:
        """``GET /plans/{id}/versions/{v}``: the summary, the plan JSON and its last check."""
        return self._call("GET", f"/plans/{plan_id}/versions/{version}")

    def create_plan(self, plan: dict) -> dict:
        """``POST /plans`` with a plan JSON (as ``citybrain optimise`` writes it)."""
        return self._call("POST", "/plans", json=plan)

    def new_version(self, plan_id: int | str, plan: dict, base_version: int) -> dict:
        """``POST /plans/{id}/versions?base_version=N``: a new version on top of version N."""
        return self._call("POST", f"/plans/{plan_id}/versions", json=plan, params={"base_version": base_version})

    def diff(self, plan_id: int | str, from_version: int, to_version: int) -> dict:
        """``GET /plans/{id}/diff?from=&to=``."""
        return self._call("GET", f"/plans/{plan_id}/diff", params={"from": from_version, "to": to_version})

    def check(self, plan_id: int | str, version: int | None = None) -> dict:
        """``POST /plans/{id}/check`` (default: the latest version)."""
        return self._call("POST", f"/plans/{plan_id}/check", json=_some(version=version))

    def approve(self, plan_id: int | str, version: int | None = None) -> dict:
        """``POST /plans/{id}/approve`` (default: the latest version)."""
        return self._call("POST", f"/plans/{plan_id}/approve", json=_some(version=version))

    def push(self, plan_id: int | str, target: str, *, force: bool = False, version: int | None = None,
             lights: list[str] | None = None) -> dict:
        """``POST /plans/{id}/push`` to ``target`` (a twin's ``http://`` endpoint or a ``file:`` URL)."""
        body = {"target": target, "force": force, **_some(version=version, lights=lights)}
        return self._call("POST", f"/plans/{plan_id}/push", json=body)

    # -- lights ---------------------------------------------------------------------------
    def lights(self) -> dict:
        """``GET /lights``."""
        return self._call("GET", "/lights")

    def light(self, tls: str) -> dict:
        """``GET /lights/{tls}``: active plan, what the target reports, history."""
        return self._call("GET", f"/lights/{tls}")

    def rollback(self, tls: str, *, force: bool = False) -> dict:
        """``POST /lights/{tls}/rollback``: back to the light's previous acknowledged plan."""
        return self._call("POST", f"/lights/{tls}/rollback", json={"force": force})

    # -- audit and tokens -----------------------------------------------------------------
    def audit(self, *, tls: str | None = None, since: str | None = None, user: str | None = None,
              action: str | None = None) -> dict:
        """``GET /audit`` filtered by light, time (ISO 8601), user and action."""
        return self._call("GET", "/audit", params={"tls": tls, "since": since, "user": user, "action": action})

    def create_token(self, name: str, role: str) -> dict:
        """``POST /tokens`` (admin): the answer holds the token, shown once."""
        return self._call("POST", "/tokens", json={"name": name, "role": role})

    def list_tokens(self) -> dict:
        """``GET /tokens`` (admin)."""
        return self._call("GET", "/tokens")

    def revoke_token(self, token_id: int | str) -> dict:
        """``DELETE /tokens/{id}`` (admin)."""
        return self._call("DELETE", f"/tokens/{token_id}")


def _some(**fields: object) -> dict:
    """The fields that are set (a body without the optional ones left out)."""
    return {k: v for k, v in fields.items() if v is not None}
