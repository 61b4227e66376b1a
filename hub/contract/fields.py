"""What a licence type's fields accept, by kind: the one rule set the hub applies at ingest and the
adapters apply before signing, so a record the hub would refuse never leaves the department."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from hub.contract.identifiers import check_citizen_id, check_uscc

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_FIELD_CHARS = 4096


def field_problem(spec: Mapping[str, Any], value: Any) -> str | None:
    """Why ``value`` does not fit the field ``spec`` (its ``kind``, ``values``), or None when it does."""
    kind = spec["kind"]
    if kind in ("string", "enum", "date", "id_number", "uscc", "attachment") and not isinstance(value, str):
        return "must be a string"
    if kind == "string" and len(value) > MAX_FIELD_CHARS:
        return f"at most {MAX_FIELD_CHARS} characters"
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return "must be an integer"
    if kind == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    if kind == "enum" and value not in (spec.get("values") or []):
        return f"must be one of {', '.join(spec.get('values') or [])}"
    if kind == "date":
        try:
            if not _DATE.match(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            return "must be a date YYYY-MM-DD"
    if kind == "id_number":
        try:
            check_citizen_id(value)
        except ValueError as exc:
            return str(exc)
    if kind == "uscc":
        try:
            check_uscc(value)
        except ValueError as exc:
            return str(exc)
    if kind == "attachment" and not _SHA256.match(value):
        return "must be the lower-case hex SHA-256 of an uploaded attachment"
    return None
