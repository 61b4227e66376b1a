"""What flows through a sync: source records in, licence drafts out.

A department's ``source.py`` yields :class:`SourceRecord` s in source order, each with the cursor position
just after it. Its ``mapping.py`` turns one record into :class:`LicenceDraft` s (pure functions) or
raises :class:`MappingError`. The engine decides what each draft means for the hub.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Self

from hub.contract.status import LicenceStatus, StatusReason


class MappingError(ValueError):
    """A source record that cannot become a licence; the message is the reason kept in the dead letter.
    Say which source field is wrong, never its value (dead-letter reasons end up in logs)."""


class SourceError(Exception):
    """The source as a whole is unusable (unreadable file, wrong encoding, missing columns, an API that
    keeps failing). The sync stops before pushing anything from it."""


@dataclass(frozen=True)
class SourceRecord:
    key: str  # the record's identity in the source system, stable across changes
    position: str  # opaque source cursor just after this record
    data: Mapping[str, Any]  # the record as read, kept verbatim in dead letters
    kind: str = ""  # which of the source's record kinds, for sources with several (e.g. "person")


@dataclass(frozen=True)
class JSONCursor:
    """A source cursor (``SourceRecord.position``) kept as the compact JSON of its fields: subclass it as a
    frozen dataclass whose fields all have defaults, the position before the first record."""

    def dump(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> Self:
        return cls(**json.loads(text)) if text else cls()


@dataclass(frozen=True)
class LicenceDraft:
    """One licence as the source says it should be now."""

    type_code: str
    values: Mapping[str, Any]  # claims by catalog field name
    valid_from: date | None = None
    valid_until: date | None = None  # inclusive; None = long-term (长期)
    status: LicenceStatus = LicenceStatus.VALID
    status_reason: str | None = None  # the department's own words: released at T1 and above only
    status_reason_code: StatusReason | None = None  # the closed list, public with the status
    part: str = ""  # tells apart several licences of one type from one record (e.g. each spouse)
    problems: tuple[str, ...] = ()  # found while mapping: this licence goes to the dead letters
    _hash: list[str] = field(default_factory=list, repr=False, compare=False)

    @property
    def content_hash(self) -> str:
        """SHA-256 over what a new version would change (values and validity), not the status."""
        if not self._hash:
            canonical = json.dumps(
                [self.type_code, dict(self.values), _iso(self.valid_from), _iso(self.valid_until)],
                ensure_ascii=False,
                sort_keys=True,
                separators=(",", ":"),
            )
            self._hash.append(hashlib.sha256(canonical.encode()).hexdigest())
        return self._hash[0]


Mapper = Callable[[SourceRecord], list[LicenceDraft]]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
