"""The two-person rule (DESIGN 3): actions that widen what anyone may do — creating an admin at one's own
level, an issuing authorization, a department or its key, a T3 grant — take effect only when a second
admin approves them, and no single admin can be both people.

Who could act alone through whom is kept on each admin as ``controlled_by``: an admin appointed from
the parent level by one admin is controlled by that admin and by everyone who controls that admin. An
admin made by two independent admins (a request and an approval), by the operator at the command line
or by a migration is controlled by nobody. Two admins are independent when no admin — either of them
included — controls both. So the approver can never be the requester, nor anyone the requester
appointed (or appointed through others), nor anyone who appointed the requester, nor another admin
the same person appointed alone: one person with an account cannot mint the second person.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from hub.access import repository
from hub.access.models import Admin
from hub.errors import Forbidden


def reach(admin: Admin) -> set[int]:
    """The admins who could act as ``admin``: itself and whoever controls it."""
    assert admin.id is not None
    return {admin.id, *(admin.controlled_by or ())}


def appointed_from_above(appointer: Admin) -> list[int]:
    """``controlled_by`` of an admin that ``appointer`` makes alone (from the parent level)."""
    return sorted(reach(appointer))


def require_second_person(session: Session, requested_by: int | None, approver: Admin, what: str) -> None:
    """Refuse unless ``approver`` is independent of whoever requested ``what``. A request the operator
    made (``requested_by`` None) needs only an approver."""
    if requested_by is None:
        return
    if requested_by == approver.id:
        raise Forbidden(f"{what} needs a second admin: you requested it")
    requester = repository.get_admin(session, requested_by)
    if requester is None:  # the requester's account is gone: nobody can vouch it was someone else
        raise Forbidden(f"{what} was requested by admin {requested_by}, who no longer exists")
    shared = reach(requester) & reach(approver)
    needs = f"{what} needs a second admin independent of {requester.username}"
    if approver.id in shared:
        raise Forbidden(f"{needs}: you appointed them")
    if requested_by in shared:
        raise Forbidden(f"{needs}: they appointed you")
    if shared:
        names = ", ".join(
            a.username for admin_id in sorted(shared) if (a := repository.get_admin(session, admin_id))
        )
        raise Forbidden(f"{needs}: you were both appointed by {names or 'the same admin'}")
