"""Every table of the hub, imported in one place for Alembic and for tests."""

from hub.access.models import Admin, Client, Grant
from hub.audit.models import (
    Alert,
    AuditEvent,
    AuditNode,
    AuditRollup,
    AuditTreeState,
    SupervisionState,
    TreeHead,
)
from hub.keys.models import HubKey
from hub.lookups.models import ReleasedAttachment
from hub.oauth.models import AuthorizationCode, Consent, IssuedToken, UsedAssertion
from hub.registry.models import (
    Attachment,
    Department,
    DepartmentKey,
    Feed,
    FeedBatch,
    Licence,
    LicenceStatusChange,
    LicenceType,
    LicenceVersion,
    Region,
    ServiceItem,
)
from hub.sessions.models import WebSession

__all__ = [
    "Admin",
    "Alert",
    "Attachment",
    "AuditEvent",
    "AuditNode",
    "AuditRollup",
    "AuditTreeState",
    "AuthorizationCode",
    "Client",
    "Consent",
    "Department",
    "DepartmentKey",
    "Feed",
    "FeedBatch",
    "Grant",
    "HubKey",
    "IssuedToken",
    "Licence",
    "LicenceStatusChange",
    "LicenceType",
    "LicenceVersion",
    "Region",
    "ReleasedAttachment",
    "ServiceItem",
    "SupervisionState",
    "TreeHead",
    "UsedAssertion",
    "WebSession",
]
