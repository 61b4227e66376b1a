"""Small helpers that create what tests need: the catalog, departments with keys, signed credentials."""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc.jwk import ECKey, OKPKey

from hub.context import Hub
from hub.contract.issuing import build_credential, build_status_statement
from hub.contract.licence_id import LicenceId
from hub.demo_data import citizen_id, sample_values, uscc_code
from hub.registry import service
from hub.registry.catalog_data import load_licence_types
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
    with transaction(hub.session_factory) as session:
        service.seed_regions(session, load_regions())
        for spec in load_licence_types():
            service.register_licence_type(session, spec)


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
    next_index: itertools.count = field(default_factory=lambda: itertools.count(0))
    rng: random.Random = field(default_factory=lambda: random.Random(7))

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
        spec = kwargs.pop("licence_type", TYPES[type_code])
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
    return Issuer(hub, department_id, kind, uscc, issuer, key, row.kid, alg)


def batch(issuer: Issuer, sequence: int, *operations: dict[str, Any]) -> dict[str, Any]:
    return {"department": issuer.id, "sequence": sequence, "operations": list(operations)}


def issue(credential: str) -> dict[str, Any]:
    return {"op": "issue", "credential": credential}


def update(credential: str) -> dict[str, Any]:
    return {"op": "update", "credential": credential}


def status_op(statement: str) -> dict[str, Any]:
    return {"op": "status", "statement": statement}
