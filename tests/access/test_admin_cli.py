"""``hub admin …``: the first admin, and what the admin API does, for operators without the console. The
commands act as a named admin (``--as``) through the same service rules as the API; here against a SQLite
database with a complete production configuration in the environment."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from joserfc.jwk import ECKey
from typer.testing import CliRunner, Result

from hub.access import repository, service
from hub.access.models import Client, Grant
from hub.cli import app
from hub.context import Hub, build_hub
from hub.demo_data import uscc_code
from hub.main import create_app
from tests.access.helpers import PASSWORD
from tests.factories import ID_CARD, SUBSISTENCE, create_admin, seed_catalog
from tests.fixtures.hub import make_settings


@dataclass
class Cli:
    """Runs ``hub`` with the environment of one hub; ``hub`` reads what the commands wrote."""

    env: dict[str, str]
    hub: Hub
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(app, list(args), env=self.env, input=input)

    def ok(self, *args: str, input: str | None = None) -> Any:
        """The JSON a successful command printed."""
        result = self(*args, input=input)
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)

    def refused(self, *args: str, input: str | None = None) -> str:
        """What a refused command said on stderr (it exits 1 and prints nothing on stdout)."""
        result = self(*args, input=input)
        assert result.exit_code == 1, result.output
        assert result.stdout == ""
        return result.stderr


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Cli]:
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env
    settings = make_settings(f"sqlite:///{tmp_path / 'hub.sqlite3'}", tmp_path / "objects")
    env = {
        f"HUB_{name.upper()}": str(value)
        for name, value in settings.model_dump(mode="json").items()
        if value is not None and not isinstance(value, list | dict)
    }
    hub = build_hub(settings)
    seed_catalog(hub)
    yield Cli({**env, "COLUMNS": "200"}, hub)
    hub.close()


@pytest.fixture
def root(cli: Cli) -> str:
    """The first admin, of the whole city, made by ``hub admin create-first``."""
    cli.ok("admin", "create-first", "root", "--region", "410100", "--password-stdin", input=PASSWORD + "\n")
    return "root"


def grant_args(client_id: str, *extra: str, type_code: str = ID_CARD, tier: str = "2") -> list[str]:
    return [
        "admin", "grants", "request", "--client-id", client_id, "--type-code", type_code, "--tier", tier,
        "--region", "410100", "--legal-basis", "《郑州市政务信息资源共享管理办法》", "--days", "30", *extra,
    ]  # fmt: skip


# The first admin ---------------------------------------------------------------------------------------


def test_create_first_makes_an_admin_who_can_sign_in(cli: Cli) -> None:
    refused = cli.refused(
        "admin", "create-first", "root", "--region", "419999", "--password-stdin", input=PASSWORD
    )
    assert "region_code" in refused
    assert "password" in cli.refused(
        "admin", "create-first", "root", "--region", "410100", "--password-stdin", input="short\n"
    )

    made = cli.ok("admin", "create-first", "root", "--region", "410100", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert made["username"] == "root" and made["role"] == "admin" and made["region_code"] == "410100"
    with TestClient(create_app(hub=cli.hub)) as client:
        signed_in = client.post("/v1/admin/sign-in", json={"username": "root", "password": PASSWORD})
    assert signed_in.status_code == 200, signed_in.text


def test_create_first_refuses_once_an_admin_exists(cli: Cli, root: str) -> None:
    refused = cli.refused(
        "admin", "create-first", "other", "--region", "410100", "--password-stdin", input=PASSWORD
    )
    assert "admins already" in refused
    with cli.hub.session_factory() as session:
        assert repository.count_admins(session) == 1
        assert repository.admin_by_username(session, "other") is None


# Admins ------------------------------------------------------------------------------------------------


def test_add_applies_the_acting_admins_role_and_region(cli: Cli, root: str) -> None:
    county = cli.ok(
        "admin", "add", "jinshui", "--as", root, "--region", "410105", "--password-stdin", input=PASSWORD
    )
    assert county["role"] == "admin" and county["region_code"] == "410105"
    auditor = cli.ok(
        "admin", "add", "jinshui-audit", "--as", "jinshui", "--region", "410105001", "--role", "auditor",
        "--password-stdin", input=PASSWORD,
    )  # fmt: skip
    assert auditor["role"] == "auditor"

    above = cli.refused(
        "admin", "add", "city-2", "--as", "jinshui", "--region", "410100", "--password-stdin", input=PASSWORD
    )
    assert "outside your region" in above and "region_code" in above
    by_auditor = cli.refused(
        "admin",
        "add",
        "x-admin",
        "--as",
        "jinshui-audit",
        "--region",
        "410105001",
        "--password-stdin",
        input=PASSWORD,
    )
    assert "auditors may read" in by_auditor
    assert "no admin 'ghost'" in cli.refused("admin", "clients", "list", "--as", "ghost")
    assert "username" in cli.refused(
        "admin", "add", "jinshui", "--as", root, "--region", "410105", "--password-stdin", input=PASSWORD
    )
    with_oidc = cli.ok(
        "admin", "add", "oidc-admin", "--as", root, "--region", "410100",
        "--oidc-issuer", "https://id.zhengzhou.example", "--oidc-subject", "u-1",
    )  # fmt: skip
    assert with_oidc["username"] == "oidc-admin"


def test_a_disabled_admin_cannot_act(cli: Cli, root: str) -> None:
    with cli.hub.session_factory() as session:
        admin = repository.admin_by_username(session, root)
        assert admin is not None
        admin.status = "disabled"
        session.commit()
    assert "disabled" in cli.refused("admin", "clients", "list", "--as", root)


def test_disable_and_password_as_the_operator_and_as_an_admin(cli: Cli, root: str) -> None:
    cli.ok("admin", "add", "county", "--as", root, "--region", "410105", "--password-stdin",
           input=PASSWORD + "\n")  # fmt: skip
    assert "itself" in cli.refused("admin", "disable", root, "--as", root, "--reason", "x")
    assert "last active admin" in cli.refused("admin", "disable", root, "--reason", "x")  # county is below it
    assert "region" in cli.refused("admin", "disable", root, "--as", "county", "--reason", "x")
    assert "reason" in cli.refused("admin", "disable", "county", "--as", root, "--reason", "")
    assert "no admin" in cli.refused("admin", "disable", "nobody", "--reason", "x")

    # The operator sets a forgotten password; the old one no longer signs in, the new one does.
    assert "new_password" in cli.refused("admin", "password", "county", "--password-stdin", input="short\n")
    cli.ok("admin", "password", "county", "--password-stdin", input="a brand new passphrase\n")
    with cli.hub.session_factory() as session:
        with pytest.raises(Exception, match="wrong password"):
            service.authenticate_admin(session, "county", PASSWORD)
        assert service.authenticate_admin(session, "county", "a brand new passphrase").username == "county"

    disabled = cli.ok("admin", "disable", "county", "--as", root, "--reason", "调离岗位")
    assert disabled["status"] == "disabled"
    assert "disabled already" in cli.refused("admin", "disable", "county", "--reason", "x")
    assert "disabled" in cli.refused("admin", "clients", "list", "--as", "county")


# Clients -----------------------------------------------------------------------------------------------


def test_clients_create_list_rotate_and_disable(cli: Cli, root: str) -> None:
    made = cli.ok(
        "admin", "clients", "create", "审批系统", "--as", root, "--region", "410100",
        "--auth-method", "client_secret_post", "--organisation", "政务服务办公室",
    )  # fmt: skip
    client_id, secret = made["client_id"], made["client_secret"]
    assert made["status"] == "active" and secret

    listed = cli.ok("admin", "clients", "list", "--as", root, "--json")
    assert [c["client_id"] for c in listed] == [client_id]
    assert "client_secret" not in listed[0]
    table = cli("admin", "clients", "list", "--as", root)
    assert table.exit_code == 0 and client_id in table.stdout and secret not in table.stdout

    rotated = cli.ok("admin", "clients", "rotate-secret", client_id, "--as", root)
    assert rotated["client_secret"] != secret
    with cli.hub.session_factory() as session:
        row = session.get(Client, client_id)
        assert row is not None
        assert not service.check_client_secret(row, secret)
        assert service.check_client_secret(row, rotated["client_secret"])

    disabled = cli.ok("admin", "clients", "disable", client_id, "--as", root)
    assert disabled["status"] == "disabled"
    assert "no client" in cli.refused("admin", "clients", "disable", "svc-nobody", "--as", root)


def test_private_key_jwt_clients_take_public_keys_only(cli: Cli, root: str, tmp_path: Path) -> None:
    key, new_key = ECKey.generate_key("P-256", private=True), ECKey.generate_key("P-256", private=True)
    public, private, replacement = tmp_path / "public.json", tmp_path / "private.json", tmp_path / "new.json"
    public.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    private.write_text(json.dumps({"keys": [new_key.as_dict(private=True)]}))
    replacement.write_text(json.dumps({"keys": [new_key.as_dict(private=False)]}))
    create = ["admin", "clients", "create", "授权系统", "--as", root, "--region", "410100"]

    assert "jwks" in cli.refused(*create, "--jwks-file", str(private))
    assert "jwks" in cli.refused(*create, "--jwks-file", str(tmp_path / "missing.json"))
    made = cli.ok(*create, "--jwks-file", str(public))
    assert made["auth_method"] == "private_key_jwt" and made["client_secret"] is None

    client_id = made["client_id"]
    assert "jwks" in cli.refused("admin", "clients", "set-jwks", client_id, str(private), "--as", root)
    assert "replace its JWKS" in cli.refused("admin", "clients", "rotate-secret", client_id, "--as", root)
    cli.ok("admin", "clients", "set-jwks", client_id, str(replacement), "--as", root)
    with cli.hub.session_factory() as session:
        row = session.get(Client, client_id)
        assert row is not None and row.jwks is not None
        assert [k["kid"] for k in row.jwks["keys"]] == [new_key.thumbprint()]


def test_a_county_admin_manages_only_its_own_clients(cli: Cli, root: str) -> None:
    cli.ok("admin", "add", "jinshui", "--as", root, "--region", "410105", "--password-stdin", input=PASSWORD)
    city_client = cli.ok("admin", "clients", "create", "市级系统", "--as", root, "--region", "410100",
                         "--auth-method", "client_secret_basic")  # fmt: skip
    outside = cli.refused("admin", "clients", "create", "x", "--as", "jinshui", "--region", "410100",
                          "--auth-method", "client_secret_basic")  # fmt: skip
    assert "region_code" in outside
    assert "region_code" in cli.refused(
        "admin", "clients", "disable", city_client["client_id"], "--as", "jinshui"
    )
    assert cli.ok("admin", "clients", "list", "--as", "jinshui", "--json") == []


# Grants ------------------------------------------------------------------------------------------------


def test_grants_request_approve_list_and_revoke(cli: Cli, root: str) -> None:
    requested = cli.ok(
        "admin", "add", "second", "--as", root, "--region", "410100", "--password-stdin", input=PASSWORD
    )
    assert requested["status"] == "pending"  # a peer of root's own region: a request
    assert "you requested it" in cli.refused("admin", "approve", "second", "--as", root)
    assert cli.ok("admin", "approve", "second")["status"] == "active"  # the operator approves
    client_id = cli.ok(
        "admin",
        "clients",
        "create",
        "审批系统",
        "--as",
        root,
        "--region",
        "410100",
        "--auth-method",
        "client_secret_post",
    )["client_id"]

    ordinary = cli.ok(*grant_args(client_id, "--as", root, "--purpose", "P1", "--purpose", "P2"))
    assert ordinary["status"] == "active" and ordinary["purposes"] == ["P1", "P2"]
    sensitive = cli.ok(*grant_args(client_id, "--as", root, type_code=SUBSISTENCE, tier="3"))
    assert sensitive["status"] == "pending" and sensitive["consent_required"] is True

    assert "second admin" in cli.refused("admin", "grants", "approve", str(sensitive["id"]), "--as", root)
    pending = cli.ok("admin", "grants", "list", "--as", root, "--status", "pending", "--json")
    assert [g["id"] for g in pending] == [sensitive["id"]]
    approved = cli.ok("admin", "grants", "approve", str(sensitive["id"]), "--as", "second")
    assert approved["status"] == "active" and approved["approved_by"] != approved["requested_by"]

    by_type = cli.ok("admin", "grants", "list", "--as", root, "--type-code", ID_CARD, "--json")
    assert [g["id"] for g in by_type] == [ordinary["id"]]
    table = cli("admin", "grants", "list", "--as", root, "--client-id", client_id)
    assert table.exit_code == 0 and SUBSISTENCE in table.stdout and ID_CARD in table.stdout

    revoked = cli.ok("admin", "grants", "revoke", str(ordinary["id"]), "--as", root, "--reason", "事项取消")
    assert revoked["status"] == "revoked" and revoked["revoke_reason"] == "事项取消"
    assert "already revoked" in cli.refused(
        "admin", "grants", "revoke", str(ordinary["id"]), "--as", root, "--reason", "x"
    )
    assert "reason" in cli.refused(
        "admin", "grants", "revoke", str(sensitive["id"]), "--as", root, "--reason", ""
    )
    with cli.hub.session_factory() as session:
        row = session.get(Grant, ordinary["id"])
        assert row is not None and row.status == "revoked"


def test_grant_requests_are_checked_like_the_api(cli: Cli, root: str) -> None:
    cli.ok("admin", "add", "jinshui", "--as", root, "--region", "410105", "--password-stdin", input=PASSWORD)
    cli.ok(
        "admin",
        "add",
        "audit",
        "--as",
        root,
        "--region",
        "410100",
        "--role",
        "auditor",
        "--password-stdin",
        input=PASSWORD,
    )
    cli.ok("admin", "approve", "audit")
    client_id = cli.ok(
        "admin",
        "clients",
        "create",
        "审批系统",
        "--as",
        root,
        "--region",
        "410100",
        "--auth-method",
        "client_secret_post",
    )["client_id"]

    assert "region_code" in cli.refused(*grant_args(client_id, "--as", "jinshui"))
    assert "auditors may read" in cli.refused(*grant_args(client_id, "--as", "audit"))
    assert "max_tier" in cli.refused(*grant_args(client_id, "--as", root, tier="4"))
    assert "purposes" in cli.refused(*grant_args(client_id, "--as", root, "--purpose", "*", "--purpose", "X"))
    assert "type_code" in cli.refused(*grant_args(client_id, "--as", root, type_code="NOSUCHTYPE"))
    assert "client_id" in cli.refused(*grant_args("svc-nobody", "--as", root))
    both = grant_args(client_id, "--as", root, "--valid-until", "2030-01-01T00:00:00+08:00")
    assert "valid_until" in cli.refused(*both)
    naive = [a for a in grant_args(client_id, "--as", root) if a not in ("--days", "30")]
    assert "valid_until" in cli.refused(*naive, "--valid-until", "2030-01-01T00:00:00")
    with cli.hub.session_factory() as session:
        assert list(session.query(Grant)) == []


# Departments -------------------------------------------------------------------------------------------


def test_departments_register_and_keys_as_an_admin(cli: Cli, root: str, tmp_path: Path) -> None:
    cli.ok("admin", "add", "jinshui", "--as", root, "--region", "410105", "--password-stdin", input=PASSWORD)
    uscc = uscc_code(random.Random(5), category="11")
    register = ["admin", "departments", "register", "zz-civil-test", "郑州市民政局", "civil_affairs"]
    issuer = "https://civil.zhengzhou.example"

    assert "uscc" in cli.refused(*register, "91410100MA0000000X", issuer, "--as", root, "--region", "410100")
    assert "region_code" in cli.refused(*register, uscc, issuer, "--as", "jinshui", "--region", "410100")
    made = cli.ok(*register, uscc, issuer, "--as", root, "--region", "410100")
    assert made["id"] == "zz-civil-test" and made["uscc"] == uscc and made["status"] == "pending"
    cli.ok("admin", "add", "second", "--as", root, "--region", "410100", "--password-stdin", input=PASSWORD)
    cli.ok("admin", "approve", "second")
    assert "you requested it" in cli.refused("admin", "departments", "approve", "zz-civil-test", "--as", root)
    approved = cli.ok("admin", "departments", "approve", "zz-civil-test", "--as", "second")
    assert approved["status"] == "active" and approved["approved_by"] != approved["requested_by"]

    # A thumbprint is base64url: one in 64 begins with "-", which a command line reads as an option
    # unless it follows "--". Take such a key, so the way operators must write it is the way tested.
    key = ECKey.generate_key("P-256", private=True)
    while not key.thumbprint().startswith("-"):
        key = ECKey.generate_key("P-256", private=True)
    jwk_file = tmp_path / "key.json"
    jwk_file.write_text(json.dumps({**key.as_dict(private=False), "alg": "ES256"}))
    assert "region_code" in cli.refused(
        "admin", "departments", "add-key", "zz-civil-test", str(jwk_file), "--as", "jinshui"
    )
    added = cli.ok("admin", "departments", "add-key", "zz-civil-test", str(jwk_file), "--as", root)
    assert added["status"] == "pending"
    kid = added["kid"]
    assert "No such option" in cli("admin", "departments", "approve-key", "zz-civil-test", kid).output
    approve_key = ["admin", "departments", "approve-key", "--as", "second", "--", "zz-civil-test", kid]
    assert cli.ok(*approve_key)["status"] == "active"
    retire_key = ["admin", "departments", "retire-key", "--as", root, "--", "zz-civil-test", kid]
    assert cli.ok(*retire_key)["status"] == "retired"
    assert "is retired, not active" in cli.refused(*retire_key)


def test_cli_and_api_share_one_set_of_rules(cli: Cli, root: str) -> None:
    """A county admin made through the factories is refused by the CLI for the same reason as by the API."""
    county = create_admin(cli.hub, region="410105")
    city_client = cli.ok(
        "admin",
        "clients",
        "create",
        "审批系统",
        "--as",
        root,
        "--region",
        "410100",
        "--auth-method",
        "client_secret_post",
    )["client_id"]
    cli_refusal = cli.refused(*grant_args(city_client, "--as", county.username))
    with TestClient(create_app(hub=cli.hub)) as client:
        signed_in = client.post("/v1/admin/sign-in", json={"username": county.username, "password": PASSWORD})
        headers = {"Authorization": f"Bearer {signed_in.json()['access_token']}"}
        body = {
            "client_id": city_client, "type_code": ID_CARD, "max_tier": 2, "purposes": ["*"],
            "region_code": "410100", "valid_until": "2999-01-01T00:00:00+00:00", "legal_basis": "x",
        }  # fmt: skip
        api_refusal = client.post("/v1/admin/grants", json=body, headers=headers).json()
    assert api_refusal["status"] == 403
    assert api_refusal["detail"] in cli_refusal
