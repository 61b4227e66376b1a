"""Registry HTTP routes (DESIGN section 6). HTTP only: parse, call one service function, shape output."""

from __future__ import annotations

import tempfile
from typing import Annotated, Any, BinaryIO, cast

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from hub.errors import PayloadTooLarge, field_error
from hub.registry import ingest, service
from hub.registry.schemas import (
    AttachmentRead,
    DepartmentRead,
    FeedCursorRead,
    LicenceBatchCreate,
    LicenceBatchRead,
    LicenceStatusRead,
    LicenceTypeRead,
    RegionRead,
)
from hub.web.callers import PusherDep
from hub.web.deps import HubDep, SessionDep

router = APIRouter(prefix="/v1")

DepartmentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9-]*$")]


@router.get("/regions/{code}", response_model=RegionRead, tags=["catalog"])
def get_region(code: Annotated[str, Path(pattern=r"^\d{6}(\d{3}){0,2}$")], session: SessionDep) -> RegionRead:
    """A region of the four-level tree (city, county, township, village) with its path and children."""
    return service.get_region(session, code)


@router.get("/departments", response_model=list[DepartmentRead], tags=["catalog"])
def list_departments(session: SessionDep, kind: str | None = None) -> list[DepartmentRead]:
    """Departments that issue licences into the hub."""
    return [DepartmentRead.model_validate(d) for d in service.list_departments(session, kind)]


@router.get("/departments/{department}/jwks", tags=["catalog"])
def department_jwks(department: DepartmentId, session: SessionDep) -> dict[str, Any]:
    """The department's signing keys (RFC 7517), active and retired, to verify its credentials offline."""
    return service.department_jwks(session, department)


@router.get("/licence-types", response_model=list[LicenceTypeRead], tags=["catalog"])
def list_licence_types(session: SessionDep, issuer_kind: str | None = None) -> list[LicenceTypeRead]:
    """The licence type catalog with each field's tier (T0 status … T3 sensitive)."""
    return [LicenceTypeRead.model_validate(t) for t in service.list_licence_types(session, issuer_kind)]


@router.get("/licence-types/{code}", response_model=LicenceTypeRead, tags=["catalog"])
def get_licence_type(code: Annotated[str, Path(max_length=32)], session: SessionDep) -> LicenceTypeRead:
    """One licence type of the catalog."""
    return LicenceTypeRead.model_validate(service.get_licence_type(session, code))


@router.post("/licences/batch", response_model=LicenceBatchRead, tags=["ingest"])
def post_licence_batch(
    batch: LicenceBatchCreate, caller: PusherDep, session: SessionDep, hub: HubDep
) -> LicenceBatchRead:
    """Ingest one batch of a department feed (DESIGN 5.1).

    Needs a ``licences.push`` token of the department's own client. Operations are verified one by one;
    a rejected operation carries an RFC 9457 problem and does not block the others. The batch is one
    transaction. Replaying an accepted sequence returns the stored result (``replayed: true``); a gap is
    refused with 409 naming ``expected_sequence``.
    """
    return ingest.ingest_batch(session, hub, batch, pusher=caller.client)


@router.get("/feeds/{department}/cursor", response_model=FeedCursorRead, tags=["ingest"])
def get_feed_cursor(department: DepartmentId, caller: PusherDep, session: SessionDep) -> FeedCursorRead:
    """The last accepted sequence of a department feed and its next free status-list indexes, for the
    department's own adapter resuming after a crash (``licences.push`` token of that department)."""
    return service.feed_cursor(session, department, reader=caller.client)


@router.get("/licences/{licence_id}/status", response_model=LicenceStatusRead, tags=["status"])
def get_licence_status(
    licence_id: Annotated[str, Path(max_length=160)], session: SessionDep, hub: HubDep
) -> LicenceStatusRead:
    """Status code, validity and version of a licence; no personal field (tier T0)."""
    return service.licence_status(session, hub, licence_id)


@router.get(
    "/status-lists/{department}/{list_number}",
    tags=["status"],
    responses={200: {"content": {"application/statuslist+jwt": {}}}},
)
def get_status_list(
    department: DepartmentId,
    list_number: Annotated[int, Path(ge=0, le=999_999)],
    session: SessionDep,
    hub: HubDep,
) -> Response:
    """A hub-signed Status List Token (IETF draft-ietf-oauth-status-list) of a department's licences."""
    token = service.status_list_token(session, hub, department, list_number)
    return Response(
        token,
        media_type="application/statuslist+jwt",
        headers={"Cache-Control": f"max-age={hub.settings.status_list_ttl_seconds // 2}"},
    )


@router.post("/attachments", response_model=AttachmentRead, status_code=201, tags=["ingest"])
async def post_attachment(
    request: Request, caller: PusherDep, session: SessionDep, hub: HubDep
) -> AttachmentRead:
    """Upload a file that credentials reference by SHA-256 (the body is the file; Content-Type its type).

    Streamed to the object store; the same content uploaded twice is stored once. Needs a
    ``licences.push`` token (departments upload what their credentials reference).
    """
    limit = hub.settings.max_attachment_bytes
    with tempfile.SpooledTemporaryFile(max_size=1 << 20) as spool:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(
                    f"attachments are at most {limit} bytes", errors=[field_error("body", "too large")]
                )
            spool.write(chunk)
        spool.seek(0)
        media_type = request.headers.get("content-type", "")
        department = caller.client.department_id
        row = await run_in_threadpool(
            service.store_attachment, session, hub, cast(BinaryIO, spool), media_type, department
        )
    return AttachmentRead(sha256=row.sha256, size=row.size, media_type=row.media_type)
