"""The signed-in citizen's own data: ``/v1/me/…`` (browser session, not a bearer token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from hub.contract.status import LicenceStatus
from hub.me import service
from hub.me.schemas import AccessLog, MyLicenceRead
from hub.web.callers import CitizenDep
from hub.web.deps import HubDep, SessionDep

router = APIRouter(prefix="/v1/me", tags=["citizen"])


@router.get("/licences", response_model=list[MyLicenceRead])
def my_licences(
    citizen: CitizenDep,
    session: SessionDep,
    type_code: Annotated[str | None, Query(max_length=32, pattern=r"^[0-9A-Za-z]+$")] = None,
    status: LicenceStatus | None = None,
) -> list[MyLicenceRead]:
    """Your licences by type, with status and validity (no fields beyond what identifies them)."""
    return service.my_licences(session, citizen, type_code, status)


@router.get("/access-log", response_model=AccessLog)
def my_access_log(
    citizen: CitizenDep,
    hub: HubDep,
    before: Annotated[int | None, Query(ge=0, description="A leaf index: older entries than it.")] = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_PAGE)] = 20,
) -> AccessLog:
    """Every use of your licences — who, when, for which service item and case, what was released or
    refused — each with the logged bytes and an inclusion proof against a signed tree head."""
    return service.access_log(hub, citizen, before=before, limit=limit)
