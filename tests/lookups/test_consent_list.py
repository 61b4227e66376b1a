"""A citizen's consents are listed newest first, a page at a time, by the database."""

from __future__ import annotations

from hub.oauth import consents
from storage.database import transaction
from tests.factories import ID_CARD
from tests.lookups.conftest import World


def test_consents_come_newest_first_a_page_at_a_time(world: World) -> None:
    hub = world.hub
    subject = "citizen:" + hub.blind_index.of("person", world.citizen)
    given = []
    for case in range(5):
        with transaction(hub.session_factory) as session:
            consent = consents.give(
                session, hub, subject=subject, client_id=world.service.client_id, purpose="MZCFBG",
                case_id=f"case-{case}", scopes=[f"licence:{ID_CARD}:t1"],
            )  # fmt: skip
            given.append(consent.id)
    with hub.session_factory() as session:
        pages = [consents.list_for(session, subject, limit=2, offset=offset) for offset in (0, 2, 4, 6)]
        everything = consents.list_for(session, subject)
        others = consents.list_for(session, "citizen:someone-else")
    assert [len(page) for page in pages] == [2, 2, 1, 0]
    assert [c.id for page in pages for c in page] == [c.id for c in everything] == given[::-1]
    assert others == []
