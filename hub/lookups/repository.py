"""SQL for lookups: licences of a holder, service items, consents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Row, select
from sqlalchemy.orm import Session

from hub.kit.cache import ReferenceCache
from hub.lookups.models import Consent, ServiceItem
from hub.registry.models import Licence, LicenceVersion

L = Licence.__table__  # type: ignore[attr-defined]
V = LicenceVersion.__table__  # type: ignore[attr-defined]


def holder_licences(session: Session, holder_index: str, type_code: str) -> Sequence[Row[Any]]:
    """The holder's licences of a type with their current version (one round trip): a lean Core select
    of what a release reads — ``type_code``, ``status`` with its reason, ``valid_until``, ``withheld`` of
    the licence and ``licence_id``, ``credential_sealed`` of the version."""
    stmt = (
        select(
            L.c.type_code,
            L.c.status,
            L.c.status_reason_code,
            L.c.status_reason,
            L.c.valid_until,
            L.c.withheld,
            V.c.licence_id,
            V.c.credential_sealed,
        )
        .join(V, V.c.licence_id == L.c.current_licence_id)
        .where(L.c.holder_index == holder_index, L.c.type_code == type_code)
        .order_by(L.c.id)
    )
    return list(session.execute(stmt))


def get_service_item(session: Session, code: str) -> ServiceItem | None:
    return session.get(ServiceItem, code)


@dataclass(frozen=True)
class ItemMaterials:
    """A service item's code and materials as lookups and prefill read them, from the in-process cache
    (``hub.kit.cache``): shared between requests, never mutated."""

    code: str
    materials: list[dict[str, Any]]


def _item_materials(session: Session) -> Mapping[str, ItemMaterials]:
    T = ServiceItem.__table__  # type: ignore[attr-defined]
    return {row.code: ItemMaterials(*row) for row in session.execute(select(T.c.code, T.c.materials))}


# Service items: a handful of rows, read on every lookup (the purpose) and prefill.
ITEM_MATERIALS = ReferenceCache("service_item", _item_materials)


def item_materials(session: Session, code: str) -> ItemMaterials | None:
    """Service item ``code`` as cached in process (writes here invalidate it at once; another process's
    writes show within the cache TTL)."""
    return ITEM_MATERIALS.get(session).get(code)


def list_service_items(session: Session) -> Sequence[ServiceItem]:
    return session.scalars(select(ServiceItem).order_by(ServiceItem.code)).all()


def get_consent(session: Session, consent_id: str) -> Consent | None:
    return session.get(Consent, consent_id)


def consents_of(
    session: Session, subject: str, *, limit: int | None = None, offset: int = 0
) -> Sequence[Consent]:
    newest_first = (Consent.given_at.desc(), Consent.id.desc())  # type: ignore[attr-defined,union-attr]
    stmt = (
        select(Consent).where(Consent.subject == subject).order_by(*newest_first).offset(offset).limit(limit)
    )
    return session.scalars(stmt).all()
