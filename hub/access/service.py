"""Access rules: clients, graded grants and administrators scoped by region (DESIGN 3, issue 3).

- An admin acts only inside its own region: on clients registered there and on grants whose holder
  region lies in its subtree. Auditors read, never change.
- A grant of tier T3 (sensitive) always requires the holder's consent and takes effect only when a second
  admin approves it, before it expires and while its client is active; other grants take effect when
  requested. A disabled client is given no grant.
- Two-person actions (``hub.access.approvals``): an admin created at its creator's own level, an issuing
  authorization, a department, a department key and a T3 grant are pending until a second, independent
  admin approves them. Both are named in the audit event.
- A department's adapter client is created only by an admin over the department, in its region.
- What a client may do is read from its grants at every use, so a revocation counts on the next request.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
from datetime import datetime
from typing import Any, cast

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from joserfc.jwk import KeySet
from sqlalchemy.orm import Session

from hub.access import redirect_uris, repository
from hub.access.approvals import appointed_from_above, require_second_person
from hub.access.models import Admin, Client, Grant
from hub.access.schemas import AdminCreate, ClientCreate, GrantCreate
from hub.audit import service as audit
from hub.audit.refusals import CallerRefused, admin_caller
from hub.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyRequests, field_error
from hub.kit.backoff import Backoff
from hub.kit.time import utcnow
from hub.registry import items
from hub.registry import service as registry_service
from hub.registry.models import Department, DepartmentKey, IssuingAuthorization, ServiceItem
from hub.registry.schemas import IssuingAuthorizationCreate, ServiceItemWrite
from hub.sessions import service as sessions

log = logging.getLogger("hub.access")

PUSH_SCOPE = "licences.push"
METRICS_SCOPE = "metrics"  # GET /metrics: counts across the whole hub, by client and licence type
SENSITIVE_TIER = 3
# Argon2id with argon2-cffi's defaults (RFC 9106 low-memory profile). HUB_PASSWORD_HASH_PROFILE=cheapest
# exists for test suites only, which create hundreds of admins and secrets; stored hashes name their own
# parameters, so a hash made either way verifies either way, and sign-in rehashes to the running profile.
_PROFILES = {"default": profiles.RFC_9106_LOW_MEMORY, "cheapest": profiles.CHEAPEST}
_hasher = PasswordHasher.from_parameters(_PROFILES[os.environ.get("HUB_PASSWORD_HASH_PROFILE", "default")])
# Verified against when a username is unknown, so timing does not tell which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def get_client(session: Session, client_id: str) -> Client | None:
    return repository.get_client(session, client_id)


def get_admin(session: Session, admin_id: int) -> Admin | None:
    return repository.get_admin(session, admin_id)


def active_grants(
    session: Session, client_id: str, now: datetime | None = None, type_code: str | None = None
) -> list[Grant]:
    """The client's grants in force ``now`` (default: now). Every use re-reads them, so a revocation
    counts on the next request."""
    return list(repository.active_grants(session, client_id, now or utcnow(), type_code))


def licence_scope(type_code: str, tier: int) -> str:
    return f"licence:{type_code}:t{tier}"


def parse_licence_scope(scope: str) -> tuple[str, int] | None:
    parts = scope.split(":")
    if len(parts) == 3 and parts[0] == "licence" and parts[2] in ("t0", "t1", "t2", "t3"):
        return parts[1], int(parts[2][1])
    return None


# Region scoping ----------------------------------------------------------------------------------------


def region_within(session: Session, code: str, root: str) -> bool:
    """Whether region ``code`` lies in the subtree of ``root``."""
    return registry_service.region_within(session, code, root)


def _require_admin_role(admin: Admin) -> None:
    if admin.status != "active":
        raise Forbidden(f"admin account {admin.username!r} is {admin.status}")
    if admin.role != "admin":
        raise Forbidden(f"{admin.role}s may read but not change access")


def _require_known_region(session: Session, code: str, field: str = "region_code") -> None:
    # Checked before the region rule, so an unknown code is a 422 naming the field, not a 403.
    if registry_service.find_region(session, code) is None:
        raise InvalidInput(f"unknown region {code}", errors=[field_error(field, "unknown region")])


def _require_region(session: Session, admin: Admin, code: str, what: str) -> None:
    if not region_within(session, code, admin.region_code):
        raise Forbidden(
            f"{what} region {code} is outside your region {admin.region_code}",
            errors=[field_error("region_code", "outside the admin's region")],
        )


# Admins ------------------------------------------------------------------------------------------------


def create_admin(session: Session, data: AdminCreate, *, by: Admin | None) -> Admin:
    """Create an admin or auditor. ``by`` is None only for the operator: the first admin
    (:func:`create_first_admin`) and seeding (``hub demo``).

    Appointed from the parent level (a region below ``by``'s) the account is active at once; created by a
    peer (in ``by``'s own region) it is a request until a second, independent admin approves it
    (:func:`approve_admin`)."""
    if by is not None:
        _require_admin_role(by)
    _require_known_region(session, data.region_code)
    if by is not None:
        _require_region(session, by, data.region_code, "the new admin's")
    if not data.password and not (data.oidc_issuer and data.oidc_subject):
        raise InvalidInput(
            "an admin signs in with a password or an upstream OIDC identity",
            errors=[field_error("password", "give a password or oidc_issuer and oidc_subject")],
        )
    if repository.admin_by_username(session, data.username) is not None:
        raise Conflict(f"admin {data.username!r} exists", errors=[field_error("username", "taken")])
    peer = by is not None and data.region_code == by.region_code
    admin = Admin(
        username=data.username,
        display_name=data.display_name,
        role=data.role,
        region_code=data.region_code,
        password_hash=_hasher.hash(data.password) if data.password else None,
        oidc_issuer=data.oidc_issuer,
        oidc_subject=data.oidc_subject,
        status="pending" if peer else "active",
        requested_by=by.id if by else None,
        approved_by=by.id if by and not peer else None,
        controlled_by=appointed_from_above(by) if by and not peer else [],
    )
    session.add(admin)
    session.flush()
    audit.record_change(
        session,
        by,
        "admin.requested" if peer else "admin.created",
        admin=admin.id,
        role=admin.role,
        region=admin.region_code,
        status=admin.status,
        requested_by=admin.requested_by,
        approved_by=admin.approved_by,
    )
    return admin


def approve_admin(session: Session, admin_id: int, *, by: Admin | None) -> Admin:
    """Approve an admin a peer requested: a second admin over its region, independent of the requester.
    Approved by two people, the new admin is controlled by neither. ``by`` is None for the operator at
    the command line (``hub admin approve`` without ``--as``), which the top region's first admins need."""
    if by is not None:
        _require_admin_role(by)
    admin = repository.get_admin(session, admin_id)
    if admin is None:
        raise NotFound(f"no admin {admin_id}")
    if by is not None:
        _require_region(session, by, admin.region_code, "the admin's")
    if admin.status != "pending":
        raise Conflict(f"admin {admin.username!r} is {admin.status}, not pending")
    if by is not None:
        require_second_person(session, admin.requested_by, by, f"admin {admin.username!r}")
    admin.status, admin.approved_by, admin.controlled_by = "active", by.id if by else None, []
    audit.record_change(
        session,
        by,
        "admin.approved",
        admin=admin.id,
        role=admin.role,
        region=admin.region_code,
        requested_by=admin.requested_by,
        approved_by=admin.approved_by,
    )
    return admin


def disable_admin(session: Session, admin_id: int, *, by: Admin | None, reason: str) -> Admin:
    """Disable an admin or auditor of ``by``'s region or below, for good: its bearer tokens stop working
    at once (every request re-reads the account) and its console sessions end. One admin is enough, so a
    stolen account can be shut at once. Refused: the caller's own account, and the last active admin of
    a region and those above it (nobody could appoint a successor; the operator's ``create-first`` works
    only on an empty hub). ``by`` is None for the
    operator at the command line."""
    if by is not None:
        _require_admin_role(by)
    admin = repository.get_admin(session, admin_id)
    if admin is None:
        raise NotFound(f"no admin {admin_id}")
    if by is not None:
        _require_region(session, by, admin.region_code, "the admin's")
        if by.id == admin.id:
            raise Conflict("an admin does not disable itself; ask another admin of your region or above")
    if admin.status == "disabled":
        raise Conflict(f"admin {admin.username!r} is disabled already")
    if admin.role == "admin" and admin.status == "active":
        above = registry_service.region_ancestors(session, admin.region_code)
        if repository.count_admins(session, role="admin", status="active", region_codes=above) <= 1:
            raise Conflict(
                f"admin {admin.username!r} is the last active admin of its region and the regions above; "
                "nobody would be left to appoint a successor"
            )
    admin.status = "disabled"
    ended = sessions.end_admin_sessions(session, admin_id)
    audit.record_change(
        session,
        by,
        "admin.disabled",
        admin=admin.id,
        role=admin.role,
        region=admin.region_code,
        reason=reason,
        sessions_ended=ended,
    )
    return admin


def change_password(
    session: Session,
    admin: Admin,
    *,
    current: str | None,
    new: str,
    backoff: Backoff | None = None,
    address: str = "",
) -> Admin:
    """Change an admin's password and end every console session it has, this one included. The admin
    gives its current password (a borrowed session or token alone cannot change it; wrong answers count
    towards the sign-in back-off); the operator at the command line resets it with ``current=None``."""
    if not admin.password_hash:
        raise Conflict(f"admin {admin.username!r} signs in through its OIDC provider and has no password")
    if current is not None:
        keys = [f"admin:{admin.username}", f"addr:{address}"]
        if backoff is not None:
            refuse_while_backing_off(backoff, keys)
        try:
            _hasher.verify(admin.password_hash, current)
        except (VerificationError, InvalidHashError):
            if backoff is not None:
                backoff.failed(keys)
            raise Forbidden(
                "the current password is wrong", errors=[field_error("current_password", "wrong")]
            ) from None
        if current == new:
            raise InvalidInput(
                "the new password is the current one", errors=[field_error("new_password", "unchanged")]
            )
    admin.password_hash = _hasher.hash(new)
    ended = sessions.end_admin_sessions(session, admin.id or 0)
    audit.record_change(
        session,
        admin if current is not None else None,
        "admin.password_changed",
        admin=admin.id,
        sessions_ended=ended,
    )
    return admin


def list_admins(
    session: Session, *, by: Admin, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Admin]:
    """Admins and auditors of the caller's region and below, by id."""
    regions = registry_service.region_subtree(session, by.region_code)
    return list(repository.list_admins(session, regions, status=status, limit=limit, offset=offset))


def create_first_admin(session: Session, data: AdminCreate) -> Admin:
    """Create the first admin of an empty hub (``hub admin create-first``); refused once any admin exists."""
    if repository.count_admins(session) > 0:
        raise Conflict("the hub has admins already; an admin adds others (hub admin add --as …)")
    if data.role != "admin":
        raise InvalidInput(
            "the first account must be an admin, or nobody could add another",
            errors=[field_error("role", "must be admin")],
        )
    return create_admin(session, data, by=None)


def refuse_while_backing_off(backoff: Backoff, keys: list[str]) -> None:
    """429 with ``Retry-After`` while any of ``keys`` (identity, address) has failed too often."""
    wait = backoff.retry_after(keys)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(
            f"too many failed attempts; retry after {seconds} s", headers={"Retry-After": str(seconds)}
        )


def authenticate_admin(
    session: Session, username: str, password: str, *, backoff: Backoff | None = None, address: str = ""
) -> Admin:
    """Check an admin's password (argon2); the same error whether the name or the password is wrong.
    With ``backoff``, repeated failures of the username or from the address wait (``hub.kit.backoff``)."""
    keys = [f"admin:{username[:64]}", f"addr:{address}"]
    if backoff is not None:
        refuse_while_backing_off(backoff, keys)
    admin = named = repository.admin_by_username(session, username)
    try:
        _hasher.verify(admin.password_hash if admin and admin.password_hash else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        admin = None
    if admin is None or admin.status != "active" or not admin.password_hash:
        log.info("admin.sign_in.refused")
        if backoff is not None:
            backoff.failed(keys)
        # Named when the username exists, so the refusal is audited against that admin.
        refused = admin_caller(named) if named else None
        raise CallerRefused("unknown username or wrong password", caller=refused)
    if backoff is not None:
        backoff.succeeded(keys[0])
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = _hasher.hash(password)
    audit.record_change(session, admin, "admin.sign_in")
    return admin


# Clients -----------------------------------------------------------------------------------------------


def _check_jwks(jwks: dict[str, Any] | None) -> dict[str, Any]:
    try:
        keyset = KeySet.import_key_set(cast(Any, jwks or {}))
    except Exception:  # joserfc raises several types for malformed key sets
        raise InvalidInput("not a JWK set", errors=[field_error("jwks", "not a valid JWK set")]) from None
    if not keyset.keys or any(k.is_private for k in keyset.keys):
        raise InvalidInput("give one or more public keys", errors=[field_error("jwks", "empty or private")])
    return {"keys": [k.as_dict(private=False) | {"kid": k.kid} for k in keyset.keys]}


def create_client(session: Session, data: ClientCreate, *, by: Admin) -> tuple[Client, str | None]:
    """Register a client; returns it and, for secret-based clients, the secret (shown once)."""
    _require_admin_role(by)
    _require_known_region(session, data.region_code)
    _require_region(session, by, data.region_code, "the client's")
    if data.kind == "department":
        department = registry_service.find_department(session, data.department_id or "")
        if department is None:
            raise InvalidInput(
                "a department client names its department",
                errors=[field_error("department_id", "unknown department")],
            )
        # The client pushes the department's feed: only an admin over the department may create it.
        _require_region(session, by, department.region_code, "the department's")
        if data.region_code != department.region_code:
            raise InvalidInput(
                f"a department's client belongs to the department's region {department.region_code}",
                errors=[field_error("region_code", "not the department's region")],
            )
    elif data.department_id:
        raise InvalidInput(
            "only department clients belong to a department",
            errors=[field_error("department_id", "not allowed")],
        )
    if data.kind == "monitor" and len(registry_service.region_ancestors(session, by.region_code)) > 1:
        raise Forbidden(
            "metrics count the whole hub's traffic: a monitoring client is created by an admin of the "
            "top region",
            errors=[field_error("kind", "monitor needs an admin of the top region")],
        )
    refused = [
        field_error(f"redirect_uris[{i}]", reason)
        for i, uri in enumerate(data.redirect_uris)
        if (reason := redirect_uris.problem_with(uri))
    ]
    if refused:
        raise InvalidInput(
            "redirect URIs are absolute https URIs, or http on a loopback address, with no user name and "
            "no fragment",
            errors=refused,
        )
    if data.auth_method != "private_key_jwt" and data.jwks is not None:
        raise InvalidInput(
            "keys are for private_key_jwt clients; this one authenticates with a secret",
            errors=[field_error("jwks", "only with auth_method private_key_jwt")],
        )
    secret = None
    client = Client(
        client_id=f"{'dept' if data.kind == 'department' else 'svc'}-{secrets.token_hex(8)}",
        name=data.name,
        kind=data.kind,
        department_id=data.department_id,
        organisation=data.organisation,
        region_code=data.region_code,
        auth_method=data.auth_method,
        redirect_uris=data.redirect_uris,
        created_by=by.id,
    )
    if data.auth_method == "private_key_jwt":
        client.jwks = _check_jwks(data.jwks)
    else:
        secret = secrets.token_urlsafe(32)
        client.secret_hash = _hasher.hash(secret)
    session.add(client)
    session.flush()
    audit.record_change(session, by, "client.created", client=client, kind=client.kind)
    return client, secret


def _managed_client(session: Session, client_id: str, by: Admin) -> Client:
    _require_admin_role(by)
    client = repository.get_client(session, client_id)
    if client is None:
        raise NotFound(f"no client {client_id!r}")
    _require_region(session, by, client.region_code, "the client's")
    return client


def rotate_client_secret(session: Session, client_id: str, *, by: Admin) -> tuple[Client, str]:
    client = _managed_client(session, client_id, by)
    if client.auth_method == "private_key_jwt":
        raise Conflict("this client authenticates with private_key_jwt; replace its JWKS instead")
    secret = secrets.token_urlsafe(32)
    client.secret_hash, client.updated_at = _hasher.hash(secret), utcnow()
    audit.record_change(session, by, "client.secret_rotated", client=client)
    return client, secret


def replace_client_jwks(session: Session, client_id: str, jwks: dict[str, Any], *, by: Admin) -> Client:
    client = _managed_client(session, client_id, by)
    if client.auth_method != "private_key_jwt":
        raise Conflict("this client authenticates with a secret; rotate its secret instead")
    client.jwks, client.updated_at = _check_jwks(jwks), utcnow()
    audit.record_change(
        session, by, "client.jwks_replaced", client=client, kids=[k["kid"] for k in client.jwks["keys"]]
    )
    return client


def disable_client(session: Session, client_id: str, *, by: Admin) -> Client:
    """Disable a client: its tokens stop working on the next request."""
    client = _managed_client(session, client_id, by)
    client.status, client.updated_at = "disabled", utcnow()
    audit.record_change(session, by, "client.disabled", client=client)
    return client


def spend_a_secret_check() -> None:
    """Verify a secret against a throwaway hash: an unknown or disabled client id costs what a wrong
    secret does, so timing does not tell which client ids exist."""
    with contextlib.suppress(VerificationError, InvalidHashError):
        _hasher.verify(_DUMMY_HASH, "not the secret")


def check_client_secret(client: Client, secret: str) -> bool:
    if not client.secret_hash:
        return False
    try:
        return _hasher.verify(client.secret_hash, secret)
    except (VerificationError, InvalidHashError):
        return False


def list_clients(session: Session, *, by: Admin, limit: int | None = None, offset: int = 0) -> list[Client]:
    """Clients of the admin's region and below, by client id; ``limit`` of them from ``offset``."""
    regions = registry_service.region_subtree(session, by.region_code)
    return list(repository.list_clients(session, regions, limit=limit, offset=offset))


# Grants ------------------------------------------------------------------------------------------------


def request_grant(session: Session, data: GrantCreate, *, by: Admin) -> Grant:
    """Request a grant. Below T3 it is in force at once; a T3 grant waits for a second admin."""
    _require_admin_role(by)
    client = repository.get_client(session, data.client_id)
    if client is None:
        raise InvalidInput("unknown client", errors=[field_error("client_id", "unknown client")])
    if client.kind != "service":
        raise InvalidInput(
            "grants are for approval services; department clients push their own feed",
            errors=[field_error("client_id", "not an approval service client")],
        )
    _require_region(session, by, client.region_code, "the client's")
    if client.status != "active":
        raise Conflict(
            f"client {client.client_id} is {client.status}; it can be given no grant",
            errors=[field_error("client_id", f"client is {client.status}")],
        )
    _require_known_region(session, data.region_code)
    _require_region(session, by, data.region_code, "the grant's")
    licence_type = registry_service.find_licence_type(session, data.type_code)
    if licence_type is None:
        raise InvalidInput("unknown licence type", errors=[field_error("type_code", "not in the catalog")])
    now = utcnow()
    for name, value in (("valid_from", data.valid_from), ("valid_until", data.valid_until)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("give times with a UTC offset", errors=[field_error(name, "no UTC offset")])
    valid_from = data.valid_from or now
    if data.valid_until <= valid_from:
        raise InvalidInput(
            "valid_until must be after valid_from", errors=[field_error("valid_until", "too early")]
        )
    if data.valid_until <= now:
        raise InvalidInput("valid_until has passed", errors=[field_error("valid_until", "in the past")])
    purposes = sorted({p.strip() for p in data.purposes})
    if any(not p or len(p) > 64 for p in purposes):
        raise InvalidInput(
            "a purpose is a service item code", errors=[field_error("purposes", "empty or too long code")]
        )
    if "*" in purposes and len(purposes) > 1:
        raise InvalidInput('"*" stands alone', errors=[field_error("purposes", '"*" mixed with codes')])
    sensitive = data.max_tier >= SENSITIVE_TIER
    grant = Grant(
        client_id=client.client_id,
        type_code=data.type_code,
        max_tier=data.max_tier,
        purposes=purposes,
        region_code=data.region_code,
        valid_from=valid_from,
        valid_until=data.valid_until,
        consent_required=data.consent_required or sensitive,
        legal_basis=data.legal_basis,
        status="pending" if sensitive else "active",
        requested_by=by.id,  # type: ignore[arg-type]
        approved_by=None if sensitive else by.id,
        approved_at=None if sensitive else now,
    )
    session.add(grant)
    session.flush()
    audit.record_change(
        session,
        by,
        "grant.requested",
        client=client,
        type_code=grant.type_code,
        grant=grant.id,
        max_tier=grant.max_tier,
        purposes=grant.purposes,
        region=grant.region_code,
        status=grant.status,
        valid_until=grant.valid_until.isoformat(),
    )
    return grant


def _managed_grant(session: Session, grant_id: int, by: Admin) -> Grant:
    _require_admin_role(by)
    grant = repository.get_grant(session, grant_id)
    if grant is None:
        raise NotFound(f"no grant {grant_id}")
    _require_region(session, by, grant.region_code, "the grant's")
    client = repository.get_client(session, grant.client_id)
    if client is not None:
        _require_region(session, by, client.region_code, "the client's")
    return grant


def approve_grant(session: Session, grant_id: int, *, by: Admin) -> Grant:
    """Approve a pending T3 grant: a second admin, never the one who asked."""
    grant = _managed_grant(session, grant_id, by)
    if grant.status != "pending":
        raise Conflict(f"grant {grant_id} is {grant.status}, not pending")
    require_second_person(session, grant.requested_by, by, f"sensitive grant {grant_id}")
    if grant.valid_until <= utcnow():
        raise Conflict(f"grant {grant_id} expired at {grant.valid_until.isoformat()}; request a new one")
    client = repository.get_client(session, grant.client_id)
    if client is None or client.status != "active":
        raise Conflict(f"client {grant.client_id} is disabled; its grants cannot be approved")
    grant.status, grant.approved_by, grant.approved_at = "active", by.id, utcnow()
    audit.record_change(
        session,
        by,
        "grant.approved",
        client=repository.get_client(session, grant.client_id),
        type_code=grant.type_code,
        grant=grant.id,
        requested_by=grant.requested_by,
        approved_by=by.id,
    )
    return grant


def revoke_grant(session: Session, grant_id: int, reason: str, *, by: Admin) -> Grant:
    """Revoke a grant; it stops counting on the next request, whatever tokens are outstanding."""
    grant = _managed_grant(session, grant_id, by)
    if grant.status == "revoked":
        raise Conflict(f"grant {grant_id} is already revoked")
    grant.status, grant.revoked_by, grant.revoked_at, grant.revoke_reason = "revoked", by.id, utcnow(), reason
    audit.record_change(
        session,
        by,
        "grant.revoked",
        client=repository.get_client(session, grant.client_id),
        type_code=grant.type_code,
        grant=grant.id,
        reason=reason[:200],
    )
    return grant


def list_grants(session: Session, *, by: Admin, **filters: Any) -> list[Grant]:
    regions = registry_service.region_subtree(session, by.region_code)
    return list(repository.list_grants(session, region_codes=regions, **filters))


def grantable_scopes(session: Session, client: Client, now: datetime | None = None) -> set[str]:
    """Every scope the client's active grants cover right now (a tier includes the tiers below it)."""
    if client.status != "active":
        return set()
    if client.kind == "department":
        return {PUSH_SCOPE}
    if client.kind == "monitor":
        return {METRICS_SCOPE}
    scopes: set[str] = set()
    for grant in repository.active_grants(session, client.client_id, now or utcnow()):
        scopes.update(licence_scope(grant.type_code, tier) for tier in range(grant.max_tier + 1))
    return scopes


# Departments, their keys and issuing authorizations, by admins ---------------------------------------


def _managed_department(session: Session, department_id: str, by: Admin) -> Department:
    _require_admin_role(by)
    department = registry_service.find_department(session, department_id)
    if department is None:
        raise NotFound(f"no department {department_id!r}")
    _require_region(session, by, department.region_code, "the department's")
    return department


def register_department(session: Session, data: dict[str, Any], *, by: Admin) -> Department:
    """Request an issuing department in the admin's region (see registry.service for the checks); it
    takes in nothing until a second admin approves it (:func:`approve_department`)."""
    _require_admin_role(by)
    _require_known_region(session, str(data.get("region_code", "")))
    _require_region(session, by, str(data.get("region_code", "")), "the department's")
    department = registry_service.register_department(session, **data, requested_by=by.id)
    audit.record_change(
        session,
        by,
        "department.registered",
        department_id=department.id,
        status=department.status,
        requested_by=by.id,
    )
    return department


def approve_department(session: Session, department_id: str, *, by: Admin) -> Department:
    department = _managed_department(session, department_id, by)
    if department.status != "pending":
        raise Conflict(f"department {department_id!r} is {department.status}, not pending")
    require_second_person(session, department.requested_by, by, f"department {department_id!r}")
    department.status, department.approved_by = "active", by.id
    audit.record_change(
        session,
        by,
        "department.approved",
        department_id=department_id,
        requested_by=department.requested_by,
        approved_by=by.id,
    )
    return department


def add_department_key(
    session: Session, department_id: str, jwk: dict[str, Any], *, by: Admin, rotation: bool = False
) -> DepartmentKey:
    """Request a signing key for a department; it signs nothing until a second admin approves it
    (:func:`approve_department_key`). A ``rotation`` key retires the others when approved."""
    _managed_department(session, department_id, by)
    key = registry_service.add_department_key(
        session, department_id, jwk, requested_by=by.id, rotation=rotation
    )
    audit.record_change(
        session,
        by,
        "department.key_added",
        department_id=department_id,
        kid=key.kid,
        status=key.status,
        rotation=rotation,
        requested_by=by.id,
    )
    return key


def approve_department_key(session: Session, department_id: str, kid: str, *, by: Admin) -> DepartmentKey:
    _managed_department(session, department_id, by)
    key = registry_service.department_key(session, department_id, kid)
    if key.status != "pending":
        raise Conflict(f"key {kid!r} is {key.status}, not pending")
    require_second_person(session, key.requested_by, by, f"key {kid!r}")
    key.approved_by = by.id
    retired = registry_service.activate_department_key(session, key)
    audit.record_change(
        session,
        by,
        "department.key_approved",
        department_id=department_id,
        kid=kid,
        requested_by=key.requested_by,
        approved_by=by.id,
        retired=retired,
    )
    return key


def list_departments(session: Session, *, by: Admin) -> list[tuple[Any, list[Any]]]:
    """The departments in the caller's region subtree, each with its signing keys (every state).
    Auditors may read them too."""
    regions = set(registry_service.region_subtree(session, by.region_code))
    return [
        (department, list(registry_service.department_keys(session, department.id)))
        for department in registry_service.list_departments(session)
        if department.region_code in regions
    ]


def rotate_department_key(
    session: Session, department_id: str, jwk: dict[str, Any], *, by: Admin
) -> DepartmentKey:
    """Request a new signing key that, once a second admin approves it, replaces every other active key
    of the department (they retire: what they signed before stays valid)."""
    return add_department_key(session, department_id, jwk, by=by, rotation=True)


def retire_department_key(session: Session, department_id: str, kid: str, *, by: Admin) -> DepartmentKey:
    """Retire a key (one admin: it narrows what anyone can do)."""
    _managed_department(session, department_id, by)
    key = registry_service.retire_department_key(session, department_id, kid)
    audit.record_change(session, by, "department.key_retired", department_id=department_id, kid=kid)
    return key


def compromise_department_key(
    session: Session, department_id: str, kid: str, since: datetime | None, *, by: Admin
) -> DepartmentKey:
    """Mark a key compromised (one admin: an emergency, and it narrows what is released)."""
    _managed_department(session, department_id, by)
    key, withheld = registry_service.compromise_department_key(session, department_id, kid, since)
    audit.record_change(
        session,
        by,
        "department.key_compromised",
        department_id=department_id,
        kid=kid,
        compromised_since=key.compromised_since.isoformat() if key.compromised_since else None,
        withheld=withheld,
    )
    return key


def request_issuing_authorization(
    session: Session, data: IssuingAuthorizationCreate, *, by: Admin
) -> IssuingAuthorization:
    """Request that a department may issue a type for holders of a region subtree: by an admin whose
    region holds both the department and the jurisdiction. In force once approved by a second admin of
    the level that owns the catalog (:func:`approve_issuing_authorization`)."""
    _managed_department(session, data.department_id, by)
    _require_known_region(session, data.jurisdiction_code, "jurisdiction_code")
    _require_region(session, by, data.jurisdiction_code, "the jurisdiction's")
    row = registry_service.authorize_issuing(
        session,
        department_id=data.department_id,
        type_code=data.type_code,
        jurisdiction_code=data.jurisdiction_code,
        valid_from=data.valid_from,
        valid_until=data.valid_until,
        legal_basis=data.legal_basis,
        requested_by=by.id,
    )
    audit.record_change(
        session,
        by,
        "issuing_authorization.requested",
        authorization=row.id,
        department_id=row.department_id,
        type_code=row.type_code,
        jurisdiction=row.jurisdiction_code,
        valid_until=row.valid_until.isoformat(),
        requested_by=by.id,
    )
    return row


def _managed_authorization(session: Session, authorization_id: int, by: Admin) -> IssuingAuthorization:
    _require_admin_role(by)
    row = registry_service.find_issuing_authorization(session, authorization_id)
    if row is None:
        raise NotFound(f"no issuing authorization {authorization_id}")
    _require_region(session, by, row.jurisdiction_code, "the jurisdiction's")
    return row


def approve_issuing_authorization(
    session: Session, authorization_id: int, *, by: Admin
) -> IssuingAuthorization:
    """Approve a pending issuing authorization: an admin of the level that owns the licence type catalog
    (the top of the region tree, the city), independent of the requester."""
    row = _managed_authorization(session, authorization_id, by)
    if row.status != "pending":
        raise Conflict(f"issuing authorization {authorization_id} is {row.status}, not pending")
    owner = registry_service.region_ancestors(session, row.jurisdiction_code)[-1]
    if by.region_code != owner:
        raise Forbidden(
            f"issuing authorizations are approved at the level that owns the catalog (region {owner})",
            errors=[field_error("region_code", "not the catalog's level")],
        )
    require_second_person(session, row.requested_by, by, f"issuing authorization {authorization_id}")
    if row.valid_until <= utcnow():
        raise Conflict(f"issuing authorization {authorization_id} has expired; request a new one")
    row.status, row.approved_by, row.approved_at = "active", by.id, utcnow()
    audit.record_change(
        session,
        by,
        "issuing_authorization.approved",
        authorization=row.id,
        department_id=row.department_id,
        type_code=row.type_code,
        jurisdiction=row.jurisdiction_code,
        requested_by=row.requested_by,
        approved_by=by.id,
    )
    return row


def revoke_issuing_authorization(
    session: Session, authorization_id: int, *, by: Admin
) -> IssuingAuthorization:
    """Revoke an issuing authorization (one admin over its jurisdiction); the next batch is refused."""
    row = _managed_authorization(session, authorization_id, by)
    if row.status == "revoked":
        raise Conflict(f"issuing authorization {authorization_id} is already revoked")
    row.status, row.revoked_by, row.revoked_at = "revoked", by.id, utcnow()
    audit.record_change(
        session,
        by,
        "issuing_authorization.revoked",
        authorization=row.id,
        department_id=row.department_id,
        type_code=row.type_code,
    )
    return row


def list_issuing_authorizations(
    session: Session,
    *,
    by: Admin,
    department_id: str | None = None,
    status: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[IssuingAuthorization]:
    """Issuing authorizations of the departments in the caller's region subtree."""
    regions = set(registry_service.region_subtree(session, by.region_code))
    departments = [d.id for d in registry_service.list_departments(session) if d.region_code in regions]
    found = registry_service.list_issuing_authorizations(
        session,
        department_ids=departments,
        department_id=department_id,
        status=status,
        limit=limit,
        offset=offset,
    )
    return list(found)


def save_service_item(session: Session, code: str, data: ServiceItemWrite, *, by: Admin) -> ServiceItem:
    """Service items are city-wide: only an admin of the city itself may change them."""
    if by.role != "admin":
        raise Forbidden("auditors may read but not change service items")
    region = registry_service.find_region(session, by.region_code)
    if region is None or region.parent_code is not None:
        raise Forbidden("service items are city-wide: a city administrator manages them")
    if code != data.code:
        raise InvalidInput(
            "the path and the body name different items", errors=[field_error("code", "mismatch")]
        )
    item = items.save_service_item(session, data)
    audit.record_change(session, by, "service_item.saved", item=code)
    return item
