"""The audit log's HTTP routes (DESIGN 5.5, section 6): tree heads and proofs (public, like a
Certificate Transparency log: hashes only), events for auditors, and supervision alerts for admins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime
from starlette.concurrency import run_in_threadpool

from hub.audit import heads, log
from hub.audit.schemas import (
    AlertAcknowledge,
    AlertPage,
    AlertRead,
    AuditEventPage,
    AuditEventRead,
    CheckpointKeysRead,
    ConsistencyProofRead,
    InclusionProofRead,
    TreeHeadRead,
)
from hub.audit.settings import get_audit_settings
from hub.supervision import alerts, events
from hub.supervision.metrics import DATABASE
from hub.supervision.supervisor import Supervisor
from hub.web.callers import AdminDep
from hub.web.deps import MAX_ROW_ID, HubDep, RowId, SessionDep


@asynccontextmanager
async def supervision(app: FastAPI) -> AsyncIterator[None]:
    hub = app.state.hub
    supervisor = Supervisor(hub, get_audit_settings())
    DATABASE.attach(hub)
    supervisor.start()
    yield
    await run_in_threadpool(supervisor.stop)
    DATABASE.detach(hub)


router = APIRouter(tags=["audit"], lifespan=supervision)

CHECKPOINT_EXAMPLE = (
    "hub.example.gov.cn/audit\n20852\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
    "\u2014 hub.example.gov.cn/audit Az3grl…\n"
)

Code = Annotated[str | None, Query(max_length=64, pattern=r"^[0-9A-Za-z.:_-]+$")]
Limit = Annotated[int, Query(ge=1, le=events.MAX_PAGE)]


@router.get("/v1/audit/tree-head", response_model=TreeHeadRead)
def get_tree_head(hub: HubDep) -> TreeHeadRead:
    """The newest signed tree head, covering every committed event (at most
    ``HUB_AUDIT_HEAD_MIN_INTERVAL_SECONDS`` behind). Verify ``signed`` with the hub's JWKS."""
    s = get_audit_settings()
    head = heads.fresh_head(hub, min_interval_s=s.head_min_interval_seconds, max_age_s=s.head_max_age_seconds)
    return TreeHeadRead.of(head)


@router.get(
    "/v1/audit/checkpoint",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"example": CHECKPOINT_EXAMPLE}}}},
)
def get_checkpoint(hub: HubDep) -> PlainTextResponse:
    """The newest tree head (the same one as ``/v1/audit/tree-head``) as a C2SP checkpoint
    (c2sp.org/tlog-checkpoint), a signed note (c2sp.org/signed-note): origin line ``<host>/audit``, tree
    size, base64 root hash, a blank line, then ``— <origin> base64(key id || signature)``. Signature type
    0x02, ECDSA P-256 over SHA-256 of the note text, ASN.1 DER, key id = first 4 bytes of SHA-256 of the
    key's DER SubjectPublicKeyInfo (as github.com/transparency-dev/witness implements it). Verifier keys:
    ``GET /v1/audit/checkpoint-key``. Save it, or hand it to witnesses, and check the log against it later
    with ``hub audit verify --head``."""
    s = get_audit_settings()
    head = heads.fresh_head(hub, min_interval_s=s.head_min_interval_seconds, max_age_s=s.head_max_age_seconds)
    return PlainTextResponse(heads.checkpoint_note(hub, head), media_type="text/plain; charset=utf-8")


@router.get("/v1/audit/checkpoint-key", response_model=CheckpointKeysRead)
def get_checkpoint_keys(hub: HubDep) -> CheckpointKeysRead:
    """The note verifier keys of the checkpoints: one per hub key (active and retired, the same keys as
    in ``/.well-known/jwks.json``), each ``<origin>+<hex key id>+base64(0x02 || DER SPKI)``, the form
    Go's ``note`` verifiers (transparency-dev/formats) take. Pin one to check heads without trusting the
    hub's database: ``hub audit verify --key``."""
    return CheckpointKeysRead.of(heads.log_origin(hub), heads.note_keys(hub))


@router.get("/v1/audit/proofs/inclusion", response_model=InclusionProofRead)
def get_inclusion_proof(
    session: SessionDep,
    leaf_index: Annotated[int, Query(ge=0)],
    tree_size: Annotated[int, Query(ge=1)],
) -> InclusionProofRead:
    """The audit path of a leaf in the tree of ``tree_size`` leaves (RFC 9162 §2.1.3)."""
    return InclusionProofRead.of(log.inclusion_proof(session, leaf_index, tree_size))


@router.get("/v1/audit/proofs/consistency", response_model=ConsistencyProofRead)
def get_consistency_proof(
    session: SessionDep,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> ConsistencyProofRead:
    """Proof that the tree of ``second`` leaves extends the tree of ``first`` (RFC 9162 §2.1.4)."""
    return ConsistencyProofRead.of(log.consistency_proof(session, first, second))


@router.get("/v1/audit/events", response_model=AuditEventPage)
def list_events(
    admin: AdminDep,
    session: SessionDep,
    client_id: Code = None,
    department: Code = None,
    type_code: Annotated[str | None, Query(max_length=32, pattern=r"^[0-9A-Za-z]+$")] = None,
    action: Code = None,
    outcome: Annotated[str | None, Query(max_length=16, pattern=r"^[a-z_]+$")] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    before: Annotated[int | None, Query(ge=0, le=MAX_ROW_ID)] = None,
    limit: Limit = 50,
) -> AuditEventPage:
    """Audit events in the caller's region subtree (the acting client's or admin's region), newest
    first, with filters; page with ``before``. For auditors and admins."""
    found = events.list_events(
        session,
        by=admin,
        client_id=client_id,
        department_id=department,
        type_code=type_code,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        before=before,
        limit=limit,
    )
    return AuditEventPage(
        events=[AuditEventRead.model_validate(e) for e in found],
        next_before=found[-1].leaf_index if len(found) == limit else None,
    )


@router.get("/v1/admin/alerts", response_model=AlertPage, tags=["admin"])
def list_alerts(
    admin: AdminDep,
    session: SessionDep,
    rule: Annotated[str | None, Query(max_length=32, pattern=r"^[a-z_]+$")] = None,
    status: Annotated[str | None, Query(pattern="^(open|acknowledged)$")] = None,
    since: AwareDatetime | None = None,
    before: Annotated[int | None, Query(ge=1, le=MAX_ROW_ID)] = None,
    limit: Limit = 50,
) -> AlertPage:
    """Supervision alerts in the caller's region, newest first; page with ``before``."""
    found = alerts.list_alerts(
        session, by=admin, rule=rule, status=status, since=since, before=before, limit=limit
    )
    return AlertPage(
        alerts=[AlertRead.model_validate(a) for a in found],
        next_before=found[-1].id if len(found) == limit else None,
    )


@router.post("/v1/admin/alerts/{alert_id}/acknowledge", response_model=AlertRead, tags=["admin"])
def acknowledge_alert(
    alert_id: RowId, admin: AdminDep, session: SessionDep, body: AlertAcknowledge | None = None
) -> AlertRead:
    """Acknowledge an alert (admins and auditors of its region; again is a no-op)."""
    return AlertRead.model_validate(
        alerts.acknowledge(session, alert_id, by=admin, note=body.note if body else None)
    )
