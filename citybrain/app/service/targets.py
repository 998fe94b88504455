"""Push targets: where the plan service sends a plan, behind one interface (:class:`PushTarget`).

A target takes a whole :class:`~citybrain.plans.NetworkPlan` (:meth:`PushTarget.push`, which
answers a :class:`PushAck`) and says what each light runs now (:meth:`PushTarget.running`,
one :class:`LightReport` per light). :func:`target_for` picks the target of a URL:

``http://127.0.0.1:PORT``
    :class:`LiveTwinTarget`: a running twin's plan endpoint (``citybrain simulate ... --serve
    PORT``, :mod:`simulation.live`); the twin's own gate checks the plan again.
``file:///ABS/PATH.json``, ``.add.xml``, ``.utdf.csv`` or ``.ntcip.json``
    :class:`FileTarget`: the plan JSON, SUMO ``tlLogic``, Synchro UTDF or NTCIP 1202 objects
    (the writers of ``citybrain plans export``), written atomically, only under the service's
    ``export_dir``.

A controller adapter (NTCIP, a vendor API) is one more class with ``url``, ``push`` and
``running``, and one more scheme in :func:`target_for`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import httpx

from citybrain.exceptions import CityBrainError, ValidationError
from citybrain.network import RoadNetwork
from citybrain.plans import NetworkPlan, plans_from_dict, plans_to_dict
from citybrain.plans.formats import export_plan, plan_sha256, write_plans_json

__all__ = ["LightReport", "PushAck", "PushTarget", "TargetError", "LiveTwinTarget", "FileTarget", "WRITERS",
           "target_for"]


@dataclass(frozen=True, slots=True)
class LightReport:
    """What a target says one light runs.

    Attributes
    ----------
    tls : str
        SUMO traffic light id.
    sha256 : str or None
        ``plan_sha256`` of the plan it runs (None: no plan of ours, or unknown).
    pending : str or None
        ``plan_sha256`` of a plan accepted but not yet switched in.
    controller : str or None
        The light's controller as the target names it (``"plan"``, ``"file"`` ...).
    """

    tls: str
    sha256: str | None
    pending: str | None
    controller: str | None = None


@dataclass(frozen=True, slots=True)
class PushAck:
    """A target's acknowledgement: ``lights`` maps tls -> ``plan_sha256`` of the plan it accepted."""

    lights: dict[str, str]
    message: str = ""


class PushTarget(Protocol):
    """Anything the service can push a plan to."""

    url: str

    def push(self, plan: NetworkPlan) -> PushAck:
        """Send ``plan``; raise :class:`TargetError` when refused or unreachable."""
        ...

    def running(self) -> dict[str, LightReport]:
        """Return what each light runs; raise :class:`TargetError` when unreachable."""
        ...


class TargetError(CityBrainError):
    """A push or read-back failed: the target refused (``refused=True``) or could not be reached.

    Parameters
    ----------
    message : str
        One line naming the target and what went wrong.
    problems : list of str
        Every problem (the target's own list when it refused); ``[message]`` when empty.
    refused : bool
        True when the target answered no, False when it could not be reached or gave no answer.
    """

    def __init__(self, message: str, problems: list[str] | None = None, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems) if problems else [message]
        self.refused = refused


class LiveTwinTarget:
    """A running twin's plan endpoint (:mod:`simulation.live`).

    Parameters
    ----------
    url : str
        ``http://HOST:PORT`` of the endpoint (no path).
    timeout_s : float
        Seconds to wait for each answer.
    """

    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s

    def _request(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        try:
            return httpx.request(method, self.url + path, json=body, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            msg = f"No twin answers at {self.url}: {exc or type(exc).__name__}"
            raise TargetError(msg, refused=False) from exc

    def _json(self, resp: httpx.Response) -> dict:
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            msg = f"{self.url}{resp.request.url.path} answered HTTP {resp.status_code} with no JSON object"
            raise TargetError(msg, refused=False)
        return body

    def push(self, plan: NetworkPlan) -> PushAck:
        """POST the plan JSON to ``/plans``; the twin switches each light at its next cycle boundary.

        Raises
        ------
        TargetError
            ``refused=True`` if the twin answers 400/422 (its problems listed); ``refused=False``
            if it cannot be reached or answers anything but 202.
        """
        resp = self._request("POST", "/plans", plans_to_dict(plan))
        body = self._json(resp)
        if resp.status_code in (400, 422):
            msg = f"{self.url} refused the plan: {body.get('error', resp.reason_phrase)}"
            raise TargetError(msg, [str(p) for p in body.get("problems") or []], refused=True)
        lights = body.get("lights")
        if resp.status_code != 202 or not isinstance(lights, list):
            msg = f"{self.url} did not acknowledge the plan: HTTP {resp.status_code} {body.get('error', '')}".rstrip()
            raise TargetError(msg, refused=False)
        return PushAck({x["tls"]: x["sha256"] for x in lights}, str(body.get("applies", "")))

    def running(self) -> dict[str, LightReport]:
        """What each light runs now, from ``GET /plan``.

        Raises
        ------
        TargetError
            If the twin cannot be reached or answers anything but 200 with its lights.
        """
        resp = self._request("GET", "/plan")
        body = self._json(resp)
        lights = body.get("lights")
        if resp.status_code != 200 or not isinstance(lights, dict):
            msg = f"{self.url}/plan answered HTTP {resp.status_code} without its lights"
            raise TargetError(msg, refused=False)
        return {tls: LightReport(tls, x.get("sha256"), x.get("pending"), x.get("controller"))
                for tls, x in lights.items()}


#: File export formats by file-name ending (longest first): ``writer(plan, network, path) -> path``,
#: the writers of ``citybrain plans export`` (:func:`citybrain.plans.formats.export_plan`).
WRITERS: dict[str, Callable[[NetworkPlan, RoadNetwork, Path], Path]] = {
    ".utdf.csv": lambda plan, network, path: export_plan(plan, network, path, "utdf"),
    ".ntcip.json": lambda plan, network, path: export_plan(plan, network, path, "ntcip"),
    ".add.xml": lambda plan, network, path: export_plan(plan, network, path, "sumo"),
    ".json": lambda plan, network, path: export_plan(plan, network, path, "json"),
}


def _ending(path: Path) -> str | None:
    return next((end for end in WRITERS if path.name.endswith(end) and len(path.name) > len(end)), None)


def _first_period_shas(plan: NetworkPlan) -> dict[str, str]:
    return {p.tls: plan_sha256(p) for p in plan.periods[0].plans}


class FileTarget:
    """A plan file export (:data:`WRITERS` by ending), written atomically, only under ``export_dir``.

    Every format but the plan JSON (``.json``) gets a sidecar ``PATH.json`` (the plan JSON) that
    :meth:`running` reads back. A plan that does not fit the network, or that the format cannot
    hold (a UTDF file holds one period), is refused.

    Parameters
    ----------
    path : Path
        The file to write; absolute, ending in one of :data:`WRITERS`.
    export_dir : Path
        The folder every file target must lie under.
    network : RoadNetwork
        The network the plans are for.

    Raises
    ------
    ValidationError
        If the path is relative, has another ending, or lies outside ``export_dir``.
    """

    def __init__(self, path: Path, *, export_dir: Path, network: RoadNetwork) -> None:
        path = Path(path)
        endings = ", ".join(list(WRITERS)[:-1]) + " or " + list(WRITERS)[-1]
        if not path.is_absolute():
            msg = f"file target {str(path)!r}: expected an absolute path"
            raise ValidationError(msg)
        if _ending(path) is None:
            msg = f"file target {str(path)!r}: expected a file name ending in {endings}"
            raise ValidationError(msg)
        root, resolved = Path(export_dir).resolve(), path.resolve()
        if not resolved.is_relative_to(root):
            msg = f"file target {str(path)!r} lies outside the export folder {str(root)!r}; write under it"
            raise ValidationError(msg)
        self.path = resolved
        self.url = resolved.as_uri()
        self.network = network
        self._json_path = resolved if _ending(resolved) == ".json" else resolved.with_name(resolved.name + ".json")

    def push(self, plan: NetworkPlan) -> PushAck:
        """Write the plan (atomically: a temporary file, then ``os.replace``).

        Returns
        -------
        PushAck
            Each light's ``plan_sha256`` in the plan's first period.

        Raises
        ------
        TargetError
            ``refused=True`` if the plan does not fit the network or the format (every problem
            listed, nothing written); ``refused=False`` if the file cannot be written (naming it).
        """
        ending = _ending(self.path)
        writer = WRITERS[ending]
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _atomic(lambda p, path: writer(p, self.network, path), plan, self.path)
            if self._json_path != self.path:
                _atomic(write_plans_json, plan, self._json_path)
        except ValidationError as exc:
            msg = f"{self.url} refused the plan ({ending}): {'; '.join(exc.problems)}"
            raise TargetError(msg, exc.problems, refused=True) from exc
        except OSError as exc:
            msg = f"cannot write {self.path}: {exc.strerror or exc}"
            raise TargetError(msg, refused=False) from exc
        return PushAck(_first_period_shas(plan), f"written to {self.path}")

    def running(self) -> dict[str, LightReport]:
        """Each light's ``plan_sha256`` (first period) of the plan in the file; ``{}`` if there is none.

        Raises
        ------
        TargetError
            If the file exists but cannot be read as a plan.
        """
        try:
            text = self._json_path.read_text()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            msg = f"cannot read {self._json_path}: {exc.strerror or exc}"
            raise TargetError(msg, refused=False) from exc
        try:
            plan = plans_from_dict(json.loads(text), source=str(self._json_path))
        except (ValueError, ValidationError) as exc:
            msg = f"{self._json_path} is no plan file: {str(exc).splitlines()[0]}"
            raise TargetError(msg, refused=False) from exc
        return {tls: LightReport(tls, sha, None, "file") for tls, sha in _first_period_shas(plan).items()}


def _atomic(writer: Callable[[NetworkPlan, Path], Path], plan: NetworkPlan, path: Path) -> None:
    """Write with ``writer`` to a temporary file beside ``path``, flush it to disk, rename it over ``path``."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")  # unique: threads may push at once
    try:
        writer(plan, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def target_for(url: str, *, export_dir: Path | None, timeout_s: float, network: RoadNetwork | None = None) -> PushTarget:
    """Return the push target of a URL (the schemes of the module docstring).

    Parameters
    ----------
    url : str
        ``http://HOST:PORT`` (a live twin) or ``file:///ABS/PATH.json|.add.xml`` (an export).
    export_dir : Path or None
        Folder file targets must lie under; None refuses file targets.
    timeout_s : float
        Seconds a live target may take to answer.
    network : RoadNetwork or None
        The network file targets write plans for; None refuses file targets.

    Raises
    ------
    ValidationError
        If the URL is malformed, of another scheme, or a file outside ``export_dir``.
    """
    if not isinstance(url, str) or not url:
        msg = f"push target: expected a URL (http://127.0.0.1:PORT or file:///PATH.json), got {url!r}"
        raise ValidationError(msg)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        msg = f"push target {url!r}: not a valid URL ({exc})"
        raise ValidationError(msg) from exc
    if parts.scheme in ("http", "https"):
        if not parts.hostname or port is None or parts.path not in ("", "/") or parts.query or parts.fragment:
            msg = f"push target {url!r}: expected a live twin's endpoint as {parts.scheme}://HOST:PORT with no path"
            raise ValidationError(msg)
        return LiveTwinTarget(f"{parts.scheme}://{parts.netloc}", timeout_s=timeout_s)
    if parts.scheme == "file":
        if export_dir is None:
            msg = f"push target {url!r}: file targets are off; start the service with an export folder (export_dir)"
            raise ValidationError(msg)
        if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
            msg = f"push target {url!r}: expected file:///ABSOLUTE/PATH (no host, query or fragment)"
            raise ValidationError(msg)
        if network is None:
            msg = f"push target {url!r}: file targets need the road network the plans are for"
            raise ValidationError(msg)
        return FileTarget(Path(unquote(parts.path)), export_dir=export_dir, network=network)
    msg = f"push target {url!r}: unknown scheme {parts.scheme!r}; expected http:// (a live twin) or file:// (an export)"
    raise ValidationError(msg)
