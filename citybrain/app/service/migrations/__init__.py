"""Alembic migrations of the plan store."""
