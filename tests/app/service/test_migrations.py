"""The migrated store equals the schema module, and SQLite reads never wait for a writer."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from citybrain.app.service.db import connect, reader
from citybrain.app.service.schema import metadata, plans


def test_migrations_build_exactly_the_schema(db_url: str) -> None:
    engine = connect(db_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_audit_log_refuses_update_and_delete(db_url: str) -> None:
    engine = connect(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO audit (at, \"user\", role, action, lights, result, detail) "
                             "VALUES ('t', 'u', 'admin', 'x', ',', 'ok', 'd')"))
    for sql in ("UPDATE audit SET detail = 'changed'", "DELETE FROM audit"):
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(sql))
        except sa.exc.DBAPIError as exc:
            assert "append-only" in str(exc)
        else:
            raise AssertionError(f"{sql} was allowed")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT detail FROM audit")).scalars().all() == ["d"]
    engine.dispose()


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path) -> None:
    engine = connect(tmp_path / "plans.db")
    with engine.begin() as conn:
        conn.execute(plans.insert().values(name="a", author="e", created_at="t"))
    with engine.begin() as writer:  # holds SQLite's write lock until the block ends
        writer.execute(plans.insert().values(name="b", author="e", created_at="t"))
        with reader(engine).connect() as conn:
            seen = conn.execute(sa.select(plans.c.name)).scalars().all()
    engine.dispose()
    assert seen == ["a"]
