"""The service's public routes (no token): the latest traffic state, read-only and rate-limited per client."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

__all__ = ["RateLimit", "public_router"]


class RateLimit:
    """At most ``per_minute`` requests per client address in any 60 s window."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_s(self, client: str) -> float:
        """0 if ``client`` may go on now (the request is counted), else seconds until it may."""
        now = time.monotonic()
        with self._lock:
            seen = self._seen.setdefault(client, deque())
            while seen and now - seen[0] >= 60.0:
                seen.popleft()
            if len(seen) >= self.per_minute:
                return 60.0 - (now - seen[0])
            seen.append(now)
            return 0.0


class _StateFile:
    """The traffic-state GeoJSON file, re-read when it changes."""

    def __init__(self, path: Path | None) -> None:
        self.path, self._key, self._state = path, None, None

    def read(self) -> dict:
        stat = self.path.stat()
        key = (stat.st_mtime_ns, stat.st_size)
        if key != self._key:
            state = json.loads(self.path.read_text())
            if not isinstance(state, dict) or state.get("type") != "FeatureCollection":
                raise ValueError("not a GeoJSON FeatureCollection")
            self._key, self._state = key, state
        return self._state


def _error(status: int, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "problems": []}, status_code=status, headers=headers)


def public_router(traffic_state: Path | None, per_minute: int) -> APIRouter:
    """The ``/public/...`` routes over the state file ``traffic_state`` (``None``: 404)."""
    router = APIRouter(prefix="/public", tags=["public"])
    limit, state_file = RateLimit(per_minute), _StateFile(traffic_state)

    @router.get("/traffic-state")
    def traffic_state_now(request: Request):
        """The latest traffic state (GeoJSON: per link flow, speed, travel time, index, level; per area an index)."""
        wait = limit.wait_s(request.client.host if request.client else "?")
        if wait > 0:
            return _error(429, f"at most {per_minute} requests a minute; try again in {wait:.0f} s",
                          {"Retry-After": str(max(1, round(wait)))})
        if state_file.path is None:
            return _error(404, "this service publishes no traffic state (serve --traffic-state FILE)")
        try:
            return state_file.read()
        except FileNotFoundError:
            return _error(404, f"no traffic state yet: {state_file.path} has not been written")
        except (OSError, ValueError) as exc:
            return _error(503, f"the traffic state {state_file.path} cannot be read now: {exc}")

    return router
