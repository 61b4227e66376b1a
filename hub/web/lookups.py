"""Lookups, prefill and service items (DESIGN 5.2, 5.3, section 6)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from hub.access import service as access
from hub.errors import PROBLEM_JSON, NotFound
from hub.kit.http import problem_response
from hub.lookups import attachments, service
from hub.lookups.schemas import LookupCreate, LookupRead, PrefillCreate, PrefillRead
from hub.oauth import consents
from hub.oauth.schemas import ConsentRead
from hub.registry import items
from hub.registry.schemas import ServiceItemRead, ServiceItemWrite
from hub.web.callers import AdminDep, CitizenDep, ServiceDep
from hub.web.deps import HubDep, PageOffset, SessionDep, WriteSessionDep

router = APIRouter(tags=["lookups"])

ItemCode = Annotated[str, Path(max_length=64)]
Digest = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="SHA-256 of the file, lower-case hex.")]


@router.post("/v1/lookups", response_model=LookupRead)
def post_lookup(body: LookupCreate, caller: ServiceDep, session: SessionDep, hub: HubDep) -> LookupRead:
    """Tier-filtered, verifiable presentations of a holder's licences for one purpose and case.

    Each released licence is an SD-JWT+KB: the department's signature, the disclosures of fields at or
    below the granted tier, and a hub key-binding JWT with ``aud`` = your client id and your ``nonce``.
    Types not released are listed with the reason. Every call is audited."""
    return service.lookup(session, hub, caller, body)


@router.post("/v1/prefill", response_model=PrefillRead)
def post_prefill(body: PrefillCreate, caller: ServiceDep, session: SessionDep, hub: HubDep) -> PrefillRead:
    """Fill a service item's form: each field's value and source, materials obtained, missing or refused."""
    return service.prefill(session, hub, caller, body)


@router.get(
    "/v1/attachments/{sha256}",
    tags=["lookups"],
    response_class=Response,
    responses={
        200: {"description": "The file.", "content": {"application/octet-stream": {}}},
        404: {"description": "Not released to you (or no such file).", "content": {PROBLEM_JSON: {}}},
        500: {"description": "The stored file failed its integrity check.", "content": {PROBLEM_JSON: {}}},
    },
)
def get_attachment(
    sha256: Digest, request: Request, caller: ServiceDep, session: WriteSessionDep, hub: HubDep
) -> Response:
    """Download a file whose claim a lookup or prefill released to you (the ID card's photo, say).

    Allowed for an hour after the release while a grant that allowed it is in force; a release that took
    the holder's consent needs a token bound to that consent. Files are sealed at rest, so the hub opens
    the file and checks it against its digest before sending it (on any store, never a redirect); one
    that fails the check is a 500, not sent. Anything else is 404, whether the file exists or not. Every
    attempt is audited (``attachment.download``)."""
    delivery = attachments.download(session, hub, caller, sha256)
    if delivery is None:
        return problem_response(NotFound(attachments.NOT_RELEASED).to_problem(request.url.path))
    headers = {
        "Cache-Control": "no-store",
        "Content-Length": str(delivery.size),
        "X-Content-Type-Options": "nosniff",
    }
    return StreamingResponse(delivery.chunks, media_type=delivery.media_type, headers=headers)


@router.get("/v1/service-items", response_model=list[ServiceItemRead])
def list_service_items(session: SessionDep) -> list[ServiceItemRead]:
    """Service items (事项) with the materials each needs and which form field each claim fills."""
    return [ServiceItemRead.model_validate(i) for i in items.list_service_items(session)]


@router.get("/v1/service-items/{code}", response_model=ServiceItemRead)
def get_service_item(code: ItemCode, session: SessionDep) -> ServiceItemRead:
    """One service item."""
    return ServiceItemRead.model_validate(items.get_service_item(session, code))


@router.put("/v1/admin/service-items/{code}", response_model=ServiceItemRead, tags=["admin"])
def put_service_item(
    code: ItemCode, body: ServiceItemWrite, admin: AdminDep, session: SessionDep
) -> ServiceItemRead:
    """Create or replace a service item (city administrators)."""
    return ServiceItemRead.model_validate(access.save_service_item(session, code, body, by=admin))


@router.get("/v1/me/consents", response_model=list[ConsentRead], tags=["me"])
def my_consents(
    citizen: CitizenDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    offset: PageOffset = 0,
) -> list[ConsentRead]:
    """The signed-in citizen's consents, newest first, each with its signed receipt (``limit`` at a
    time from ``offset``)."""
    found = consents.list_for(session, citizen.subject, limit=limit, offset=offset)
    return [ConsentRead.model_validate(c) for c in found]


@router.post("/v1/me/consents/{consent_id}/withdraw", response_model=ConsentRead, tags=["me"])
def withdraw_consent(
    consent_id: Annotated[str, Path(max_length=64)], citizen: CitizenDep, session: SessionDep
) -> ConsentRead:
    """Withdraw a consent: every token issued under it stops working on the next request."""
    return ConsentRead.model_validate(
        consents.withdraw(session, subject=citizen.subject, consent_id=consent_id)
    )
