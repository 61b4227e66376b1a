"""The Merkle log over stored events: appending a leaf, roots and proofs (RFC 9162 §2.1).

Appending leaf ``i`` claims ``i`` from the row-locked counter, then writes the leaf hash and every
subtree the leaf completes (one on average). The counter stays locked until the transaction ends, so
indexes are dense and in commit order; to keep that window short, PostgreSQL does the whole claim in one
round trip (``audit_append_leaf``, migration 0005) on an event already inserted and hashed. SQLite holds
its one write lock from ``BEGIN IMMEDIATE`` anyway, so there the steps run from here.

A root or a proof folds at most ~2·log2(n) stored nodes, fetched in one query: no tree is rebuilt per
request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from hub.audit import merkle, repository
from hub.audit.leaf import leaf_bytes
from hub.audit.models import AuditEvent
from hub.errors import InvalidInput, field_error


def append(session: Session, **columns: Any) -> AuditEvent:
    """Write an event with ``columns`` as the next leaf, in the caller's transaction (the counter stays
    locked until that transaction ends)."""
    if repository.appends_in_database(session):
        event = AuditEvent(**columns)
        session.add(event)
        session.flush()  # the id is part of the leaf, the index is not: hash before taking the lock
        assert event.id is not None
        index = repository.append_leaf_in_database(session, event.id, merkle.leaf_hash(leaf_bytes(event)))
        set_committed_value(event, "leaf_index", index)
        return event
    index = repository.claim_leaf_index(session)
    event = AuditEvent(leaf_index=index, **columns)
    session.add(event)
    session.flush()
    leaf = merkle.leaf_hash(leaf_bytes(event))
    siblings = merkle.left_siblings_for(index)
    stored = repository.get_nodes(session, siblings) if siblings else {}
    repository.store_nodes(session, merkle.parents(index, leaf, stored))
    return event


def root(session: Session, size: int) -> bytes:
    """MTH of the first ``size`` leaves."""
    if size == 0:
        return merkle.EMPTY_ROOT
    keys = merkle.range_nodes(0, size)
    return merkle.fold([_need(repository.get_nodes(session, keys), k) for k in keys])


@dataclass(frozen=True)
class InclusionProof:
    leaf_index: int
    tree_size: int
    leaf_hash: bytes
    path: list[bytes]


@dataclass(frozen=True)
class ConsistencyProof:
    first: int
    second: int
    path: list[bytes]


def _check_size(session: Session, tree_size: int, field: str) -> None:
    size = repository.committed_size(session)
    if tree_size > size:
        raise InvalidInput(
            f"the log has {size} leaves; no tree of {tree_size} yet",
            errors=[field_error(field, f"at most {size}")],
        )


def _need(nodes: dict[merkle.NodeKey, bytes], key: merkle.NodeKey) -> bytes:
    try:
        return nodes[key]
    except KeyError:
        raise LookupError(f"subtree hash {key} is missing from storage") from None


def inclusion_proofs(session: Session, leaf_indexes: list[int], tree_size: int) -> list[InclusionProof]:
    """Audit paths of several leaves in one tree, with one query for every node they need."""
    paths = {i: merkle.inclusion_ranges(i, tree_size) for i in leaf_indexes}
    keys = merkle.nodes_for(r for ranges in paths.values() for r in ranges)
    nodes = repository.get_nodes(session, keys | {(0, i) for i in leaf_indexes})

    def hash_of(start: int, end: int) -> bytes:
        return merkle.fold([_need(nodes, key) for key in merkle.range_nodes(start, end)])

    return [
        InclusionProof(i, tree_size, _need(nodes, (0, i)), [hash_of(*r) for r in paths[i]])
        for i in leaf_indexes
    ]


def inclusion_proof(session: Session, leaf_index: int, tree_size: int) -> InclusionProof:
    """PATH(leaf_index, D[tree_size]) (§2.1.3.1)."""
    if not 0 <= leaf_index < tree_size:
        raise InvalidInput(
            "leaf_index must be below tree_size",
            errors=[field_error("leaf_index", f"not a leaf of a tree of {tree_size}")],
        )
    _check_size(session, tree_size, "tree_size")
    return inclusion_proofs(session, [leaf_index], tree_size)[0]


def consistency_proof(session: Session, first: int, second: int) -> ConsistencyProof:
    """PROOF(first, D[second]) (§2.1.4.1)."""
    if not 0 < first <= second:
        raise InvalidInput(
            "need 0 < first <= second", errors=[field_error("first", "must be between 1 and second")]
        )
    _check_size(session, second, "second")
    ranges = merkle.consistency_ranges(first, second)
    nodes = repository.get_nodes(session, merkle.nodes_for(ranges))
    path = [merkle.fold([_need(nodes, key) for key in merkle.range_nodes(*r)]) for r in ranges]
    return ConsistencyProof(first, second, path)
