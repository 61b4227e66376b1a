"""Issue 5's acceptance property: over random licence types, field tiers, grants and requests, a lookup's
presentation never holds a disclosure above the granted tier and always holds every one at or below it.

Each example registers a fresh licence type (random fields, tiers, kinds, holder kind and issuing
department kind), issues one licence of it, gives the approval service one or two random grants (tier,
purposes, region, consent condition) and asks with a random token scope, purpose, tier and consent. The
expected outcome is worked out from DESIGN 3 and issue 5 alone; the presentation is taken apart with
``sdjwt.parse`` and verified in full (department signature, disclosures, key-binding JWT). One hub serves
every example of a run, so examples differ only in what they create.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.access import service as access_service
from hub.context import Hub
from hub.contract import sdjwt
from hub.contract.issuing import build_credential
from hub.demo_data import sample_values
from hub.kit.time import utcnow
from hub.oauth import consents, tokens
from hub.registry import service as registry_service
from storage.database import transaction
from tests.factories import (
    Issuer,
    RegisteredClient,
    batch,
    create_admin,
    create_client,
    create_grant,
    create_issuer,
    issue,
    mint_client_token,
    seed_catalog,
)

CITIZEN = "410105198605141237"  # lives in 410105, a county of 410100
BUSINESS = "91410100MA44B0Y60K"  # registered in 410100
HOLDER_REGIONS = {"person": {"410105", "410100"}, "organisation": {"410100"}}
PURPOSES = ("MZCFBG", "CJRZHF", "SPJYXK")
REGIONS = ("410100", "410100", "410100", "410105", "410102")  # mostly the city: more releases
KINDS = ("police", "commerce", "civil_affairs")
ALGS = ("ES256", "EdDSA")
FIELD_KINDS = ("string", "date", "integer", "boolean", "enum", "attachment")
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32 + b"property"
NONCE = "n-property-0001"

_codes = itertools.count(1)


# What a case is ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    tier: int
    kind: str
    required: bool
    present: bool  # an optional field may be left out of the licence


@dataclass(frozen=True)
class GrantSpec:
    max_tier: int
    purposes: tuple[str, ...]
    region: str
    consent_required: bool


@dataclass(frozen=True)
class Case:
    holder_kind: str
    issuer_kind: str
    alg: str
    holder_tier: int
    number_tier: int
    fields: tuple[FieldSpec, ...]
    decoys: int
    grants: tuple[GrantSpec, ...]
    scope_tier: int
    purpose: str
    wanted: int | None
    consented: bool


tiers = st.integers(0, 3)
high_tiers = st.sampled_from((3, 2, 1, 0, 3, 2))  # grants and scopes: higher tiers release more to check


@st.composite
def field_specs(draw: st.DrawFn) -> FieldSpec:
    required = draw(st.booleans())
    return FieldSpec(
        tier=draw(tiers),
        kind=draw(st.sampled_from(FIELD_KINDS)),
        required=required,
        present=required or draw(st.booleans()),
    )


@st.composite
def grant_specs(draw: st.DrawFn) -> GrantSpec:
    # Weighted towards grants that apply, so that most examples release something to check.
    every_purpose = draw(st.sampled_from((True, True, False)))
    purposes = (
        ("*",)
        if every_purpose
        else draw(st.lists(st.sampled_from(PURPOSES), min_size=1, max_size=2, unique=True))
    )
    return GrantSpec(
        max_tier=draw(high_tiers),
        purposes=tuple(purposes),
        region=draw(st.sampled_from(REGIONS)),
        consent_required=draw(st.sampled_from((False, False, False, True))),
    )


@st.composite
def cases(draw: st.DrawFn) -> Case:
    holder_kind = draw(st.sampled_from(("person", "organisation")))
    return Case(
        holder_kind=holder_kind,
        issuer_kind=draw(st.sampled_from(KINDS)),
        alg=draw(st.sampled_from(ALGS)),
        holder_tier=draw(tiers),
        number_tier=draw(tiers),
        fields=tuple(draw(st.lists(field_specs(), max_size=7))),
        decoys=draw(st.integers(0, 3)),
        grants=tuple(draw(st.lists(grant_specs(), min_size=1, max_size=2))),
        scope_tier=draw(high_tiers),
        purpose=draw(st.sampled_from(PURPOSES)),
        wanted=draw(st.one_of(st.none(), st.none(), tiers)),
        # Only a citizen consents; an organisation's licences are never consent-bound.
        consented=holder_kind == "person" and draw(st.sampled_from((True, True, False))),
    )


# The expected outcome, from DESIGN 3 (tiers, grants) and issue 5 (refusal reasons) ---------------------


def expected_outcome(case: Case) -> tuple[str, Any]:
    """("released", tier) or ("refused", reason). A T3 grant always carries the consent condition."""
    covering = [g for g in case.grants if "*" in g.purposes or case.purpose in g.purposes]
    if not covering:
        return "refused", "purpose_not_covered"
    covering = [g for g in covering if g.region in HOLDER_REGIONS[case.holder_kind]]
    if not covering:
        return "refused", "outside_region"
    usable = [g for g in covering if case.consented or not (g.consent_required or g.max_tier == 3)]
    if not usable:
        return "refused", "consent_needed"
    tier = min(case.scope_tier, max(g.max_tier for g in usable))
    if case.wanted is not None:
        if case.wanted > tier:
            return "refused", "tier_too_high"
        tier = case.wanted
    if tier == 3 and not case.consented:
        return "refused", "consent_needed"
    return "released", tier


# The hub every example of one run shares ---------------------------------------------------------------


@dataclass
class Bench:
    hub: Hub
    client: TestClient
    service: RegisteredClient
    issuers: dict[tuple[str, str], Issuer]
    sequences: dict[str, int]
    attachment: str
    rng: random.Random

    def licence_type(self, case: Case) -> dict[str, Any]:
        code = f"PROP{next(_codes):05d}"
        holder_kind = "id_number" if case.holder_kind == "person" else "uscc"
        fields = [
            {"name": "holder", "tier": case.holder_tier, "kind": holder_kind, "required": True},
            {"name": "number", "tier": case.number_tier, "kind": "string", "required": True},
        ] + [
            {"name": f"f{i}", "tier": f.tier, "kind": f.kind, "required": f.required}
            | ({"values": ["甲", "乙"]} if f.kind == "enum" else {})
            for i, f in enumerate(case.fields)
        ]
        spec = {
            "code": code, "name_zh": f"随机证照{code}", "name_en": f"Random licence {code}",
            "issuer_kind": case.issuer_kind, "holder_kind": case.holder_kind, "holder_field": "holder",
            "number_field": "number", "classification": "ordinary",
            "fields": [{"label_zh": f["name"], "label_en": f["name"], **f} for f in fields],
        }  # fmt: skip
        with transaction(self.hub.session_factory) as session:
            registry_service.register_licence_type(session, spec)
            # Every department of the type's kind may issue it (issuing authorizations, issue 14).
            for (kind, _alg), issuer in self.issuers.items():
                if kind == case.issuer_kind:
                    registry_service.authorize_issuing(
                        session, department_id=issuer.id, type_code=code, jurisdiction_code="410100",
                        valid_until=utcnow() + timedelta(days=30), legal_basis="property test",
                    )  # fmt: skip
        return spec

    def issue(self, case: Case, spec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        issuer = self.issuers[(case.issuer_kind, case.alg)]
        holder = CITIZEN if case.holder_kind == "person" else BUSINESS
        values = sample_values(spec, holder, self.rng)
        for i, field in enumerate(case.fields):
            if field.kind == "attachment":
                values[f"f{i}"] = self.attachment
            if not field.present:
                values.pop(f"f{i}", None)
        licence_id = issuer.licence_id(spec["code"])
        credential = build_credential(
            licence_type=spec, licence_id=licence_id, values=values, issuer=issuer.issuer, key=issuer.key,
            kid=issuer.kid, alg=issuer.alg, holder_jwk=issuer.holder_jwk,
            hub_url=self.hub.settings.public_url, department_id=issuer.id, status_list=0,
            status_index=next(issuer.next_index), decoys=case.decoys,
        )  # fmt: skip
        self.sequences[issuer.id] += 1
        body = batch(issuer, self.sequences[issuer.id], issue(credential))
        response = self.client.post("/v1/licences/batch", json=body, headers=issuer.headers)
        assert response.json()["accepted"] == 1, response.text
        return str(licence_id), values

    def grant(self, case: Case, code: str) -> None:
        requester, approver = create_admin(self.hub), create_admin(self.hub)
        for g in case.grants:
            grant = create_grant(
                self.hub, self.service.client_id, code, max_tier=g.max_tier, purposes=list(g.purposes),
                region_code=g.region, consent_required=g.consent_required, by=requester,
            )  # fmt: skip
            if g.max_tier == 3:  # sensitive: in force only once a second admin approves
                with transaction(self.hub.session_factory) as session:
                    access_service.approve_grant(session, grant.id or 0, by=approver)

    def token(self, case: Case, code: str, case_id: str) -> str:
        scope = f"licence:{code}:t{case.scope_tier}"
        if not case.consented:
            return mint_client_token(self.hub, self.service.client_id, scope)
        subject = "citizen:" + self.hub.blind_index.of("person", CITIZEN)
        with transaction(self.hub.session_factory) as session:
            consent = consents.give(
                session, self.hub, subject=subject, client_id=self.service.client_id, purpose=case.purpose,
                case_id=case_id, scopes=[scope],
            )  # fmt: skip
            claims = {
                "purpose": case.purpose,
                "case_id": case_id,
                "consent_id": consent.id,
                "holder_region": "410105",
            }
            token, _ = tokens.mint(
                session, self.hub, kind="citizen", subject=subject, scope=scope,
                client_id=self.service.client_id, consent_id=consent.id, extra=claims,
            )  # fmt: skip
        return token

    def verify(self, presentation: str) -> dict[str, Any]:
        keys = {i.kid: i.key.as_dict(private=False) for i in self.issuers.values()}
        return sdjwt.verify_presentation(
            presentation,
            issuer_key_resolver=lambda header: keys.get(header.get("kid")),
            aud=self.service.client_id,
            nonce=NONCE,
        )


def make_bench(hub: Hub, client: TestClient) -> Bench:
    seed_catalog(hub)
    issuers = {
        (kind, alg): create_issuer(hub, kind, alg=alg, id=f"prop-{kind.replace('_', '-')}-{alg.lower()}")
        for kind in KINDS
        for alg in ALGS
    }
    police = issuers[("police", "ES256")]
    upload = client.post(
        "/v1/attachments", content=PNG, headers={"content-type": "image/png", **police.headers}
    )
    assert upload.status_code == 201, upload.text
    service = create_client(hub, kind="service")
    return Bench(
        hub, client, service, issuers, {i.id: 0 for i in issuers.values()}, upload.json()["sha256"],
        random.Random(5),
    )  # fmt: skip


# The property ---------------------------------------------------------------------------------------------


def test_a_presentation_holds_exactly_the_disclosures_at_or_below_the_granted_tier(
    hub: Hub, client: TestClient
) -> None:
    bench = make_bench(hub, client)
    case_ids = itertools.count(1)

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(case=cases())
    def check(case: Case) -> None:
        spec = bench.licence_type(case)
        code = spec["code"]
        licence_id, values = bench.issue(case, spec)
        bench.grant(case, code)
        case_id = f"PROP-{next(case_ids)}"
        holder_id = CITIZEN if case.holder_kind == "person" else BUSINESS
        wanted: Any = code if case.wanted is None else {"type_code": code, "tier": case.wanted}
        body = {
            "holder_id": holder_id,
            "types": [wanted],
            "purpose": case.purpose,
            "case_id": case_id,
            "nonce": NONCE,
        }
        response = client.post(
            "/v1/lookups", json=body, headers={"Authorization": f"Bearer {bench.token(case, code, case_id)}"}
        )
        assert response.status_code == 200, response.text
        result = response.json()

        outcome, detail = expected_outcome(case)
        if outcome == "refused":
            assert result["released"] == []
            assert [(r["type_code"], r["reason"]) for r in result["refused"]] == [(code, detail)]
            return
        granted = detail
        assert result["refused"] == []
        [released] = result["released"]
        assert released["licence_id"] == licence_id and released["tier"] == granted

        tier_of = {f["name"]: f["tier"] for f in spec["fields"]}
        parsed = sdjwt.parse(released["presentation"])
        disclosed = {d.name: d.value for d in parsed.disclosures}
        assert all(tier_of[name] <= granted for name in disclosed), "a disclosure above the granted tier"
        assert disclosed == {n: v for n, v in values.items() if 1 <= tier_of[n] <= granted}, (
            "not every disclosure at or below the granted tier"
        )
        assert parsed.kb is not None and parsed.kb.payload["aud"] == bench.service.client_id

        claims = bench.verify(released["presentation"])  # department signature, disclosures, KB-JWT
        shown = {n: v for n, v in values.items() if tier_of[n] <= granted}
        assert {n: claims[n] for n in values if n in claims} == shown
        assert released["claims"] == {k: v for k, v in claims.items() if k != "cnf"}
        attachments = {n for n in shown if n.startswith("f") and case.fields[int(n[1:])].kind == "attachment"}
        assert set(released["attachments"]) == attachments

    check()
