"""docs/service.md describes the service as it is: every route and every setting, with its default."""

from __future__ import annotations

import re
from pathlib import Path

from citybrain.app.service import ServiceSettings, create_app
from citybrain.app.service.settings import SETTINGS

from .test_service import NET

DOC = (Path(__file__).resolve().parents[3] / "docs" / "service.md").read_text()


def test_every_route_is_documented(tmp_path):
    app = create_app(ServiceSettings(network=NET, db=f"sqlite:///{tmp_path / 'plans.db'}"))
    documented = set(re.findall(r"^\| `(GET|POST|DELETE) (/[^` ]*)`", DOC, flags=re.MULTILINE))
    ours = {(m.upper(), path) for path, methods in app.openapi()["paths"].items() for m in methods}
    assert ours - documented == set(), "routes missing from docs/service.md"
    assert documented - ours == set(), "docs/service.md documents routes the service does not have"


def test_every_setting_is_documented_with_its_default():
    rows = {m[0]: m[1] for m in re.findall(r"^\| (\w+) \| `--[\w-]+` \| ([^|]+) \|", DOC, flags=re.MULTILINE)}
    for s in SETTINGS:
        assert s.name in rows, f"setting {s.name} missing from docs/service.md"
        want = "(required)" if s.default is None and s.name == "network" else (
            "none" if s.default is None else f"`{s.default}`")
        assert rows[s.name].strip() == want, s.name
