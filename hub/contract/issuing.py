"""Building what a department sends to the hub: licence credentials (SD-JWT VC) and status statements.

Shared by the adapters, the demo and the tests so that all of them speak exactly the format the hub
checks. Field tiers come from the hub's catalog (``GET /v1/licence-types/{code}``): tier-0 fields travel in
the clear, every personal field (tier 1 and above) as its own selectively-disclosable claim.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from typing import Any

from hub.contract import sdjwt
from hub.contract.licence_id import LicenceId
from hub.contract.status import STATUS_CHANGE_TYP, LicenceStatus, StatusReason, status_list_path


def build_credential(
    *,
    licence_type: Mapping[str, Any],
    licence_id: LicenceId,
    values: Mapping[str, Any],
    issuer: str,
    key: sdjwt.KeyLike,
    kid: str,
    alg: str,
    holder_jwk: Mapping[str, Any],
    hub_url: str,
    department_id: str,
    status_list: int,
    status_index: int,
    valid_from: int | None = None,
    valid_until: int | None = None,
    issued_at: int | None = None,
    previous_licence_id: str | None = None,
    decoys: int = 0,
) -> str:
    """Sign a licence as an SD-JWT VC for the hub (``cnf`` binds it to the hub's holder key)."""
    tiers = {f["name"]: int(f["tier"]) for f in licence_type["fields"]}
    unknown = set(values) - tiers.keys()
    if unknown:
        raise ValueError(f"not fields of {licence_type['code']}: {sorted(unknown)}")
    claims: dict[str, Any] = {
        "iss": issuer,
        "vct": licence_type["code"],
        "iat": int(issued_at if issued_at is not None else time.time()),
        "licence_id": str(licence_id),
        "status": {
            "status_list": {
                "idx": status_index,
                "uri": hub_url + status_list_path(department_id, status_list),
            }
        },
        "cnf": {"jwk": {k: holder_jwk[k] for k in ("kty", "crv", "x", "y", "kid") if k in holder_jwk}},
    }
    if valid_from is not None:
        claims["nbf"] = int(valid_from)
    if valid_until is not None:
        claims["exp"] = int(valid_until)
    if previous_licence_id:
        claims["previous_licence_id"] = previous_licence_id
    plain = {name: value for name, value in values.items() if tiers[name] == 0}
    disclosable = {name: value for name, value in values.items() if tiers[name] > 0}
    return sdjwt.issue(
        key=key, kid=kid, alg=alg, claims={**claims, **plain}, sd_claims=disclosable, decoys=decoys
    )


def build_status_statement(
    *,
    licence_id: LicenceId | str,
    status: LicenceStatus | str,
    issuer: str,
    key: sdjwt.KeyLike,
    kid: str,
    alg: str,
    reason: str | None = None,
    reason_code: StatusReason | str | None = None,
    issued_at: int | None = None,
    jti: str | None = None,
) -> str:
    """Sign a status change of a licence (``typ: licence-status+jwt``): ``reason_code`` from the closed
    list (public with the status), ``reason`` the department's own words (released at T1 and above)."""
    payload: dict[str, Any] = {
        "iss": issuer,
        "licence_id": str(licence_id),
        "status": LicenceStatus(status).value,
        "iat": int(issued_at if issued_at is not None else time.time()),
        "jti": jti or secrets.token_urlsafe(16),
    }
    if reason_code:
        payload["reason_code"] = StatusReason(reason_code).value
    if reason:
        payload["reason"] = reason
    return sdjwt.sign_jws(payload, key=key, kid=kid, alg=alg, typ=STATUS_CHANGE_TYP)
