"""Lookups and form prefill for approval services (DESIGN 5.2, 5.3).

A lookup releases, per licence type, exactly what the caller's grants allow for the stated purpose,
holder and case, or names why not. Prefill does the same for every material of a service item and maps
the released claims onto the item's form fields. Each call is one audit event in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from hub.access import service as access
from hub.audit import service as audit
from hub.context import Hub
from hub.contract.identifiers import check_citizen_id, check_uscc
from hub.errors import Forbidden, InvalidInput, NotFound, field_error
from hub.lookups import attachments
from hub.lookups.release import Holder, Requester, release_type
from hub.lookups.schemas import (
    FormValue,
    LookupCreate,
    LookupRead,
    LookupType,
    MaterialOutcome,
    PrefillCreate,
    PrefillRead,
    RefusedType,
    ReleasedLicence,
)
from hub.oauth.callers import ClientCaller
from hub.registry import items
from hub.registry import service as registry

CITIZEN_PREFIX = "citizen:"


def _holder_from_id(session: Session, hub: Hub, holder_id: str) -> Holder:
    try:
        number = check_citizen_id(holder_id)
        kind, region = "person", number[:6]
    except ValueError:
        try:
            number = check_uscc(holder_id)
        except ValueError:
            raise InvalidInput(
                "holder_id is neither a valid 公民身份号码 nor a valid 统一社会信用代码",
                errors=[field_error("holder_id", "check digit or format wrong")],
            ) from None
        kind, region = "organisation", number[2:8]
    regions = tuple(registry.region_ancestors(session, region))
    return Holder(hub.blind_index.of(kind, number), kind, regions)


def resolve(
    session: Session,
    hub: Hub,
    caller: ClientCaller,
    holder_id: str | None,
    purpose: str,
    case_id: str,
    nonce: str,
) -> tuple[Requester, Holder]:
    """The requester and the holder, with the consent-bound token's limits enforced."""
    requester = Requester(
        client_id=caller.client.client_id,
        scopes=caller.token.scopes,
        purpose=purpose,
        case_id=case_id,
        nonce=nonce,
        grants=caller.grants,
    )
    citizen = caller.citizen
    if citizen is not None:
        claims = caller.token.claims
        if claims.get("purpose") != purpose or claims.get("case_id") != case_id:
            raise Forbidden(
                "this token was consented for another service item or case",
                errors=[
                    field_error("purpose", f"token is for {claims.get('purpose')} / {claims.get('case_id')}")
                ],
            )
        requester.consented_holder = citizen.removeprefix(CITIZEN_PREFIX)
    if holder_id is not None:
        holder = _holder_from_id(session, hub, holder_id)
        if citizen is not None and holder.index != requester.consented_holder:
            raise Forbidden(
                "a consent-bound token reads only the consenting citizen's licences",
                errors=[field_error("holder_id", "not the citizen who consented")],
            )
        return requester, holder
    if citizen is None:
        raise InvalidInput("holder_id is required", errors=[field_error("holder_id", "missing")])
    region = str(caller.token.claims.get("holder_region") or "")
    regions = tuple(registry.region_ancestors(session, region)) if region else ()
    return requester, Holder(citizen.removeprefix(CITIZEN_PREFIX), "person", regions)


def _release_all(
    session: Session, hub: Hub, requester: Requester, holder: Holder, wanted: list[LookupType]
) -> tuple[list[ReleasedLicence], list[RefusedType]]:
    released: list[ReleasedLicence] = []
    refused: list[RefusedType] = []
    for item in wanted:
        licence_type = registry.catalog_type(session, item.type_code)
        if licence_type is not None and licence_type.holder_kind != holder.kind:
            refused.append(
                RefusedType(
                    type_code=item.type_code,
                    reason="no_licence",
                    detail=f"held by a {licence_type.holder_kind}",
                )
            )
            continue
        outcome = release_type(session, hub, requester, holder, licence_type, item.type_code, item.tier)
        released.extend(outcome.released)
        if outcome.refused:
            refused.append(outcome.refused)
    return released, refused


def _audit(
    session: Session,
    action: str,
    requester: Requester,
    holder: Holder,
    released: list[ReleasedLicence],
    refused: list[RefusedType],
    extra: dict[str, Any] | None = None,
) -> dict[str, int]:
    outcome = "released" if released and not refused else ("refused" if not released else "partial")
    event = audit.record(
        session,
        action=action,
        outcome=outcome,
        actor_kind="client",
        actor_id=requester.client_id,
        client=access.get_client(session, requester.client_id),
        holder_index=holder.index,
        purpose=requester.purpose,
        case_id=requester.case_id,
        licence_ids=[r.licence_id for r in released],
        detail={
            "consent": requester.consented_holder is not None,
            "released": [{"type": r.type_code, "tier": r.tier} for r in released],
            "refused": [{"type": r.type_code, "reason": r.reason} for r in refused],
            **(extra or {}),
        },
    )
    assert event.id is not None
    attachments.record_releases(session, requester.attachments, event)
    return {"audit_event": event.id, "audit_leaf_index": event.leaf_index}


def lookup(session: Session, hub: Hub, caller: ClientCaller, request: LookupCreate) -> LookupRead:
    """``POST /v1/lookups``: tier-filtered presentations of the holder's licences, refusals named."""
    if items.item_materials(session, request.purpose) is None:
        raise InvalidInput(
            f"unknown service item {request.purpose!r}",
            errors=[field_error("purpose", "not a service item code")],
        )
    requester, holder = resolve(
        session, hub, caller, request.holder_id, request.purpose, request.case_id, request.nonce
    )
    wanted = [LookupType(type_code=t) if isinstance(t, str) else t for t in request.types]
    if len({w.type_code for w in wanted}) != len(wanted):
        raise InvalidInput("a type is asked for twice", errors=[field_error("types", "duplicates")])
    released, refused = _release_all(session, hub, requester, holder, wanted)
    receipt = _audit(session, "lookup", requester, holder, released, refused)
    return LookupRead(
        purpose=request.purpose,
        case_id=request.case_id,
        released=released,
        refused=refused,
        **receipt,
    )


def prefill(session: Session, hub: Hub, caller: ClientCaller, request: PrefillCreate) -> PrefillRead:
    """``POST /v1/prefill``: each form field of a service item with its value and source, the materials
    obtained, and those missing or refused with the reason."""
    item = items.item_materials(session, request.service_item)
    if item is None:
        raise NotFound(
            f"no service item {request.service_item!r}", errors=[field_error("service_item", "unknown code")]
        )
    requester, holder = resolve(
        session, hub, caller, request.holder_id, item.code, request.case_id, request.nonce
    )
    form: dict[str, FormValue] = {}
    materials: list[MaterialOutcome] = []
    all_released: list[ReleasedLicence] = []
    all_refused: list[RefusedType] = []
    for material in item.materials:
        type_code = material.get("type_code")
        licence_type = registry.catalog_type(session, type_code) if type_code else None
        names = (
            (licence_type.name_zh, licence_type.name_en)
            if licence_type
            else (material.get("name_zh") or str(type_code), material.get("name_en") or str(type_code))
        )
        base = {
            "type_code": type_code,
            "name_zh": names[0],
            "name_en": names[1],
            "required": material["required"],
        }
        if not type_code:
            materials.append(
                MaterialOutcome(
                    **base, outcome="bring", reason="not held by the hub: the applicant brings it"
                )
            )
            continue
        released, refused = _release_all(
            session, hub, requester, holder, [LookupType(type_code=type_code, tier=material["tier"])]
        )
        all_released.extend(released)
        all_refused.extend(refused)
        if refused:
            reason = refused[0].reason
            materials.append(
                MaterialOutcome(
                    **base, outcome="missing" if reason == "no_licence" else "refused", reason=reason
                )
            )
            continue
        materials.append(
            MaterialOutcome(**base, outcome="obtained", licence_ids=[r.licence_id for r in released])
        )
        first = released[0]
        for form_field, claim in material.get("fields", {}).items():
            if claim in first.claims and form_field not in form:
                form[form_field] = FormValue(
                    value=first.claims[claim], licence_id=first.licence_id, claim=claim
                )
    complete = all(m.outcome == "obtained" for m in materials if m.required)
    receipt = _audit(
        session, "prefill", requester, holder, all_released, all_refused, {"service_item": item.code}
    )
    return PrefillRead(
        service_item=item.code,
        case_id=request.case_id,
        form=form,
        materials=materials,
        presentations=all_released,
        complete=complete,
        **receipt,
    )
