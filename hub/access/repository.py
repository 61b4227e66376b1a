"""All SQL of access control: clients, grants, admins and the region tree they are scoped by."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from hub.access.models import Admin, Client, Grant


def get_client(session: Session, client_id: str) -> Client | None:
    return session.get(Client, client_id)


def list_clients(
    session: Session, region_codes: Sequence[str] | None = None, *, limit: int | None = None, offset: int = 0
) -> Sequence[Client]:
    stmt = select(Client).order_by(Client.client_id).offset(offset).limit(limit)
    if region_codes is not None:
        stmt = stmt.where(Client.region_code.in_(region_codes))  # type: ignore[attr-defined]
    return session.scalars(stmt).all()


def get_grant(session: Session, grant_id: int) -> Grant | None:
    return session.get(Grant, grant_id)


def active_grants(
    session: Session, client_id: str, now: datetime, type_code: str | None = None
) -> Sequence[Grant]:
    """Grants in force now. Every use re-reads them, so a revocation counts on the next request."""
    stmt = select(Grant).where(
        Grant.client_id == client_id,
        Grant.status == "active",
        Grant.valid_from <= now,  # type: ignore[operator]
        Grant.valid_until > now,  # type: ignore[operator]
    )
    if type_code is not None:
        stmt = stmt.where(Grant.type_code == type_code)
    return session.scalars(stmt).all()


def list_grants(
    session: Session,
    *,
    region_codes: Sequence[str] | None,
    client_id: str | None = None,
    type_code: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[Grant]:
    stmt = select(Grant).order_by(Grant.id)
    if region_codes is not None:
        stmt = stmt.where(Grant.region_code.in_(region_codes))  # type: ignore[attr-defined]
    if client_id:
        stmt = stmt.where(Grant.client_id == client_id)
    if type_code:
        stmt = stmt.where(Grant.type_code == type_code)
    if status:
        stmt = stmt.where(Grant.status == status)
    return session.scalars(stmt.limit(limit).offset(offset)).all()


def get_admin(session: Session, admin_id: int) -> Admin | None:
    return session.get(Admin, admin_id)


def admin_by_username(session: Session, username: str) -> Admin | None:
    return session.scalars(select(Admin).where(Admin.username == username)).first()


def admin_by_oidc(session: Session, issuer: str, subject: str) -> Admin | None:
    stmt = select(Admin).where(Admin.oidc_issuer == issuer, Admin.oidc_subject == subject)
    return session.scalars(stmt).first()


def list_admins(
    session: Session, region_codes: Sequence[str], *, status: str | None, limit: int, offset: int
) -> Sequence[Admin]:
    stmt = select(Admin).where(Admin.region_code.in_(region_codes)).order_by(Admin.id)  # type: ignore[attr-defined]
    if status:
        stmt = stmt.where(Admin.status == status)
    return session.scalars(stmt.offset(offset).limit(limit)).all()


def count_admins(
    session: Session,
    *,
    role: str | None = None,
    status: str | None = None,
    region_codes: Sequence[str] | None = None,
) -> int:
    query = select(func.count()).select_from(Admin)
    if region_codes is not None:
        query = query.where(col(Admin.region_code).in_(region_codes))
    if role is not None:
        query = query.where(col(Admin.role) == role)
    if status is not None:
        query = query.where(col(Admin.status) == status)
    return session.scalar(query) or 0
