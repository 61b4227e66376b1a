"""Citizens' consents: which licences and fields go to which client, for which service item
and case. Approving makes a consent record and a hub-signed receipt (a JWS the citizen and the client can
both keep); withdrawing it revokes every token issued under it, on the next request."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from sqlalchemy.orm import Session

from hub.access import service as access
from hub.access.service import parse_licence_scope
from hub.audit import service as audit
from hub.context import Hub
from hub.errors import Conflict, NotFound
from hub.kit.time import to_epoch, utcnow
from hub.oauth import repository
from hub.oauth.models import Consent
from hub.registry import service as registry

log = logging.getLogger("hub.consents")

RECEIPT_TYP = "consent-receipt+jwt"


def released_fields(session: Session, scopes: list[str]) -> list[dict[str, Any]]:
    """For each ``licence:<type>:t<N>`` scope: the type and exactly the fields at or below tier N."""
    items = []
    for scope in scopes:
        parsed = parse_licence_scope(scope)
        licence_type = registry.catalog_type(session, parsed[0]) if parsed else None
        if parsed is None or licence_type is None:
            continue
        fields = [
            {"name": f["name"], "label_zh": f["label_zh"], "label_en": f["label_en"], "tier": f["tier"]}
            for f in licence_type.fields
            if f["tier"] <= parsed[1]
        ]
        items.append(
            {
                "type_code": licence_type.code,
                "name_zh": licence_type.name_zh,
                "name_en": licence_type.name_en,
                "tier": parsed[1],
                "fields": fields,
            }
        )
    return items


def give(
    session: Session, hub: Hub, *, subject: str, client_id: str, purpose: str, case_id: str, scopes: list[str]
) -> Consent:
    """Record an approved consent and sign its receipt."""
    consent_id = "cst_" + secrets.token_urlsafe(16)
    released = released_fields(session, scopes)
    now = utcnow()
    receipt = hub.signer.sign(
        {
            "iss": hub.settings.public_url,
            "sub": subject,
            "jti": consent_id,
            "iat": to_epoch(now),
            "client_id": client_id,
            "purpose": purpose,
            "case_id": case_id,
            "scope": " ".join(scopes),
            "released": [
                {"type_code": r["type_code"], "tier": r["tier"], "fields": [f["name"] for f in r["fields"]]}
                for r in released
            ],
        },
        typ=RECEIPT_TYP,
    )
    consent = Consent(
        id=consent_id,
        subject=subject,
        client_id=client_id,
        purpose=purpose,
        case_id=case_id,
        scope=" ".join(scopes),
        released=released,
        receipt=receipt,
        given_at=now,
    )
    repository.add_consent(session, consent)
    consent.given_leaf_index = audit.record(
        session,
        action="consent.given",
        outcome="ok",
        actor_kind="citizen",
        actor_id=subject,
        client=access.get_client(session, client_id),
        holder_index=subject.removeprefix("citizen:"),
        purpose=purpose,
        case_id=case_id,
        detail={"consent": consent_id, "scope": consent.scope},
    ).leaf_index
    log.info("consent.given", extra={"consent": consent_id, "client": client_id})
    return consent


def withdraw(session: Session, *, subject: str, consent_id: str) -> Consent:
    """Withdraw one of the citizen's own consents; tokens issued under it stop working at once."""
    consent = repository.get_consent(session, consent_id)
    if consent is None or consent.subject != subject:
        raise NotFound(f"no consent {consent_id!r} of yours")
    if consent.status == "withdrawn":
        raise Conflict("this consent is already withdrawn")
    now = utcnow()
    consent.status, consent.withdrawn_at = "withdrawn", now
    repository.revoke_consent_tokens(session, consent_id, now)
    consent.withdrawn_leaf_index = audit.record(
        session,
        action="consent.withdrawn",
        outcome="ok",
        actor_kind="citizen",
        actor_id=subject,
        client=access.get_client(session, consent.client_id),
        holder_index=subject.removeprefix("citizen:"),
        purpose=consent.purpose,
        case_id=consent.case_id,
        detail={"consent": consent_id},
    ).leaf_index
    log.info("consent.withdrawn", extra={"consent": consent_id})
    return consent


def list_for(session: Session, subject: str, *, limit: int | None = None, offset: int = 0) -> list[Consent]:
    """The citizen's consents, newest first; ``limit`` of them from ``offset``."""
    return list(repository.consents_of(session, subject, limit=limit, offset=offset))


def is_in_force(session: Session, consent_id: str) -> bool:
    return repository.consent_status(session, consent_id) == "given"
