"""A signed-in citizen's own pages (DESIGN 5.5): their licences, and every use of them with a proof.

The access log lists the audit events about the citizen (matched by the blind index of their ID number:
the hub never needs the clear number for this), newest first, each with the exact leaf bytes and an
inclusion proof against one signed tree head. Anyone can check the proofs with the hub's JWKS and RFC
9162 §2.1.3.2; nothing the hub later does to those events can go unnoticed.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.access.models import Client
from hub.audit import heads, log, repository
from hub.audit.leaf import leaf_bytes
from hub.audit.models import AuditEvent
from hub.audit.schemas import InclusionProofRead, TreeHeadRead
from hub.audit.settings import get_audit_settings
from hub.context import Hub
from hub.contract.licence_id import LicenceIdError, parse_licence_id
from hub.contract.status import LicenceStatus
from hub.me import repository as me_repository
from hub.me.schemas import (
    AccessLog,
    AccessLogEntry,
    ClientSummary,
    MyLicenceRead,
    RefusedUse,
    ServiceItemSummary,
    UsedLicence,
)
from hub.oauth.callers import Citizen
from hub.registry.models import ServiceItem
from hub.registry.service import effective_status

MAX_PAGE = 100


def my_licences(
    session: Session, citizen: Citizen, type_code: str | None = None, status: LicenceStatus | None = None
) -> list[MyLicenceRead]:
    """The citizen's licences (current versions) by type, with their status as a verifier would act on
    it; optionally one type or one status only."""
    found = me_repository.licences_of(session, citizen.holder_index, type_code)
    names = me_repository.departments(session, (licence.department_id for licence, _ in found))
    listed = []
    for licence, licence_type in found:
        current = effective_status(licence.status, licence.valid_until)
        if status is not None and current is not status:
            continue
        department = names.get(licence.department_id)
        listed.append(
            MyLicenceRead(
                licence_id=licence.current_licence_id,
                type_code=licence.type_code,
                type_name_zh=licence_type.name_zh,
                type_name_en=licence_type.name_en,
                department=licence.department_id,
                department_name=department.name if department else "",
                version=licence.current_version,
                status=current.value,
                status_label=current.label_en,
                status_reason_code=licence.status_reason_code,
                status_reason=licence.status_reason,
                valid_from=licence.valid_from,
                valid_until=licence.valid_until,
            )
        )
    return listed


def _type_of(licence_id: str) -> str:
    try:
        return parse_licence_id(licence_id).type_code
    except LicenceIdError:
        return ""


def _client_summary(client: Client | None) -> ClientSummary | None:
    if client is None:
        return None
    return ClientSummary(
        client_id=client.client_id,
        name=client.name,
        organisation=client.organisation,
        kind=client.kind,
        department_id=client.department_id,
    )


def _item_summary(item: ServiceItem | None, code: str | None) -> ServiceItemSummary | None:
    if item is not None:
        return ServiceItemSummary(code=item.code, name_zh=item.name_zh, name_en=item.name_en)
    return ServiceItemSummary(code=code) if code else None


def _entries(session: Session, events: list[AuditEvent], tree_size: int) -> list[AccessLogEntry]:
    proofs = log.inclusion_proofs(session, [e.leaf_index for e in events], tree_size)
    clients = me_repository.clients(session, (e.client_id for e in events if e.client_id))
    items = me_repository.service_items(session, (e.purpose for e in events if e.purpose))
    types = me_repository.licence_types(session, (c for e in events for c in (e.type_codes or "").split()))
    entries = []
    for event, proof in zip(events, proofs, strict=True):
        released = event.detail.get("released", [])
        tiers = [r.get("tier") for r in released] if len(released) == len(event.licence_ids) else []
        used = []
        for n, licence_id in enumerate(event.licence_ids):
            licence_type = types.get(_type_of(licence_id))
            used.append(
                UsedLicence(
                    licence_id=licence_id,
                    type_code=_type_of(licence_id),
                    tier=tiers[n] if tiers else None,
                    type_name_zh=licence_type.name_zh if licence_type else None,
                    type_name_en=licence_type.name_en if licence_type else None,
                )
            )
        entries.append(
            AccessLogEntry(
                leaf_index=event.leaf_index,
                event_id=event.id or 0,
                occurred_at=event.occurred_at,
                action=event.action,
                outcome=event.outcome,
                client=_client_summary(clients.get(event.client_id or "")),
                service_item=_item_summary(items.get(event.purpose or ""), event.purpose),
                case_id=event.case_id,
                consent=bool(event.detail.get("consent")),
                licences=used,
                refused=[
                    RefusedUse(type_code=r.get("type", ""), reason=r.get("reason", ""))
                    for r in event.detail.get("refused", [])
                ],
                leaf=leaf_bytes(event).decode(),
                proof=InclusionProofRead.of(proof),
            )
        )
    return entries


def access_log(hub: Hub, citizen: Citizen, *, before: int | None = None, limit: int = 20) -> AccessLog:
    """Who used the citizen's licences, when, for which service item and case, newest first, each with
    its inclusion proof against the newest signed tree head (signed now if the newest does not cover
    every committed event)."""
    s = get_audit_settings()
    head = heads.fresh_head(hub, min_interval_s=0, max_age_s=s.head_max_age_seconds)
    limit = min(limit, MAX_PAGE)
    # A session opened after the head, so that it sees every leaf the head covers (see fresh_head).
    with hub.read_session_factory() as session:
        events = list(
            repository.events_of_holder(
                session, citizen.holder_index, before=before, limit=limit, tree_size=head.tree_size
            )
        )
        entries = _entries(session, events, head.tree_size) if events else []
    return AccessLog(
        tree_head=TreeHeadRead.of(head),
        entries=entries,
        next_before=events[-1].leaf_index if len(events) == limit else None,
    )
