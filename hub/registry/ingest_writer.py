"""Writing a batch's checked operations: each one against the stored licences and what the batch's
earlier operations made of them, a chunk at a time (see :class:`BatchWriter`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.contract.status import LicenceStatus
from hub.errors import Conflict, HubError, NotFound, field_error
from hub.kit.time import utcnow
from hub.registry import repository
from hub.registry.ingest_rules import (
    ConflictingIssuer,
    InvalidClaims,
    Prepared,
    PreparedCredential,
    PreparedStatus,
    Rejected,
    VersionConflict,
)
from hub.registry.models import Department
from hub.registry.schemas import OperationResult
from storage.sealing import Keyring

# An ended licence does not come back: its status does not change again, and it gets no new version.
TERMINAL_STATUSES = {LicenceStatus.ANNULLED, LicenceStatus.CANCELLED, LicenceStatus.REVOKED}

Key = tuple[str, str]  # (type code, serial): a licence within its department


@dataclass(slots=True)
class LicenceState:
    """A licence as the batch has it so far: as stored, or as an issue of the batch made it, with what
    the batch's later operations changed. The fields are the ``licence`` table's columns but the
    department's."""

    id: int | None  # None until the licence an issue made is inserted
    type_code: str
    serial: str
    holder_index: str
    number_index: str
    current_version: int
    current_licence_id: str
    status: str
    status_reason: str | None
    status_reason_code: str | None
    status_changed_at: datetime | None
    status_list: int
    status_index: int
    valid_from: datetime | None
    valid_until: datetime | None
    withheld: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def stored(cls, row: Mapping[str, Any]) -> LicenceState:
        return cls(**{name: row[name] for name in _LICENCE_COLUMNS})

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _LICENCE_COLUMNS}


_LICENCE_COLUMNS = tuple(f.name for f in fields(LicenceState))


@dataclass(slots=True)
class NewVersion:
    """A ``licence_version`` row to write: of ``licence``, whose id a new licence has once inserted."""

    licence: LicenceState
    licence_id: str
    version: int
    previous_licence_id: str | None
    issuer_kid: str
    credential_sealed: bytes
    credential_sha256: str
    issued_at: datetime
    valid_from: datetime | None
    valid_until: datetime | None
    feed_sequence: int
    created_at: datetime

    def row(self) -> dict[str, Any]:
        return {"licence_pk": self.licence.id, **{name: getattr(self, name) for name in _VERSION_COLUMNS}}


_VERSION_COLUMNS = tuple(f.name for f in fields(NewVersion) if f.name != "licence")


@dataclass(slots=True)
class NewStatusChange:
    """A ``licence_status_change`` row to write: of ``licence``, whose id a new licence has once
    inserted."""

    licence: LicenceState
    licence_id: str
    status: str
    previous_status: str
    reason: str | None
    reason_code: str | None
    effective_at: datetime
    statement: str
    statement_jti: str
    issuer_kid: str
    feed_sequence: int
    created_at: datetime

    def row(self) -> dict[str, Any]:
        return {
            "licence_pk": self.licence.id,
            **{name: getattr(self, name) for name in _STATUS_CHANGE_COLUMNS},
        }


_STATUS_CHANGE_COLUMNS = tuple(f.name for f in fields(NewStatusChange) if f.name != "licence")


@dataclass(slots=True)
class _ChunkChanges:
    """What one chunk's operations changed, to be written at its end (and the attachments they name
    that are stored, which the chunk's lookups found)."""

    known_attachments: set[str]
    created: dict[Key, LicenceState] = field(default_factory=dict)  # in the order they were issued
    changed: dict[Key, LicenceState] = field(default_factory=dict)  # also some of those created
    versions: list[NewVersion] = field(default_factory=list)
    status_changes: list[NewStatusChange] = field(default_factory=list)


class BatchWriter:
    """Applies checked operations in order against the stored licences, a chunk at a time: each chunk's
    licences are read in one query, its operations applied to the batch's running state, and its rows
    written at the chunk's end (a licence an earlier chunk created is updated like any stored one).

    A chunk of new licences only (a department's bulk load) is written without first looking for stored
    licences with its serials or status-list slots: the unique constraints on both refuse a clash. Then
    the chunk is undone (to a savepoint, and in the running state) and applied again with the lookups,
    which reject just the clashing operations, as do all the batch's later chunks.

    What the batch did is in ``results`` (one per operation), ``type_codes`` (of the licences written)
    and ``conflicts`` (holders refused a licence another department issued them: type code, holder
    index, the other department)."""

    def __init__(
        self,
        session: Session,
        keyring: Keyring,
        department: Department,
        sequence: int,
        op_names: list[str],
        one_per_holder: set[str],
    ) -> None:
        self.session, self.keyring, self.department, self.sequence = session, keyring, department, sequence
        self.op_names = op_names  # of every operation, for those rejected before they were prepared
        self.one_per_holder = one_per_holder  # type codes a person holds one of at a time
        self.held_elsewhere: dict[tuple[str, str], str] = {}  # (type code, holder index): department
        self.conflicts: list[tuple[str, str, str]] = []
        self.state: dict[Key, LicenceState] = {}
        self.used_slots: set[tuple[int, int]] = set()
        self.used_jtis: set[str] = set()
        self.results: list[OperationResult] = []
        self.type_codes: set[str] = set()
        self.now = utcnow()
        self.unchecked_issues = True  # new licences go in without looking for clashes first

    def apply(self, chunk: list[Prepared | HubError]) -> None:
        """Apply and write the batch's next chunk of checked operations."""
        if self.unchecked_issues and all(
            isinstance(p, PreparedCredential) and p.op == "issue" for p in chunk
        ):
            before = (len(self.results), set(self.state), set(self.used_slots), set(self.type_codes))
            try:
                with self.session.begin_nested():
                    self._apply(chunk, look_up=False)
                return
            except IntegrityError:  # a serial or a slot already stored
                results, keys, self.used_slots, self.type_codes = before
                del self.results[results:]
                for key in self.state.keys() - keys:
                    del self.state[key]
                self.unchecked_issues = False
        self._apply(chunk, look_up=True)

    def _apply(self, chunk: list[Prepared | HubError], *, look_up: bool) -> None:
        changes = self._read(chunk, look_up=look_up)
        for item in chunk:
            if isinstance(item, HubError):
                index = len(self.results)
                self.results.append(_rejection(index, self.op_names[index], item))
                continue
            try:
                if isinstance(item, PreparedStatus):
                    result = self.change_status(item, changes)
                elif item.op == "issue":
                    result = self.create(item, changes)
                else:
                    result = self.update(item, changes)
            except Rejected as rejected:
                self.results.append(_rejection(item.index, item.op, rejected.error))
                continue
            self.results.append(result)
            if isinstance(item, PreparedCredential):
                self.type_codes.add(item.type_code)
        self._write(changes)

    def _read(self, chunk: list[Prepared | HubError], *, look_up: bool) -> _ChunkChanges:
        """Read what the chunk's operations are applied against: the stored licences they name and the
        status list slots its issues take (unless ``look_up`` is false), holders of one-per-holder
        licences from other departments, the attachments its credentials name, and the statements
        already applied."""
        session, department = self.session, self.department
        checked = [p for p in chunk if not isinstance(p, HubError)]
        credentials = [p for p in checked if isinstance(p, PreparedCredential)]
        issues = [p for p in credentials if p.op == "issue"]
        if look_up:
            keys = {(p.licence_id.type_code, p.licence_id.serial) for p in checked}
            stored = repository.licences_by_serial(session, department.id, keys - self.state.keys())
            self.state.update((key, LicenceState.stored(row)) for key, row in stored.items())
            self.used_slots |= repository.used_status_slots(
                session, department.id, (p.status_slot for p in issues)
            )
        single = [(p.type_code, p.holder_index) for p in issues if p.type_code in self.one_per_holder]
        if single:
            self.held_elsewhere.update(repository.valid_elsewhere(session, department.id, single, self.now))
        attachments = repository.existing_attachments(
            session, (d for p in credentials for d in p.attachments)
        )
        self.used_jtis |= repository.existing_statement_ids(
            session, (p.jti for p in checked if isinstance(p, PreparedStatus))
        )
        return _ChunkChanges(known_attachments=attachments)

    def _write(self, changes: _ChunkChanges) -> None:
        created = changes.created
        rows = [{**licence.row(), "department_id": self.department.id} for licence in created.values()]
        for key, licence_pk in repository.insert_licences(self.session, rows).items():
            created[key].id = licence_pk
        repository.update_licences(
            self.session, [licence.row() for key, licence in changes.changed.items() if key not in created]
        )
        repository.insert_versions(self.session, [version.row() for version in changes.versions])
        repository.insert_status_changes(self.session, [change.row() for change in changes.status_changes])

    # -- operations: each raises Rejected if it conflicts with the batch's state ------------------------

    def create(self, item: PreparedCredential, changes: _ChunkChanges) -> OperationResult:
        """An issue: a new licence, with its first version."""
        where = f"operations[{item.index}]"
        self._check_attachments(item, changes)
        other = self.held_elsewhere.get((item.type_code, item.holder_index))
        if other is not None:
            self.conflicts.append((item.type_code, item.holder_index, other))
            raise Rejected(
                ConflictingIssuer(
                    f"the holder has a valid {item.type_code} from department {other!r}; a person holds one "
                    "at a time (the other must be cancelled first)",
                    errors=[field_error(f"{where}.credential", "holder already holds a valid one elsewhere")],
                )
            )
        key = (item.licence_id.type_code, item.licence_id.serial)
        current = self.state.get(key)
        if current is not None:
            raise Rejected(
                VersionConflict(
                    f"licence {item.licence_id!s} already exists (version {current.current_version:03d})",
                    errors=[field_error(f"{where}.licence_id", "already issued; use update")],
                )
            )
        if item.status_slot in self.used_slots:
            raise Rejected(
                Conflict(
                    f"status list {item.status_slot[0]} index {item.status_slot[1]} is already used",
                    errors=[field_error(f"{where}.credential.status", "index in use by another licence")],
                )
            )
        self.used_slots.add(item.status_slot)
        licence = self.state[key] = changes.created[key] = LicenceState(
            id=None,
            type_code=item.type_code,
            serial=item.licence_id.serial,
            holder_index=item.holder_index,
            number_index=item.number_index,
            current_version=item.licence_id.version,
            current_licence_id=str(item.licence_id),
            status=LicenceStatus.VALID.value,
            status_reason=None,
            status_reason_code=None,
            status_changed_at=None,
            status_list=item.status_slot[0],
            status_index=item.status_slot[1],
            valid_from=item.valid_from,
            valid_until=item.valid_until,
            withheld=None,
            created_at=self.now,
            updated_at=self.now,
        )
        return self._add_version(item, licence, item.previous_licence_id, changes)

    def update(self, item: PreparedCredential, changes: _ChunkChanges) -> OperationResult:
        """An update: the licence's next version, which keeps its status list entry."""
        where = f"operations[{item.index}]"
        self._check_attachments(item, changes)
        key = (item.licence_id.type_code, item.licence_id.serial)
        licence = self.state.get(key)
        if licence is None:
            raise Rejected(
                NotFound(
                    f"no licence {item.licence_id.with_version(1)} to update",
                    errors=[field_error(f"{where}.licence_id", "unknown licence; issue it first")],
                )
            )
        expected = licence.current_version + 1
        if item.licence_id.version != expected:
            raise Rejected(
                VersionConflict(
                    f"expected version {expected:03d}, got {item.licence_id.version:03d}",
                    errors=[field_error(f"{where}.licence_id", f"version must be {expected:03d}")],
                )
            )
        if LicenceStatus(licence.status) in TERMINAL_STATUSES:
            raise Rejected(
                Conflict(
                    f"licence is {LicenceStatus(licence.status).label_en}; issue a new licence instead",
                    errors=[field_error(f"{where}.licence_id", "licence is no longer in force")],
                )
            )
        if (licence.status_list, licence.status_index) != item.status_slot:
            raise Rejected(
                Conflict(
                    "a new version keeps the licence's status list entry",
                    errors=[field_error(f"{where}.credential.status", "differs from the licence's entry")],
                )
            )
        previous_licence_id = licence.current_licence_id
        if item.previous_licence_id not in (None, previous_licence_id):
            raise Rejected(
                Conflict(
                    "previous_licence_id is not the current version",
                    errors=[
                        field_error(
                            f"{where}.credential.previous_licence_id", f"expected {previous_licence_id}"
                        )
                    ],
                )
            )
        changes.changed[key] = licence
        # A new version, signed by a key in force, replaces one a compromised key signed.
        licence.withheld = None
        licence.current_version = item.licence_id.version
        licence.current_licence_id = str(item.licence_id)
        licence.holder_index = item.holder_index
        licence.number_index = item.number_index
        licence.valid_from = item.valid_from
        licence.valid_until = item.valid_until
        licence.updated_at = self.now
        return self._add_version(item, licence, previous_licence_id, changes)

    def change_status(self, item: PreparedStatus, changes: _ChunkChanges) -> OperationResult:
        """A status change of a licence, kept with the department's signed statement."""
        where = f"operations[{item.index}]"
        key = (item.licence_id.type_code, item.licence_id.serial)
        licence = self.state.get(key)
        licence_id = str(item.licence_id)
        if licence is None:
            raise Rejected(
                NotFound(
                    f"no licence {licence_id}", errors=[field_error(f"{where}.licence_id", "unknown licence")]
                )
            )
        if item.jti in self.used_jtis:
            raise Rejected(
                Conflict(
                    "this status statement was already applied",
                    errors=[field_error(f"{where}.jti", "replayed")],
                )
            )
        if LicenceStatus(licence.status) in TERMINAL_STATUSES and item.status != licence.status:
            ended = LicenceStatus(licence.status)
            raise Rejected(
                Conflict(
                    f"licence is {ended.label_en} ({ended.value}); an ended licence does not come back, "
                    "issue a new licence instead",
                    errors=[field_error(f"{where}.status", f"{ended.value} is final")],
                )
            )
        if item.licence_id.version > licence.current_version:
            raise Rejected(
                VersionConflict(
                    f"licence has no version {item.licence_id.version:03d}",
                    errors=[field_error(f"{where}.licence_id", "names a version not yet issued")],
                )
            )
        self.used_jtis.add(item.jti)
        changes.status_changes.append(
            NewStatusChange(
                licence=licence,
                licence_id=licence_id,
                status=item.status.value,
                previous_status=licence.status,
                reason=item.reason,
                reason_code=item.reason_code,
                effective_at=item.issued_at,
                statement=item.compact,
                statement_jti=item.jti,
                issuer_kid=item.kid,
                feed_sequence=self.sequence,
                created_at=self.now,
            )
        )
        changes.changed[key] = licence
        licence.status = item.status.value
        licence.status_reason = item.reason
        licence.status_reason_code = item.reason_code
        licence.status_changed_at = item.issued_at
        licence.updated_at = self.now
        return OperationResult(
            index=item.index,
            op="status",
            outcome="accepted",
            licence_id=licence_id,
            version=item.licence_id.version,
            status=item.status.value,
        )

    def _check_attachments(self, item: PreparedCredential, changes: _ChunkChanges) -> None:
        missing = [d for d in item.attachments if d not in changes.known_attachments]
        if missing:
            raise Rejected(
                InvalidClaims(
                    "the credential references attachments that were never uploaded",
                    errors=[
                        field_error(f"operations[{item.index}].credential", f"unknown attachment {d}")
                        for d in missing
                    ],
                )
            )

    def _add_version(
        self,
        item: PreparedCredential,
        licence: LicenceState,
        previous_licence_id: str | None,
        changes: _ChunkChanges,
    ) -> OperationResult:
        """The credential kept as the licence's new version, sealed (AES-GCM, the licence id as associated
        data, so that a sealed credential cannot pass for another licence's)."""
        licence_id = str(item.licence_id)
        credential = item.compact.encode()
        changes.versions.append(
            NewVersion(
                licence=licence,
                licence_id=licence_id,
                version=item.licence_id.version,
                previous_licence_id=previous_licence_id,
                issuer_kid=item.kid,
                credential_sealed=self.keyring.seal(credential, aad=licence_id.encode()),
                credential_sha256=hashlib.sha256(credential).hexdigest(),
                issued_at=item.issued_at,
                valid_from=item.valid_from,
                valid_until=item.valid_until,
                feed_sequence=self.sequence,
                created_at=self.now,
            )
        )
        return OperationResult(
            index=item.index,
            op=item.op,
            outcome="accepted",
            licence_id=licence_id,
            version=item.licence_id.version,
            status=licence.status,
        )


def _rejection(index: int, op: str, error: HubError) -> OperationResult:
    return OperationResult(index=index, op=op[:16], outcome="rejected", problem=error.to_problem())
