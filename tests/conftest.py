"""Shared test fixtures: the real-world scenarios folder and small generated networks."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real"
NETWORKS = ROOT / "networks"
DATA = ROOT / "tests" / "data"

REAL_NETS = {
    "cologne1": "resco/cologne1/cologne1.net.xml",
    "cologne3": "resco/cologne3/cologne3.net.xml",
    "ingolstadt1": "resco/ingolstadt1/ingolstadt1.net.xml",
    "ingolstadt7": "resco/ingolstadt7/ingolstadt7.net.xml",
    "atlanta": "atlanta/atlanta_1x5.net.xml",
    "hangzhou_bc-tyc": "hangzhou/1x1_bc-tyc_18041610_1h/hangzhou_1x1_bc-tyc_18041610_1h.net.xml",
    "hangzhou_kn-hz": "hangzhou/1x1_kn-hz_18041608_1h/hangzhou_1x1_kn-hz_18041608_1h.net.xml",
    "hangzhou_qc-yn": "hangzhou/1x1_qc-yn_18041608_1h/hangzhou_1x1_qc-yn_18041608_1h.net.xml",
    "hangzhou_sb-sx": "hangzhou/1x1_sb-sx_18041607_1h/hangzhou_1x1_sb-sx_18041607_1h.net.xml",
}


def real_path(relative: str) -> Path:
    """Path of a file under ../shared/real, skipping the test when the folder is absent."""
    path = REAL / relative
    if not path.exists():
        pytest.skip(f"real-world scenarios not found at {REAL} (they live beside the repo in shared/real)")
    return path


@pytest.fixture(params=sorted(REAL_NETS))
def real_net_path(request) -> Path:
    """Each real-world network file in turn."""
    return real_path(REAL_NETS[request.param])
