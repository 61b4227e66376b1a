"""Checks of draft values against the hub's catalog, before anything is signed.

The same rules the hub applies at ingest (kinds, required fields, enum values, dates, GB 11643 and
GB 32100 check characters), so a record the hub would refuse goes to the dead-letter store instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.contract.fields import field_problem


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
        reason = field_problem(spec, values[name])
        if reason:
            problems.append(f"{label}: {reason}")
    return problems
