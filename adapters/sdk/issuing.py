"""Signing as the department: SD-JWT VC credentials and status statements, in exactly the format the
hub checks (``hub.contract.issuing``). Tier-0 fields travel in the clear, every personal field as its own
disclosure (tiers from the hub's catalog); ``cnf`` binds each credential to the hub's holder key."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from adapters.sdk.keys import PrivateKey
from adapters.sdk.records import LicenceDraft
from hub.contract.issuing import build_credential, build_status_statement
from hub.contract.licence_id import LicenceId
from hub.contract.status import LicenceStatus, StatusReason

CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


class KeyNotRegistered(Exception):
    """The signing key is not an active key of the department in the hub."""


@dataclass(frozen=True)
class Department:
    """A department as the hub knows it (``GET /v1/departments``)."""

    id: str
    kind: str
    uscc: str
    issuer: str

    @classmethod
    def from_hub(cls, data: Mapping[str, Any]) -> Department:
        return cls(id=data["id"], kind=data["kind"], uscc=data["uscc"], issuer=data["issuer"])


def day_start(day: date) -> int:
    """00:00 China Standard Time of ``day``, as a NumericDate: validity starts on that day."""
    return int(datetime.combine(day, time(), CHINA_STANDARD_TIME).timestamp())


def day_end(day: date) -> int:
    """00:00 CST the day after ``day``: a licence valid until a day is valid throughout it."""
    return day_start(day + timedelta(days=1))


class DepartmentSigner:
    """Signs what one department sends to the hub."""

    def __init__(
        self, department: Department, key: PrivateKey, *, hub_url: str, holder_jwk: Mapping[str, Any]
    ):
        self.department = department
        self.key = key
        self.hub_url = hub_url.rstrip("/")
        self.holder_jwk = dict(holder_jwk)

    def licence_id(self, type_code: str, serial: str, version: int) -> LicenceId:
        return LicenceId(type_code, self.department.uscc, serial, version)

    def credential(
        self,
        licence_type: Mapping[str, Any],
        draft: LicenceDraft,
        licence_id: LicenceId,
        *,
        status_slot: tuple[int, int],
        previous_licence_id: str | None = None,
    ) -> str:
        return build_credential(
            licence_type=licence_type,
            licence_id=licence_id,
            values=draft.values,
            issuer=self.department.issuer,
            key=self.key.key,
            kid=self.key.kid,
            alg=self.key.alg,
            holder_jwk=self.holder_jwk,
            hub_url=self.hub_url,
            department_id=self.department.id,
            status_list=status_slot[0],
            status_index=status_slot[1],
            # NumericDates count from 1970 (RFC 7519 §2): an older start is no useful nbf.
            valid_from=day_start(draft.valid_from)
            if draft.valid_from and draft.valid_from.year >= 1970
            else None,
            valid_until=day_end(draft.valid_until) if draft.valid_until else None,
            previous_licence_id=previous_licence_id,
        )

    def status_statement(
        self,
        licence_id: str,
        status: LicenceStatus,
        reason: str | None = None,
        reason_code: StatusReason | None = None,
    ) -> str:
        return build_status_statement(
            licence_id=licence_id,
            status=status,
            issuer=self.department.issuer,
            key=self.key.key,
            kid=self.key.kid,
            alg=self.key.alg,
            reason=reason[:255] if reason else None,
            reason_code=reason_code,
        )


def check_key_registered(
    department_keys: Sequence[Mapping[str, Any]], key: PrivateKey, department_id: str
) -> None:
    """Refuse to sign anything the hub would reject for its key: unknown kid, other key material, retired."""
    registered = next((k for k in department_keys if k.get("kid") == key.kid), None)
    if registered is None:
        raise KeyNotRegistered(f"key {key.kid} is not registered for department {department_id}")
    public = key.public_jwk
    if any(registered.get(m) != public.get(m) for m in ("kty", "crv", "x", "y")):
        raise KeyNotRegistered(
            f"key {key.kid} of department {department_id} is registered with other key material"
        )
    if registered.get("status", "active") != "active":
        raise KeyNotRegistered(f"key {key.kid} of department {department_id} is {registered.get('status')}")
