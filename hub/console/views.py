"""What each console page shows, gathered from the feature services (never their repositories, never
their rules: the console calls the same functions as the API, so role and region checks are the
same), and the parsing of console forms into the API's own request models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from hub.access import service as access_service
from hub.access.models import Admin
from hub.access.schemas import ClientCreate, GrantCreate
from hub.audit import heads
from hub.audit import log as audit_log
from hub.audit.leaf import leaf_bytes
from hub.audit.settings import get_audit_settings
from hub.console import repository
from hub.context import Hub
from hub.errors import HubError, InvalidInput, field_error
from hub.kit.time import utcnow
from hub.me import service as me_service
from hub.oauth import consents
from hub.oauth.callers import Citizen
from hub.registry import items
from hub.registry import service as registry_service
from hub.supervision import alerts as audit_alerts
from hub.supervision import events as audit_events

CHART_HOURS = 24
M = TypeVar("M", bound=BaseModel)


# Form parsing ------------------------------------------------------------------------------------------


def invalid(exc: ValidationError) -> InvalidInput:
    """A request model's validation failure as the hub's own error, naming each field."""
    errors = [
        field_error(".".join(str(p) for p in e["loc"]) or "body", e["msg"])
        for e in exc.errors(include_url=False)
    ]
    return InvalidInput("the form has mistakes", errors=errors)


def parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None


def _day(value: str, field: str, *, end: bool = False) -> datetime | None:
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(
            f"{field} is not a date", errors=[field_error(field, "not a date (YYYY-MM-DD)")]
        ) from None
    return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)


def grant_from_form(form: dict[str, Any]) -> GrantCreate:
    """The grant form (pickers, dates as days in UTC; ``valid_until`` is inclusive) as a ``GrantCreate``."""
    return parse(
        GrantCreate,
        {
            "client_id": form.get("client_id", ""),
            "type_code": form.get("type_code", ""),
            "max_tier": form.get("max_tier", ""),
            "purposes": [p for p in form.get("purposes", []) if p],
            "region_code": form.get("region_code", ""),
            "valid_from": _day(form.get("valid_from", ""), "valid_from"),
            "valid_until": _day(form.get("valid_until", ""), "valid_until", end=True),
            "consent_required": bool(form.get("consent_required")),
            "legal_basis": form.get("legal_basis", "").strip(),
        },
    )


def client_from_form(form: dict[str, Any]) -> ClientCreate:
    import json

    jwks_text = str(form.get("jwks", "")).strip()
    try:
        jwks = json.loads(jwks_text) if jwks_text else None
    except json.JSONDecodeError:
        raise InvalidInput("jwks is not JSON", errors=[field_error("jwks", "not JSON")]) from None
    return parse(
        ClientCreate,
        {
            "name": str(form.get("name", "")).strip(),
            "kind": "service",
            "region_code": form.get("region_code", ""),
            "organisation": str(form.get("organisation", "")).strip(),
            "auth_method": form.get("auth_method", ""),
            "jwks": jwks,
            "redirect_uris": [
                u.strip() for u in str(form.get("redirect_uris", "")).splitlines() if u.strip()
            ],
        },
    )


def json_object(text: str, field: str) -> dict[str, Any]:
    import json

    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{field} is not JSON: {exc.msg}", errors=[field_error(field, "not JSON")]
        ) from None
    if not isinstance(value, dict):
        raise InvalidInput(f"{field} is not a JSON object", errors=[field_error(field, "not an object")])
    return value


def error_context(error: HubError) -> dict[str, Any]:
    return {"error": error.detail, "field_errors": error.errors}


# Pages -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    hour: str
    count: int
    x: int
    height: int


def _chart(per_hour: dict[str, int], now: datetime) -> list[Bar]:
    start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=CHART_HOURS - 1)
    hours = [(start + timedelta(hours=n)).strftime("%Y-%m-%dT%H") for n in range(CHART_HOURS)]
    top = max([per_hour.get(h, 0) for h in hours] + [1])
    return [
        Bar(hour=h[-2:], count=per_hour.get(h, 0), x=n * 22, height=round(100 * per_hour.get(h, 0) / top))
        for n, h in enumerate(hours)
    ]


def dashboard(session: Session, admin: Admin) -> dict[str, Any]:
    regions = audit_events.visible_regions(session, admin)
    now = utcnow()
    stale_after = timedelta(hours=get_audit_settings().feed_stale_hours)
    feeds = [
        {"department": d, "feed": f, "stale": f is None or now - f.updated_at > stale_after}
        for d, f in repository.feeds(session, regions)
    ]
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=CHART_HOURS - 1)
    bars = _chart(repository.lookups_per_hour(session, regions, since), now)
    return {
        "licence_counts": repository.licence_counts(session, regions),
        "feeds": feeds,
        "bars": bars,
        "chart_top": max([b.count for b in bars] + [0]),
        "alerts": audit_alerts.list_alerts(session, by=admin, status="open", limit=10),
    }


def departments(session: Session, admin: Admin) -> dict[str, Any]:
    return {"departments": access_service.list_departments(session, by=admin)}


def clients(session: Session, admin: Admin) -> dict[str, Any]:
    return {"clients": access_service.list_clients(session, by=admin), "regions": regions_for(session, admin)}


def regions_for(session: Session, admin: Admin) -> list[tuple[str, str]]:
    """The admin's region and its direct children, for pickers."""
    region = registry_service.get_region(session, admin.region_code)
    return [(region.code, region.name)] + [(c.code, c.name) for c in region.children]


def grants(session: Session, admin: Admin) -> dict[str, Any]:
    return {
        "grants": access_service.list_grants(session, by=admin, limit=200),
        "clients": [c for c in access_service.list_clients(session, by=admin) if c.kind == "service"],
        "types": registry_service.list_licence_types(session),
        "items": items.list_service_items(session),
        "regions": regions_for(session, admin),
        "today": utcnow().date().isoformat(),
        "next_year": (utcnow() + timedelta(days=365)).date().isoformat(),
    }


def service_items(session: Session) -> dict[str, Any]:
    import json

    from hub.registry.schemas import ServiceItemWrite

    found = items.list_service_items(session)
    editable = {
        i.code: json.dumps(
            ServiceItemWrite.model_validate(i, from_attributes=True).model_dump(mode="json"),
            ensure_ascii=False,
            indent=2,
        )
        for i in found
    }
    return {"items": found, "editable": editable}


def alerts(session: Session, admin: Admin, status: str | None) -> dict[str, Any]:
    return {"alerts": audit_alerts.list_alerts(session, by=admin, status=status, limit=100), "status": status}


def audit(hub: Hub, admin: Admin, filters: dict[str, Any]) -> dict[str, Any]:
    """The current signed head, then the events matching ``filters`` with their inclusion proofs in it
    (events newer than the head are shown without a proof)."""
    s = get_audit_settings()
    head = heads.fresh_head(hub, min_interval_s=s.head_min_interval_seconds, max_age_s=s.head_max_age_seconds)
    with hub.read_session_factory() as session:  # opened after the head: sees every leaf it covers
        events = audit_events.list_events(session, by=admin, limit=50, **filters)
        covered = [e.leaf_index for e in events if e.leaf_index < head.tree_size]
        proofs = (
            {p.leaf_index: p for p in audit_log.inclusion_proofs(session, covered, head.tree_size)}
            if covered
            else {}
        )
        rows = [
            {
                "event": e,
                "leaf": leaf_bytes(e).decode(),
                "proof": proofs.get(e.leaf_index),
                "path": " ".join(heads.b64(h) for h in proofs[e.leaf_index].path)
                if e.leaf_index in proofs
                else "",
            }
            for e in events
        ]
    return {"head": head, "root_hash": heads.b64(head.root_hash), "rows": rows}


def parse_audit_filters(query: dict[str, str]) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    for name in ("client_id", "department_id", "type_code", "action", "outcome"):
        value = query.get(name, "").strip()
        if len(value) > 64:
            raise InvalidInput(f"{name} is too long", errors=[field_error(name, "at most 64 characters")])
        filters[name] = value or None
    for name in ("since", "until"):
        filters[name] = _day(query.get(name, ""), name, end=name == "until")
    return filters


def me(session: Session, hub: Hub, citizen: Citizen, type_code: str | None, status: Any) -> dict[str, Any]:
    licences = me_service.my_licences(session, citizen)
    shown = [
        licence
        for licence in licences
        if (not type_code or licence.type_code == type_code)
        and (status is None or licence.status == status.value)
    ]
    return {
        "licences": shown,
        "types": sorted(
            {(licence.type_code, licence.type_name_zh, licence.type_name_en) for licence in licences}
        ),
        "access_log": me_service.access_log(hub, citizen, limit=20),
        "consents": consents.list_for(session, citizen.subject),
        "type_code": type_code or "",
        "status": status.value if status else "",
    }
