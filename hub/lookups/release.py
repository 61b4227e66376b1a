"""Deciding what one caller may see of one holder's licences of one type, and building the proofs.

The one mechanism behind lookups and prefill. For a type it finds the grants in force for the client
(read once at the start of every request, never cached beyond it, so a revocation counts on the next
request), narrows them by purpose, holder region and
consent, takes the tier the token and the grant both allow, and presents each licence with exactly the
disclosures of fields at or below that tier plus a hub-signed key-binding JWT (RFC 9901 §4.3). Each
attachment claim it releases is noted, so that the client may then download the file
(``hub.lookups.attachments``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from hub.access import service as access
from hub.access.models import Grant
from hub.access.service import parse_licence_scope
from hub.context import Hub
from hub.contract import sdjwt
from hub.lookups.attachments import PendingRelease
from hub.lookups.schemas import RefusedType, ReleasedLicence
from hub.registry import service as registry
from hub.registry.service import CatalogType, effective_status


@dataclass(frozen=True)
class Holder:
    """Whose licences: the blind index, the kind (person / organisation) and the region codes from the
    holder's own region up to the city (for grants' region subtrees)."""

    index: str
    kind: str
    regions: tuple[str, ...]


@dataclass
class Requester:
    """Who asks and under what: client, token scopes, and the consent the token is bound to (if any)."""

    client_id: str
    scopes: frozenset[str]
    purpose: str
    case_id: str
    nonce: str
    consented_holder: str | None = None  # blind index of the citizen whose consent the token carries
    # The client's grants in force, read once for the request (``oauth.deps.service_caller``); None: read
    # them here.
    grants: Sequence[Grant] | None = None
    # The attachment claims released so far, written with the call's audit event (``record_releases``).
    attachments: list[PendingRelease] = field(default_factory=list)

    def grants_for(self, session: Session, type_code: str) -> list[Grant]:
        """The grants in force for ``type_code``: read at the start of this request, never cached beyond
        it, so a revocation counts on the next request."""
        if self.grants is None:
            self.grants = access.active_grants(session, self.client_id)
        return [g for g in self.grants if g.type_code == type_code]


@dataclass
class TypeOutcome:
    released: list[ReleasedLicence] = field(default_factory=list)
    refused: RefusedType | None = None


def _refuse(type_code: str, reason: str, detail: str) -> TypeOutcome:
    return TypeOutcome(refused=RefusedType(type_code=type_code, reason=reason, detail=detail))


def scope_tier(scopes: frozenset[str], type_code: str) -> int | None:
    tiers = [parsed[1] for s in scopes if (parsed := parse_licence_scope(s)) and parsed[0] == type_code]
    return max(tiers) if tiers else None


def release_type(
    session: Session,
    hub: Hub,
    requester: Requester,
    holder: Holder,
    licence_type: CatalogType | None,
    type_code: str,
    wanted_tier: int | None,
) -> TypeOutcome:
    """Everything the requester may see of the holder's licences of one type, or why not."""
    if licence_type is None:
        return _refuse(type_code, "no_grant", "no such licence type in the catalog")
    token_tier = scope_tier(requester.scopes, type_code)
    if token_tier is None:
        return _refuse(type_code, "no_grant", f"the token carries no licence:{type_code}:t<N> scope")
    grants = requester.grants_for(session, type_code)
    if not grants:
        return _refuse(type_code, "no_grant", "no grant in force covers this licence type")
    grants = [g for g in grants if "*" in g.purposes or requester.purpose in g.purposes]
    if not grants:
        return _refuse(type_code, "purpose_not_covered", f"no grant covers service item {requester.purpose}")
    grants = [g for g in grants if g.region_code in holder.regions]
    if not grants:
        return _refuse(type_code, "outside_region", "the holder is outside every grant's region")
    consented = requester.consented_holder == holder.index
    allowed = [g for g in grants if consented or not g.consent_required]
    if not allowed:
        return _refuse(type_code, "consent_needed", "the grant requires the holder's consent for each use")
    tier = min(token_tier, max(g.max_tier for g in allowed))
    if wanted_tier is not None:
        if wanted_tier > tier:
            return _refuse(type_code, "tier_too_high", f"tier T{wanted_tier} asked, T{tier} allowed")
        tier = wanted_tier
    if tier >= 3 and not consented:
        return _refuse(type_code, "consent_needed", "sensitive fields (T3) need the holder's consent")
    stored = registry.holder_licences(session, holder.index, type_code)
    if not stored:
        return _refuse(type_code, "no_licence", "the holder has no licence of this type")
    # A licence whose signing key was compromised is never released (issue 14), even at T0.
    found = [licence for licence in stored if licence.withheld is None]
    if not found:
        return _refuse(
            type_code,
            "key_compromised",
            "the holder's licence was signed with a key since marked compromised",
        )
    fields = {f["name"]: f for f in licence_type.fields}
    release = {name for name, spec in fields.items() if spec["tier"] <= tier}
    outcome = TypeOutcome()
    for licence in found:
        compact = hub.keyring.open(licence.credential_sealed, aad=licence.licence_id.encode()).decode()
        presented = _present(hub, requester, licence, compact, release, fields, tier)
        outcome.released.append(presented)
        _note_attachments(session, requester, holder, presented, fields, allowed)
    return outcome


def _note_attachments(
    session: Session,
    requester: Requester,
    holder: Holder,
    presented: ReleasedLicence,
    fields: dict[str, dict[str, Any]],
    allowed: list[Grant],
) -> None:
    """Note each released attachment claim with the grants that allowed it and whether that took the
    holder's consent (T3, or no grant without the consent condition), which the download re-checks."""
    for name in presented.attachments:
        field_tier = fields[name]["tier"]
        covering = [g for g in allowed if g.max_tier >= field_tier]
        without_consent = [g for g in covering if not g.consent_required]
        consented = field_tier >= 3 or not without_consent
        requester.attachments.append(
            PendingRelease(
                client_id=requester.client_id,
                sha256=presented.claims[name],
                licence_id=presented.licence_id,
                type_code=presented.type_code,
                claim=name,
                holder_index=holder.index,
                purpose=requester.purpose,
                case_id=requester.case_id,
                consented=consented,
                grant_ids=[g.id for g in (covering if consented else without_consent) if g.id is not None],
            )
        )


def _present(
    hub: Hub,
    requester: Requester,
    licence: Any,
    compact: str,
    release: set[str],
    fields: dict[str, dict[str, Any]],
    tier: int,
) -> ReleasedLicence:
    parsed = sdjwt.parse(compact)
    holder_kid = parsed.payload["cnf"]["jwk"]["kid"]
    holder_key = hub.signer.key_for(holder_kid)
    if holder_key is None:
        raise RuntimeError(
            f"the hub no longer holds key {holder_kid} that licence {licence.licence_id} is bound to"
        )
    presentation = sdjwt.present(
        compact,
        release=release,
        holder_key=holder_key,
        holder_kid=holder_kid,
        aud=requester.client_id,
        nonce=requester.nonce,
    )
    claims = {k: v for k, v in parsed.payload.items() if k not in ("_sd", "_sd_alg", "cnf")}
    for disclosure in parsed.disclosures:
        if disclosure.name in release:
            claims[disclosure.name] = disclosure.value
    status = effective_status(licence.status, licence.valid_until)
    attachments = {
        name: f"{hub.settings.public_url}/v1/attachments/{claims[name]}"
        for name, spec in fields.items()
        if spec["kind"] == "attachment" and name in release and isinstance(claims.get(name), str)
    }
    return ReleasedLicence(
        licence_id=licence.licence_id,
        type_code=licence.type_code,
        tier=tier,
        presentation=presentation,
        claims=claims,
        status=status.value,
        status_label=status.label_en,
        status_reason_code=licence.status_reason_code,
        status_reason=licence.status_reason if tier >= 1 else None,
        attachments=attachments,
    )
