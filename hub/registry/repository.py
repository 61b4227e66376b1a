"""All SQL of the registry. Hot ingest paths use lean Core statements and bulk copies, not ORM units."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import ARRAY, Row, bindparam, func, select, true, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from hub.kit.cache import ReferenceCache
from hub.registry.models import (
    Attachment,
    Department,
    DepartmentKey,
    Feed,
    FeedBatch,
    IssuingAuthorization,
    Licence,
    LicenceStatusChange,
    LicenceType,
    LicenceVersion,
    Region,
    ServiceItem,
)
from storage.database import bulk_insert, reserve_ids

L = Licence.__table__  # type: ignore[attr-defined]
V = LicenceVersion.__table__  # type: ignore[attr-defined]
S = LicenceStatusChange.__table__  # type: ignore[attr-defined]


def _dialect_insert(session: Session, table: Any) -> Any:
    return pg_insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(table)


# Regions ---------------------------------------------------------------------------------------------


def get_region(session: Session, code: str) -> Region | None:
    return session.get(Region, code)


def _region_parents(session: Session) -> Mapping[str, str | None]:
    return {code: parent for code, parent in session.execute(select(Region.code, Region.parent_code))}


# code -> parent code of every region: a few dozen rows, read on every lookup (the holder's region chain).
REGION_PARENTS = ReferenceCache("region", _region_parents)


def region_parents(session: Session) -> Mapping[str, str | None]:
    """Every region's parent code, from the in-process cache (``hub.kit.cache``); never mutate it."""
    return REGION_PARENTS.get(session)


def region_children(session: Session, code: str) -> Sequence[Region]:
    return session.scalars(select(Region).where(Region.parent_code == code).order_by(Region.code)).all()


def upsert_regions(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    for row in rows:
        stmt = _dialect_insert(session, Region.__table__).values(**row)  # type: ignore[attr-defined]
        stmt = stmt.on_conflict_do_update(
            index_elements=["code"], set_={"name": row["name"], "level": row["level"]}
        )
        session.execute(stmt)
    REGION_PARENTS.invalidate(session)


# Departments and their keys ---------------------------------------------------------------------------


def list_departments(session: Session, kind: str | None = None) -> Sequence[Department]:
    stmt = select(Department).order_by(Department.id)
    if kind:
        stmt = stmt.where(Department.kind == kind)
    return session.scalars(stmt).all()


def get_department(session: Session, department_id: str) -> Department | None:
    return session.get(Department, department_id)


def department_with(session: Session, column: str, value: str) -> Department | None:
    """The department whose ``uscc`` or ``issuer`` is ``value``."""
    stmt = select(Department).where(getattr(Department, column) == value)
    return session.scalars(stmt).first()


def department_keys(session: Session, department_id: str) -> Sequence[DepartmentKey]:
    stmt = select(DepartmentKey).where(DepartmentKey.department_id == department_id)
    return session.scalars(stmt.order_by(DepartmentKey.created_at)).all()


def get_department_key(session: Session, kid: str) -> DepartmentKey | None:
    return session.get(DepartmentKey, kid)


def withhold_signed_by(session: Session, kid: str, since: datetime) -> int:
    """Mark withheld every licence whose current version ``kid`` signed and that reached the hub, or
    claims to be signed, at or after ``since``; returns how many were marked."""
    signed = select(V.c.licence_id).where(
        V.c.issuer_kid == kid, (V.c.created_at >= since) | (V.c.issued_at >= since)
    )
    stmt = (
        update(L)
        .where(L.c.current_licence_id.in_(signed), L.c.withheld.is_(None))
        .values(withheld="key_compromised")
    )
    return session.execute(stmt).rowcount or 0


def region_subtree(session: Session, root: str) -> list[str]:
    """``root`` and every region below it, from the cached region tree."""
    parents = region_parents(session)
    children: dict[str, list[str]] = {}
    for code, parent in parents.items():
        if parent is not None:
            children.setdefault(parent, []).append(code)
    found, frontier = [root], [root]
    while frontier:
        frontier = [child for code in frontier for child in children.get(code, ())]
        found.extend(frontier)
    return found


# Issuing authorizations -------------------------------------------------------------------------------


def add_issuing_authorization(session: Session, row: IssuingAuthorization) -> IssuingAuthorization:
    session.add(row)
    session.flush()
    return row


def get_issuing_authorization(session: Session, authorization_id: int) -> IssuingAuthorization | None:
    return session.get(IssuingAuthorization, authorization_id)


def issuing_authorizations_in_force(
    session: Session, department_id: str, now: datetime
) -> Sequence[IssuingAuthorization]:
    A = IssuingAuthorization
    stmt = select(A).where(
        A.department_id == department_id, A.status == "active", A.valid_from <= now, A.valid_until > now
    )
    return session.scalars(stmt.order_by(A.id)).all()


def list_issuing_authorizations(
    session: Session,
    *,
    department_ids: Sequence[str] | None,
    department_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> Sequence[IssuingAuthorization]:
    A = IssuingAuthorization
    stmt = select(A).order_by(A.id)
    if department_ids is not None:
        stmt = stmt.where(A.department_id.in_(department_ids))
    if department_id:
        stmt = stmt.where(A.department_id == department_id)
    if status:
        stmt = stmt.where(A.status == status)
    return session.scalars(stmt.limit(limit).offset(offset)).all()


# Licence types ----------------------------------------------------------------------------------------


def list_licence_types(session: Session, issuer_kind: str | None = None) -> Sequence[LicenceType]:
    stmt = select(LicenceType).order_by(LicenceType.code)
    if issuer_kind:
        stmt = stmt.where(LicenceType.issuer_kind == issuer_kind)
    return session.scalars(stmt).all()


def get_licence_type(session: Session, code: str) -> LicenceType | None:
    return session.get(LicenceType, code)


@dataclass(frozen=True)
class CatalogType:
    """What lookups, prefill and consent pages read of a licence type, from the in-process cache
    (``hub.kit.cache``): shared between requests, never mutated."""

    code: str
    name_zh: str
    name_en: str
    holder_kind: str
    fields: list[dict[str, Any]]


def _catalog_types(session: Session) -> Mapping[str, CatalogType]:
    T = LicenceType.__table__  # type: ignore[attr-defined]
    stmt = select(T.c.code, T.c.name_zh, T.c.name_en, T.c.holder_kind, T.c.fields)
    return {row.code: CatalogType(*row) for row in session.execute(stmt)}


# The licence type catalog: a handful of rows, read on every lookup and prefill.
CATALOG_TYPES = ReferenceCache("licence_type", _catalog_types)


def catalog_type(session: Session, code: str) -> CatalogType | None:
    """The licence type ``code`` as cached in process (writes here invalidate it at once; another
    process's writes show within the cache TTL)."""
    return CATALOG_TYPES.get(session).get(code)


# Feeds ------------------------------------------------------------------------------------------------


def lock_feed(session: Session, department_id: str) -> Feed:
    """The department's feed row, locked until the transaction ends, so batches of one feed queue."""
    stmt = _dialect_insert(session, Feed.__table__).values(  # type: ignore[attr-defined]
        department_id=department_id, last_sequence=0, updated_at=datetime.now().astimezone()
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["department_id"]))
    feed = session.scalars(select(Feed).where(Feed.department_id == department_id).with_for_update()).one()
    return feed


def get_feed(session: Session, department_id: str) -> Feed | None:
    return session.get(Feed, department_id)


def get_feed_batch(session: Session, department_id: str, sequence: int) -> FeedBatch | None:
    return session.get(FeedBatch, (department_id, sequence))


def next_status_indexes(session: Session, department_id: str) -> dict[int, int]:
    stmt = (
        select(L.c.status_list, func.max(L.c.status_index))
        .where(L.c.department_id == department_id)
        .group_by(L.c.status_list)
    )
    return {lst: top + 1 for lst, top in session.execute(stmt)}


# Licences ---------------------------------------------------------------------------------------------


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


@cache
def _pairs_statement(postgres: bool, selected: tuple[str, ...], paired: tuple[str, str]) -> Any:
    """Built once, executed with parameters: building a statement this shape costs more than running it.

    On PostgreSQL the pairs travel as two array parameters and each is probed in the unique index on
    (department, pair): a LATERAL subquery over the unnested arrays, kept from being flattened into a
    join by ``OFFSET 0``. As a join the planner scans all of the department's licences whenever its
    statistics lag behind a bulk load, which makes every batch cost as much as the department is large."""
    columns = [L.c[name] for name in selected]
    first, second = L.c[paired[0]], L.c[paired[1]]
    department = L.c.department_id == bindparam("department_id")
    if not postgres:
        return select(*columns).where(
            department, tuple_(first, second).in_(bindparam("pairs", expanding=True))
        )
    keys = (
        func.unnest(
            bindparam("pairs_a", type_=ARRAY(first.type)), bindparam("pairs_b", type_=ARRAY(second.type))
        )
        .table_valued("a", "b")
        .render_derived()
    )
    probe = select(*columns).where(department, first == keys.c.a, second == keys.c.b).offset(0).lateral()
    return select(probe).select_from(keys).join(probe, true())


def _department_rows_by_pairs(
    session: Session,
    selected: tuple[str, ...],
    department_id: str,
    paired: tuple[str, str],
    pairs: list[tuple[Any, Any]],
) -> Iterator[Any]:
    """The ``selected`` columns of the department's licences whose ``paired`` columns hold one of
    ``pairs``, 1,000 pairs a statement, each probed in the unique index on (department, pair)."""
    postgres = _is_postgres(session)
    stmt = _pairs_statement(postgres, selected, paired)
    for start in range(0, len(pairs), 1000):
        chunk = pairs[start : start + 1000]
        params: dict[str, Any] = {"department_id": department_id}
        if postgres:
            params["pairs_a"], params["pairs_b"] = (list(column) for column in zip(*chunk, strict=True))
        else:
            params["pairs"] = chunk
        yield from session.execute(stmt, params).mappings()


def licences_by_serial(
    session: Session, department_id: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], dict[str, Any]]:
    """Existing licences of a department by (type code, serial), as plain row mappings."""
    columns = tuple(column.name for column in L.c)
    rows = _department_rows_by_pairs(
        session, columns, department_id, ("type_code", "serial"), list(set(keys))
    )
    return {(row["type_code"], row["serial"]): dict(row) for row in rows}


def used_status_slots(
    session: Session, department_id: str, slots: Iterable[tuple[int, int]]
) -> set[tuple[int, int]]:
    columns = ("status_list", "status_index")
    rows = _department_rows_by_pairs(session, columns, department_id, columns, list(set(slots)))
    return {(row["status_list"], row["status_index"]) for row in rows}


def existing_attachments(session: Session, digests: Iterable[str]) -> set[str]:
    digests = list(set(digests))
    if not digests:
        return set()
    stmt = select(Attachment.sha256).where(Attachment.sha256.in_(digests))  # type: ignore[attr-defined]
    return set(session.scalars(stmt))


def existing_statement_ids(session: Session, jtis: Iterable[str]) -> set[str]:
    jtis = list(set(jtis))
    if not jtis:
        return set()
    stmt = select(S.c.statement_jti).where(S.c.statement_jti.in_(jtis))
    return set(session.scalars(stmt))


def insert_licences(session: Session, rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert new licences; return their ids by (type code, serial).

    The ids are reserved first, so the rows go in as one bulk copy with no ``RETURNING`` and no
    lookup afterwards."""
    ids = reserve_ids(session, L.c.id, len(rows))
    bulk_insert(session, L, [{**row, "id": licence_pk} for row, licence_pk in zip(rows, ids, strict=True)])
    return {(row["type_code"], row["serial"]): licence_pk for row, licence_pk in zip(rows, ids, strict=True)}


_LICENCE_STATE = (
    "withheld",
    "current_version",
    "current_licence_id",
    "holder_index",
    "number_index",
    "status",
    "status_reason",
    "status_reason_code",
    "status_changed_at",
    "valid_from",
    "valid_until",
    "updated_at",
)


def update_licences(session: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    stmt = (
        update(L).where(L.c.id == bindparam("_id")).values({name: bindparam(name) for name in _LICENCE_STATE})
    )
    session.connection().execute(
        stmt, [{"_id": r["id"], **{name: r[name] for name in _LICENCE_STATE}} for r in rows]
    )


def insert_versions(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, V, rows)


def insert_status_changes(session: Session, rows: list[dict[str, Any]]) -> None:
    bulk_insert(session, S, rows)


def save_feed_batch(session: Session, feed: Feed, batch: FeedBatch) -> None:
    feed.last_sequence = batch.sequence
    feed.updated_at = batch.created_at
    session.add(batch)
    session.flush()


def sample_licence_ids(session: Session, limit: int) -> list[str]:
    """A few current licence ids, the first of each type (for the demo's listing)."""
    first_of_type = select(func.min(L.c.id)).group_by(L.c.type_code)
    stmt = (
        select(L.c.current_licence_id).where(L.c.id.in_(first_of_type)).order_by(L.c.type_code).limit(limit)
    )
    return list(session.scalars(stmt))


def get_version(session: Session, licence_id: str) -> LicenceVersion | None:
    return session.get(LicenceVersion, licence_id)


def get_licence(session: Session, licence_pk: int) -> Licence | None:
    return session.get(Licence, licence_pk)


def status_list_entries(
    session: Session, department_id: str, list_number: int
) -> Sequence[tuple[int, str, datetime | None, str | None]]:
    stmt = select(Licence.status_index, Licence.status, Licence.valid_until, Licence.withheld).where(
        Licence.department_id == department_id, Licence.status_list == list_number
    )
    return [tuple(row) for row in session.execute(stmt)]  # type: ignore[misc]


def valid_elsewhere(
    session: Session, department_id: str, holders: Iterable[tuple[str, str]], now: datetime
) -> dict[tuple[str, str], str]:
    """Of ``holders`` (type code, holder index), those holding a valid licence of that type from
    another department, with that department's id."""
    pairs = list(set(holders))
    found: dict[tuple[str, str], str] = {}
    for start in range(0, len(pairs), 500):
        stmt = select(L.c.type_code, L.c.holder_index, L.c.department_id).where(
            tuple_(L.c.holder_index, L.c.type_code).in_([(h, t) for t, h in pairs[start : start + 500]]),
            L.c.department_id != department_id,
            L.c.status == "01",
            L.c.withheld.is_(None),
            (L.c.valid_until.is_(None)) | (L.c.valid_until > now),
        )
        for type_code, holder_index, other in session.execute(stmt):
            found[(type_code, holder_index)] = other
    return found


def versions_sealed_with_other_keys(
    session: Session, active_kid: str, batch_size: int
) -> Iterator[tuple[str, bytes]]:
    """Versions whose credential is not sealed with ``active_kid`` (sealed values start ``v1.<kid>.``)."""
    prefix = f"v1.{active_kid}.".encode()
    last = ""
    while True:
        stmt = (
            select(V.c.licence_id, V.c.credential_sealed)
            .where(V.c.licence_id > last)
            .order_by(V.c.licence_id)
            .limit(batch_size)
        )
        rows = session.execute(stmt).all()
        if not rows:
            return
        for licence_id, sealed in rows:
            if not bytes(sealed).startswith(prefix):
                yield licence_id, bytes(sealed)
        last = rows[-1][0]


def set_sealed_credential(session: Session, licence_id: str, sealed: bytes) -> None:
    session.execute(update(V).where(V.c.licence_id == licence_id).values(credential_sealed=sealed))


# Attachments ------------------------------------------------------------------------------------------


def attachment_digests(session: Session, batch_size: int) -> Iterator[str]:
    """Every stored attachment's digest, in order, read in batches."""
    last = ""
    while True:
        stmt = (
            select(Attachment.sha256)
            .where(Attachment.sha256 > last)  # type: ignore[arg-type]
            .order_by(Attachment.sha256)
            .limit(batch_size)
        )
        digests = list(session.scalars(stmt))
        if not digests:
            return
        yield from digests
        last = digests[-1]


def get_attachment(session: Session, sha256: str) -> Attachment | None:
    return session.get(Attachment, sha256)


def add_attachment(session: Session, row: Attachment) -> Attachment:
    stmt = _dialect_insert(session, Attachment.__table__).values(  # type: ignore[attr-defined]
        sha256=row.sha256,
        size=row.size,
        media_type=row.media_type,
        department_id=row.department_id,
        created_at=row.created_at,
    )
    session.execute(stmt.on_conflict_do_nothing(index_elements=["sha256"]))
    stored = session.get(Attachment, row.sha256)
    assert stored is not None
    return stored


# -- a holder's licences and service items, as lookups read them ---------------------------------

L = Licence.__table__  # type: ignore[attr-defined]
V = LicenceVersion.__table__  # type: ignore[attr-defined]


def holder_licences(session: Session, holder_index: str, type_code: str) -> Sequence[Row[Any]]:
    """The holder's licences of a type with their current version (one round trip): a lean Core select
    of what a release reads — ``type_code``, ``status`` with its reason, ``valid_until``, ``withheld`` of
    the licence and ``licence_id``, ``credential_sealed`` of the version."""
    stmt = (
        select(
            L.c.type_code,
            L.c.status,
            L.c.status_reason_code,
            L.c.status_reason,
            L.c.valid_until,
            L.c.withheld,
            V.c.licence_id,
            V.c.credential_sealed,
        )
        .join(V, V.c.licence_id == L.c.current_licence_id)
        .where(L.c.holder_index == holder_index, L.c.type_code == type_code)
        .order_by(L.c.id)
    )
    return list(session.execute(stmt))


def get_service_item(session: Session, code: str) -> ServiceItem | None:
    return session.get(ServiceItem, code)


@dataclass(frozen=True)
class ItemMaterials:
    """A service item's code and materials as lookups and prefill read them, from the in-process cache
    (``hub.kit.cache``): shared between requests, never mutated."""

    code: str
    materials: list[dict[str, Any]]


def _item_materials(session: Session) -> Mapping[str, ItemMaterials]:
    T = ServiceItem.__table__  # type: ignore[attr-defined]
    return {row.code: ItemMaterials(*row) for row in session.execute(select(T.c.code, T.c.materials))}


# Service items: a handful of rows, read on every lookup (the purpose) and prefill.
ITEM_MATERIALS = ReferenceCache("service_item", _item_materials)


def item_materials(session: Session, code: str) -> ItemMaterials | None:
    """Service item ``code`` as cached in process (writes here invalidate it at once; another process's
    writes show within the cache TTL)."""
    return ITEM_MATERIALS.get(session).get(code)


def save_service_item(session: Session, row: ServiceItem) -> None:
    session.add(row)
    session.flush()
    ITEM_MATERIALS.invalidate(session)  # lookups read items from an in-process cache


def list_service_items(session: Session) -> Sequence[ServiceItem]:
    return session.scalars(select(ServiceItem).order_by(ServiceItem.code)).all()
