"""The plan service's tables (SQLAlchemy Core; created by the Alembic migrations in ``migrations/``).

Times are UTC ISO 8601 text (``2026-12-03T21:00:00.123456Z``), which sorts as time on every
database. ``plan_versions.body`` is the plan's JSON exactly as stored; a version is never changed
after it is written, only its lifecycle columns (status, check, approval). ``audit`` is append-only:
triggers refuse UPDATE and DELETE on it.
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, ForeignKey, Integer, MetaData, String, Table, Text

__all__ = ["audit", "lights", "metadata", "plan_versions", "plans", "push_lights", "pushes", "tokens"]

metadata = MetaData()

tokens = Table(
    "tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", String(32), nullable=False),
    Column("revoked_at", String(32)),
)

plans = Table(
    "plans", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False),
    Column("author", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
)

plan_versions = Table(
    "plan_versions", metadata,
    Column("plan_id", Integer, ForeignKey("plans.id"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("body", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("lights", Text, nullable=False),  # JSON list of tls ids
    Column("author", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("status", String(20), nullable=False),
    Column("check_result", Text),  # JSON {"safe", "errors", "warnings"} of the last check
    Column("checked_by", String(200)),
    Column("checked_at", String(32)),
    Column("approved_by", String(200)),
    Column("approved_at", String(32)),
)

lights = Table(
    "lights", metadata,
    Column("tls", String(200), primary_key=True),
    Column("active_plan_id", Integer),
    Column("active_version", Integer),
    Column("active_push_id", Integer),
    Column("target", Text),
    Column("busy_push_id", Integer),  # the push in flight on this light (the lock), or NULL
    Column("last_push_failed", Boolean, nullable=False, default=False),
    Column("updated_at", String(32)),
)

pushes = Table(
    "pushes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plan_id", Integer, nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(20), nullable=False),  # push | rollback
    Column("restores_push_id", Integer),  # for a rollback: the acknowledged push it restores
    Column("target", Text, nullable=False),
    Column("user", String(200), nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("status", String(20), nullable=False),  # in-flight | acknowledged | failed
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32)),
    Column("message", Text),
    Column("sha256", String(64), nullable=False),
)

push_lights = Table(
    "push_lights", metadata,
    Column("push_id", Integer, ForeignKey("pushes.id"), primary_key=True),
    Column("tls", String(200), primary_key=True),
    Column("sha256", String(64)),  # what the target acknowledged for this light
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("user", String(200), nullable=False),
    Column("role", String(20), nullable=False),
    Column("action", String(30), nullable=False),
    Column("plan_id", Integer),
    Column("from_version", Integer),
    Column("to_version", Integer),
    Column("lights", Text, nullable=False),  # ",A,B," so that a light filters with LIKE '%,A,%'
    Column("result", String(20), nullable=False),
    Column("sha256", String(64)),
    Column("detail", Text, nullable=False),
)
