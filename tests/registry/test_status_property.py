"""Property test of status transitions (DESIGN 3): any sequence of department-signed status changes;
annulled (03), cancelled (04) and revoked (07) are final, every other change applies; the stored status
and the status route always agree with that model. Also: any JSON body is parsed as a batch or refused
with 422, never anything else."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from hub.context import build_hub
from hub.contract.status import LicenceStatus
from hub.main import create_app
from hub.registry.schemas import LicenceBatchCreate
from tests.factories import ID_CARD, Issuer, batch, create_issuer, issue, seed_catalog, status_op
from tests.fixtures.hub import make_settings

FINAL = {LicenceStatus.ANNULLED, LicenceStatus.CANCELLED, LicenceStatus.REVOKED}


@pytest.fixture(scope="module")
def feed(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> Iterator[tuple[TestClient, Issuer]]:
    folder = tmp_path_factory.mktemp("status-property")
    shutil.copyfile(sqlite_template, folder / "hub.sqlite3")
    hub = build_hub(make_settings(f"sqlite:///{folder / 'hub.sqlite3'}", folder / "objects"))
    seed_catalog(hub)
    police = create_issuer(hub, "police")
    with TestClient(create_app(hub=hub), raise_server_exceptions=False) as client:
        yield client, police
    hub.close()


_sequences = itertools.count(1)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=st.lists(st.sampled_from(list(LicenceStatus)), min_size=1, max_size=5))
def test_final_statuses_stay_final(feed: tuple[TestClient, Issuer], changes: list[LicenceStatus]) -> None:
    client, police = feed
    licence_id = police.licence_id(ID_CARD)
    headers = police.headers
    body = batch(police, next(_sequences), issue(police.credential(ID_CARD, licence_id=licence_id)))
    assert client.post("/v1/licences/batch", json=body, headers=headers).json()["accepted"] == 1
    model = LicenceStatus.VALID
    for change in changes:
        body = batch(police, next(_sequences), status_op(police.status(licence_id, change)))
        [result] = client.post("/v1/licences/batch", json=body, headers=headers).json()["results"]
        if model in FINAL and change != model:
            assert result["outcome"] == "rejected", result
            assert result["problem"]["errors"][0]["field"].endswith(".status"), result
        else:
            assert result["outcome"] == "accepted", result
            model = change
        stored = client.get(f"/v1/licences/{licence_id}/status").json()
        assert stored["status"] == model.value, (changes, stored)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
batch_like = st.fixed_dictionaries(
    {},
    optional={
        "department": json_values | st.just("zz-police"),
        "sequence": json_values | st.integers(-2, 5),
        "operations": st.lists(
            st.fixed_dictionaries(
                {}, optional={"op": st.sampled_from(["issue", "update", "status", "x"]) | json_values,
                              "credential": json_values, "statement": json_values},
            ) | json_values,
            max_size=3,
        ) | json_values,
    },
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(batch_like)
def test_batch_parser_accepts_or_refuses_with_field_errors(body: dict[str, Any]) -> None:
    try:
        parsed = LicenceBatchCreate.model_validate(body)
    except ValidationError as exc:
        assert exc.errors(), body
        return
    assert parsed.sequence >= 1 and 1 <= len(parsed.department) <= 64 and parsed.operations
