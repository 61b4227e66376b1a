"""Every table of the hub, imported in one place for Alembic and for tests."""

from hub.keys.models import HubKey
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
)

__all__ = [
    "Attachment",
    "Department",
    "DepartmentKey",
    "Feed",
    "FeedBatch",
    "HubKey",
    "Licence",
    "LicenceStatusChange",
    "LicenceType",
    "LicenceVersion",
    "Region",
]
