"""Live plan changes over a local HTTP endpoint (``citybrain simulate --serve PORT``).

The running twin is the only TraCI/libsumo client; this endpoint, served by a thread of the
twin's own process on ``127.0.0.1``, hands plans to :meth:`Twin.push_plan` (the safety gate),
which switches them in at each light's next cycle boundary. Every answer is JSON.

Endpoints
---------
``POST /plans``
    body: the plan JSON ``citybrain optimise`` writes (``"schema": "citybrain.plans"``: every
    light of it at once, all or nothing), one light's plan object (an entry of a plan file's
    ``plans``), or a SUMO program ``{"tls", "phases": [{"duration_s", "state"} ...]}`` (read as
    a plan, :func:`~citybrain.plans.formats.plan_from_program`). Answers 202 ``{"accepted":
    true, "sha256", "lights": [{"tls", "sha256"} ...]}``; 422 ``{"error", "problems"}`` for an
    unsafe plan (every violation) or a light whose controller takes no plans; 400 for a body
    that is not JSON or breaks the schema (every problem), or names an unknown light.
``GET /plan``
    what every light runs now (:meth:`Twin.running_plans`).
``GET /status``
    ``{"time_s", "pending": [tls ...], "applied": [{"tls", "time_s", "sha256", "program_id"} ...]}``.

Any other path answers 404, another method on these paths 405, both as JSON.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.error
import urllib.request
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

from citybrain.exceptions import SimulationError, UnsafePlanError, ValidationError
from citybrain.network import RoadNetwork
from citybrain.plans import NetworkPlan, SignalPlan, plan_from_program, plans_from_dict
from citybrain.plans.formats import SCHEMA, SCHEMA_VERSION, plan_sha256

from .twin import PushRefusedError, Twin

__all__ = ["MAX_BODY_BYTES", "PlanServer", "bind_plan_socket", "plan_from_json", "push_plan_http",
           "status_http"]

#: Largest POST body read (bytes).
MAX_BODY_BYTES = 8 * 1024 * 1024
_ROUTES = {"/plans": ("POST",), "/plan": ("GET", "HEAD"), "/status": ("GET", "HEAD")}


def plan_from_json(data: object, network: RoadNetwork | None = None) -> NetworkPlan | SignalPlan:
    """Read a pushed plan from its JSON form (the three forms of the module docstring).

    Raises
    ------
    ValidationError
        If the body is no JSON object or breaks the schema; every problem is listed.
    """
    if not isinstance(data, dict):
        msg = f"POST /plans: expected a JSON object (a plan file, one light's plan or a program), got {type(data).__name__}"
        raise ValidationError(msg)
    if "schema" in data or "periods" in data:
        return plans_from_dict(data, source="POST /plans")
    phases = data.get("phases")
    if isinstance(phases, list) and phases and all(isinstance(p, dict) and "duration_s" in p for p in phases):
        return _program_plan(data, network)
    body = {"schema": SCHEMA, "version": SCHEMA_VERSION, "periods": [{"name": "all-day", "plans": [data]}]}
    return plans_from_dict(body, source="POST /plans").periods[0].plans[0]


def _program_plan(data: dict, network: RoadNetwork | None) -> SignalPlan:
    """A SUMO program ``{"tls", "phases": [{"duration_s", "state"}]}`` as one light's plan."""
    problems = []
    tls = data.get("tls")
    if not isinstance(tls, str) or not tls:
        problems.append(f"POST /plans: 'tls': must be a non-empty string, got {tls!r}")
    phases = []
    for i, p in enumerate(data["phases"]):
        d, s = p.get("duration_s"), p.get("state")
        if isinstance(d, bool) or not isinstance(d, int | float) or not d == d or d <= 0 or d == float("inf"):
            problems.append(f"POST /plans: phases[{i}]: 'duration_s': must be a finite number > 0, got {d!r}")
        if not isinstance(s, str) or not s:
            problems.append(f"POST /plans: phases[{i}]: 'state': must be a non-empty string, got {s!r}")
        phases.append(SimpleNamespace(duration_s=1.0 if problems else float(d), state=s, name=""))
    if problems:
        raise ValidationError("; ".join(problems), problems)
    known = network if network is not None and tls in network.programs else None
    plan = plan_from_program(phases, tls=tls, junctions=(tls,), network=known, method="pushed program")
    return replace(plan, program_id=str(data.get("program_id", "citybrain")))


def bind_plan_socket(port: int) -> socket.socket:
    """Bind and listen on ``127.0.0.1:port`` (0 picks a free port) for a :class:`PlanServer`.

    Raises
    ------
    ValidationError
        If the port cannot be bound (in use, or not allowed), naming it.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen(16)
    except OSError as exc:
        sock.close()
        reason = "it is in use" if exc.errno in (98, 48, 10048) else exc.strerror or str(exc)
        msg = f"Cannot serve plans on 127.0.0.1:{port}: {reason}; choose another port with --serve PORT."
        raise ValidationError(msg) from exc
    return sock


class PlanServer:
    """Serve a twin's plan endpoint on ``127.0.0.1`` from a background thread.

    Use it as a context manager around :meth:`Twin.run`.

    Parameters
    ----------
    twin : Twin
        The twin that receives the plans.
    port : int or socket.socket
        TCP port (0 picks a free one; see :attr:`port`), or a socket already listening
        (:func:`bind_plan_socket`).

    Raises
    ------
    ValidationError
        If the port cannot be bound.
    """

    def __init__(self, twin: Twin, port: int | socket.socket) -> None:
        self.twin = twin
        sock = bind_plan_socket(port) if isinstance(port, int) else port
        self.httpd = ThreadingHTTPServer(sock.getsockname(), _handler(twin), bind_and_activate=False)
        self.httpd.socket.close()
        self.httpd.socket = sock
        self.httpd.daemon_threads = True
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PlanServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(twin: Twin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        error_content_type = "application/json"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

        def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
            """Every error http.server raises itself (bad request line, unknown method) as JSON."""
            self._send(code, {"error": message or self.responses.get(code, ("error",))[0]})

        def _send(self, code: int, body: dict, headers: dict | None = None) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

        def _route(self) -> str | None:
            """The path if this method may be used on it; else answer 404/405 and return None."""
            path = self.path.split("?", 1)[0].rstrip("/") or "/"
            if path not in _ROUTES:
                known = ", ".join(f"{' '.join(m)} {p}" for p, m in _ROUTES.items())
                self._send(404, {"error": f"unknown path {self.path!r}; the endpoint has {known}"})
                return None
            if self.command not in _ROUTES[path]:
                allowed = ", ".join(_ROUTES[path])
                self._send(405, {"error": f"{self.command} is not allowed on {path}; use {allowed}"},
                           {"Allow": allowed})
                return None
            return path

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            path = self._route()
            if path == "/status":
                self._send(200, twin.status())
            elif path == "/plan":
                self._send(200, twin.running_plans())

        do_HEAD = do_GET  # noqa: N815

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            if self._route() is None:
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
            except ValueError:
                self._send(400, {"error": "Content-Length is not a number", "problems": []})
                return
            if not 0 <= length <= MAX_BODY_BYTES:
                self._send(400, {"error": f"body of {length} bytes; expected 0 to {MAX_BODY_BYTES}", "problems": []})
                return
            try:
                data = json.loads(self.rfile.read(length) or b"null")
                plan = plan_from_json(data, twin.network)
                updates = twin.push_plan(plan)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                self._send(400, {"error": f"body is not JSON: {exc}", "problems": [f"body is not JSON: {exc}"]})
            except (UnsafePlanError, PushRefusedError) as exc:
                self._send(422, {"error": str(exc).splitlines()[0], "problems": exc.problems})
            except ValidationError as exc:
                self._send(400, {"error": str(exc).splitlines()[0], "problems": exc.problems})
            else:
                self._send(202, {
                    "accepted": True,
                    "sha256": plan_sha256(plan),
                    "lights": [{"tls": u.tls, "sha256": u.sha256} for u in updates],
                    "applies": "at each light's next cycle boundary",
                })

        def _refuse(self) -> None:
            self._route()

        do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse  # noqa: N815

    return Handler


def push_plan_http(port: int, plan: dict, *, timeout_s: float = 10.0) -> dict:
    """POST a plan (JSON form) to a twin served on ``127.0.0.1:port``; return its answer.

    Raises
    ------
    UnsafePlanError
        If the twin refuses the plan as unsafe or not for that light (HTTP 422).
    ValidationError
        If the twin rejects the body (HTTP 400).
    SimulationError
        If no twin answers on that port.
    """
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/plans",
        data=json.dumps(plan).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
        error = UnsafePlanError if exc.code == 422 else ValidationError
        raise error(body.get("error", str(exc)), body.get("problems", [])) from exc
    except OSError as exc:
        msg = f"No twin answers on 127.0.0.1:{port}: {exc}"
        raise SimulationError(msg) from exc


def status_http(port: int, *, timeout_s: float = 10.0, path: str = "/status") -> dict:
    """Return ``GET /status`` (or another GET ``path``, e.g. ``/plan``) of a twin on ``127.0.0.1:port``.

    Raises
    ------
    SimulationError
        If no twin answers on that port.
    """
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except OSError as exc:
        msg = f"No twin answers on 127.0.0.1:{port}: {exc}"
        raise SimulationError(msg) from exc
