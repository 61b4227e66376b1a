"""``hub admin``: admins, clients, grants and departments, as the admin API does them, for operators
without the console. Every command but create-first acts as a named admin (``--as``), through the same
service functions as the API, so role and region rules apply identically."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hub.cli.common import errors, open_hub, run_in_transaction

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hub.access.models import Admin

admin_app = typer.Typer(
    help="Admins, clients, grants and departments, as the admin API does them (for operators without the "
    "console). Every command but create-first acts as a named admin (--as): its role and region apply.",
    no_args_is_help=True,
)
admin_clients_app = typer.Typer(help="OAuth clients.", no_args_is_help=True)
admin_grants_app = typer.Typer(help="Access grants and their approval.", no_args_is_help=True)
admin_departments_app = typer.Typer(help="Issuing departments and their keys.", no_args_is_help=True)
admin_authorizations_app = typer.Typer(
    help="Issuing authorizations: which department may issue what, for holders of which region.",
    no_args_is_help=True,
)
admin_app.add_typer(admin_clients_app, name="clients")
admin_app.add_typer(admin_authorizations_app, name="authorizations")
admin_app.add_typer(admin_grants_app, name="grants")
admin_app.add_typer(admin_departments_app, name="departments")

# hub admin ---------------------------------------------------------------------------------------------

AsAdmin = Annotated[
    str, typer.Option("--as", metavar="USERNAME", help="The admin to act as; its role and region apply.")
]
PasswordStdin = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password from standard input instead of prompting.")
]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _print_table(columns: list[str], rows: list[list[str]]) -> None:
    table = Table(*columns)
    for row in rows:
        table.add_row(*row)
    Console().print(table)  # made here so that COLUMNS in the environment counts


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return typer.get_text_stream("stdin").readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


def _acting(username: str, action: Callable[[Session, Admin], Any]) -> Any:
    """Run ``action(session, admin)`` as the named admin, through the same service rules as the API."""
    from hub.access import repository
    from hub.errors import Forbidden, NotFound

    def run(session: Session) -> Any:
        admin = repository.admin_by_username(session, username)
        if admin is None:
            raise NotFound(f"no admin {username!r}")
        if admin.status != "active":
            raise Forbidden(f"admin {username!r} is {admin.status}")
        return action(session, admin)

    return run_in_transaction(run)


def _admin_json(admin: Admin) -> dict[str, Any]:
    from hub.access.schemas import AdminRead

    return AdminRead.model_validate(admin).model_dump(mode="json")


def _client_json(client: Any, secret: str | None = None, *, with_secret: bool = False) -> dict[str, Any]:
    from hub.access.schemas import ClientCreated, ClientRead

    data = ClientRead.model_validate(client).model_dump()
    if with_secret:
        return ClientCreated.model_validate({**data, "client_secret": secret}).model_dump(mode="json")
    return ClientRead.model_validate(data).model_dump(mode="json")


def _grant_json(grant: Any) -> dict[str, Any]:
    from hub.access.schemas import GrantRead

    return GrantRead.model_validate(grant).model_dump(mode="json")


def _json_file(path: Path, field: str) -> Any:
    from hub.errors import InvalidInput, field_error

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(
            f"cannot read {path}: {exc}", errors=[field_error(field, "not a JSON file")]
        ) from None


@admin_app.command("create-first")
def admin_create_first(
    username: str,
    region: Annotated[str, typer.Option(help="The admin's region code, e.g. 410100 for the whole city.")],
    display_name: Annotated[
        str | None, typer.Option(help="Shown in the console (default: USERNAME).")
    ] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Create the first admin of a hub that has none; refused once any admin exists."""
    from hub.access import repository, service
    from hub.access.schemas import AdminCreate

    hub = open_hub()
    try:
        with hub.read_session_factory() as session:
            existing = repository.count_admins(session)
    finally:
        hub.close()
    if existing:
        errors.print("[red]refused:[/red] the hub has admins already; an admin adds others (hub admin add)")
        raise typer.Exit(1)
    password = _read_password(password_stdin)
    created = run_in_transaction(
        lambda session: _admin_json(
            service.create_first_admin(
                session,
                AdminCreate(
                    username=username,
                    display_name=display_name or username,
                    role="admin",
                    region_code=region,
                    password=password,
                ),
            )
        )
    )
    _echo_json(created)


@admin_app.command("add")
def admin_add(
    username: str,
    as_admin: AsAdmin,
    region: Annotated[str, typer.Option(help="The new account's region (inside yours).")],
    role: Annotated[str, typer.Option(help="admin or auditor.")] = "admin",
    display_name: Annotated[
        str | None, typer.Option(help="Shown in the console (default: USERNAME).")
    ] = None,
    oidc_issuer: Annotated[str | None, typer.Option(help="Sign in through this OIDC provider ...")] = None,
    oidc_subject: Annotated[str | None, typer.Option(help="... as this subject (no password then).")] = None,
    password_stdin: PasswordStdin = False,
) -> None:
    """Add an admin or auditor inside your region: active at once in a region below yours, a request for
    a second admin to approve (hub admin approve) in your own."""
    from hub.access import service
    from hub.access.schemas import AdminCreate

    password = None if oidc_issuer and not password_stdin else _read_password(password_stdin)
    data = {
        "username": username,
        "display_name": display_name or username,
        "role": role,
        "region_code": region,
        "password": password,
        "oidc_issuer": oidc_issuer,
        "oidc_subject": oidc_subject,
    }
    _echo_json(
        _acting(
            as_admin,
            lambda s, by: _admin_json(service.create_admin(s, AdminCreate.model_validate(data), by=by)),
        )
    )


@admin_app.command("approve")
def admin_approve(
    username: str,
    as_admin: Annotated[
        str | None,
        typer.Option(
            "--as", metavar="USERNAME", help="The admin who approves; without it, the operator approves."
        ),
    ] = None,
) -> None:
    """Approve an admin a peer requested (two-person rule). Without --as the operator approves, as the
    top region's first admins need: nobody above them can."""
    from hub.access import repository, service
    from hub.errors import NotFound

    def approve(session: Session, by: Admin | None) -> dict[str, Any]:
        pending = repository.admin_by_username(session, username)
        if pending is None or pending.id is None:
            raise NotFound(f"no admin {username!r}")
        return _admin_json(service.approve_admin(session, pending.id, by=by))

    _echo_json(_acting(as_admin, approve) if as_admin else run_in_transaction(lambda s: approve(s, None)))


@admin_app.command("disable")
def admin_disable(
    username: str,
    reason: Annotated[str, typer.Option(help="Why, for the audit log.")],
    as_admin: Annotated[
        str | None,
        typer.Option("--as", metavar="USERNAME", help="The admin who disables; without it, the operator."),
    ] = None,
) -> None:
    """Disable an admin or auditor for good: its tokens stop working and its console sessions end at once."""
    from hub.access import repository, service
    from hub.access.schemas import AdminDisable
    from hub.errors import NotFound

    def disable(session: Session, by: Admin | None) -> dict[str, Any]:
        body = AdminDisable.model_validate({"reason": reason})
        target = repository.admin_by_username(session, username)
        if target is None or target.id is None:
            raise NotFound(f"no admin {username!r}")
        return _admin_json(service.disable_admin(session, target.id, by=by, reason=body.reason))

    _echo_json(_acting(as_admin, disable) if as_admin else run_in_transaction(lambda s: disable(s, None)))


@admin_app.command("password")
def admin_password(username: str, password_stdin: PasswordStdin = False) -> None:
    """Set an admin's password as the operator (a forgotten password; an admin changes its own with
    POST /v1/admin/me/password). Its console sessions and bearer tokens end."""
    from hub.access import repository, service
    from hub.access.schemas import PasswordReset
    from hub.errors import NotFound
    from hub.oauth import tokens

    password = _read_password(password_stdin)  # before the transaction: a prompt holds no lock

    def reset(session: Session) -> dict[str, Any]:
        body = PasswordReset.model_validate({"new_password": password})
        admin = repository.admin_by_username(session, username)
        if admin is None or admin.id is None:
            raise NotFound(f"no admin {username!r}")
        service.change_password(session, admin, current=None, new=body.new_password)
        tokens.revoke_admin_tokens(session, admin.id)
        return _admin_json(admin)

    _echo_json(run_in_transaction(reset))


@admin_clients_app.command("list")
def admin_clients_list(as_admin: AsAdmin, json_output: JsonOutput = False) -> None:
    """Clients registered in your region."""
    from hub.access import service

    found = _acting(as_admin, lambda s, by: [_client_json(c) for c in service.list_clients(s, by=by)])
    if json_output:
        _echo_json(found)
        return
    columns = ["client_id", "name", "kind", "region_code", "auth_method", "status"]
    _print_table(columns, [[str(c[k] or "") for k in columns] for c in found])


@admin_clients_app.command("create")
def admin_clients_create(
    name: str,
    as_admin: AsAdmin,
    region: Annotated[str, typer.Option(help="Where the client belongs (inside your region).")],
    kind: Annotated[str, typer.Option(help="service (an approval service) or department (an adapter).")] = (
        "service"
    ),
    department: Annotated[str | None, typer.Option(help="For department clients: whose feed.")] = None,
    organisation: Annotated[str, typer.Option(help="For approval services: who runs it.")] = "",
    auth_method: Annotated[
        str, typer.Option(help="private_key_jwt, client_secret_basic or client_secret_post.")
    ] = "private_key_jwt",
    jwks_file: Annotated[Path | None, typer.Option(help="Public JWK set, for private_key_jwt.")] = None,
    redirect_uri: Annotated[list[str] | None, typer.Option(help="Redirect URI (repeatable).")] = None,
) -> None:
    """Register a client. A secret-based client's secret is printed this once."""
    from hub.access import service
    from hub.access.schemas import ClientCreate

    def create(session: Session, by: Admin) -> dict[str, Any]:
        data = ClientCreate.model_validate(
            {
                "name": name,
                "kind": kind,
                "region_code": region,
                "department_id": department,
                "organisation": organisation,
                "auth_method": auth_method,
                "redirect_uris": redirect_uri or [],
                "jwks": _json_file(jwks_file, "jwks") if jwks_file else None,
            }
        )
        client, secret = service.create_client(session, data, by=by)
        return _client_json(client, secret, with_secret=True)

    _echo_json(_acting(as_admin, create))


@admin_clients_app.command("rotate-secret")
def admin_clients_rotate_secret(client_id: str, as_admin: AsAdmin) -> None:
    """Replace a client's secret (printed this once); the old one stops working at once."""
    from hub.access import service

    def rotate(session: Session, by: Admin) -> dict[str, Any]:
        client, secret = service.rotate_client_secret(session, client_id, by=by)
        return _client_json(client, secret, with_secret=True)

    _echo_json(_acting(as_admin, rotate))


@admin_clients_app.command("set-jwks")
def admin_clients_set_jwks(client_id: str, jwks_file: Path, as_admin: AsAdmin) -> None:
    """Replace the public keys a private_key_jwt client signs its assertions with."""
    from hub.access import service

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: _client_json(
                service.replace_client_jwks(s, client_id, _json_file(jwks_file, "jwks"), by=by)
            ),
        )
    )


@admin_clients_app.command("disable")
def admin_clients_disable(client_id: str, as_admin: AsAdmin) -> None:
    """Disable a client; its outstanding tokens stop working on the next request."""
    from hub.access import service

    _echo_json(_acting(as_admin, lambda s, by: _client_json(service.disable_client(s, client_id, by=by))))


@admin_grants_app.command("list")
def admin_grants_list(
    as_admin: AsAdmin,
    client_id: Annotated[str | None, typer.Option(help="Only this client's grants.")] = None,
    type_code: Annotated[str | None, typer.Option(help="Only grants of this licence type.")] = None,
    status: Annotated[str | None, typer.Option(help="pending, active or revoked.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500)] = 100,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    json_output: JsonOutput = False,
) -> None:
    """Grants whose holder region lies in your region."""
    from hub.access import service

    found = _acting(
        as_admin,
        lambda s, by: [
            _grant_json(g)
            for g in service.list_grants(
                s, by=by, client_id=client_id, type_code=type_code, status=status, limit=limit, offset=offset
            )
        ],
    )
    if json_output:
        _echo_json(found)
        return
    columns = ["id", "client_id", "type_code", "max_tier", "region_code", "status", "valid_until"]
    _print_table(columns, [[str(g[k]) for k in columns] for g in found])


@admin_grants_app.command("request")
def admin_grants_request(
    as_admin: AsAdmin,
    client_id: Annotated[str, typer.Option(help="The approval service's client.")],
    type_code: Annotated[str, typer.Option(help="The licence type code.")],
    tier: Annotated[int, typer.Option(help="Highest tier: 0 status, 1 basic, 2 full, 3 sensitive.")],
    region: Annotated[str, typer.Option(help="Holders' region subtree (inside yours).")],
    legal_basis: Annotated[str, typer.Option(help="The rule the sharing rests on.")],
    purpose: Annotated[
        list[str] | None, typer.Option(help="Service item code (repeatable); default any.")
    ] = None,
    valid_from: Annotated[str | None, typer.Option(help="ISO 8601 with offset (default now).")] = None,
    valid_until: Annotated[str | None, typer.Option(help="ISO 8601 with offset.")] = None,
    days: Annotated[int | None, typer.Option(min=1, help="Instead of --valid-until: this many days.")] = None,
    consent_required: Annotated[
        bool, typer.Option("--consent-required", help="Ask the holder on every use (always for T3).")
    ] = False,
) -> None:
    """Request a grant. Below T3 it is in force at once; a T3 grant waits for a second admin."""
    from hub.access import service
    from hub.access.schemas import GrantCreate
    from hub.errors import InvalidInput, field_error

    def request(session: Session, by: Admin) -> dict[str, Any]:
        if (valid_until is None) == (days is None):
            raise InvalidInput(
                "give --valid-until or --days", errors=[field_error("valid_until", "give one of the two")]
            )
        until = valid_until or (datetime.now(UTC) + timedelta(days=days or 0)).isoformat()
        data = GrantCreate.model_validate(
            {
                "client_id": client_id,
                "type_code": type_code,
                "max_tier": tier,
                "region_code": region,
                "purposes": purpose or ["*"],
                "valid_from": valid_from,
                "valid_until": until,
                "consent_required": consent_required,
                "legal_basis": legal_basis,
            }
        )
        return _grant_json(service.request_grant(session, data, by=by))

    _echo_json(_acting(as_admin, request))


@admin_grants_app.command("approve")
def admin_grants_approve(grant_id: int, as_admin: AsAdmin) -> None:
    """Approve another admin's pending T3 grant."""
    from hub.access import service

    _echo_json(_acting(as_admin, lambda s, by: _grant_json(service.approve_grant(s, grant_id, by=by))))


@admin_grants_app.command("revoke")
def admin_grants_revoke(
    grant_id: int, as_admin: AsAdmin, reason: Annotated[str, typer.Option(help="Why, for the record.")]
) -> None:
    """Revoke a grant; it stops counting on the next request, whatever tokens are outstanding."""
    from hub.access import service
    from hub.access.schemas import GrantRevoke

    def revoke(session: Session, by: Admin) -> dict[str, Any]:
        checked = GrantRevoke(reason=reason)
        return _grant_json(service.revoke_grant(session, grant_id, checked.reason, by=by))

    _echo_json(_acting(as_admin, revoke))


@admin_departments_app.command("register")
def admin_departments_register(
    id: str,
    name: str,
    kind: str,
    uscc: str,
    issuer: str,
    as_admin: AsAdmin,
    region: Annotated[str, typer.Option(help="The department's region (inside yours).")],
) -> None:
    """Register an issuing department in your region."""
    from hub.access import service
    from hub.registry.schemas import DepartmentCreate, DepartmentRead

    data = {"id": id, "name": name, "kind": kind, "region_code": region, "uscc": uscc, "issuer": issuer}
    _echo_json(
        _acting(
            as_admin,
            lambda s, by: DepartmentRead.model_validate(
                service.register_department(s, DepartmentCreate.model_validate(data).model_dump(), by=by)
            ).model_dump(mode="json"),
        )
    )


@admin_departments_app.command("add-key")
def admin_departments_add_key(department: str, jwk_file: Path, as_admin: AsAdmin) -> None:
    """Register a department's public key from a JWK file (ES256 P-256 or EdDSA Ed25519)."""
    from hub.access import service
    from hub.registry.schemas import DepartmentKeyRead

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: DepartmentKeyRead.model_validate(
                service.add_department_key(s, department, _json_file(jwk_file, "jwk"), by=by)
            ).model_dump(mode="json"),
        )
    )


@admin_departments_app.command("retire-key")
def admin_departments_retire_key(department: str, kid: str, as_admin: AsAdmin) -> None:
    """Retire a department key: nothing it signs is taken in from now on; what was received stays.

    A KID that begins with "-" goes after "--": retire-key --as NAME -- DEPARTMENT KID.
    """
    from hub.access import service
    from hub.registry.schemas import DepartmentKeyRead

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: DepartmentKeyRead.model_validate(
                service.retire_department_key(s, department, kid, by=by)
            ).model_dump(mode="json"),
        )
    )


def _key_json(key: Any) -> dict[str, Any]:
    from hub.registry.schemas import DepartmentKeyRead

    return DepartmentKeyRead.model_validate(key).model_dump(mode="json")


@admin_departments_app.command("approve")
def admin_departments_approve(department: str, as_admin: AsAdmin) -> None:
    """Approve a department another admin registered (two-person rule)."""
    from hub.access import service
    from hub.registry.schemas import DepartmentRead

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: DepartmentRead.model_validate(
                service.approve_department(s, department, by=by)
            ).model_dump(mode="json"),
        )
    )


@admin_departments_app.command("approve-key")
def admin_departments_approve_key(department: str, kid: str, as_admin: AsAdmin) -> None:
    """Approve a department key another admin added (two-person rule).

    A KID that begins with "-" goes after "--": approve-key --as NAME -- DEPARTMENT KID.
    """
    from hub.access import service

    _echo_json(
        _acting(as_admin, lambda s, by: _key_json(service.approve_department_key(s, department, kid, by=by)))
    )


@admin_departments_app.command("compromised-key")
def admin_departments_compromised_key(
    department: str,
    kid: str,
    as_admin: AsAdmin,
    since: Annotated[
        datetime | None,
        typer.Option(formats=["%Y-%m-%dT%H:%M:%S%z"], help="From when (ISO 8601 with offset; default now)."),
    ] = None,
) -> None:
    """Mark a department key compromised: what it signed from SINCE on is withheld.

    A KID that begins with "-" goes after "--": compromised-key --as NAME -- DEPARTMENT KID.
    """
    from hub.access import service

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: _key_json(service.compromise_department_key(s, department, kid, since, by=by)),
        )
    )


def _authorization_json(row: Any) -> dict[str, Any]:
    from hub.registry.schemas import IssuingAuthorizationRead

    return IssuingAuthorizationRead.model_validate(row).model_dump(mode="json")


@admin_authorizations_app.command("request")
def admin_authorizations_request(
    department: str,
    type_code: str,
    as_admin: AsAdmin,
    jurisdiction: Annotated[str, typer.Option(help="Region code whose holders it covers (inside yours).")],
    legal_basis: Annotated[str, typer.Option(help="The law or decision that entitles the department.")],
    days: Annotated[int, typer.Option(min=1, max=3650, help="How long it lasts.")] = 365,
) -> None:
    """Request an issuing authorization; in force once a second admin of the catalog's level approves."""
    from hub.access import service
    from hub.registry.schemas import IssuingAuthorizationCreate

    def request(session: Session, by: Admin) -> dict[str, Any]:
        data = IssuingAuthorizationCreate(
            department_id=department,
            type_code=type_code,
            jurisdiction_code=jurisdiction,
            legal_basis=legal_basis,
            valid_until=datetime.now(UTC) + timedelta(days=days),
        )
        return _authorization_json(service.request_issuing_authorization(session, data, by=by))

    _echo_json(_acting(as_admin, request))


@admin_authorizations_app.command("approve")
def admin_authorizations_approve(authorization_id: int, as_admin: AsAdmin) -> None:
    """Approve another admin's issuing authorization request."""
    from hub.access import service

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: _authorization_json(
                service.approve_issuing_authorization(s, authorization_id, by=by)
            ),
        )
    )


@admin_authorizations_app.command("revoke")
def admin_authorizations_revoke(authorization_id: int, as_admin: AsAdmin) -> None:
    """Revoke an issuing authorization."""
    from hub.access import service

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: _authorization_json(
                service.revoke_issuing_authorization(s, authorization_id, by=by)
            ),
        )
    )


@admin_authorizations_app.command("list")
def admin_authorizations_list(as_admin: AsAdmin, department: str | None = None) -> None:
    """Issuing authorizations of the departments in your region."""
    from hub.access import service

    _echo_json(
        _acting(
            as_admin,
            lambda s, by: [
                _authorization_json(a)
                for a in service.list_issuing_authorizations(s, by=by, department_id=department)
            ],
        )
    )
