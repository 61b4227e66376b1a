"""``hub audit verify``: recompute the log from storage and check it against every signed tree head.

1. Every event is re-hashed from its columns and compared with the leaf hash stored at its position
   when it was appended: a difference names the event as *modified*, or as *reordered* when its content
   is logged at another position; a position without an event is *deleted*; an event beyond the
   committed tree size is *not in the log*.
2. The tree is rebuilt from the re-hashed events; each head's root must equal the rebuilt root at its
   size (this holds even if someone rewrote the stored hashes to match their edit), and its signature
   must verify with the hub's keys (retired keys included).
3. Consecutive heads must grow, and a consistency proof served from the stored subtree hashes must
   verify between them (RFC 9162 §2.1.4.2) — what a monitor holding both heads would check.
4. Heads kept elsewhere (``--head``, already signature-checked by :mod:`hub.audit.external`): the log
   must hold at least as many leaves (else *truncated*), the rebuilt tree at that size must have that
   root (else *rewritten*: the first differing leaf lies between the largest hub-signed head that still
   matches and the smallest that does not — named exactly when those sizes are adjacent), and a stored
   head must have that size and root (else *head_deleted*).

Steps 1–3 only compare the database with itself: someone who can write to it can edit an event,
recompute every node and delete the heads, or drop the newest events with their nodes and heads, and
still pass them. Only step 4 rules that out, as far back as the external heads reach.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from hub.audit import heads, log, merkle, repository
from hub.audit.external import ExternalHead
from hub.audit.heads import KeyResolver
from hub.audit.leaf import leaf_bytes
from hub.audit.models import AuditEvent, TreeHead
from hub.errors import HubError

MISSING = b"\x00" * 32


@dataclass(frozen=True)
class Finding:
    # modified | reordered | deleted | not_in_log | unsequenced
    # | head_signature | head_mismatch | head_order | inconsistent
    # | truncated | rewritten | head_deleted (against external heads)
    kind: str
    message: str
    leaf_index: int | None = None
    event_id: int | None = None
    head_id: int | None = None


NO_EXTERNAL_HEAD = (
    "no external head given (--head): this checks the database against itself only and cannot rule out "
    "a rewrite or truncation by someone who can write to the database"
)


@dataclass
class Report:
    tree_size: int = 0
    events: int = 0
    heads: int = 0
    external_heads: int = 0
    findings: list[Finding] = field(default_factory=list)
    caveat: str | None = None

    @property
    def ok(self) -> bool:
        return not self.findings


def _merged(session: Session, total: int) -> Iterator[tuple[int, AuditEvent | None, bytes | None]]:
    events, stored = repository.iter_events(session), repository.iter_leaf_hashes(session)
    event, leaf = next(events, None), next(stored, None)
    for position in range(total):
        here = event if event is not None and event.leaf_index == position else None
        logged = leaf[1] if leaf is not None and leaf[0] == position else None
        yield position, here, logged
        if here is not None:
            event = next(events, None)
        if logged is not None:
            leaf = next(stored, None)


def _check_leaves(session: Session, report: Report, size: int, head_sizes: set[int]) -> dict[int, bytes]:
    total = max(
        size,
        repository.max_event_leaf(session) + 1,
        repository.max_leaf_position(session) + 1,
        max(head_sizes, default=0),
    )
    tree = merkle.StreamingTree()
    roots = {0: merkle.EMPTY_ROOT}
    suspects: dict[bytes, list[AuditEvent]] = {}
    for position, event, logged in _merged(session, total):
        if event is None:
            if position < size:
                report.findings.append(
                    Finding(
                        "deleted",
                        f"leaf {position}: deleted — no event holds this position",
                        position,
                    )
                )
            tree.push(MISSING)
        else:
            report.events += 1
            recomputed = merkle.leaf_hash(leaf_bytes(event))
            if position >= size:
                report.findings.append(
                    Finding(
                        "not_in_log",
                        f"leaf {position} (event {event.id}): not in the log — beyond the "
                        f"committed size {size}",
                        position,
                        event.id,
                    )
                )
            elif recomputed != logged:
                suspects.setdefault(recomputed, []).append(event)
            tree.push(recomputed)
        if tree.size in head_sizes:
            roots[tree.size] = tree.root()
    _name_suspects(session, report, suspects)
    return roots


def _name_suspects(session: Session, report: Report, suspects: dict[bytes, list[AuditEvent]]) -> None:
    logged_at: dict[bytes, int] = {}
    if suspects:
        for position, digest in repository.iter_leaf_hashes(session):
            if digest in suspects:
                logged_at.setdefault(digest, position)
    for digest, events in suspects.items():
        for event in events:
            elsewhere = logged_at.get(digest)
            if elsewhere is not None and elsewhere != event.leaf_index:
                report.findings.append(
                    Finding(
                        "reordered",
                        f"leaf {event.leaf_index} (event {event.id}): reordered — its content "
                        f"was logged at leaf {elsewhere}",
                        event.leaf_index,
                        event.id,
                    )
                )
            else:
                report.findings.append(
                    Finding(
                        "modified",
                        f"leaf {event.leaf_index} (event {event.id}): modified — its content no "
                        "longer hashes to the logged leaf",
                        event.leaf_index,
                        event.id,
                    )
                )


def _check_heads(
    session: Session, report: Report, stored: list[TreeHead], roots: dict[int, bytes], resolve: KeyResolver
) -> None:
    previous: TreeHead | None = None
    matched = 0  # the largest size at which a head still matches the events
    for head in stored:
        problem = heads.check_head(head, resolve)
        if problem:
            report.findings.append(
                Finding("head_signature", f"tree head {head.id}: {problem}", head_id=head.id)
            )
        if roots.get(head.tree_size) == head.root_hash:
            matched = max(matched, head.tree_size)
        else:
            report.findings.append(
                Finding(
                    "head_mismatch",
                    f"tree head {head.id} (size {head.tree_size}): its root does not match the "
                    f"events in storage; the change lies in leaves {matched} to {head.tree_size - 1}",
                    head_id=head.id,
                )
            )
        if previous is not None:
            _check_pair(session, report, previous, head)
        previous = head


def _check_pair(session: Session, report: Report, first: TreeHead, second: TreeHead) -> None:
    pair = f"tree heads {first.id} → {second.id}"
    if second.tree_size < first.tree_size or second.timestamp_ms < first.timestamp_ms:
        report.findings.append(
            Finding("head_order", f"{pair}: size or time goes backwards", head_id=second.id)
        )
        return
    if first.tree_size == 0:
        return
    try:
        path = log.consistency_proof(session, first.tree_size, second.tree_size).path
    except (LookupError, ValueError, HubError) as exc:
        report.findings.append(
            Finding("inconsistent", f"{pair}: no consistency proof ({exc})", head_id=second.id)
        )
        return
    if not merkle.verify_consistency(
        first.tree_size, second.tree_size, first.root_hash, second.root_hash, path
    ):
        report.findings.append(
            Finding(
                "inconsistent",
                f"{pair}: the stored subtree hashes do not prove the second extends the first",
                head_id=second.id,
            )
        )


def _check_external(
    session: Session,
    report: Report,
    size: int,
    external: Sequence[ExternalHead],
    stored: list[TreeHead],
    roots: dict[int, bytes],
    resolve: KeyResolver,
) -> None:
    # Every head the hub signed is an anchor, wherever it was kept: external ones are verified already,
    # stored ones count only when their signature verifies.
    anchors = [(h.tree_size, h.root_hash) for h in external]
    anchors += [(h.tree_size, h.root_hash) for h in stored if heads.check_head(h, resolve) is None]
    kept = {(h.tree_size, h.root_hash) for h in stored}
    for head in external:
        if head.tree_size > size:
            report.findings.append(
                Finding(
                    "truncated",
                    f"truncated: {head.describe()} has {head.tree_size} leaves, log has {size}",
                )
            )
        elif roots.get(head.tree_size) != head.root_hash:
            report.findings.append(_rewritten(session, report, head, anchors, roots, size))
        if (head.tree_size, head.root_hash) not in kept:
            same_size = [h.id for h in stored if h.tree_size == head.tree_size]
            report.findings.append(
                Finding(
                    "head_deleted",
                    f"{head.describe()}: no stored head has its size and root — deleted"
                    + (f" (stored heads {same_size} of that size sign another root)" if same_size else ""),
                )
            )


def _rewritten(
    session: Session,
    report: Report,
    head: ExternalHead,
    anchors: list[tuple[int, bytes]],
    roots: dict[int, bytes],
    size: int,
) -> Finding:
    good = max((n for n, root in anchors if n <= size and roots.get(n) == root), default=0)
    bad = min((n for n, root in anchors if good < n <= size and roots.get(n) != root), default=head.tree_size)
    lead = (
        f"rewritten: the log's first {head.tree_size} leaves no longer hash to the root of {head.describe()}"
    )
    if bad - good == 1:
        found = repository.events_from(session, good, 1)
        event = found[0].id if found and found[0].leaf_index == good else None
        named = any(f.leaf_index == good for f in report.findings)
        return Finding(
            "rewritten",
            f"{lead}; leaf {good}"
            + (f" (event {event})" if event is not None else "")
            + " is the first rewritten leaf"
            + ("" if named else ", its stored leaf hash and nodes recomputed to match the edit"),
            good,
            event,
        )
    return Finding(
        "rewritten",
        f"{lead}; the first rewritten leaf lies in leaves {good} to {bad - 1} (heads kept at "
        "sizes closer together would name it)",
    )


def verify_log(session: Session, resolve_key: KeyResolver, external: Sequence[ExternalHead] = ()) -> Report:
    """Check events, stored hashes and signed tree heads against each other and against heads kept
    elsewhere (read-only)."""
    size = repository.committed_size(session)
    stored = list(repository.all_heads(session))
    report = Report(tree_size=size, heads=len(stored), external_heads=len(external))
    if not external:
        report.caveat = NO_EXTERNAL_HEAD
    sizes = {h.tree_size for h in stored} | {h.tree_size for h in external if h.tree_size <= size}
    roots = _check_leaves(session, report, size, sizes)
    for event in repository.unsequenced_events(session):
        report.findings.append(
            Finding("not_in_log", f"event {event.id}: not in the log (no leaf index)", event_id=event.id)
        )
    _check_heads(session, report, stored, roots, resolve_key)
    _check_external(session, report, size, external, stored, roots, resolve_key)
    return report
