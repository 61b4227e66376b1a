"""Reading the audit log back for auditors and admins, scoped by region: an auditor or admin sees the
events of their region's subtree; events without a region (the hub's own) only the admins of a top-level
region."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from hub.access.models import Admin
from hub.audit import service as audit
from hub.audit.models import AuditEvent
from hub.audit.service import EventFilter
from hub.errors import InvalidInput, field_error
from hub.registry import service as registry

MAX_PAGE = 200


def visible_regions(session: Session, admin: Admin) -> list[str] | None:
    """The region codes whose events and alerts ``admin`` sees; None: all (a top-level admin)."""
    if registry.is_top_region(session, admin.region_code):
        return None
    return registry.region_subtree(session, admin.region_code)


def list_events(
    session: Session,
    *,
    by: Admin,
    client_id: str | None = None,
    department_id: str | None = None,
    type_code: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AuditEvent]:
    """Events in the caller's region subtree matching the filters, newest first; ``before`` is the
    leaf index to continue below (the previous page's last)."""
    if since and until and since >= until:
        raise InvalidInput("since must be before until", errors=[field_error("since", "after until")])
    regions = visible_regions(session, by)
    uscc = None
    if department_id:
        department = registry.find_department(session, department_id)
        uscc = department.uscc if department else None
    where = EventFilter(
        regions=regions,
        client_id=client_id,
        department_id=department_id,
        department_uscc=uscc,
        type_code=type_code,
        action=action,
        outcome=outcome,
        since=since,
        until=until,
        before=before,
    )
    return audit.find_events(session, where, min(limit, MAX_PAGE))
