"""What the authorization server remembers: issued tokens (for introspection and revocation), one-time
authorization codes, and the ids of client assertions already used (RFC 7523 replay protection)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Text
from sqlmodel import Field, SQLModel

from hub.kit.time import utcnow
from storage.types import UTCDateTime


class IssuedToken(SQLModel, table=True):
    __tablename__ = "issued_token"
    jti: str = Field(primary_key=True, max_length=64)
    kind: str = Field(max_length=16)  # client | citizen | admin
    client_id: str | None = Field(default=None, max_length=64, index=True)
    admin_id: int | None = Field(default=None, index=True)
    subject: str = Field(max_length=128)
    scope: str = Field(default="", max_length=4096)
    consent_id: str | None = Field(default=None, max_length=64, index=True)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthorizationCode(SQLModel, table=True):
    __tablename__ = "authorization_code"
    code_hash: str = Field(primary_key=True, max_length=64)
    client_id: str = Field(max_length=64)
    redirect_uri: str = Field(max_length=1024)
    scope: str = Field(max_length=4096)
    subject: str = Field(max_length=128)
    code_challenge: str = Field(max_length=128)
    code_challenge_method: str = Field(max_length=8)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class UsedAssertion(SQLModel, table=True):
    """A private_key_jwt assertion id seen once; kept until the assertion would have expired."""

    __tablename__ = "used_assertion"
    client_id: str = Field(primary_key=True, max_length=64)
    jti: str = Field(primary_key=True, max_length=255)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class Consent(SQLModel, table=True):
    """A citizen's consent to release listed licences and fields to one client, for one service item
    and case. Withdrawing it revokes every token issued under it."""

    id: str = Field(primary_key=True, max_length=64)
    subject: str = Field(max_length=128, index=True)
    client_id: str = Field(max_length=64, index=True)
    purpose: str = Field(max_length=64)
    case_id: str = Field(max_length=128)
    scope: str = Field(max_length=4096)
    released: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    receipt: str = Field(sa_type=Text)
    status: str = Field(default="given", max_length=16)
    given_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    withdrawn_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # The audit log's leaves recording the giving and the withdrawal (responses and receipts name them).
    given_leaf_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    withdrawn_leaf_index: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
