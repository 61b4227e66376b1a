"""The adapter SDK shared by the department adapters (police, commerce, civil affairs).

A department adapter supplies three things and gets a complete, crash-safe sync:

1. a **source**: ``read(cursor: str | None) -> Iterable[SourceRecord]`` yielding records after an opaque
   cursor, each with the cursor just after it (``SourceRecord(key, position, data, kind)``), and raising
   :class:`SourceError` for a source that is unusable as a whole (check files before yielding anything);
2. a **mapper**: a pure ``(SourceRecord) -> list[LicenceDraft]`` raising :class:`MappingError` for a bad
   record (``LicenceDraft(type_code, values, valid_from, valid_until, status, status_reason,
   status_reason_code, part)``: the code from ``hub.contract.status.StatusReason``, public with the status;
   the text, the department's own words, released at T1 and above only);
3. a **CLI**: ``department_app(department=..., help=..., sync_help=..., open_source=..., mapper=...)``
   from ``adapters.sdk.cli`` gives the `sync` and `status` commands; ``open_source`` declares the source's
   own options (see ``adapters/police/__main__.py``).

The engine (:class:`SyncEngine`) checks drafts against the hub's catalog, decides issue / update /
status / nothing (``adapters.sdk.plan``), signs as the department (``adapters.sdk.issuing``), and pushes
batches through the outbox of the local state (``adapters.sdk.state``) with :class:`HubClient`.
"""

from adapters.sdk.engine import SyncEngine
from adapters.sdk.hub_client import FeedConflict, HubClient, HubRefused
from adapters.sdk.keys import PrivateKey, load_private_key
from adapters.sdk.pushing import SyncAborted, SyncReport
from adapters.sdk.records import LicenceDraft, Mapper, MappingError, SourceError, SourceRecord
from adapters.sdk.retry import HubUnavailable, RetryPolicy
from adapters.sdk.state import LocalState

__all__ = [
    "FeedConflict",
    "HubClient",
    "HubRefused",
    "HubUnavailable",
    "LicenceDraft",
    "LocalState",
    "Mapper",
    "MappingError",
    "PrivateKey",
    "RetryPolicy",
    "SourceError",
    "SourceRecord",
    "SyncAborted",
    "SyncEngine",
    "SyncReport",
    "load_private_key",
]
