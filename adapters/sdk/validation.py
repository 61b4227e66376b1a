"""Checks of draft values against the hub's catalog, before anything is signed.

The same rules the hub applies at ingest (kinds, required fields, enum values, dates, GB 11643 and
GB 32100 check characters), so a record the hub would refuse goes to the dead-letter store instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from hub.contract.identifiers import check_citizen_id, check_uscc

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_FIELD_CHARS = 4096


def problems_with(licence_type: Mapping[str, Any], values: Mapping[str, Any]) -> list[str]:
    """Every way ``values`` break the type's fields, as ``"<field>: <reason>"`` (empty when fine)."""
    fields = {f["name"]: f for f in licence_type["fields"]}
    problems = [f"{name}: not a field of {licence_type['code']}" for name in values if name not in fields]
    for name, spec in fields.items():
        label = f"{name} ({spec['label_zh']})" if spec.get("label_zh") else name
        if values.get(name) in (None, ""):
            if spec.get("required"):
                problems.append(f"{label}: required field missing")
            continue
        reason = _field_problem(spec, values[name])
        if reason:
            problems.append(f"{label}: {reason}")
    return problems


def _field_problem(spec: Mapping[str, Any], value: Any) -> str | None:
    kind = spec["kind"]
    if kind in ("string", "enum", "date", "id_number", "uscc", "attachment") and not isinstance(value, str):
        return "must be a string"
    if kind == "string" and len(value) > MAX_FIELD_CHARS:
        return f"longer than {MAX_FIELD_CHARS} characters"
    if kind == "integer" and (not isinstance(value, int) or isinstance(value, bool)):
        return "must be an integer"
    if kind == "boolean" and not isinstance(value, bool):
        return "must be true or false"
    if kind == "enum" and value not in (spec.get("values") or []):
        return f"not one of {'/'.join(spec.get('values') or [])}"
    if kind == "date":
        try:
            if not _DATE.match(value):
                raise ValueError
            date.fromisoformat(value)
        except ValueError:
            return "not a date YYYY-MM-DD"
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
        return "not the hex SHA-256 of an uploaded attachment"
    return None
