"""Fixtures of the plan-service tests: a database URL on SQLite and on PostgreSQL.

``CITYBRAIN_TEST_POSTGRES`` (set by ``.ci/run``) names a PostgreSQL cluster on which each test gets
a fresh database; without it, a session-scoped throw-away cluster is started when ``initdb`` is found.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

PG_ENV = "CITYBRAIN_TEST_POSTGRES"


def _pg_bin() -> str | None:
    found = shutil.which("initdb")
    if found:
        return str(Path(found).parent)
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    return dirs[-1] if dirs else None


def _driver_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[str]:
    """Return the URL of a PostgreSQL database to create test databases from."""
    if os.environ.get(PG_ENV):
        yield os.environ[PG_ENV]
        return
    pgbin = _pg_bin()
    if pgbin is None:
        pytest.skip(f"PostgreSQL not available: set {PG_ENV} or install PostgreSQL (initdb)")
    pgdir = tempfile.mkdtemp(prefix="citybrain-pg.")
    as_pg: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(pgdir, "postgres")
        as_pg = ["runuser", "-u", "postgres", "--"]
    data = f"{pgdir}/data"
    subprocess.run([*as_pg, f"{pgbin}/initdb", "-D", data, "-U", "postgres", "-A", "trust"],
                   check=True, capture_output=True)
    subprocess.run([*as_pg, f"{pgbin}/pg_ctl", "-D", data, "-l", f"{pgdir}/log", "-w",
                    "-o", f"-k {pgdir} -c listen_addresses=''", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/postgres?host={pgdir}"
    finally:
        subprocess.run([*as_pg, f"{pgbin}/pg_ctl", "-D", data, "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(pgdir, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Return a fresh database URL: a SQLite file in tmp_path, or a new PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'plans.db'}"
        return
    base = request.getfixturevalue("pg_cluster")
    name = f"cb_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(_driver_url(base), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    head, _, query = base.partition("?")
    yield f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
