"""``citybrain tokens``: make, list and revoke the plan service's API tokens, straight in its database."""

from __future__ import annotations

import click

from citybrain.app.service import auth
from citybrain.app.service.db import connect

__all__ = ["tokens"]

_DB = click.option("--db", required=True, help="The plan service's database: a SQLite file or a postgresql:// URL.")


@click.group()
def tokens() -> None:
    """Make, list and revoke API tokens (the way to make the first admin)."""


@tokens.command("create")
@_DB
@click.option("--role", required=True, type=click.Choice(auth.ROLES), help="What the token may do.")
@click.option("--name", required=True, help="The user the token belongs to.")
def create(db: str, role: str, name: str) -> None:
    """Make a token; it is printed once, as the last word on standard output."""
    token_id, token = auth.create_token(connect(db), name, role)
    click.echo(f"token {token_id} for {name} ({role}): {token}")


@tokens.command("list")
@_DB
def list_(db: str) -> None:
    """List every token (never its value)."""
    for t in auth.list_tokens(connect(db)):
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "live"
        click.echo(f"{t['id']:>4}  {t['name']:<20} {t['role']:<9} {t['created_at']}  {state}")


@tokens.command("revoke")
@_DB
@click.argument("token_id", type=int)
def revoke(db: str, token_id: int) -> None:
    """Revoke the token with id TOKEN_ID."""
    auth.revoke_token(connect(db), token_id)
    click.echo(f"token {token_id} revoked")
