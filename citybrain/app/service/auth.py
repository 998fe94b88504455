"""Users and their tokens: roles ``viewer < engineer < operator < admin``.

A token is random (``secrets.token_urlsafe``), shown once when it is made and stored only as its
SHA-256; a request names its token in ``Authorization: Bearer ...``. The token's name is the user.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine, insert, select, update

from citybrain.exceptions import ValidationError

from .db import reader
from .errors import Forbidden, NotFound, Unauthorized
from .schema import audit, tokens

__all__ = ["ROLES", "User", "authenticate", "create_token", "list_tokens", "now", "require_role", "revoke_token"]

#: Roles from least to most allowed; each may do everything of the roles before it.
ROLES = ("viewer", "engineer", "operator", "admin")


def now() -> str:
    """The current UTC time as ISO 8601 text with microseconds (sorts as time)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class User:
    """Who made a request: the token's name, role and id."""

    name: str
    role: str
    token_id: int


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        msg = f"role {role!r}: expected one of {', '.join(ROLES)}"
        raise ValidationError(msg)


def create_token(engine: Engine, name: str, role: str, *, by: User | None = None) -> tuple[int, str]:
    """Make a token for user ``name`` with ``role``; return ``(id, token)`` (the only time it is shown).

    Raises
    ------
    ValidationError
        For an unknown role or an empty name.
    """
    _check_role(role)
    if not name.strip():
        msg = "token name: must be a non-empty user name"
        raise ValidationError(msg)
    token = "cb_" + secrets.token_urlsafe(32)
    at = now()
    with engine.begin() as conn:
        token_id = conn.execute(insert(tokens).values(
            name=name, role=role, token_sha256=_hash(token), created_at=at)).inserted_primary_key[0]
        conn.execute(insert(audit).values(
            at=at, user=by.name if by else "(command line)", role=by.role if by else "admin", action="token-create",
            lights=",", result="ok", detail=f"token {token_id} for {name!r} with role {role}"))
    return int(token_id), token


def authenticate(engine: Engine, header: str | None) -> User:
    """The user of an ``Authorization`` header.

    Raises
    ------
    Unauthorized
        If there is no bearer token, or it is unknown or revoked.
    """
    if not header or not header.lower().startswith("bearer ") or not header[7:].strip():
        msg = "no token: send 'Authorization: Bearer TOKEN' (make one with `citybrain tokens create`)"
        raise Unauthorized(msg)
    with reader(engine).connect() as conn:
        row = conn.execute(select(tokens).where(tokens.c.token_sha256 == _hash(header[7:].strip()))).first()
    if row is None or row.revoked_at is not None:
        msg = "unknown or revoked token"
        raise Unauthorized(msg)
    return User(row.name, row.role, row.id)


def require_role(user: User, role: str, action: str) -> None:
    """Refuse ``action`` unless ``user`` has ``role`` or a higher one.

    Raises
    ------
    Forbidden
        Naming the role needed and the user's own.
    """
    if ROLES.index(user.role) < ROLES.index(role):
        msg = f"{action} needs the {role} role; {user.name!r} is {user.role}"
        raise Forbidden(msg)


def list_tokens(engine: Engine) -> list[dict]:
    """Every token (never its value): id, name, role, created_at, revoked_at."""
    with reader(engine).connect() as conn:
        rows = conn.execute(select(tokens.c.id, tokens.c.name, tokens.c.role, tokens.c.created_at,
                                   tokens.c.revoked_at).order_by(tokens.c.id)).all()
    return [dict(r._mapping) for r in rows]


def revoke_token(engine: Engine, token_id: int, *, by: User | None = None) -> None:
    """Revoke a token (audited).

    Raises
    ------
    NotFound
        If there is no live token with that id.
    """
    at = now()
    with engine.begin() as conn:
        done = conn.execute(update(tokens).where(tokens.c.id == token_id, tokens.c.revoked_at.is_(None))
                            .values(revoked_at=at)).rowcount
        if not done:
            msg = f"no live token with id {token_id}"
            raise NotFound(msg)
        conn.execute(insert(audit).values(
            at=at, user=by.name if by else "(command line)", role=by.role if by else "admin", action="token-revoke",
            lights=",", result="ok", detail=f"token {token_id} revoked"))
