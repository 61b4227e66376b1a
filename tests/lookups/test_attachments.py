"""GET /v1/attachments/{sha256}: only a client that a lookup or prefill released the claim to, for an hour
while a grant that allowed it stands, bound to the consent it took; audited; 404 for everyone else."""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from hub.access import service as access_service
from hub.access.models import Grant
from hub.audit.models import AuditEvent
from hub.context import Hub, build_hub
from hub.kit.time import utcnow
from hub.lookups.attachments import DOWNLOAD_ACTION, RELEASE_WINDOW
from hub.lookups.models import ReleasedAttachment
from hub.main import create_app
from hub.oauth import consents, tokens
from hub.registry import items
from hub.registry import service as registry_service
from hub.registry.schemas import ServiceItemWrite
from storage.database import transaction
from storage.object_sealing import OBJECT_MAGIC
from storage.objects import LocalObjectStore, S3ObjectStore, object_store_from_url
from storage.sealing import Keyring
from tests.factories import (
    HOUSEHOLD,
    ID_CARD,
    TYPES,
    Issuer,
    RegisteredClient,
    batch,
    create_admin,
    create_client,
    create_grant,
    create_issuer,
    issue,
    mint_client_token,
    sample_values,
    seed_catalog,
)
from tests.fixtures.hub import make_settings
from tests.fixtures.seaweedfs import minio_client

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"the holder's photo"
OTHER_PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"uploaded, never released"
CITIZEN = "410105198605141237"
PURPOSE, CASE = "MZCFBG", "ZZ-2026-0100"
NONCE = "n-attachments-01"
PROBLEM_JSON = "application/problem+json"


@pytest.fixture(params=["local", "s3"])
def store_hub(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Hub]:
    settings = make_settings(database_url, tmp_path / "objects")
    if request.param == "s3":
        settings = settings.model_copy(update={"object_store_url": request.getfixturevalue("s3_bucket_url")})
    hub = build_hub(settings)
    yield hub
    hub.close()


@dataclass
class Scene:
    hub: Hub
    client: TestClient
    police: Issuer
    service: RegisteredClient
    other: RegisteredClient
    id_card: str
    photo: str
    photo_grant: int

    def consent_token(self, client_id: str | None = None, *, case_id: str = CASE) -> tuple[str, str]:
        """A token bound to the citizen's consent to release the ID card up to T3 (as the code flow
        issues it), and the consent's id."""
        client_id = client_id or self.service.client_id
        subject = "citizen:" + self.hub.blind_index.of("person", CITIZEN)
        scopes = [f"licence:{ID_CARD}:t3"]
        with transaction(self.hub.session_factory) as session:
            consent = consents.give(
                session, self.hub, subject=subject, client_id=client_id, purpose=PURPOSE, case_id=case_id,
                scopes=scopes,
            )  # fmt: skip
            claims = {
                "purpose": PURPOSE,
                "case_id": case_id,
                "consent_id": consent.id,
                "holder_region": "410105",
            }
            token, _ = tokens.mint(
                session, self.hub, kind="citizen", subject=subject, scope=" ".join(scopes),
                client_id=client_id, consent_id=consent.id, extra=claims,
            )  # fmt: skip
        return token, consent.id

    def lookup(self, token: str, case_id: str = CASE) -> Any:
        body = {
            "holder_id": CITIZEN,
            "types": [ID_CARD],
            "purpose": PURPOSE,
            "case_id": case_id,
            "nonce": NONCE,
        }
        response = self.client.post("/v1/lookups", json=body, headers=bearer(token))
        assert response.status_code == 200, response.text
        return response.json()

    def download(self, token: str, digest: str | None = None) -> httpx.Response:
        return self.client.get(
            f"/v1/attachments/{digest or self.photo}", headers=bearer(token), follow_redirects=False
        )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def approved_t3_grant(hub: Hub, client_id: str) -> int:
    """A T3 grant on the ID card: requested by one admin, approved by a second (DESIGN 3)."""
    grant = create_grant(hub, client_id, ID_CARD, max_tier=3)
    second = create_admin(hub)
    assert grant.id is not None
    with transaction(hub.session_factory) as session:
        access_service.approve_grant(session, grant.id, by=second)
    return grant.id


@pytest.fixture
def scene(store_hub: Hub) -> Iterator[Scene]:
    seed_catalog(store_hub)
    police = create_issuer(store_hub, "police")
    with TestClient(create_app(hub=store_hub), raise_server_exceptions=False) as client:
        upload = client.post(
            "/v1/attachments", content=PNG, headers={"content-type": "image/png", **police.headers}
        )
        assert upload.status_code == 201, upload.text
        photo = upload.json()["sha256"]
        values = sample_values(TYPES[ID_CARD], CITIZEN, police.rng) | {"photo": photo}
        id_card = police.licence_id(ID_CARD)
        credential = police.credential(ID_CARD, licence_id=id_card, values=values)
        ingested = client.post(
            "/v1/licences/batch", json=batch(police, 1, issue(credential)), headers=police.headers
        )
        assert ingested.json()["accepted"] == 1, ingested.text
        service = create_client(store_hub, kind="service")
        other = create_client(store_hub, kind="service")
        grant = approved_t3_grant(store_hub, service.client_id)
        approved_t3_grant(store_hub, other.client_id)
        yield Scene(store_hub, client, police, service, other, str(id_card), photo, grant)


def download_events(hub: Hub) -> list[AuditEvent]:
    with hub.session_factory() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == DOWNLOAD_ACTION).order_by(AuditEvent.id)
        return list(session.scalars(stmt))


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    assert (
        response.json()["detail"]
        == "no attachment with this digest was released to you, or its release has lapsed"
    )


# Released, then downloaded -------------------------------------------------------------------------------


def test_released_photo_downloads_and_is_audited(scene: Scene) -> None:
    token, _ = scene.consent_token()
    result = scene.lookup(token)
    [released] = result["released"]
    assert released["tier"] == 3
    assert released["attachments"] == {"photo": f"http://hub.test/v1/attachments/{scene.photo}"}

    response = scene.download(token)
    assert response.headers["cache-control"] == "no-store"
    # Streamed through the hub on every store (sealed at rest: no presigned URL to the bucket).
    assert response.status_code == 200, response.text
    assert response.content == PNG and hashlib.sha256(response.content).hexdigest() == scene.photo
    assert response.headers["content-type"] == "image/png"
    assert response.headers["content-length"] == str(len(PNG))

    [event] = download_events(scene.hub)
    assert event.outcome == "released" and event.client_id == scene.service.client_id
    assert event.licence_ids == [scene.id_card] and event.purpose == PURPOSE and event.case_id == CASE
    assert event.holder_index == scene.hub.blind_index.of("person", CITIZEN)
    assert event.detail["sha256"] == scene.photo and event.detail["claim"] == "photo"
    assert event.detail["release_event"] == result["audit_event"]
    assert CITIZEN not in str(event.model_dump())


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_the_release_is_recorded_with_the_calls_audit_event(scene: Scene) -> None:
    token, _ = scene.consent_token()
    result = scene.lookup(token)
    with scene.hub.session_factory() as session:
        [row] = session.scalars(select(ReleasedAttachment)).all()
        lookup_event = session.get(AuditEvent, result["audit_event"])
    assert lookup_event is not None
    assert (row.client_id, row.sha256, row.licence_id, row.claim) == (
        scene.service.client_id, scene.photo, scene.id_card, "photo",
    )  # fmt: skip
    assert row.audit_event_id == lookup_event.id and row.released_at == lookup_event.occurred_at
    assert row.consented is True and row.grant_ids == [scene.photo_grant]


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_a_prefill_that_releases_the_photo_allows_its_download(scene: Scene) -> None:
    item = ServiceItemWrite(
        code=PURPOSE, name_zh="民族成分变更", name_en="Change of recorded ethnicity", owner_kind="police",
        levels=["county"], legal_basis="test", statutory_days=20, promised_days=5,
        materials=[{"type_code": ID_CARD, "tier": 3, "fields": {"photo": "photo", "name": "name"}}],
    )  # fmt: skip
    with transaction(scene.hub.session_factory) as session:
        items.save_service_item(session, item)
    token, _ = scene.consent_token()
    body = {"service_item": PURPOSE, "case_id": CASE, "nonce": NONCE, "holder_id": CITIZEN}
    prefill = scene.client.post("/v1/prefill", json=body, headers=bearer(token))
    assert prefill.status_code == 200, prefill.text
    assert prefill.json()["form"]["photo"]["value"] == scene.photo
    assert scene.download(token).status_code == 200


# Everyone else: 404 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_never_released_is_404_whether_the_file_exists_or_not(scene: Scene) -> None:
    unreleased = scene.client.post(
        "/v1/attachments", content=OTHER_PNG, headers={"content-type": "image/png", **scene.police.headers}
    ).json()["sha256"]
    token, _ = scene.consent_token()
    existing = scene.download(token, unreleased)
    missing = scene.download(token, "ab" * 32)
    assert_not_found(existing)
    assert_not_found(missing)
    assert {k: v for k, v in existing.json().items() if k != "instance"} == {
        k: v for k, v in missing.json().items() if k != "instance"
    }
    # The photo exists too, but no lookup released it yet.
    assert_not_found(scene.download(token))
    events = download_events(scene.hub)
    assert [(e.outcome, e.detail["sha256"]) for e in events] == [
        ("refused", unreleased), ("refused", "ab" * 32), ("refused", scene.photo),
    ]  # fmt: skip
    assert scene.download(token, "AB" * 32).status_code == 422  # not a digest: a request error


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_another_client_gets_404(scene: Scene) -> None:
    token, _ = scene.consent_token()
    scene.lookup(token)
    others_token, _ = scene.consent_token(scene.other.client_id)
    assert_not_found(scene.download(others_token))
    plain = mint_client_token(scene.hub, scene.other.client_id, f"licence:{ID_CARD}:t3")
    assert_not_found(scene.download(plain))
    assert scene.download(token).status_code == 200


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_a_consented_release_needs_a_token_bound_to_that_consent(scene: Scene) -> None:
    token, consent_id = scene.consent_token()
    scene.lookup(token)
    plain = mint_client_token(scene.hub, scene.service.client_id, f"licence:{ID_CARD}:t3")
    assert_not_found(scene.download(plain))
    another_case, _ = scene.consent_token(case_id="ZZ-2026-0999")
    assert_not_found(scene.download(another_case))
    assert scene.download(token).status_code == 200

    subject = "citizen:" + scene.hub.blind_index.of("person", CITIZEN)
    with transaction(scene.hub.session_factory) as session:
        consents.withdraw(session, subject=subject, consent_id=consent_id)
    assert scene.download(token).status_code == 401  # the consent's tokens are revoked


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_revoking_the_grant_ends_downloads(scene: Scene) -> None:
    create_grant(scene.hub, scene.service.client_id, HOUSEHOLD, max_tier=1)  # still a service in force
    token, _ = scene.consent_token()
    scene.lookup(token)
    assert scene.download(token).status_code == 200
    with transaction(scene.hub.session_factory) as session:
        access_service.revoke_grant(session, scene.photo_grant, "case closed", by=create_admin(scene.hub))
    assert_not_found(scene.download(token))


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_a_release_lapses_after_the_window(scene: Scene) -> None:
    token, _ = scene.consent_token()
    scene.lookup(token)
    with transaction(scene.hub.session_factory) as session:
        aged = utcnow() - RELEASE_WINDOW + timedelta(minutes=1)
        session.execute(update(ReleasedAttachment).values(released_at=aged))
    assert scene.download(token).status_code == 200
    with transaction(scene.hub.session_factory) as session:
        session.execute(update(ReleasedAttachment).values(released_at=utcnow() - RELEASE_WINDOW))
    assert_not_found(scene.download(token))
    scene.lookup(token)  # a new lookup releases it again
    assert scene.download(token).status_code == 200


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_a_lookup_below_the_photos_tier_releases_no_file(scene: Scene) -> None:
    token, _ = scene.consent_token()
    body = {"holder_id": CITIZEN, "types": [{"type_code": ID_CARD, "tier": 2}], "purpose": PURPOSE,
            "case_id": CASE, "nonce": NONCE}  # fmt: skip
    [released] = scene.client.post("/v1/lookups", json=body, headers=bearer(token)).json()["released"]
    assert released["tier"] == 2 and released["attachments"] == {}
    assert_not_found(scene.download(token))
    with scene.hub.session_factory() as session:
        assert session.scalars(select(ReleasedAttachment)).all() == []
        assert session.scalars(select(Grant)).all()  # the grants are there; the tier asked was lower


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_only_approval_services_may_ask(scene: Scene) -> None:
    assert scene.client.get(f"/v1/attachments/{scene.photo}").status_code == 401
    response = scene.client.get(f"/v1/attachments/{scene.photo}", headers=scene.police.headers)
    assert response.status_code == 403 and response.headers["content-type"] == PROBLEM_JSON


# Sealed at rest ----------------------------------------------------------------------------------------


def read_raw(hub: Hub, sha256: str) -> bytes:
    """The stored bytes, read behind the hub's back (the file, or the bucket through minio)."""
    if isinstance(hub.objects, LocalObjectStore):
        return (hub.objects.root / "sha256" / sha256[:2] / sha256[2:4] / sha256).read_bytes()
    assert isinstance(hub.objects, S3ObjectStore)
    response = minio_client(hub.settings.resolved_object_store_url).get_object(
        bucket_name=hub.objects.bucket, object_name=f"sha256/{sha256}"
    )
    try:
        return response.read()
    finally:
        response.close()
        response.release_conn()


def write_raw(hub: Hub, sha256: str, data: bytes) -> None:
    if isinstance(hub.objects, LocalObjectStore):
        (hub.objects.root / "sha256" / sha256[:2] / sha256[2:4] / sha256).write_bytes(data)
        return
    assert isinstance(hub.objects, S3ObjectStore)
    minio_client(hub.settings.resolved_object_store_url).put_object(
        bucket_name=hub.objects.bucket, object_name=f"sha256/{sha256}", data=io.BytesIO(data),
        length=len(data),
    )  # fmt: skip


def test_the_photo_is_sealed_at_rest_and_a_tampered_one_is_refused(
    scene: Scene, caplog: pytest.LogCaptureFixture
) -> None:
    raw = read_raw(scene.hub, scene.photo)
    assert raw.startswith(OBJECT_MAGIC + f"v1.{scene.hub.keyring.active.kid}.".encode())
    assert b"the holder's photo" not in raw
    token, _ = scene.consent_token()
    scene.lookup(token)
    assert scene.download(token).content == PNG

    tampered = bytearray(raw)
    tampered[-1] ^= 0x80
    write_raw(scene.hub, scene.photo, bytes(tampered))
    with caplog.at_level(logging.CRITICAL, logger="hub.lookups.attachments"):
        response = scene.download(token)

    assert response.status_code == 500 and response.headers["content-type"] == PROBLEM_JSON
    assert "failed its integrity check" in response.json()["detail"]
    assert b"the holder's photo" not in response.content
    [alert] = [r for r in caplog.records if r.getMessage() == "attachment.integrity_failed"]
    assert alert.__dict__["sha256"] == scene.photo


def test_reseal_seals_plain_photos_and_follows_a_key_rotation(scene: Scene) -> None:
    token, _ = scene.consent_token()
    scene.lookup(token)
    write_raw(scene.hub, scene.photo, PNG)  # as a hub before sealing at rest left it
    assert scene.download(token).content == PNG  # a plain object is served until it is sealed

    with scene.hub.read_session_factory() as session:
        first = registry_service.reseal_attachments(session, scene.hub)
        again = registry_service.reseal_attachments(session, scene.hub)
    assert (first.resealed, first.unchanged, first.failed) == (1, 0, {})
    assert (again.resealed, again.unchanged) == (0, 1)
    assert read_raw(scene.hub, scene.photo).startswith(OBJECT_MAGIC) and scene.download(token).content == PNG

    rotated = Keyring.from_spec(Keyring.generate_spec("rotated") + "," + str(scene.hub.settings.data_keys))
    scene.hub.objects = object_store_from_url(scene.hub.settings.resolved_object_store_url, keyring=rotated)
    with scene.hub.read_session_factory() as session:
        assert registry_service.reseal_attachments(session, scene.hub).resealed == 1
    assert read_raw(scene.hub, scene.photo).startswith(OBJECT_MAGIC + b"v1.rotated.")
    assert scene.download(token).content == PNG


def test_reseal_names_an_attachment_it_cannot_seal(scene: Scene) -> None:
    write_raw(scene.hub, scene.photo, PNG + b"altered")

    with scene.hub.read_session_factory() as session:
        report = registry_service.reseal_attachments(session, scene.hub)

    assert report.resealed == 0 and list(report.failed) == [scene.photo]
    assert "SHA-256 is not its address" in report.failed[scene.photo]
    assert read_raw(scene.hub, scene.photo) == PNG + b"altered"


@pytest.mark.parametrize("store_hub", ["local"], indirect=True)
def test_hub_keys_reseal_seals_plain_photos_once_and_names_a_corrupt_one(
    scene: Scene, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from hub.cli import app

    for name in [n for n in os.environ if n.startswith("HUB_")]:
        monkeypatch.delenv(name)
    env = {
        f"HUB_{name.upper()}": str(value)
        for name, value in scene.hub.settings.model_dump(mode="json").items()
        if value is not None and not isinstance(value, list | dict)
    }
    unreleased = scene.client.post(
        "/v1/attachments", content=OTHER_PNG, headers={"content-type": "image/png", **scene.police.headers}
    ).json()["sha256"]
    write_raw(scene.hub, scene.photo, PNG)  # left plain by a hub before sealing at rest

    first = CliRunner().invoke(app, ["keys", "reseal"], env={**env, "COLUMNS": "200"})
    again = CliRunner().invoke(app, ["keys", "reseal"], env={**env, "COLUMNS": "200"})

    assert first.exit_code == 0, first.output
    assert "1 attachments (1 already sealed)" in first.stdout
    assert "0 attachments (2 already sealed)" in again.stdout
    assert read_raw(scene.hub, scene.photo).startswith(OBJECT_MAGIC)

    write_raw(scene.hub, unreleased, b"\x89PNG\r\n\x1a\n damaged")
    broken = CliRunner().invoke(app, ["keys", "reseal"], env={**env, "COLUMNS": "200"})
    assert broken.exit_code == 1
    assert f"not sealed: attachment {unreleased}" in broken.stdout
