"""Service items (事项) and their materials: seeded from data, managed by city administrators."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from sqlalchemy.orm import Session

from hub.errors import InvalidInput, NotFound, field_error
from hub.kit.time import utcnow
from hub.registry import repository
from hub.registry.models import ServiceItem
from hub.registry.schemas import ServiceItemWrite


def load_service_items() -> list[dict[str, Any]]:
    """The Zhengzhou reference items shipped with the hub (``data/service_items.json``)."""
    text = resources.files("hub.registry").joinpath("data/service_items.json").read_text(encoding="utf-8")
    return list(json.loads(text))


def save_service_item(session: Session, data: ServiceItemWrite) -> ServiceItem:
    """Create or replace an item after checking every material against the catalog."""
    errors = []
    for index, material in enumerate(data.materials):
        where = f"materials[{index}]"
        if material.type_code is None:
            if not material.name_zh or not material.name_en or material.fields:
                errors.append(
                    field_error(where, "a material the hub does not hold needs names and no fields")
                )
            continue
        licence_type = repository.get_licence_type(session, material.type_code)
        if licence_type is None:
            errors.append(field_error(f"{where}.type_code", "not in the catalog"))
            continue
        tiers = {f["name"]: f["tier"] for f in licence_type.fields}
        for form_field, claim in material.fields.items():
            if claim not in tiers:
                errors.append(
                    field_error(f"{where}.fields.{form_field}", f"{claim} is not a field of the type")
                )
            elif tiers[claim] > material.tier:
                errors.append(
                    field_error(
                        f"{where}.fields.{form_field}", f"{claim} is T{tiers[claim]}, above T{material.tier}"
                    )
                )
    if errors:
        raise InvalidInput("invalid service item", errors=errors)
    values = data.model_dump(exclude={"code"})
    row = repository.get_service_item(session, data.code)
    if row is None:
        row = ServiceItem(code=data.code, **values)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    repository.save_service_item(session, row)
    return row


def seed_service_items(session: Session) -> int:
    items = load_service_items()
    for item in items:
        save_service_item(session, ServiceItemWrite.model_validate(item))
    return len(items)


def get_service_item(session: Session, code: str) -> ServiceItem:
    row = repository.get_service_item(session, code)
    if row is None:
        raise NotFound(f"no service item {code!r}")
    return row


def list_service_items(session: Session) -> list[ServiceItem]:
    return list(repository.list_service_items(session))


def find_service_item(session: Session, code: str) -> ServiceItem | None:
    return repository.get_service_item(session, code)


def item_materials(session: Session, code: str) -> repository.ItemMaterials | None:
    """Service item ``code`` as cached in process (writes here invalidate it at once; another process's
    writes show within the cache TTL)."""
    return repository.item_materials(session, code)
