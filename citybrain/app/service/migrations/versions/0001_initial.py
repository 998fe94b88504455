"""The first schema: tokens, plans and their versions, lights, pushes, the append-only audit log.

The tables are written out here, not taken from ``schema.py``, so that this revision stays what
it was when later revisions change the schema; ``tests/app/service/test_migrations.py`` checks
that the migrated database equals ``schema.metadata``.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_SQLITE_TRIGGERS = [
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
_POSTGRES_TRIGGERS = [
    "CREATE FUNCTION audit_append_only() RETURNS trigger AS $$ "
    "BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit "
    "FOR EACH ROW EXECUTE FUNCTION audit_append_only()",
]


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "plan_versions",
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id"), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("lights", sa.Text, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("check_result", sa.Text),
        sa.Column("checked_by", sa.String(200)),
        sa.Column("checked_at", sa.String(32)),
        sa.Column("approved_by", sa.String(200)),
        sa.Column("approved_at", sa.String(32)),
    )
    op.create_table(
        "lights",
        sa.Column("tls", sa.String(200), primary_key=True),
        sa.Column("active_plan_id", sa.Integer),
        sa.Column("active_version", sa.Integer),
        sa.Column("active_push_id", sa.Integer),
        sa.Column("target", sa.Text),
        sa.Column("busy_push_id", sa.Integer),
        sa.Column("last_push_failed", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.String(32)),
    )
    op.create_table(
        "pushes",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("plan_id", sa.Integer, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("restores_push_id", sa.Integer),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("started_at", sa.String(32), nullable=False),
        sa.Column("finished_at", sa.String(32)),
        sa.Column("message", sa.Text),
        sa.Column("sha256", sa.String(64), nullable=False),
    )
    op.create_table(
        "push_lights",
        sa.Column("push_id", sa.Integer, sa.ForeignKey("pushes.id"), primary_key=True),
        sa.Column("tls", sa.String(200), primary_key=True),
        sa.Column("sha256", sa.String(64)),
    )
    op.create_table(
        "audit",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("user", sa.String(200), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("plan_id", sa.Integer),
        sa.Column("from_version", sa.Integer),
        sa.Column("to_version", sa.Integer),
        sa.Column("lights", sa.Text, nullable=False),
        sa.Column("result", sa.String(20), nullable=False),
        sa.Column("sha256", sa.String(64)),
        sa.Column("detail", sa.Text, nullable=False),
    )
    for sql in _SQLITE_TRIGGERS if op.get_bind().dialect.name == "sqlite" else _POSTGRES_TRIGGERS:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER audit_append_only ON audit")
        op.execute("DROP FUNCTION audit_append_only()")
    for table in ("audit", "push_lights", "pushes", "lights", "plan_versions", "plans", "tokens"):
        op.drop_table(table)
