"""Live plan changes over a local HTTP endpoint (``citybrain simulate --serve PORT``).

The running twin is the only TraCI/libsumo client; this endpoint, served by a thread of the
twin's own process on ``127.0.0.1``, hands plans to :meth:`Twin.push_plan`, which switches
them in at the light's next cycle boundary.

Endpoints
---------
``GET /status``
    ``{"time_s": ..., "pending": [tls ...], "applied": [{"tls", "time_s"} ...]}``
``POST /plans``
    body ``{"tls": "...", "program_id": "...", "phases": [{"duration_s": 30, "state": "GGrr"} ...]}``;
    answers 202 ``{"accepted": true}`` or 400 ``{"error": ..., "problems": [...]}``.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from citybrain._validate import Fields, Problems
from citybrain.exceptions import SimulationError, ValidationError

from .run import PlanUpdate
from .twin import Twin

__all__ = ["PlanServer", "plan_from_json", "push_plan_http", "status_http"]


def plan_from_json(data: object) -> PlanUpdate:
    """Build a :class:`PlanUpdate` from its JSON form (see the module docstring).

    Raises
    ------
    ValidationError
        If keys are missing or of the wrong type; every problem is listed.
    """
    if not isinstance(data, dict):
        msg = f"plan: expected a JSON object, got {type(data).__name__}"
        raise ValidationError(msg)
    problems = Problems("POST /plans")
    plan = Fields(data, "plan", problems)
    tls = plan.string("tls", required=True)
    phases: list[tuple[float, str]] = []
    for phase in plan.tables("phases", required=True, non_empty=True):
        duration = phase.number("duration_s", required=True)
        state = phase.string("state", required=True)
        if duration is not None and state is not None:
            phases.append((duration, state))
    program_id = plan.string("program_id", "citybrain")
    problems.raise_if_any("plan")
    return PlanUpdate(tls=tls, phases=tuple(phases), program_id=program_id)  # type: ignore[arg-type]


class PlanServer:
    """Serve a twin's plan endpoint on ``127.0.0.1:port`` from a background thread.

    Use it as a context manager around :meth:`Twin.run`.

    Parameters
    ----------
    twin : Twin
        The twin that receives the plans.
    port : int
        TCP port (0 picks a free one; see :attr:`port`).
    """

    def __init__(self, twin: Twin, port: int) -> None:
        self.twin = twin
        handler = _handler(twin)
        try:
            self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        except OSError as exc:
            msg = f"Cannot serve plans on 127.0.0.1:{port}: {exc}"
            raise SimulationError(msg) from exc
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> PlanServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(twin: Twin) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            return

        def _send(self, code: int, body: dict) -> None:
            raw = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_GET(self) -> None:  # noqa: N802 - http.server API
            if self.path.rstrip("/") == "/status":
                self._send(200, twin.status())
            else:
                self._send(404, {"error": f"unknown path {self.path!r}; try /status or POST /plans"})

        def do_POST(self) -> None:  # noqa: N802 - http.server API
            if self.path.rstrip("/") != "/plans":
                self._send(404, {"error": f"unknown path {self.path!r}; POST to /plans"})
                return
            try:
                length = int(self.headers.get("Content-Length", 0))
                data = json.loads(self.rfile.read(length) or b"null")
                twin.push_plan(plan_from_json(data))
            except json.JSONDecodeError as exc:
                self._send(400, {"error": f"body is not JSON: {exc}", "problems": []})
            except ValidationError as exc:
                self._send(400, {"error": str(exc), "problems": exc.problems})
            else:
                self._send(202, {"accepted": True, "applies": "at the light's next cycle boundary"})

    return Handler


def push_plan_http(port: int, plan: dict, *, timeout_s: float = 10.0) -> dict:
    """POST a plan (JSON form) to a twin served on ``127.0.0.1:port``; return its answer.

    Raises
    ------
    ValidationError
        If the twin rejects the plan (HTTP 400).
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
        raise ValidationError(body.get("error", str(exc)), body.get("problems", [])) from exc
    except OSError as exc:
        msg = f"No twin answers on 127.0.0.1:{port}: {exc}"
        raise SimulationError(msg) from exc


def status_http(port: int, *, timeout_s: float = 10.0) -> dict:
    """Return ``GET /status`` of a twin served on ``127.0.0.1:port``.

    Raises
    ------
    SimulationError
        If no twin answers on that port.
    """
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=timeout_s) as resp:
            return json.loads(resp.read())
    except OSError as exc:
        msg = f"No twin answers on 127.0.0.1:{port}: {exc}"
        raise SimulationError(msg) from exc
