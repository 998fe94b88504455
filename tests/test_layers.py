"""The layer rule (``../shared/ARCHITECTURE.md``): imports only point down, checked by import-linter."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def _contract(contract_id: str) -> dict:
    return next(c for c in CONFIG["contracts"] if c["id"] == contract_id)


def _lint(folder: Path) -> subprocess.CompletedProcess:
    script = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True))"
    return subprocess.run([sys.executable, "-c", script], cwd=folder, capture_output=True, text=True,
                          env={"PYTHONPATH": str(folder), "PATH": ""}, timeout=300)


def _engine_modules() -> set[str]:
    names = set()
    for path in (ROOT / "citybrain").iterdir():
        if path.name.startswith("__") or path.name == "app":
            continue
        if path.suffix == ".py" or (path / "__init__.py").is_file():
            names.add(f"citybrain.{path.stem}")
    return names


def test_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_engine_module_is_under_the_contracts():
    assert set(_contract("engine")["source_modules"]) == _engine_modules()
    below_kernels = _engine_modules() - {"citybrain._kernels", "citybrain.config"}
    assert set(_contract("kernels")["forbidden_modules"]) == below_kernels


def test_an_upward_import_breaks_the_contracts(tmp_path):
    for folder in ("citybrain", "simulation"):
        shutil.copytree(ROOT / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / "citybrain" / "exceptions.py"
    target.write_text(target.read_text() + "\n\ndef _upward():\n    import simulation  # noqa: F401\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "The engine imports neither the twin nor the shells BROKEN" in result.stdout
    assert "citybrain.exceptions -> simulation" in result.stdout
