"""SQL of the citizen's own pages: their licences, and the names an access log shows."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from hub.access.models import Client
from hub.registry.models import Department, Licence, LicenceType, ServiceItem


def licences_of(
    session: Session, holder_index: str, type_code: str | None
) -> Sequence[tuple[Licence, LicenceType]]:
    stmt = (
        select(Licence, LicenceType)
        .join(LicenceType, LicenceType.code == Licence.type_code)
        .where(Licence.holder_index == holder_index)
        .order_by(Licence.type_code, Licence.id)
    )
    if type_code:
        stmt = stmt.where(Licence.type_code == type_code)
    return [(licence, licence_type) for licence, licence_type in session.execute(stmt)]


def clients(session: Session, ids: Iterable[str]) -> dict[str, Client]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {c.client_id: c for c in session.scalars(select(Client).where(Client.client_id.in_(wanted)))}  # type: ignore[attr-defined]


def service_items(session: Session, codes: Iterable[str]) -> dict[str, ServiceItem]:
    wanted = list(set(codes))
    if not wanted:
        return {}
    return {i.code: i for i in session.scalars(select(ServiceItem).where(ServiceItem.code.in_(wanted)))}  # type: ignore[attr-defined]


def licence_types(session: Session, codes: Iterable[str]) -> dict[str, LicenceType]:
    wanted = list(set(codes))
    if not wanted:
        return {}
    return {t.code: t for t in session.scalars(select(LicenceType).where(LicenceType.code.in_(wanted)))}  # type: ignore[attr-defined]


def departments(session: Session, ids: Iterable[str]) -> dict[str, Department]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {d.id: d for d in session.scalars(select(Department).where(Department.id.in_(wanted)))}  # type: ignore[attr-defined]
