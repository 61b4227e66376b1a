"""The civil-affairs adapter end to end: a real hub (uvicorn on PostgreSQL) ← the adapter through the real
token endpoint (private_key_jwt). The hub must hold what the population says (a marriage certificate
per citizen spouse, ended by a divorce, divorce certificates, 低保 certificates), a second sync push
nothing, a broken export push nothing, and a divorce push exactly its status changes and certificates."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from joserfc.jwk import ECKey
from typer.testing import CliRunner

from adapters.civil_affairs.__main__ import app
from adapters.civil_affairs.generate import append_events, write_export
from adapters.civil_affairs.mapping import DIVORCE, MARRIAGE, SUBSISTENCE, map_record
from adapters.civil_affairs.source import REGISTRATIONS_FILE, ROSTER_FILE, CivilAffairsSource
from adapters.samples.population import Population, generate
from adapters.sdk.engine import SyncReport
from adapters.sdk.records import MappingError
from adapters.sdk.validation import problems_with
from tests.adapters.hub_server import DepartmentSetup, HeldLicence, HubServer, held_licences
from tests.factories import TYPES, create_client, create_issuer

pytestmark = pytest.mark.slow
Key = tuple[str, str, str]  # (type code, certificate number, holder's 公民身份号码)


def register_civil_affairs(hub_server: HubServer, keys_dir: Path, name: str) -> DepartmentSetup:
    """A new civil-affairs department (its own feed) with a signing key and a private_key_jwt client."""
    department_id = f"zz-civil-{name}"
    issuer = create_issuer(hub_server.hub, "civil_affairs", id=department_id)
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


def sync_args(
    hub_server: HubServer, civil: DepartmentSetup, source: Path, state: Path, *extra: str
) -> list[str]:
    client = ["--client-id", civil.client_id, "--client-key", str(civil.client_key_file)]
    return [
        "sync", "--source", str(source), "--hub", hub_server.url, *(client if civil.client_id else []),
        "--key", str(civil.key_file), "--department", civil.id, "--state", str(state), *extra,
    ]  # fmt: skip


def sync(hub_server: HubServer, civil: DepartmentSetup, source: Path, state: Path, *extra: str) -> SyncReport:
    """``python -m adapters.civil_affairs sync …`` in this process; returns the engine's report."""
    from adapters.sdk import cli

    reports: list[SyncReport] = []
    original = cli.print_report
    cli.print_report = reports.append  # type: ignore[assignment]
    try:
        result = CliRunner().invoke(app, sync_args(hub_server, civil, source, state, *extra))
    finally:
        cli.print_report = original
    assert result.exit_code == 0, result.output
    return reports[0]


def held_by_key(hub_server: HubServer, department: str) -> dict[Key, HeldLicence]:
    held = held_licences(hub_server.hub, department).values()
    by_key = {
        (h.type_code, str(h.claims["certificate_number"]), str(h.claims["holder_id_number"])): h for h in held
    }
    assert len(by_key) == len(held), "two licences for one certificate and holder"
    return by_key


def expected_from_population(population: Population) -> dict[Key, tuple[str, dict[str, object]]]:
    """What the hub should hold, straight from the population (not through the mapping): status and a
    few claims per licence."""
    expected: dict[Key, tuple[str, dict[str, object]]] = {}
    for marriage in population.marriages + population.foreign_marriages:
        for side, number in (("male", marriage.husband), ("female", marriage.wife)):
            if number not in population.citizens:
                continue  # the foreign spouse holds no licence; their document number is named below
            other = "female" if side == "male" else "male"
            claims: dict[str, object] = {
                f"{other}_party_id_document_number": marriage.wife if side == "male" else marriage.husband,
                "registration_date": marriage.registered_on.isoformat(),
            }
            status = "04" if marriage.divorced_on else "01"
            expected[(MARRIAGE, marriage.certificate, number)] = (status, claims)
            if marriage.divorced_on:
                assert marriage.divorce_certificate
                expected[(DIVORCE, marriage.divorce_certificate, number)] = (
                    "01", {"registration_date": marriage.divorced_on.isoformat()},
                )  # fmt: skip
    for case in population.subsistence:
        claims = {
            "covered_persons": case.covered_persons,
            "monthly_amount_yuan": case.monthly_amount_yuan,
        }
        expected[(SUBSISTENCE, case.certificate, case.holder)] = ("04" if case.ended_on else "01", claims)
    return expected


def expected_from_source(source: Path) -> dict[Key, tuple[str, dict[str, object]]]:
    """Every valid draft of the source, the latest per licence, with all its values."""
    expected: dict[Key, tuple[str, dict[str, object]]] = {}
    for record in CivilAffairsSource(source).read(None):
        try:
            drafts = map_record(record)
        except MappingError:
            continue
        for draft in drafts:
            if not draft.problems and not problems_with(TYPES[draft.type_code], draft.values):
                key = (draft.type_code, draft.values["certificate_number"], draft.values["holder_id_number"])
                expected[key] = (draft.status.value, dict(draft.values))
    return expected


def assert_hub_matches(hub_server: HubServer, department: str, population: Population, source: Path) -> None:
    held = held_by_key(hub_server, department)
    from_population = expected_from_population(population)
    assert held.keys() == from_population.keys()
    for key, (status, claims) in from_population.items():
        assert held[key].status == status, key
        assert {name: held[key].claims[name] for name in claims} == claims, key
    from_source = expected_from_source(source)
    assert from_source.keys() == held.keys()
    for key, (status, values) in from_source.items():
        assert (held[key].status, held[key].claims) == (status, values), key
        assert held[key].versions == 1, key  # an ended marriage certificate took no new version


def test_sync_matches_source_pushes_nothing_twice_and_then_exactly_a_divorce(
    hub_server: HubServer, tmp_path: Path
) -> None:
    civil = register_civil_affairs(hub_server, tmp_path / "keys", "e2e")
    source, state = tmp_path / "export", tmp_path / "state.sqlite3"
    population = generate(600, seed=53)
    assert population.foreign_marriages and any(m.divorced_on for m in population.marriages)
    assert any(c.ended_on for c in population.subsistence)
    info = write_export(population, source, seed=53)

    anonymous = DepartmentSetup(civil.id, civil.uscc, "", civil.key_file, civil.client_key_file)
    dry = sync(hub_server, anonymous, source, state, "--dry-run")
    assert hub_server.feed_rows(civil.id)["last_sequence"] == 0 and not state.exists()

    log_file = tmp_path / "sync.log"
    first = sync(hub_server, civil, source, state, "--batch-size", "100", "--log-file", str(log_file))
    rows = hub_server.feed_rows(civil.id)
    assert (first.issued, first.status_changes, first.rejected) == (dry.issued, dry.status_changes, 0)
    assert first.dead_letters == dry.dead_letters == info.broken_registrations + info.broken_cases
    divorced = sum(1 for m in population.marriages if m.divorced_on)
    ended = sum(1 for c in population.subsistence if c.ended_on)
    assert first.status_changes == 2 * divorced + ended == rows["status_changes"]
    assert rows["licences"] == rows["versions"] == first.issued
    assert_hub_matches(hub_server, civil.id, population, source)

    logged = log_file.read_text(encoding="utf-8")
    assert '"event": "sync.batch.pushed"' in logged
    assert not any(number in logged for number in population.citizens), "personal data in the logs"
    status = CliRunner().invoke(app, ["status", "--state", str(state)], terminal_width=200)
    assert status.exit_code == 0 and f"feed sequence {rows['last_sequence']}" in status.output
    assert f"open dead letters: {first.dead_letters}" in status.output
    assert not any(number in status.output for number in population.citizens)

    second = sync(hub_server, civil, source, state)
    assert (second.records, second.operations, second.batches) == (0, 0, 0)
    assert hub_server.feed_rows(civil.id) == rows

    events = append_events(population, source, divorces=1, ended_cases=1, seed=54)
    marriage = events.divorced[0]
    truncated = tmp_path / "truncated"
    shutil.copytree(source, truncated)
    xml = (truncated / REGISTRATIONS_FILE).read_bytes()
    (truncated / REGISTRATIONS_FILE).write_bytes(xml[: len(xml) - 300])
    refused = CliRunner().invoke(app, sync_args(hub_server, civil, truncated, state))
    assert refused.exit_code == 1 and "not well-formed XML (truncated?)" in refused.output
    assert hub_server.feed_rows(civil.id) == rows

    third = sync(hub_server, civil, source, state)
    assert third.records == 1 + info.cases  # the new registration; the changed roster is read whole
    assert (third.issued, third.updated, third.status_changes, third.dead_letters) == (
        2, 0, 3, info.broken_cases,
    )  # fmt: skip
    assert third.batches == 1
    now = hub_server.feed_rows(civil.id)
    assert now["licences"] == now["versions"] == rows["licences"] + 2
    assert now["status_changes"] == rows["status_changes"] + 3
    held = held_by_key(hub_server, civil.id)
    for number in (marriage.husband, marriage.wife):
        assert held[(MARRIAGE, marriage.certificate, number)].status == "04"
        assert held[(DIVORCE, str(marriage.divorce_certificate), number)].status == "01"
    assert held[(SUBSISTENCE, events.ended[0].certificate, events.ended[0].holder)].status == "04"
    assert_hub_matches(hub_server, civil.id, population, source)


@pytest.mark.parametrize("breakage", ["truncated-xml", "doctype", "roster-encoding"])
def test_a_broken_export_is_refused_with_a_clear_message_and_pushes_nothing(
    hub_server: HubServer, tmp_path: Path, breakage: str
) -> None:
    civil = register_civil_affairs(hub_server, tmp_path / "keys", f"broken-{breakage}")
    source, state = tmp_path / "export", tmp_path / "state.sqlite3"
    write_export(generate(120, seed=7), source, seed=7)
    xml, roster = source / REGISTRATIONS_FILE, source / ROSTER_FILE
    if breakage == "truncated-xml":
        xml.write_bytes(xml.read_bytes()[:-200])
        message = "not well-formed XML (truncated?)"
    elif breakage == "doctype":
        text = xml.read_text(encoding="utf-8")
        entity = '<!DOCTYPE 婚姻登记数据 [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n'
        xml.write_text(text.replace("?>\n", "?>\n" + entity, 1), encoding="utf-8")
        message = "a DOCTYPE declaration is not accepted"
    else:
        roster.write_bytes(roster.read_text(encoding="utf-8").encode("gb18030"))
        message = "not valid utf-8 at byte"
    result = CliRunner().invoke(app, sync_args(hub_server, civil, source, state), terminal_width=300)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert hub_server.feed_rows(civil.id) == {
        "licences": 0,
        "versions": 0,
        "status_changes": 0,
        "last_sequence": 0,
    }
    assert not state.exists()
