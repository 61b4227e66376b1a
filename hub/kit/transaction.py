"""Work to do when a session's outermost transaction ends: the one mechanism behind "count this once it
has committed" (metrics) and "drop this snapshot whatever happens" (reference caches).

A hook is kept on the session (``Session.info``) and run once, by one pair of listeners for every
session: ``after_commit`` runs the commit hooks, ``after_transaction_end`` of the outermost transaction
runs the end hooks and forgets commit hooks a rollback left behind. Savepoints never trigger them, so work
noted inside a rolled-back savepoint still waits for the outer transaction; that is the caller's to undo
if it must (none does today).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

_ON_COMMIT = "hub.kit.transaction.on_commit"
_ON_END = "hub.kit.transaction.on_end"


def on_commit(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's current outermost transaction commits; never if it rolls back."""
    session.info.setdefault(_ON_COMMIT, []).append(action)


def on_end(session: Session, action: Callable[[], None]) -> None:
    """Run ``action`` once the session's current outermost transaction ends, committed or rolled back."""
    session.info.setdefault(_ON_END, []).append(action)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    for action in session.info.pop(_ON_COMMIT, []):
        action()


@event.listens_for(Session, "after_transaction_end")
def _ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:  # a savepoint or subtransaction: wait for the outermost
        return
    session.info.pop(_ON_COMMIT, None)  # what a commit did not run (a rollback) is dropped
    for action in session.info.pop(_ON_END, []):
        action()
