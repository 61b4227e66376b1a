"""POST /v1/attachments on the local folder and on S3 (SeaweedFS), and credentials that reference them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.context import Hub, build_hub
from hub.main import create_app
from tests.factories import ID_CARD, TYPES, Issuer, batch, create_issuer, issue, sample_values, seed_catalog
from tests.fixtures.hub import make_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64 + b"photo"


@pytest.fixture(params=["local", "s3"])
def store_hub(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[Hub]:
    settings = make_settings(database_url, tmp_path / "objects", max_attachment_bytes=4096)
    if request.param == "s3":
        settings = settings.model_copy(update={"object_store_url": request.getfixturevalue("s3_bucket_url")})
    hub = build_hub(settings)
    yield hub
    hub.close()


@pytest.fixture
def store_client(store_hub: Hub) -> Iterator[TestClient]:
    with TestClient(create_app(hub=store_hub), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def police(store_hub: Hub) -> Issuer:
    seed_catalog(store_hub)
    return create_issuer(store_hub, "police")


def upload(
    client: TestClient, police: Issuer, content: bytes, media_type: str = "image/png"
) -> httpx.Response:
    return client.post(
        "/v1/attachments", content=content, headers={"content-type": media_type, **police.headers}
    )


def test_upload_is_content_addressed_and_checked(
    store_client: TestClient, store_hub: Hub, police: Issuer
) -> None:
    first = upload(store_client, police, PNG)
    assert first.status_code == 201, first.text
    assert first.json() == {
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "size": len(PNG),
        "media_type": "image/png",
    }
    again = upload(store_client, police, PNG)
    assert again.json()["sha256"] == first.json()["sha256"]
    assert b"".join(store_hub.objects.open(first.json()["sha256"])) == PNG

    lying = upload(store_client, police, b"%PDF-1.7 not a png")
    assert lying.status_code == 415 and lying.json()["errors"][0]["field"] == "body"
    unknown = upload(store_client, police, PNG, "text/html")
    assert unknown.status_code == 415 and unknown.json()["errors"][0]["field"] == "Content-Type"
    big = PNG + b"\x00" * 5000
    too_large = upload(store_client, police, big)
    assert too_large.status_code == 413
    assert store_hub.objects.stat(hashlib.sha256(big).hexdigest()) is None


def test_upload_needs_a_push_token(store_client: TestClient, police: Issuer) -> None:
    response = store_client.post("/v1/attachments", content=PNG, headers={"content-type": "image/png"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("store_hub", ["s3"], indirect=True)
def test_the_hubs_store_hands_out_no_presigned_url(
    store_hub: Hub, store_client: TestClient, police: Issuer
) -> None:
    """Objects are sealed at rest (issue 14): a presigned URL would serve ciphertext, so downloads go
    through the hub on S3 and the local folder alike."""
    digest = upload(store_client, police, PNG).json()["sha256"]
    assert store_hub.objects.presigned_url(digest, expires=timedelta(minutes=1)) is None


def test_credential_must_reference_an_uploaded_attachment(store_client: TestClient, police: Issuer) -> None:
    digest = upload(store_client, police, PNG).json()["sha256"]
    holder = police.holder_for(ID_CARD)
    values = sample_values(TYPES[ID_CARD], holder, police.rng)
    with_photo = police.credential(ID_CARD, values={**values, "photo": digest})
    with_unknown = police.credential(ID_CARD, values={**values, "photo": "ab" * 32})
    body = store_client.post(
        "/v1/licences/batch",
        json=batch(police, 1, issue(with_photo), issue(with_unknown)),
        headers=police.headers,
    ).json()
    assert [r["outcome"] for r in body["results"]] == ["accepted", "rejected"]
    assert "attachment" in body["results"][1]["problem"]["detail"]
