"""The db_url fixture gives a working, empty database on SQLite and PostgreSQL."""

import sqlalchemy as sa

from .conftest import _driver_url


def test_db_url_round_trip(db_url: str) -> None:
    engine = sa.create_engine(_driver_url(db_url))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        conn.execute(sa.text("INSERT INTO t VALUES (7)"))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT x FROM t")).scalar() == 7
    engine.dispose()
