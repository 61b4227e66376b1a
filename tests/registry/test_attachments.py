"""POST /v1/attachments on the local folder and on S3 (SeaweedFS), and credentials that reference them."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from hub.context import Hub, build_hub
from hub.main import create_app
from tests.factories import ID_CARD, TYPES, batch, create_issuer, issue, sample_values, seed_catalog
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


def test_upload_is_content_addressed_and_checked(store_client: TestClient, store_hub: Hub) -> None:
    first = store_client.post("/v1/attachments", content=PNG, headers={"content-type": "image/png"})
    assert first.status_code == 201, first.text
    assert first.json() == {
        "sha256": hashlib.sha256(PNG).hexdigest(),
        "size": len(PNG),
        "media_type": "image/png",
    }
    again = store_client.post("/v1/attachments", content=PNG, headers={"content-type": "image/png"})
    assert again.json()["sha256"] == first.json()["sha256"]
    assert b"".join(store_hub.objects.open(first.json()["sha256"])) == PNG

    lying = store_client.post(
        "/v1/attachments", content=b"%PDF-1.7 not a png", headers={"content-type": "image/png"}
    )
    assert lying.status_code == 415 and lying.json()["errors"][0]["field"] == "body"
    unknown = store_client.post("/v1/attachments", content=PNG, headers={"content-type": "text/html"})
    assert unknown.status_code == 415 and unknown.json()["errors"][0]["field"] == "Content-Type"
    big = PNG + b"\x00" * 5000
    too_large = store_client.post("/v1/attachments", content=big, headers={"content-type": "image/png"})
    assert too_large.status_code == 413
    assert store_hub.objects.stat(hashlib.sha256(big).hexdigest()) is None


def test_s3_presigned_url_serves_the_file(store_hub: Hub, store_client: TestClient) -> None:
    digest = store_client.post("/v1/attachments", content=PNG, headers={"content-type": "image/png"}).json()[
        "sha256"
    ]
    from datetime import timedelta

    url = store_hub.objects.presigned_url(digest, expires=timedelta(minutes=1))
    if store_hub.settings.resolved_object_store_url.startswith("s3://"):
        assert url is not None and httpx.get(url).content == PNG
    else:
        assert url is None


def test_credential_must_reference_an_uploaded_attachment(store_client: TestClient, store_hub: Hub) -> None:
    seed_catalog(store_hub)
    police = create_issuer(store_hub, "police")
    digest = store_client.post("/v1/attachments", content=PNG, headers={"content-type": "image/png"}).json()[
        "sha256"
    ]
    holder = police.holder_for(ID_CARD)
    values = sample_values(TYPES[ID_CARD], holder, police.rng)
    with_photo = police.credential(ID_CARD, values={**values, "photo": digest})
    with_unknown = police.credential(ID_CARD, values={**values, "photo": "ab" * 32})
    body = store_client.post(
        "/v1/licences/batch", json=batch(police, 1, issue(with_photo), issue(with_unknown))
    ).json()
    assert [r["outcome"] for r in body["results"]] == ["accepted", "rejected"]
    assert "attachment" in body["results"][1]["problem"]["detail"]
