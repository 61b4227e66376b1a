"""Request and response models of the admin API for clients, grants and admins."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

AuthMethod = Literal["private_key_jwt", "client_secret_basic", "client_secret_post"]


class ClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    kind: Literal["department", "service", "monitor"] = Field(
        description="department: pushes one department's feed; service: an approval service with grants; "
        "monitor: scrapes /metrics (scope ``metrics``), created by an admin of the top region."
    )
    region_code: str = Field(pattern=r"^\d{6}(\d{3}){0,2}$", description="Where the client belongs.")
    department_id: str | None = Field(None, description="For department (adapter) clients: whose feed.")
    organisation: str = Field("", max_length=128, description="For approval services: who runs it.")
    auth_method: AuthMethod = "private_key_jwt"
    jwks: dict[str, Any] | None = Field(None, description="Public keys, for private_key_jwt (RFC 7517).")
    redirect_uris: list[str] = Field(default_factory=list, max_length=10)


class ClientRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    client_id: str
    name: str
    kind: str
    region_code: str
    department_id: str | None
    organisation: str
    auth_method: str
    redirect_uris: list[str]
    status: str
    created_at: datetime


class ClientCreated(ClientRead):
    client_secret: str | None = Field(None, description="Shown once; only its hash is stored.")


class ClientJwksUpdate(BaseModel):
    jwks: dict[str, Any]


class GrantCreate(BaseModel):
    client_id: str = Field(min_length=1, max_length=64)
    type_code: str = Field(min_length=1, max_length=32)
    max_tier: int = Field(ge=0, le=3, description="T0 status … T3 sensitive; a tier includes those below.")
    purposes: list[str] = Field(
        min_length=1, max_length=100, description='Service item codes the data may be used for, or ["*"].'
    )
    region_code: str = Field(pattern=r"^\d{6}(\d{3}){0,2}$", description="Holders' region subtree.")
    valid_from: datetime | None = None
    valid_until: datetime
    consent_required: bool = False
    legal_basis: str = Field(min_length=1, max_length=512)


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    client_id: str
    type_code: str
    max_tier: int
    purposes: list[str]
    region_code: str
    valid_from: datetime
    valid_until: datetime
    consent_required: bool
    legal_basis: str
    status: str
    requested_by: int
    approved_by: int | None
    approved_at: datetime | None
    revoked_by: int | None
    revoked_at: datetime | None
    revoke_reason: str | None
    created_at: datetime


class GrantRevoke(BaseModel):
    reason: str = Field(min_length=1, max_length=512)


class AdminCreate(BaseModel):
    username: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]{2,63}$")
    display_name: str = Field(min_length=1, max_length=128)
    role: Literal["admin", "auditor"]
    region_code: str = Field(pattern=r"^\d{6}(\d{3}){0,2}$")
    password: str | None = Field(None, min_length=12, max_length=256)
    oidc_issuer: str | None = None
    oidc_subject: str | None = None


class AdminRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    username: str
    display_name: str
    role: str
    region_code: str
    status: str = Field(description="pending (awaiting a second admin), active or disabled")
    requested_by: int | None = None
    approved_by: int | None = None


class AdminDisable(BaseModel):
    reason: str = Field(min_length=1, max_length=512, description="Why, for the audit log.")


class PasswordReset(BaseModel):
    new_password: str = Field(min_length=12, max_length=256)


class PasswordChange(PasswordReset):
    current_password: str = Field(min_length=1, max_length=256)


class AdminSignIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class TokenRead(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int
