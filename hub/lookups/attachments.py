"""Attachments released by lookups and prefill, and their download (``GET /v1/attachments/{sha256}``).

A client may fetch a file only after a lookup or prefill released to it the claim that references the
file (the ID card's ``photo``, say), and only while all of these hold:

- the release is less than ``RELEASE_WINDOW`` (one hour) old: long enough to finish the case step that
  needed the file, short enough that a digest kept in a client's records is not a standing key to it;
- one of the grants that allowed the release is still in force, so revoking a grant (or letting it
  lapse) ends downloads at once, as it ends lookups;
- a release that needed the holder's consent (every T3 field, and fields whose grants all require
  consent) is downloaded only with a token bound to that consent: the same citizen, service item and
  case. Withdrawing the consent revokes those tokens and so ends downloads too.

The token's ``licence:<type>:t<N>`` scopes are not read again: they were checked when the claim was
released, and the grant re-check above is what a revocation needs.

Anything else answers 404, never 403, so the answer does not tell which digests the hub holds. Every
attempt, delivered or refused, is an audit event (``attachment.download``) in the request's transaction.

Recording releases: ``release.release_type`` decides a release before the call's audit event exists (the
event is written once every type is decided), yet each release must name that event. So releases wait on
the call's ``Requester`` and the lookup writes them (``record_releases``) right after its event, in the
same transaction: both commit or roll back together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from hub.access import service as access
from hub.audit import service as audit
from hub.audit.models import AuditEvent
from hub.context import Hub
from hub.errors import ServiceUnavailable
from hub.kit.time import utcnow
from hub.lookups import repository
from hub.lookups.models import ReleasedAttachment
from hub.oauth.callers import ClientCaller
from hub.registry import service as registry
from storage.objects import ObjectCorrupt, ObjectNotFound, ObjectStoreError

log = logging.getLogger("hub.lookups.attachments")

RELEASE_WINDOW = timedelta(hours=1)
DOWNLOAD_ACTION = "attachment.download"
NOT_RELEASED = "no attachment with this digest was released to you, or its release has lapsed"

_RELEASING_ACTIONS = frozenset({"lookup", "prefill"})
_CITIZEN_PREFIX = "citizen:"


@dataclass(frozen=True)
class PendingRelease:
    """An attachment claim released to a client, waiting for the call's audit event."""

    client_id: str
    sha256: str
    licence_id: str
    type_code: str
    claim: str
    holder_index: str
    purpose: str
    case_id: str
    consented: bool
    grant_ids: list[int]


def record_releases(session: Session, pending: list[PendingRelease], event: AuditEvent) -> None:
    """Write the releases a lookup or prefill made, each naming the call's audit event; ``pending`` is
    emptied. Only releases of licences the event names are written."""
    released = set(event.licence_ids)
    rows = [
        asdict(p) | {"audit_event_id": event.id, "released_at": event.occurred_at}
        for p in pending
        if p.client_id == event.client_id and p.licence_id in released
    ]
    pending.clear()
    repository.add_releases(session, rows)


# Download ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """The file's bytes, streamed through the hub: the store holds them sealed, so there is no presigned
    URL to hand out. The store has opened and checked the whole file before the first chunk."""

    media_type: str
    size: int
    chunks: Iterator[bytes]


def _bound_to_consent(caller: ClientCaller, release: ReleasedAttachment) -> bool:
    claims = caller.token.claims
    return (
        caller.citizen == _CITIZEN_PREFIX + release.holder_index
        and claims.get("purpose") == release.purpose
        and claims.get("case_id") == release.case_id
    )


def usable_release(session: Session, caller: ClientCaller, sha256: str) -> ReleasedAttachment | None:
    """The newest release of ``sha256`` to the caller that still allows a download, if any."""
    client_id = caller.client.client_id
    now = utcnow()
    releases = repository.recent_releases(session, client_id, sha256, since=now - RELEASE_WINDOW)
    if not releases:
        return None
    # The grants the caller's dependency read at the start of this request, when it did.
    grants = caller.grants
    if grants is None:
        grants = access.active_grants(session, client_id, now)
    in_force = {g.id for g in grants}
    for release in releases:
        if in_force.isdisjoint(release.grant_ids):
            continue
        if release.consented and not _bound_to_consent(caller, release):
            continue
        return release
    return None


def _deliver(hub: Hub, sha256: str, media_type: str, size: int) -> Delivery:
    try:
        return Delivery(media_type, size, chunks=hub.objects.open(sha256))
    except ObjectNotFound:
        raise  # a released digest always has an uploaded object: losing one is a fault, not a 404
    except ObjectCorrupt as exc:
        # Tampering or corruption at rest, not bad input and not transient: nothing goes out, the
        # answer is a 500 (retrying cannot help) and this line is the operators' alert.
        log.critical("attachment.integrity_failed", extra={"sha256": sha256, "reason": exc.reason})
        raise
    except ObjectStoreError as exc:
        log.error("attachment.store_unavailable", extra={"sha256": sha256})
        raise ServiceUnavailable(
            "the object store is not reachable; retry later", headers={"Retry-After": "5"}
        ) from exc


def download(session: Session, hub: Hub, caller: ClientCaller, sha256: str) -> Delivery | None:
    """``GET /v1/attachments/{sha256}``: the file, if a recent release to the caller still allows it
    (see the module's rules); ``None`` means 404. Either way the attempt is audited."""
    client_id = caller.client.client_id
    release = usable_release(session, caller, sha256)
    attachment = registry.find_attachment(session, sha256) if release else None
    if release is None or attachment is None:
        audit.record(
            session,
            action=DOWNLOAD_ACTION,
            outcome="refused",
            actor_kind="client",
            actor_id=client_id,
            client=caller.client,
            detail={"sha256": sha256},
        )
        return None
    delivery = _deliver(hub, sha256, attachment.media_type, attachment.size)
    try:
        audit.record(
            session,
            action=DOWNLOAD_ACTION,
            outcome="released",
            actor_kind="client",
            actor_id=client_id,
            client=caller.client,
            holder_index=release.holder_index,
            purpose=release.purpose,
            case_id=release.case_id,
            licence_ids=[release.licence_id],
            detail={
                "sha256": sha256,
                "claim": release.claim,
                "release_event": release.audit_event_id,
                "delivery": "stream",
                "consent": release.consented,
            },
        )
    except BaseException:
        close = getattr(delivery.chunks, "close", None)
        if close is not None:
            close()
        raise
    return delivery
