"""SQL of the console's dashboard: counts over licences, feeds and lookups, scoped by region."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hub.audit.models import AuditEvent
from hub.registry.models import Department, Feed, Licence, LicenceType

LOOKUP_ACTIONS = ("lookup", "prefill")


def licence_counts(session: Session, regions: Sequence[str] | None) -> list[tuple[str, str, str, int]]:
    """(department name, type code, type name, count) for departments in ``regions`` (None: all)."""
    stmt = (
        select(Department.name, Licence.type_code, LicenceType.name_zh, func.count())
        .join(Department, Department.id == Licence.department_id)
        .join(LicenceType, LicenceType.code == Licence.type_code)
        .group_by(Department.name, Licence.type_code, LicenceType.name_zh)
        .order_by(Department.name, Licence.type_code)
    )
    if regions is not None:
        stmt = stmt.where(Department.region_code.in_(regions))  # type: ignore[attr-defined]
    return [(d, c, n, int(k)) for d, c, n, k in session.execute(stmt)]


def feeds(session: Session, regions: Sequence[str] | None) -> list[tuple[Department, Feed | None]]:
    stmt = (
        select(Department, Feed).outerjoin(Feed, Feed.department_id == Department.id).order_by(Department.id)
    )
    if regions is not None:
        stmt = stmt.where(Department.region_code.in_(regions))  # type: ignore[attr-defined]
    return [(department, feed) for department, feed in session.execute(stmt)]


def lookups_per_hour(session: Session, regions: Sequence[str] | None, since: datetime) -> dict[str, int]:
    """Lookups and prefills since ``since`` by UTC hour (``YYYY-MM-DDTHH``), counted by the database."""
    column = AuditEvent.occurred_at
    if session.get_bind().dialect.name == "postgresql":
        hour = func.to_char(func.timezone("UTC", column), 'YYYY-MM-DD"T"HH24')
    else:  # SQLite keeps naive UTC
        hour = func.strftime("%Y-%m-%dT%H", column)
    stmt = (
        select(hour, func.count())
        .where(AuditEvent.action.in_(LOOKUP_ACTIONS), column >= since)  # type: ignore[attr-defined]
        .group_by(hour)
    )
    if regions is not None:
        stmt = stmt.where(AuditEvent.region_code.in_(regions))  # type: ignore[union-attr]
    return {str(h): int(n) for h, n in session.execute(stmt)}
