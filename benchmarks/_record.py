"""Shared helper of the benchmark scripts: append one JSON line with machine, versions, commit."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real"


def _commit() -> str:
    proc = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.stdout.strip() or "unknown"


def record(topic: str, figures: dict) -> Path:
    """Append ``figures`` with machine, package versions and commit to ``results/<topic>.jsonl``."""
    RESULTS.mkdir(exist_ok=True)
    line = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "commit": _commit(),
        "machine": {"cpu": platform.processor() or platform.machine(), "python": platform.python_version()},
        "versions": {p: version(p) for p in ("numpy", "numba", "networkx", "sumolib", "eclipse-sumo")},
        **figures,
    }
    path = RESULTS / f"{topic}.jsonl"
    with path.open("a") as fh:
        fh.write(json.dumps(line) + "\n")
    return path
