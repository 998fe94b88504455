"""Connect to the plan store: SQLite by default, PostgreSQL by URL, the same code for both.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that two writers queue instead of failing half-way; reads go through
:func:`reader`, whose transactions begin deferred so that they never wait for a writer. The schema
is brought up to date by Alembic (``migrations/``) on connect.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event

from citybrain.exceptions import ValidationError

__all__ = ["connect", "database_url", "reader", "upgrade"]

#: Seconds a SQLite writer waits for another one to finish.
SQLITE_BUSY_TIMEOUT_S = 30.0


def database_url(db: str | Path) -> str:
    """The SQLAlchemy URL of ``--db``: a file path or ``sqlite:///...``, or ``postgresql://...``.

    Raises
    ------
    ValidationError
        For another scheme.
    """
    text = str(db)
    if text.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + text.split("://", 1)[1]
    if text.startswith(("postgresql+psycopg://", "sqlite://")):
        return text
    if "://" in text:
        msg = f"--db {text!r}: expected a SQLite file (plans.db or sqlite:///plans.db) or a postgresql:// URL"
        raise ValidationError(msg)
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def connect(db: str | Path) -> Engine:
    """Return an engine on ``db`` (see :func:`database_url`) with the schema up to date.

    Raises
    ------
    ValidationError
        If the URL is unusable or the database cannot be reached or migrated.
    """
    url = database_url(db)
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            msg = f"--db {db}: the folder {Path(path).parent} does not exist"
            raise ValidationError(msg)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    else:
        engine = create_engine(url, pool_size=20, max_overflow=40, pool_pre_ping=True)
    try:
        upgrade(engine)
    except Exception as exc:  # a database that cannot be reached, a file that is no database
        engine.dispose()
        msg = f"--db {db}: cannot open the plan store: {' '.join(str(exc).split())[:300]}"
        raise ValidationError(msg) from exc
    return engine


def reader(engine: Engine) -> Engine:
    """The same engine for reads only: on SQLite its transactions begin deferred, not immediate."""
    return engine.execution_options(**{_READ_ONLY: True})


_READ_ONLY = "citybrain_read_only"


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(_READ_ONLY) else "BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    dbapi_conn.isolation_level = None  # transactions are begun by the "begin" listener
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
    cur.close()


def upgrade(engine: Engine) -> None:
    """Run the Alembic migrations up to ``head`` on ``engine``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
