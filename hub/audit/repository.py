"""SQL of the audit log: claiming leaf indexes, subtree hashes, events and signed tree heads."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Text, cast, func, or_, select, text, tuple_
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from hub.audit.merkle import NodeKey
from hub.audit.models import Alert, AuditEvent, AuditNode, AuditTreeState, TreeHead
from storage.database import insert_ignoring_conflicts

_state = AuditTreeState.__table__  # type: ignore[attr-defined]
_nodes = AuditNode.__table__  # type: ignore[attr-defined]
STATE_ROW = 1


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# Sequencing -----------------------------------------------------------------------------------------


_CLAIM = (
    _state.update().where(_state.c.id == STATE_ROW).values(size=_state.c.size + 1).returning(_state.c.size)
)
_APPEND_IN_DATABASE = text("SELECT audit_append_leaf(:event, :leaf)")


def claim_leaf_index(session: Session) -> int:
    """The next leaf index. The ``UPDATE`` row-locks the counter until this transaction ends, so
    appends commit in index order and a rolled-back append gives its index back."""
    size = session.execute(_CLAIM).scalar()
    if size is None:  # a new (or emptied) database: create the counter, racing writers agree
        insert_ignoring_conflicts(session, _state, [{"id": STATE_ROW, "size": 0}])
        size = session.execute(_CLAIM).scalar_one()
    return int(size) - 1


def appends_in_database(session: Session) -> bool:
    return _dialect(session) == "postgresql"


def append_leaf_in_database(session: Session, event_id: int, leaf: bytes) -> int:
    """PostgreSQL: claim the next index for an inserted event and store its leaf hash and the subtrees it
    completes, in one round trip (the function of migration 0005)."""
    found = session.execute(_APPEND_IN_DATABASE, {"event": event_id, "leaf": leaf})
    return int(found.scalar_one())


def committed_size(session: Session) -> int:
    return int(session.execute(select(_state.c.size).where(_state.c.id == STATE_ROW)).scalar() or 0)


def store_nodes(session: Session, nodes: Iterable[tuple[NodeKey, bytes]]) -> None:
    session.execute(
        _nodes.insert(), [{"level": lv, "position": pos, "hash": digest} for (lv, pos), digest in nodes]
    )


def get_nodes(session: Session, keys: Iterable[NodeKey]) -> dict[NodeKey, bytes]:
    wanted = sorted(set(keys))
    found: dict[NodeKey, bytes] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stmt = select(_nodes.c.level, _nodes.c.position, _nodes.c.hash).where(
            tuple_(_nodes.c.level, _nodes.c.position).in_(chunk)
        )
        found.update({(lv, pos): bytes(digest) for lv, pos, digest in session.execute(stmt)})
    return found


def iter_leaf_hashes(session: Session, chunk: int = 20_000) -> Iterator[tuple[int, bytes]]:
    """Stored leaf hashes in position order (level 0)."""
    after = -1
    while True:
        stmt = (
            select(_nodes.c.position, _nodes.c.hash)
            .where(_nodes.c.level == 0, _nodes.c.position > after)
            .order_by(_nodes.c.position)
            .limit(chunk)
        )
        rows = session.execute(stmt).all()
        if not rows:
            return
        for position, digest in rows:
            yield int(position), bytes(digest)
        after = rows[-1][0]


def max_leaf_position(session: Session) -> int:
    found = session.execute(select(func.max(_nodes.c.position)).where(_nodes.c.level == 0)).scalar()
    return -1 if found is None else int(found)


# Events ---------------------------------------------------------------------------------------------


def iter_events(session: Session, chunk: int = 5_000) -> Iterator[AuditEvent]:
    """Every sequenced event in leaf order, a chunk at a time."""
    after = -1
    while True:
        stmt = (
            select(AuditEvent)
            .where(AuditEvent.leaf_index > after)  # type: ignore[operator]
            .order_by(AuditEvent.leaf_index)
            .limit(chunk)
        )
        events = session.scalars(stmt).all()
        if not events:
            return
        yield from events
        after = events[-1].leaf_index
        session.expunge_all()


def unsequenced_events(session: Session) -> Sequence[AuditEvent]:
    """Events without a leaf index: none is ever written so, only inserted behind the hub's back."""
    return session.scalars(select(AuditEvent).where(AuditEvent.leaf_index.is_(None))).all()  # type: ignore[attr-defined]


def max_event_leaf(session: Session) -> int:
    found = session.execute(select(func.max(AuditEvent.leaf_index))).scalar()
    return -1 if found is None else int(found)


def events_from(session: Session, leaf_index: int, limit: int) -> Sequence[AuditEvent]:
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.leaf_index >= leaf_index)  # type: ignore[operator]
        .order_by(AuditEvent.leaf_index)
        .limit(limit)
    )
    return session.scalars(stmt).all()


def events_of_holder(
    session: Session, holder_index: str, *, before: int | None, limit: int, tree_size: int
) -> Sequence[AuditEvent]:
    """The holder's events covered by a tree of ``tree_size``, newest first."""
    stmt = select(AuditEvent).where(
        AuditEvent.holder_index == holder_index,
        AuditEvent.leaf_index < (tree_size if before is None else min(before, tree_size)),  # type: ignore[operator]
    )
    return session.scalars(stmt.order_by(AuditEvent.leaf_index.desc()).limit(limit)).all()  # type: ignore[attr-defined]


@dataclass(frozen=True)
class EventFilter:
    """What an auditor asks for; ``regions`` None means every region (and events without one)."""

    regions: Sequence[str] | None
    client_id: str | None = None
    department_id: str | None = None
    department_uscc: str | None = None
    type_code: str | None = None
    action: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    before: int | None = None


def list_events(session: Session, where: EventFilter, limit: int) -> Sequence[AuditEvent]:
    """Events matching ``where``, newest first (keyset pagination on the leaf index)."""
    clauses: list[ColumnElement[bool]] = []
    if where.regions is not None:
        clauses.append(AuditEvent.region_code.in_(where.regions))  # type: ignore[union-attr]
    if where.client_id:
        clauses.append(AuditEvent.client_id == where.client_id)
    if where.department_id:
        by_department = [AuditEvent.department_id == where.department_id]
        if where.department_uscc:  # licence ids name their issuer's USCC (GB/T 36904)
            by_department.append(
                cast(AuditEvent.licence_ids, Text).like(f"%.{where.department_uscc}.%")  # type: ignore[arg-type]
            )
        clauses.append(or_(*by_department))
    if where.type_code:
        clauses.append(AuditEvent.type_codes.like(f"% {where.type_code} %"))  # type: ignore[attr-defined]
    if where.action:
        clauses.append(AuditEvent.action == where.action)
    if where.outcome:
        clauses.append(AuditEvent.outcome == where.outcome)
    if where.since:
        clauses.append(AuditEvent.occurred_at >= where.since)  # type: ignore[arg-type]
    if where.until:
        clauses.append(AuditEvent.occurred_at < where.until)  # type: ignore[arg-type]
    if where.before is not None:
        clauses.append(AuditEvent.leaf_index < where.before)  # type: ignore[arg-type]
    stmt = select(AuditEvent).where(*clauses).order_by(AuditEvent.leaf_index.desc()).limit(limit)  # type: ignore[attr-defined]
    return session.scalars(stmt).all()


# Tree heads -----------------------------------------------------------------------------------------


def latest_head(session: Session) -> TreeHead | None:
    return session.scalars(select(TreeHead).order_by(TreeHead.id.desc()).limit(1)).first()  # type: ignore[union-attr]


def add_head(session: Session, head: TreeHead) -> TreeHead:
    session.add(head)
    session.flush()
    return head


def all_heads(session: Session) -> Sequence[TreeHead]:
    return session.scalars(select(TreeHead).order_by(TreeHead.id)).all()


def heads_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(TreeHead)).scalar() or 0)


def alert_by_key(session: Session, key: str) -> Alert | None:
    return session.scalars(select(Alert).where(col(Alert.key) == key)).first()


def add_alert(session: Session, alert: Alert) -> Alert:
    session.add(alert)
    session.flush()
    return alert
