"""Alembic environment: migrate the connection :func:`citybrain.app.service.db.upgrade` passes in."""

from alembic import context

from citybrain.app.service.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata)
context.run_migrations()
