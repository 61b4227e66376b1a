"""The commerce adapter end to end: a stand-in of the registry's API over HTTP → the adapter's CLI →
a real hub (uvicorn on PostgreSQL) through the real token endpoint (private_key_jwt). The hub must hold
exactly what the registry says, a second sync push nothing, changes push exactly themselves (a
revocation as a department-signed status change), and a malformed page push nothing at all."""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import ECKey
from sqlalchemy import text
from typer.testing import CliRunner

from adapters.commerce.__main__ import app
from adapters.commerce.generate import evolve_registry, read_snapshot, registry_records, write_snapshot
from adapters.commerce.mapping import BUSINESS_LICENCE, map_enterprise
from adapters.commerce.standin import API_PREFIX, RegistryStandIn, serve
from adapters.samples.population import generate
from adapters.sdk.engine import SyncReport
from adapters.sdk.records import MappingError
from adapters.sdk.validation import problems_with
from tests.adapters.hub_server import DepartmentSetup, HubServer, held_licences
from tests.factories import TYPES, create_client, create_issuer

pytestmark = pytest.mark.slow


def register_commerce(hub_server: HubServer, keys_dir: Path) -> DepartmentSetup:
    """A new market-regulation department (its own feed) with a signing key and a private_key_jwt
    client, like ``HubServer.register_police``."""
    department_id = f"zz-amr-{uuid.uuid4().hex[:8]}"
    issuer = create_issuer(hub_server.hub, "commerce", id=department_id)
    client_key = ECKey.generate_key("P-256", private=True)
    kid = client_key.thumbprint()
    client = create_client(
        hub_server.hub, kind="department", department_id=department_id, auth_method="private_key_jwt",
        jwks={"keys": [{**client_key.as_dict(private=False), "kid": kid}]},
    )  # fmt: skip
    keys_dir.mkdir(parents=True, exist_ok=True)
    key_file = keys_dir / f"{department_id}.private.jwk.json"
    key_file.write_text(json.dumps({**issuer.key.as_dict(private=True), "kid": issuer.kid}))
    client_key_file = keys_dir / f"{department_id}-client.private.jwk.json"
    client_key_file.write_text(json.dumps({**client_key.as_dict(private=True), "kid": kid}))
    return DepartmentSetup(department_id, issuer.uscc, client.client_id, key_file, client_key_file)


@pytest.fixture
def commerce(hub_server: HubServer, tmp_path: Path) -> DepartmentSetup:
    return register_commerce(hub_server, tmp_path / "keys")


@dataclass
class RegistryApi:
    standin: RegistryStandIn
    url: str


@pytest.fixture
def registry_api(tmp_path: Path) -> Iterator[RegistryApi]:
    """The registry stand-in over real HTTP, serving ``tmp_path/registry/enterprises.json``."""
    write_snapshot([], tmp_path / "registry")
    standin = RegistryStandIn(tmp_path / "registry")
    server = serve(standin, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RegistryApi(standin, f"http://127.0.0.1:{server.server_address[1]}{API_PREFIX}")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def sync(
    hub_server: HubServer, department: DepartmentSetup, source: str, state: Path, *extra: str,
    exit_code: int = 0,
) -> tuple[SyncReport | None, str]:  # fmt: skip
    """``python -m adapters.commerce sync …`` in this process: the engine's report and the output."""
    from adapters.sdk import cli

    client = ["--client-id", department.client_id, "--client-key", str(department.client_key_file)]
    args = [
        "sync", "--source", source, "--hub", hub_server.url, *(client if department.client_id else []),
        "--key", str(department.key_file), "--department", department.id, "--state", str(state), *extra,
    ]  # fmt: skip
    reports: list[SyncReport] = []
    original = cli.print_report
    cli.print_report = reports.append  # type: ignore[assignment]
    try:
        result = CliRunner().invoke(app, args)
    finally:
        cli.print_report = original
    assert result.exit_code == exit_code, result.output
    return (reports[0] if reports else None), result.output


def expected_from(records: list[dict[str, Any]]) -> dict[str, tuple[dict[str, object], str]]:
    """What the hub should hold, by 统一社会信用代码: every record that maps to a valid licence."""
    expected = {}
    for record in records:
        try:
            (draft,) = map_enterprise(record)
        except MappingError:
            continue
        if not draft.problems and not problems_with(TYPES[BUSINESS_LICENCE], draft.values):
            expected[str(draft.values["uscc"])] = (dict(draft.values), draft.status.value)
    return expected


def assert_hub_matches(hub_server: HubServer, department: str, records: list[dict[str, Any]]) -> None:
    held = held_licences(hub_server.hub, department)
    by_uscc = {str(h.claims["uscc"]): (h.claims, h.status) for h in held.values()}
    assert len(by_uscc) == len(held), "two licences for one enterprise"
    assert by_uscc == expected_from(records)


def status_changes(hub_server: HubServer, department: str) -> list[Mapping[str, Any]]:
    with hub_server.hub.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT s.licence_id, s.status, s.previous_status, s.reason, s.reason_code, s.statement "
                 "FROM licence_status_change s JOIN licence l ON l.id = s.licence_pk "
                 "WHERE l.department_id = :d ORDER BY s.id"), {"d": department},
        )  # fmt: skip
        return [dict(row._mapping) for row in rows]


def test_sync_matches_the_registry_then_pushes_nothing_then_exactly_the_changes(
    hub_server: HubServer, commerce: DepartmentSetup, registry_api: RegistryApi, tmp_path: Path
) -> None:
    snapshot, state = tmp_path / "registry", tmp_path / "state.sqlite3"
    generated = CliRunner().invoke(app, ["generate", "--out", str(snapshot), "--citizens", "1500",
                                         "--seed", "77"])  # fmt: skip
    assert generated.exit_code == 0, generated.output
    population = generate(1500, seed=77)
    records = read_snapshot(snapshot)
    assert records == registry_records(population, seed=77)
    expected = expected_from(records)
    ended = sum(status != "01" for _, status in expected.values())
    assert len(records) - len(expected) == 2 and ended >= 2  # one bad USCC, one without 经营范围

    anonymous = DepartmentSetup(commerce.id, commerce.uscc, "", commerce.key_file, commerce.client_key_file)
    dry, _ = sync(hub_server, anonymous, registry_api.url, state, "--dry-run")
    assert dry is not None and (dry.issued, dry.status_changes, dry.dead_letters) == (len(expected), ended, 2)
    assert hub_server.feed_rows(commerce.id)["last_sequence"] == 0 and not state.exists()

    failures = {"left": 1}

    def fails_once(path: str, query: Mapping[str, str]) -> tuple[int, bytes] | None:
        if query.get("updated_since") and failures["left"]:  # the second page of the run
            failures["left"] -= 1
            return 500, b"Internal Server Error"
        return None

    registry_api.standin.intercept = fails_once
    log_file = tmp_path / "sync.log"
    first, _ = sync(hub_server, commerce, registry_api.url, state, "--batch-size", "15", "--page-size", "7",
                    "--log-file", str(log_file))  # fmt: skip
    assert first is not None and failures["left"] == 0
    assert (first.issued, first.status_changes, first.dead_letters, first.rejected) == (
        len(expected),
        ended,
        2,
        0,
    )
    rows = hub_server.feed_rows(commerce.id)
    assert rows["licences"] == rows["versions"] == len(expected) and rows["status_changes"] == ended
    assert rows["last_sequence"] == first.batches > 1
    assert_hub_matches(hub_server, commerce.id, records)
    logged = log_file.read_text(encoding="utf-8")
    assert '"event": "hub.request.retry"' in logged and '"event": "sync.batch.pushed"' in logged
    assert not any(c.id_number in logged or c.name in logged for c in population.citizens.values())

    status = CliRunner().invoke(app, ["status", "--state", str(state)], terminal_width=200)
    assert status.exit_code == 0 and f"feed sequence {rows['last_sequence']}" in status.output
    assert "open dead letters: 2 (mapping 2)" in status.output

    second, _ = sync(hub_server, commerce, registry_api.url, state)
    assert second is not None and (second.records, second.operations, second.batches) == (0, 0, 0)
    assert hub_server.feed_rows(commerce.id) == rows

    changes = evolve_registry(records, population, fraction=0.1, seed=78)
    write_snapshot(records, snapshot)  # the stand-in serves the file again once it changed
    after = expected_from(records)
    kinds = {c.kind: c.record_id for c in changes[:5]}
    new = after.keys() - expected.keys()
    changed = [k for k in expected if after[k][0] != expected[k][0] and expected[k][1] == "01"]
    restated = [k for k in after if after[k][1] != expected.get(k, (None, "01"))[1]]
    assert len(new) >= 1 and len(changed) >= 2 and len(restated) >= 2

    third, _ = sync(hub_server, commerce, registry_api.url, state)
    assert third is not None and third.records == len(changes)
    assert (third.issued, third.updated, third.status_changes, third.rejected) == (
        len(new),
        len(changed),
        len(restated),
        0,
    )
    now = hub_server.feed_rows(commerce.id)
    assert now["licences"] == rows["licences"] + len(new)
    assert now["versions"] == rows["versions"] + len(new) + len(changed)
    assert now["status_changes"] == rows["status_changes"] + len(restated)
    assert_hub_matches(hub_server, commerce.id, records)

    revoked = next(r for r in records if r["主体身份代码"] == kinds["revoked"])
    held = next(h for h in held_licences(hub_server.hub, commerce.id).values()
                if h.claims["uscc"] == revoked["统一社会信用代码"])  # fmt: skip
    assert (held.status, held.version, held.versions) == ("07", 1, 1)  # a status change, no new version
    (change,) = [c for c in status_changes(hub_server, commerce.id) if c["licence_id"] == held.licence_id]
    assert (change["status"], change["previous_status"]) == ("07", "01")
    assert change["reason"].startswith("吊销，未注销；成立后无正当理由超过6个月未开业")
    assert change["reason_code"] == "penalty"
    department_key = ECKey.import_key(json.loads(commerce.key_file.read_text()))
    signed = json.loads(jws.deserialize_compact(change["statement"], department_key).payload)
    assert (signed["licence_id"], signed["status"], signed["reason_code"]) == (
        held.licence_id,
        "07",
        "penalty",
    )

    fourth, _ = sync(hub_server, commerce, registry_api.url, state)
    assert fourth is not None and fourth.operations == 0


def test_a_malformed_page_ends_with_a_clear_message_and_pushes_nothing(
    hub_server: HubServer, commerce: DepartmentSetup, registry_api: RegistryApi, tmp_path: Path
) -> None:
    state = tmp_path / "state.sqlite3"
    records = registry_records(generate(700, seed=79), seed=79)
    registry_api.standin.load(records)
    pages = {"n": 0}

    def truncates_the_fourth_page(path: str, query: Mapping[str, str]) -> tuple[int, bytes] | None:
        pages["n"] += 1
        return (200, b'{"code": 0, "data": {"total": 40, "records": [{"') if pages["n"] == 4 else None

    registry_api.standin.intercept = truncates_the_fourth_page
    report, output = sync(hub_server, commerce, registry_api.url, state, "--batch-size", "3", "--page-size",
                          "4", exit_code=1)  # fmt: skip
    assert report is None and "Traceback" not in output
    assert "is not valid JSON (truncated?)" in " ".join(output.split())
    assert hub_server.feed_rows(commerce.id)["last_sequence"] == 0
    local = sqlite3.connect(state)
    assert local.execute("SELECT count(*) FROM licence").fetchone() == (0,)
    assert local.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    assert local.execute("SELECT source_cursor FROM feed").fetchone() == (None,)
    local.close()

    registry_api.standin.intercept = None  # the registry is repaired: the next run pushes everything
    report, _ = sync(hub_server, commerce, registry_api.url, state, "--batch-size", "3", "--page-size", "4")
    assert report is not None and report.rejected == 0 and report.issued == len(expected_from(records))
    assert_hub_matches(hub_server, commerce.id, records)
