"""Locate the SUMO programs and tools installed from the package registry (``eclipse-sumo``).

No system SUMO and no hand-set ``SUMO_HOME``: the wheel carries the binaries.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .exceptions import BackendUnavailableError, CityBrainError

__all__ = ["sumo_home", "sumo_binary", "sumo_tool", "run_sumo_program"]


def sumo_home() -> Path:
    """Return the SUMO installation folder of the ``eclipse-sumo`` wheel.

    Raises
    ------
    BackendUnavailableError
        If ``eclipse-sumo`` is not installed.
    """
    try:
        import sumo
    except ImportError as exc:  # pragma: no cover - a core dependency
        msg = "SUMO is not installed. Install it with: pip install 'eclipse-sumo==1.28.*'"
        raise BackendUnavailableError(msg) from exc
    return Path(sumo.SUMO_HOME)


def sumo_binary(name: str = "sumo") -> Path:
    """Return the path of a SUMO program (``sumo``, ``netconvert``, ``netgenerate`` ...)."""
    path = sumo_home() / "bin" / name
    if not path.exists():
        msg = f"SUMO program {name!r} not found in {path.parent}."
        raise BackendUnavailableError(msg)
    return path


def sumo_tool(relative: str) -> Path:
    """Return the path of a script under SUMO's ``tools/`` folder (``tlsCoordinator.py`` ...)."""
    path = sumo_home() / "tools" / relative
    if not path.exists():
        msg = f"SUMO tool {relative!r} not found under {path.parent}."
        raise BackendUnavailableError(msg)
    return path


def run_sumo_program(name: str, args: list[str], *, timeout_s: float = 600.0) -> str:
    """Run a SUMO program and return its standard error (warnings); raise on failure.

    Raises
    ------
    CityBrainError
        If the program exits non-zero; the message carries SUMO's last error lines.
    """
    env = dict(os.environ, SUMO_HOME=str(sumo_home()))
    proc = subprocess.run(
        [str(sumo_binary(name)), *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        errors = [line for line in proc.stderr.splitlines() if line.startswith("Error")]
        detail = "; ".join(errors[-3:]) or proc.stderr.strip()[-500:]
        msg = f"{name} failed (exit {proc.returncode}): {detail}"
        raise CityBrainError(msg)
    return proc.stderr
