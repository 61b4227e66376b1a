"""Small helpers that create what tests need: the catalog, departments with keys, signed credentials."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey, OKPKey

from hub.access import service as access_service
from hub.access.models import Admin, Client, Grant
from hub.access.schemas import AdminCreate, ClientCreate, GrantCreate
from hub.context import Hub
from hub.contract.issuing import build_credential, build_status_statement
from hub.contract.licence_id import LicenceId
from hub.demo_data import citizen_id, sample_values, uscc_code
from hub.oauth import tokens
from hub.registry import service
from hub.registry.catalog_data import load_licence_types
from hub.registry.items import seed_service_items
from hub.registry.regions_data import load_regions
from storage.database import transaction

TYPES = {t["code"]: t for t in load_licence_types()}
ID_CARD = "11100000000013127D001"
HOUSEHOLD = "11100000000013127D002"
NO_CRIMINAL_RECORD = "11100000000013127D003"
BUSINESS_LICENCE = "11100000000019887N001"
MARRIAGE = "11100000000014269L001"
SUBSISTENCE = "11100000000014269L003"


def seed_catalog(hub: Hub) -> None:
    """Regions, licence types and the reference service items."""
    with transaction(hub.session_factory) as session:
        service.seed_regions(session, load_regions())
        for spec in load_licence_types():
            service.register_licence_type(session, spec)
        seed_service_items(session)


_serials = itertools.count(1)


@dataclass
class Issuer:
    """A department registered in the hub, holding its private key as its adapter would."""

    hub: Hub
    id: str
    kind: str
    uscc: str
    issuer: str
    key: Any
    kid: str
    alg: str
    client_id: str = ""
    next_index: itertools.count = field(default_factory=lambda: itertools.count(0))
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    @property
    def headers(self) -> dict[str, str]:
        """Bearer headers of a fresh ``licences.push`` token of the department's own client."""
        return {"Authorization": f"Bearer {mint_client_token(self.hub, self.client_id, 'licences.push')}"}

    @property
    def holder_jwk(self) -> dict[str, Any]:
        return self.hub.signer.jwks["keys"][0]

    def licence_id(self, type_code: str, serial: str | None = None, version: int = 1) -> LicenceId:
        return LicenceId(type_code, self.uscc, serial or f"{next(_serials):08d}", version)

    def holder_for(self, type_code: str) -> str:
        return citizen_id(self.rng) if TYPES[type_code]["holder_kind"] == "person" else uscc_code(self.rng)

    def credential(
        self,
        type_code: str,
        *,
        licence_id: LicenceId | None = None,
        holder: str | None = None,
        values: dict[str, Any] | None = None,
        status_index: int | None = None,
        key: Any = None,
        kid: str | None = None,
        **kwargs: Any,
    ) -> str:
        spec = kwargs.pop("licence_type", None) or TYPES[type_code]
        licence_id = licence_id or self.licence_id(type_code)
        filled = (
            values
            if values is not None
            else sample_values(spec, holder or self.holder_for(type_code), self.rng)
        )
        now = int(time.time())
        return build_credential(
            licence_type=spec,
            licence_id=licence_id,
            values=filled,
            issuer=self.issuer,
            key=key or self.key,
            kid=kid or self.kid,
            alg=self.alg,
            holder_jwk=self.holder_jwk,
            hub_url=self.hub.settings.public_url,
            department_id=self.id,
            status_list=0,
            status_index=next(self.next_index) if status_index is None else status_index,
            valid_from=kwargs.pop("valid_from", now - 86400),
            valid_until=kwargs.pop("valid_until", now + 365 * 86400),
            **kwargs,
        )

    def status(self, licence_id: LicenceId | str, status: str, **kwargs: Any) -> str:
        return build_status_statement(
            licence_id=licence_id,
            status=status,
            issuer=self.issuer,
            key=self.key,
            kid=self.kid,
            alg=self.alg,
            **kwargs,
        )


_DEPARTMENTS = {
    "police": ("zz-police", "郑州市公安局"),
    "commerce": ("zz-amr", "郑州市市场监督管理局"),
    "civil_affairs": ("zz-civil", "郑州市民政局"),
}


def create_issuer(hub: Hub, kind: str, *, alg: str = "ES256", id: str | None = None) -> Issuer:
    rng = random.Random(kind + (id or ""))
    department_id, name = _DEPARTMENTS[kind]
    department_id = id or department_id
    key = (
        ECKey.generate_key("P-256", private=True)
        if alg == "ES256"
        else OKPKey.generate_key("Ed25519", private=True)
    )
    uscc = uscc_code(rng, category="11")
    issuer = f"{hub.settings.public_url}/v1/departments/{department_id}"
    with transaction(hub.session_factory) as session:
        service.register_department(
            session, id=department_id, name=name, kind=kind, region_code="410100", uscc=uscc, issuer=issuer
        )
        row = service.add_department_key(session, department_id, {**key.as_dict(private=False), "alg": alg})
        authorize(session, department_id)
    client = create_client(hub, kind="department", department_id=department_id)
    # Departments of their own id draw other holders: a person holds one 居民身份证 at a time, so two
    # police departments giving the same sample people ID cards would clash (issue 14).
    holders = random.Random(7 if id is None else f"7:{id}")
    return Issuer(
        hub, department_id, kind, uscc, issuer, key, row.kid, alg, client_id=client.client_id, rng=holders
    )


def authorize(session: Any, department_id: str, jurisdiction: str = "410100") -> None:
    """Issuing authorizations for every catalog type of the department's kind, as the operator."""
    service.authorize_every_type(
        session, department_id, jurisdiction_code=jurisdiction, legal_basis="tests",
        valid_until=datetime.now(UTC) + timedelta(days=3650),
    )  # fmt: skip


_admins = itertools.count(1)


@dataclass(frozen=True)
class RegisteredClient:
    client_id: str
    secret: str | None
    row: Client


def create_admin(
    hub: Hub, *, region: str = "410100", role: str = "admin", password: str = "correct horse battery"
) -> Admin:
    """An admin (or auditor) of ``region``; catalog regions must be seeded."""
    with transaction(hub.session_factory) as session:
        return access_service.create_admin(
            session,
            AdminCreate(
                username=f"{role}{next(_admins)}-{region}", display_name=f"{role} of {region}", role=role,
                region_code=region, password=password,
            ),
            by=None,
        )  # fmt: skip


def create_client(
    hub: Hub,
    *,
    kind: str = "service",
    region: str = "410100",
    department_id: str | None = None,
    auth_method: str = "client_secret_post",
    jwks: dict[str, Any] | None = None,
    redirect_uris: list[str] | None = None,
    by: Admin | None = None,
) -> RegisteredClient:
    """A client registered by a city admin, with its secret if it has one."""
    admin = by or create_admin(hub, region="410100")
    with transaction(hub.session_factory) as session:
        client, secret = access_service.create_client(
            session,
            ClientCreate(
                name=f"{kind} client", kind=kind, region_code=region, department_id=department_id,
                auth_method=auth_method, jwks=jwks, redirect_uris=redirect_uris or [],
            ),
            by=admin,
        )  # fmt: skip
    return RegisteredClient(client.client_id, secret, client)


def create_grant(
    hub: Hub, client_id: str, type_code: str, *, max_tier: int = 2, by: Admin | None = None, **kw: Any
) -> Grant:
    admin = by or create_admin(hub)
    data = GrantCreate(
        client_id=client_id, type_code=type_code, max_tier=max_tier, purposes=kw.pop("purposes", ["*"]),
        region_code=kw.pop("region_code", "410100"),
        valid_until=kw.pop("valid_until", datetime.now(UTC) + timedelta(days=30)),
        legal_basis=kw.pop("legal_basis", "《郑州市政务信息资源共享管理办法》"), **kw,
    )  # fmt: skip
    with transaction(hub.session_factory) as session:
        return access_service.request_grant(session, data, by=admin)


def mint_client_token(hub: Hub, client_id: str, scope: str) -> str:
    """A token as the token endpoint would issue it (the OAuth tests exercise the endpoint itself)."""
    with transaction(hub.session_factory) as session:
        token, _ = tokens.mint(
            session, hub, kind="client", subject=client_id, client_id=client_id, scope=scope
        )
    return token


def monitor_headers(hub: Hub) -> dict[str, str]:
    """What Prometheus sends to scrape ``/metrics``: a monitor client's token with the ``metrics`` scope."""
    monitor = create_client(hub, kind="monitor").client_id
    return {"Authorization": f"Bearer {mint_client_token(hub, monitor, 'metrics')}"}


def mint_admin_token(hub: Hub, admin: Admin) -> str:
    with transaction(hub.session_factory) as session:
        token, _ = tokens.mint(session, hub, kind="admin", subject=f"admin:{admin.id}", admin_id=admin.id)
    return token


def batch(issuer: Issuer, sequence: int, *operations: dict[str, Any]) -> dict[str, Any]:
    return {"department": issuer.id, "sequence": sequence, "operations": list(operations)}


def issue(credential: str) -> dict[str, Any]:
    return {"op": "issue", "credential": credential}


def update(credential: str) -> dict[str, Any]:
    return {"op": "update", "credential": credential}


def status_op(statement: str) -> dict[str, Any]:
    return {"op": "status", "statement": statement}
