"""Admin API under /v1/admin: sign-in, admins, departments and their keys, clients and grants.

Every route but sign-in takes an admin's bearer token; auditors may read, only admins change, and only
inside their own region."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request

from hub.access import service
from hub.access.schemas import (
    AdminCreate,
    AdminDisable,
    AdminRead,
    AdminSignIn,
    ClientCreate,
    ClientCreated,
    ClientJwksUpdate,
    ClientRead,
    GrantCreate,
    GrantRead,
    GrantRevoke,
    PasswordChange,
    TokenRead,
)
from hub.oauth import tokens
from hub.registry.schemas import (
    DepartmentCreate,
    DepartmentKeyRead,
    DepartmentRead,
    IssuingAuthorizationCreate,
    IssuingAuthorizationRead,
    KeyCompromise,
)
from hub.web.callers import AdminDep, TokenDep
from hub.web.deps import HubDep, PageOffset, RowId, SessionDep, client_address

router = APIRouter(prefix="/v1/admin", tags=["admin"])

ClientId = Annotated[str, Path(max_length=64)]
DepartmentId = Annotated[str, Path(max_length=64)]
Kid = Annotated[str, Path(max_length=128)]


@router.post("/sign-in", response_model=TokenRead)
def sign_in(body: AdminSignIn, request: Request, session: SessionDep, hub: HubDep) -> TokenRead:
    """Sign an admin in with username and password (argon2); returns a short-lived bearer token. After
    ten failures for a username or from an address, further attempts wait (429 with ``Retry-After``)."""
    admin = service.authenticate_admin(
        session, body.username, body.password, backoff=hub.auth_backoff, address=client_address(request)
    )
    token, ttl = tokens.mint(
        session,
        hub,
        kind="admin",
        subject=f"admin:{admin.id}",
        admin_id=admin.id,
        ttl_seconds=hub.settings.admin_token_ttl_seconds,
        extra={"role": admin.role, "region": admin.region_code},
    )
    return TokenRead(access_token=token, expires_in=ttl)


@router.post("/sign-out", status_code=204)
def sign_out(admin: AdminDep, token: TokenDep, session: SessionDep) -> None:
    """Revoke the admin token used for this call."""
    tokens.revoke(session, token.jti)


@router.get("/me", response_model=AdminRead)
def me(admin: AdminDep) -> AdminRead:
    """The signed-in admin: role and region."""
    return AdminRead.model_validate(admin)


@router.get("/admins", response_model=list[AdminRead])
def list_admins(
    admin: AdminDep,
    session: SessionDep,
    status: Annotated[str | None, Query(pattern="^(pending|active|disabled)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: PageOffset = 0,
) -> list[AdminRead]:
    """Admins and auditors of the caller's region and below (``status=pending``: requests to approve)."""
    found = service.list_admins(session, by=admin, status=status, limit=limit, offset=offset)
    return [AdminRead.model_validate(a) for a in found]


@router.post("/admins", response_model=AdminRead, status_code=201)
def create_admin(body: AdminCreate, admin: AdminDep, session: SessionDep) -> AdminRead:
    """Create an admin or auditor inside the caller's region. In a region below the caller's it is active
    at once; in the caller's own region it is ``pending`` until a second, independent admin approves it."""
    return AdminRead.model_validate(service.create_admin(session, body, by=admin))


@router.post("/admins/{admin_id}/approve", response_model=AdminRead)
def approve_admin(admin_id: RowId, admin: AdminDep, session: SessionDep) -> AdminRead:
    """Approve an admin a peer requested: neither you nor anyone who controls you may be its requester's
    appointer or appointee (two-person rule)."""
    return AdminRead.model_validate(service.approve_admin(session, admin_id, by=admin))


@router.post("/admins/{admin_id}/disable", response_model=AdminRead)
def disable_admin(admin_id: RowId, body: AdminDisable, admin: AdminDep, session: SessionDep) -> AdminRead:
    """Disable an admin or auditor of your region or below, for good: its tokens stop working and its
    console sessions end at once. Not yourself, and not the last active admin of a region and those
    above it."""
    return AdminRead.model_validate(service.disable_admin(session, admin_id, by=admin, reason=body.reason))


@router.post("/me/password", status_code=204)
def change_password(
    body: PasswordChange, request: Request, admin: AdminDep, session: SessionDep, hub: HubDep
) -> None:
    """Change your password: give the current one. Every console session and bearer token of yours ends,
    this one included; sign in again. Wrong current passwords back off like sign-in (429)."""
    service.change_password(
        session,
        admin,
        current=body.current_password,
        new=body.new_password,
        backoff=hub.auth_backoff,
        address=client_address(request),
    )
    tokens.revoke_admin_tokens(session, admin.id or 0)


@router.post("/departments", response_model=DepartmentRead, status_code=201)
def register_department(body: DepartmentCreate, admin: AdminDep, session: SessionDep) -> DepartmentRead:
    """Request an issuing department in the caller's region; ``pending`` until a second admin approves it.
    It issues nothing without an issuing authorization in force."""
    return DepartmentRead.model_validate(service.register_department(session, body.model_dump(), by=admin))


@router.post("/departments/{department}/approve", response_model=DepartmentRead)
def approve_department(department: DepartmentId, admin: AdminDep, session: SessionDep) -> DepartmentRead:
    """Approve a pending department (a second admin, independent of the requester)."""
    return DepartmentRead.model_validate(service.approve_department(session, department, by=admin))


@router.post("/departments/{department}/keys", response_model=DepartmentKeyRead, status_code=201)
def add_department_key(
    department: DepartmentId,
    jwk: dict[str, Any],
    admin: AdminDep,
    session: SessionDep,
    rotation: Annotated[bool, Query(description="retire the other active keys once approved")] = False,
) -> DepartmentKeyRead:
    """Request a department signing key (ES256 or EdDSA JWK); ``pending`` until a second admin approves
    it. With ``rotation=true`` the department's other active keys retire when it is approved."""
    key = service.add_department_key(session, department, jwk, by=admin, rotation=rotation)
    return DepartmentKeyRead.model_validate(key)


@router.post("/departments/{department}/keys/{kid}/approve", response_model=DepartmentKeyRead)
def approve_department_key(
    department: DepartmentId, kid: Kid, admin: AdminDep, session: SessionDep
) -> DepartmentKeyRead:
    """Approve a pending department key (a second admin, independent of the requester)."""
    return DepartmentKeyRead.model_validate(
        service.approve_department_key(session, department, kid, by=admin)
    )


@router.post("/departments/{department}/keys/{kid}/retire", response_model=DepartmentKeyRead)
def retire_department_key(
    department: DepartmentId, kid: Kid, admin: AdminDep, session: SessionDep
) -> DepartmentKeyRead:
    """Retire a department key (planned rotation): from now on nothing it signs is taken in, whatever its
    ``iat``; what the hub received before stays valid."""
    return DepartmentKeyRead.model_validate(service.retire_department_key(session, department, kid, by=admin))


@router.post("/departments/{department}/keys/{kid}/compromised", response_model=DepartmentKeyRead)
def compromise_department_key(
    department: DepartmentId, kid: Kid, body: KeyCompromise, admin: AdminDep, session: SessionDep
) -> DepartmentKeyRead:
    """Mark a department key compromised from ``compromised_since`` (default now): it signs nothing more,
    and the licences whose current version it signed that reached the hub (or claim to be signed) from
    then on are no longer released and read invalid in their status lists."""
    key = service.compromise_department_key(session, department, kid, body.compromised_since, by=admin)
    return DepartmentKeyRead.model_validate(key)


@router.get("/issuing-authorizations", response_model=list[IssuingAuthorizationRead])
def list_issuing_authorizations(
    admin: AdminDep,
    session: SessionDep,
    department_id: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(pending|active|revoked)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: PageOffset = 0,
) -> list[IssuingAuthorizationRead]:
    """Issuing authorizations of the departments in the caller's region."""
    found = service.list_issuing_authorizations(
        session, by=admin, department_id=department_id, status=status, limit=limit, offset=offset
    )
    return [IssuingAuthorizationRead.model_validate(a) for a in found]


@router.post("/issuing-authorizations", response_model=IssuingAuthorizationRead, status_code=201)
def request_issuing_authorization(
    body: IssuingAuthorizationCreate, admin: AdminDep, session: SessionDep
) -> IssuingAuthorizationRead:
    """Request that a department may issue a licence type for holders of a region subtree (the caller's
    region must hold both). In force once a second admin of the catalog's level (the city) approves it."""
    return IssuingAuthorizationRead.model_validate(
        service.request_issuing_authorization(session, body, by=admin)
    )


@router.post("/issuing-authorizations/{authorization_id}/approve", response_model=IssuingAuthorizationRead)
def approve_issuing_authorization(
    authorization_id: RowId, admin: AdminDep, session: SessionDep
) -> IssuingAuthorizationRead:
    """Approve a pending issuing authorization: an admin of the catalog's level, independent of the
    requester."""
    return IssuingAuthorizationRead.model_validate(
        service.approve_issuing_authorization(session, authorization_id, by=admin)
    )


@router.post("/issuing-authorizations/{authorization_id}/revoke", response_model=IssuingAuthorizationRead)
def revoke_issuing_authorization(
    authorization_id: RowId, admin: AdminDep, session: SessionDep
) -> IssuingAuthorizationRead:
    """Revoke an issuing authorization; the department's next batch under it is refused."""
    return IssuingAuthorizationRead.model_validate(
        service.revoke_issuing_authorization(session, authorization_id, by=admin)
    )


@router.get("/clients", response_model=list[ClientRead])
def list_clients(
    admin: AdminDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
    offset: PageOffset = 0,
) -> list[ClientRead]:
    """Clients registered in the caller's region, by client id, ``limit`` at a time from ``offset``."""
    clients = service.list_clients(session, by=admin, limit=limit, offset=offset)
    return [ClientRead.model_validate(c) for c in clients]


@router.post("/clients", response_model=ClientCreated, status_code=201)
def create_client(body: ClientCreate, admin: AdminDep, session: SessionDep) -> ClientCreated:
    """Register a client. A secret-based client's secret is in this response only."""
    client, secret = service.create_client(session, body, by=admin)
    return ClientCreated.model_validate(
        {**ClientRead.model_validate(client).model_dump(), "client_secret": secret}
    )


@router.post("/clients/{client_id}/secret", response_model=ClientCreated)
def rotate_client_secret(client_id: ClientId, admin: AdminDep, session: SessionDep) -> ClientCreated:
    """Replace a client's secret; the old one stops working at once."""
    client, secret = service.rotate_client_secret(session, client_id, by=admin)
    return ClientCreated.model_validate(
        {**ClientRead.model_validate(client).model_dump(), "client_secret": secret}
    )


@router.put("/clients/{client_id}/jwks", response_model=ClientRead)
def replace_client_jwks(
    client_id: ClientId, body: ClientJwksUpdate, admin: AdminDep, session: SessionDep
) -> ClientRead:
    """Replace the public keys a private_key_jwt client signs its assertions with."""
    return ClientRead.model_validate(service.replace_client_jwks(session, client_id, body.jwks, by=admin))


@router.post("/clients/{client_id}/disable", response_model=ClientRead)
def disable_client(client_id: ClientId, admin: AdminDep, session: SessionDep) -> ClientRead:
    """Disable a client; its outstanding tokens stop working on the next request."""
    return ClientRead.model_validate(service.disable_client(session, client_id, by=admin))


@router.get("/grants", response_model=list[GrantRead])
def list_grants(
    admin: AdminDep,
    session: SessionDep,
    client_id: Annotated[str | None, Query(max_length=64)] = None,
    type_code: Annotated[str | None, Query(max_length=32)] = None,
    status: Annotated[str | None, Query(pattern="^(pending|active|revoked)$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: PageOffset = 0,
) -> list[GrantRead]:
    """Grants whose holder region lies in the caller's region, with filters."""
    found = service.list_grants(
        session, by=admin, client_id=client_id, type_code=type_code, status=status, limit=limit, offset=offset
    )
    return [GrantRead.model_validate(g) for g in found]


@router.post("/grants", response_model=GrantRead, status_code=201)
def request_grant(body: GrantCreate, admin: AdminDep, session: SessionDep) -> GrantRead:
    """Request a grant. Below T3 it is in force at once; a T3 grant needs a second admin's approval
    and always requires the holder's consent."""
    return GrantRead.model_validate(service.request_grant(session, body, by=admin))


@router.post("/grants/{grant_id}/approve", response_model=GrantRead)
def approve_grant(grant_id: RowId, admin: AdminDep, session: SessionDep) -> GrantRead:
    """Approve another admin's pending T3 grant: an admin independent of the requester (two-person
    rule)."""
    return GrantRead.model_validate(service.approve_grant(session, grant_id, by=admin))


@router.post("/grants/{grant_id}/revoke", response_model=GrantRead)
def revoke_grant(grant_id: RowId, body: GrantRevoke, admin: AdminDep, session: SessionDep) -> GrantRead:
    """Revoke a grant; it stops counting on the next request, whatever tokens are outstanding."""
    return GrantRead.model_validate(service.revoke_grant(session, grant_id, body.reason, by=admin))
