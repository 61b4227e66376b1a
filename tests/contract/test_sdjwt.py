"""SD-JWT VC contract: round trips, interop with the reference library (sd-jwt), and every refusal."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, OKPKey
from jwcrypto.jwk import JWK
from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sd_jwt.issuer import SDJWTIssuer
from sd_jwt.verifier import SDJWTVerifier

from hub.contract import sdjwt
from hub.contract.sdjwt import SdJwtError

NOW = 1_750_000_000
AUD = "https://approvals.example.gov.cn"
NONCE = "n-0S6_WzA2Mj"

ISSUER_EC = ECKey.generate_key("P-256", private=True)
ISSUER_ED = OKPKey.generate_key("Ed25519", private=True)
HOLDER = ECKey.generate_key("P-256", private=True)
OTHER_EC = ECKey.generate_key("P-256", private=True)

PERSONAL = {
    "name": "张三",
    "id_number": "110101199003074514",
    "birth_date": "1990-03-07",
    "address": {"city": "北京", "street": "长安街 1 号"},
    "licence_class": ["C1", "D"],
}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Any) -> str:
    return b64(json.dumps(value).encode())


def create_claims(**overrides: Any) -> dict[str, Any]:
    claims = {
        "iss": "https://transport.example.gov.cn",
        "vct": "urn:licence:driving",
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 3600,
        "licence_id": "L-0001",
        "cnf": {"jwk": HOLDER.as_dict(private=False)},
    }
    claims.update(overrides)
    return claims


def create_credential(key: ECKey | OKPKey = ISSUER_EC, alg: str = "ES256", **overrides: Any) -> str:
    return sdjwt.issue(key=key, kid="dept-1", alg=alg, claims=create_claims(**overrides), sd_claims=PERSONAL)


def create_presentation(credential: str | None = None, **kwargs: Any) -> str:
    options = {"release": ["name", "birth_date"], "aud": AUD, "nonce": NONCE, "iat": NOW}
    options.update(kwargs)
    return sdjwt.present(credential or create_credential(), holder_key=HOLDER, holder_kid="hub-1", **options)


def resolver(key: ECKey | OKPKey = ISSUER_EC):
    return lambda header: key if header.get("kid") == "dept-1" else None


def verify(presentation: str, **kwargs: Any) -> dict[str, Any]:
    options = {"issuer_key_resolver": resolver(), "aud": AUD, "nonce": NONCE, "now": NOW}
    options.update(kwargs)
    return sdjwt.verify_presentation(presentation, **options)


def reason_of(call, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(SdJwtError) as caught:
        call(*args, **kwargs)
    return caught.value.reason


def resign(payload: dict[str, Any], disclosures: list[str], *, header: dict[str, Any] | None = None) -> str:
    """An SD-JWT over an arbitrary payload, validly signed by the department key."""
    header = header or {}
    jwt = sdjwt.sign_jws(
        payload, key=ISSUER_EC, kid="dept-1", alg="ES256", typ=header.get("typ", "dc+sd-jwt")
    )
    return jwt + "~" + "".join(d + "~" for d in disclosures)


def full_check(compact: str) -> dict[str, Any]:
    parsed = sdjwt.parse(compact)
    sdjwt.verify_issuer_signature(parsed, resolver())
    return sdjwt.resolve_disclosures(parsed)


# -- round trips ----------------------------------------------------------------------------------------


@pytest.mark.filterwarnings("error")  # joserfc's registry warns on "EdDSA"; we must not go through it
@pytest.mark.parametrize(("key", "alg"), [(ISSUER_EC, "ES256"), (ISSUER_ED, "EdDSA")])
def test_issue_parse_verify_resolve_round_trip(key, alg):
    credential = sdjwt.issue(
        key=key, kid="dept-1", alg=alg, claims=create_claims(), sd_claims=PERSONAL, decoys=4
    )
    assert credential.endswith("~")

    parsed = sdjwt.parse(credential)
    sdjwt.verify_issuer_signature(parsed, resolver(key))

    assert parsed.header == {"alg": alg, "typ": "dc+sd-jwt", "kid": "dept-1"}
    assert parsed.payload["_sd_alg"] == "sha-256"
    assert parsed.payload["_sd"] == sorted(parsed.payload["_sd"])
    assert len(parsed.payload["_sd"]) == len(PERSONAL) + 4
    assert "name" not in parsed.payload
    assert parsed.kb_jwt is None
    assert parsed.sd_hash_input == credential
    assert sdjwt.resolve_disclosures(parsed) == {**create_claims(), **PERSONAL}


@pytest.mark.parametrize(("key", "alg"), [(ISSUER_EC, "ES256"), (ISSUER_ED, "EdDSA")])
def test_presentation_round_trip_releases_only_chosen_claims(key, alg):
    presentation = create_presentation(create_credential(key, alg), release=["name", "address", "unknown"])

    claims = verify(presentation, issuer_key_resolver=resolver(key))

    assert claims == {**create_claims(), "name": "张三", "address": PERSONAL["address"]}
    kb = sdjwt.parse(presentation).kb
    assert kb is not None
    assert kb.header == {"alg": "ES256", "typ": "kb+jwt", "kid": "hub-1"}
    assert kb.payload["aud"] == AUD and kb.payload["nonce"] == NONCE and kb.payload["iat"] == NOW


def test_presentation_with_explicit_holder_key_and_jwk_dicts():
    issuer_jwks = {"dept-1": ISSUER_EC.as_dict(private=False)}
    presentation = sdjwt.present(
        create_credential(), release=["name"], holder_key=HOLDER.as_dict(private=True), aud=AUD, nonce=NONCE
    )

    claims = sdjwt.verify_presentation(
        presentation,
        issuer_key_resolver=lambda header: issuer_jwks.get(header.get("kid")),
        holder_key=HOLDER.as_dict(private=False),
        aud=AUD,
        nonce=NONCE,
        now=None,
        leeway_s=3600 * 24 * 365 * 100,  # the credential's own times are fixed in the past
    )

    assert claims["name"] == "张三"


def test_disclosure_round_trip():
    disclosure = sdjwt.make_disclosure("given_name", "John", salt="_26bc4LT-ac6q2KI6cBW5es")

    assert disclosure.encoded == b64(b'["_26bc4LT-ac6q2KI6cBW5es","given_name","John"]')
    assert disclosure.digest == b64(hashlib.sha256(disclosure.encoded.encode()).digest())


# -- interop with the reference library -----------------------------------------------------------------


@pytest.mark.parametrize(("key", "alg"), [(ISSUER_EC, "ES256"), (ISSUER_ED, "EdDSA")])
def test_reference_library_verifies_our_credential(key, alg):
    public = JWK(**key.as_dict(private=False))

    verifier = SDJWTVerifier(create_credential(key, alg), lambda iss, header: public)

    assert verifier.get_verified_payload() == {**create_claims(), **PERSONAL}


def test_reference_library_verifies_our_presentation_with_key_binding():
    public = JWK(**ISSUER_EC.as_dict(private=False))
    presentation = create_presentation(release=["name", "licence_class"])

    verifier = SDJWTVerifier(presentation, lambda iss, header: public, AUD, NONCE)

    payload = verifier.get_verified_payload()
    assert payload == {**create_claims(), "name": "张三", "licence_class": ["C1", "D"]}


def test_we_verify_a_reference_library_presentation_with_nested_and_array_disclosures():
    issuer_key = JWK.generate(kty="EC", crv="P-256")
    holder_key = JWK.generate(kty="EC", crv="P-256")
    user_claims = {
        "iss": "https://other.example",
        SDObj("given_name"): "Erika",
        SDObj("address"): {SDObj("street"): "Heidestraße 17", "country": "DE"},
        "nationalities": [SDObj("DE"), "FR"],
    }
    issued = SDJWTIssuer(
        user_claims,
        issuer_key,
        holder_key,
        add_decoy_claims=True,
        extra_header_parameters={"typ": "dc+sd-jwt", "kid": "dept-1"},
    ).sd_jwt_issuance
    holder = SDJWTHolder(issued)
    holder.create_presentation(
        {"given_name": True, "address": {"street": True}, "nationalities": [True]}, NONCE, AUD, holder_key
    )
    issuer_public = ECKey.import_key(issuer_key.export_public(as_dict=True))

    claims = sdjwt.verify_presentation(
        holder.sd_jwt_presentation, issuer_key_resolver=lambda header: issuer_public, aud=AUD, nonce=NONCE
    )

    assert claims["given_name"] == "Erika"
    assert claims["address"] == {"street": "Heidestraße 17", "country": "DE"}
    assert claims["nationalities"] == ["DE", "FR"]

    # and our present() walks the nested structure the same way
    ours = sdjwt.present(
        issued,
        release=["address"],
        holder_key=ECKey.import_key(holder_key.export_private(as_dict=True)),
        aud=AUD,
        nonce=NONCE,
    )
    claims = sdjwt.verify_presentation(
        ours, issuer_key_resolver=lambda header: issuer_public, aud=AUD, nonce=NONCE
    )
    assert claims["address"] == {"country": "DE"}
    assert "given_name" not in claims
    assert claims["nationalities"] == ["DE", "FR"]  # array elements travel with their array


# -- refusals: disclosures ------------------------------------------------------------------------------


def test_tampered_disclosure_value_is_not_referenced():
    credential = create_credential()
    jwt, *disclosures, _ = credential.split("~")
    salt, name, _value = json.loads(base64.urlsafe_b64decode(disclosures[0] + "=="))
    disclosures[0] = b64json([salt, name, "李四"])

    assert reason_of(full_check, "~".join([jwt, *disclosures, ""])) == "disclosure_not_referenced"


def test_duplicate_disclosure_is_refused():
    credential = create_credential()
    first = credential.split("~")[1]

    assert reason_of(full_check, credential + first + "~") == "duplicate_disclosure"


def test_digest_used_twice_is_refused():
    disclosure = sdjwt.make_disclosure("name", "张三")
    payload = {"_sd": [disclosure.digest], "nested": {"_sd": [disclosure.digest]}, "_sd_alg": "sha-256"}

    assert reason_of(full_check, resign(payload, [disclosure.encoded])) == "duplicate_digest"


def test_disclosed_name_colliding_with_a_plain_claim_is_refused():
    disclosure = sdjwt.make_disclosure("licence_id", "L-9999")
    payload = {"licence_id": "L-0001", "_sd": [disclosure.digest], "_sd_alg": "sha-256"}

    assert reason_of(full_check, resign(payload, [disclosure.encoded])) == "claim_collision"


def test_selectively_disclosed_exp_is_refused():
    disclosure = sdjwt.make_disclosure("exp", NOW + 10**9)
    payload = {"_sd": [disclosure.digest], "_sd_alg": "sha-256"}

    assert reason_of(full_check, resign(payload, [disclosure.encoded])) == "reserved_claim_disclosed"


def test_other_digest_algorithm_is_refused():
    disclosure = sdjwt.make_disclosure("name", "张三")
    payload = {"_sd": [disclosure.digest], "_sd_alg": "sha-512"}

    assert reason_of(full_check, resign(payload, [disclosure.encoded])) == "unsupported_sd_alg"


def test_issue_refuses_reserved_and_colliding_claims():
    def issue(claims, sd_claims):
        return sdjwt.issue(key=ISSUER_EC, kid="k", alg="ES256", claims=claims, sd_claims=sd_claims)

    assert reason_of(issue, {"name": 1}, {"name": 2}) == "claim_collision"
    assert reason_of(issue, {}, {"exp": 2}) == "reserved_claim_disclosed"
    assert reason_of(issue, {"a": {"_sd": []}}, {}) == "reserved_claim"
    assert reason_of(issue, {"_sd_alg": "sha-256"}, {}) == "reserved_claim"
    assert reason_of(sdjwt.make_disclosure, "...", 1) == "reserved_claim"


# -- refusals: issuer signature -------------------------------------------------------------------------


def test_signature_by_another_key_is_refused():
    parsed = sdjwt.parse(create_credential(OTHER_EC))

    assert reason_of(sdjwt.verify_issuer_signature, parsed, resolver()) == "bad_signature"


def test_key_of_the_wrong_type_is_refused():
    parsed = sdjwt.parse(create_credential())

    assert reason_of(sdjwt.verify_issuer_signature, parsed, resolver(ISSUER_ED)) == "bad_signature"


def test_resolver_may_return_published_jwks():
    parsed = sdjwt.parse(create_credential())
    published = {**ISSUER_EC.as_dict(private=False), "kid": "dept-1", "use": "sig", "key_ops": ["verify"]}

    sdjwt.verify_issuer_signature(parsed, lambda header: published)

    for_encryption = {**ISSUER_EC.as_dict(private=False), "use": "enc"}
    assert reason_of(sdjwt.verify_issuer_signature, parsed, lambda header: for_encryption) == "bad_signature"
    with_private_part = ISSUER_EC.as_dict(private=True)
    assert reason_of(sdjwt.verify_issuer_signature, parsed, lambda header: with_private_part) == "bad_key"


def test_unknown_kid_is_refused():
    parsed = sdjwt.parse(create_credential())

    assert reason_of(sdjwt.verify_issuer_signature, parsed, lambda header: None) == "unknown_kid"
    assert reason_of(sdjwt.verify_issuer_signature, parsed, lambda header: {}[header["kid"]]) == "unknown_kid"


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256", "ES384", "Ed25519"])
def test_alg_outside_the_allowlist_is_refused(alg):
    signing_input = f"{b64json({'alg': alg, 'typ': 'dc+sd-jwt', 'kid': 'dept-1'})}.{b64json(create_claims())}"
    # HS256 keyed with the public key's bytes: the classic algorithm-confusion forgery
    secret = json.dumps(ISSUER_EC.as_dict(private=False)).encode()
    signature = "" if alg == "none" else b64(hmac.new(secret, signing_input.encode(), "sha256").digest())
    parsed = sdjwt.parse(f"{signing_input}.{signature}~")

    assert reason_of(sdjwt.verify_issuer_signature, parsed, resolver()) == "alg_not_allowed"


def test_wrong_typ_is_refused():
    credential = resign(create_claims(), [], header={"typ": "vc+sd-jwt"})

    assert reason_of(sdjwt.verify_issuer_signature, sdjwt.parse(credential), resolver()) == "bad_typ"


# -- refusals: malformed input --------------------------------------------------------------------------

VALID_JWT = create_credential().split("~")[0]
HEADER, PAYLOAD, SIGNATURE = VALID_JWT.split(".")
DUPLICATE_MEMBERS = b64(b'{"a":1,"a":2}')
NAN = b64(b'{"exp":NaN}')
NOT_UTF8 = b64(b"\xff\xfe")


@pytest.mark.parametrize(
    "compact",
    [
        "",
        "~",
        "abc",
        VALID_JWT,  # a plain JWT, no '~'
        f"{HEADER}.{PAYLOAD}~",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE}.x~",
        f"{HEADER}=.{PAYLOAD}.{SIGNATURE}~",
        f"{HEADER}.{PAYLOAD}.{SIGNATURE} ~",
        f"{b64(b'not json')}.{PAYLOAD}.{SIGNATURE}~",
        f"{b64json([1])}.{PAYLOAD}.{SIGNATURE}~",
        f"{b64json({'typ': 'dc+sd-jwt'})}.{PAYLOAD}.{SIGNATURE}~",
        f"{HEADER}.{b64json([1, 2])}.{SIGNATURE}~",
        f"{HEADER}.{DUPLICATE_MEMBERS}.{SIGNATURE}~",
        f"{HEADER}.{NAN}.{SIGNATURE}~",
        f"{HEADER}.{NOT_UTF8}.{SIGNATURE}~",
        f"{VALID_JWT}~~",
        f"{VALID_JWT}~{b64json({'salt': 's'})}~",
        f"{VALID_JWT}~{b64json(['s', 'a', 1, 2])}~",
        f"{VALID_JWT}~{b64json(['s'])}~",
        f"{VALID_JWT}~{b64json([1, 'a', 1])}~",
        f"{VALID_JWT}~{b64json(['s', 1, 1])}~",
        f"{VALID_JWT}~{b64json(['s', '_sd', []])}~",
        f"{VALID_JWT}~{b64json(['s', '...', 'x'])}~",
        f"{VALID_JWT}~ä~",
        f"{VALID_JWT}~not-a-jwt",
        "~" * 10,
        "." * 10,
    ],
)
def test_malformed_input_is_refused(compact):
    assert reason_of(sdjwt.parse, compact) == "malformed"


def test_oversized_input_is_refused():
    assert reason_of(sdjwt.parse, "a" * (sdjwt.MAX_COMPACT_CHARS + 1)) == "malformed"


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_raises_only_sdjwt_error(text):
    with pytest.raises(SdJwtError):
        verify(text)


@settings(max_examples=300)
@given(st.data())
def test_corrupted_presentation_raises_only_sdjwt_error(data):
    presentation = PRESENTATION
    position = data.draw(st.integers(0, len(presentation) - 1))
    replacement = data.draw(st.text(max_size=3))
    corrupted = presentation[:position] + replacement + presentation[position + 1 :]
    try:
        claims = verify(corrupted)
    except SdJwtError:
        return
    # base64url's last character can carry unused bits, so a few edits decode to the same bytes
    assert claims == verify(presentation)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8) | st.sampled_from(["_sd", "..."]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["_sd", "...", "a", "b", "_sd_alg"]), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    payload=st.dictionaries(st.text(max_size=5) | st.just("_sd"), JSON, max_size=5),
    items=st.lists(JSON, max_size=4),
)
def test_arbitrary_signed_structures_raise_only_sdjwt_error(payload, items):
    # Reference some disclosures from the payload so the unpacker really walks them.
    disclosures = [b64json(item) for item in items]
    digests = [b64(hashlib.sha256(d.encode()).digest()) for d in disclosures]
    payload = {**payload, "_sd": digests + ([payload["_sd"]] if "_sd" in payload else [])}
    with contextlib.suppress(SdJwtError):
        full_check(resign(payload, disclosures))


# -- refusals: validity and key binding -----------------------------------------------------------------

PRESENTATION = create_presentation()


def test_expired_credential_is_refused():
    presentation = create_presentation(create_credential(exp=NOW - 3600))

    assert reason_of(verify, presentation) == "expired"


def test_credential_not_yet_valid_is_refused():
    presentation = create_presentation(create_credential(nbf=NOW + 3600))

    assert reason_of(verify, presentation) == "not_yet_valid"


def test_leeway_tolerates_small_clock_skew():
    presentation = create_presentation(create_credential(exp=NOW - 30, nbf=NOW + 30))

    assert verify(presentation)["name"] == "张三"


def test_wrong_audience_is_refused():
    assert reason_of(verify, PRESENTATION, aud="https://someone-else.example") == "aud_mismatch"


def test_wrong_nonce_is_refused():
    assert reason_of(verify, PRESENTATION, nonce="another") == "nonce_mismatch"


def test_stale_key_binding_is_refused():
    assert reason_of(verify, PRESENTATION, now=NOW + 301 + 60) == "kb_stale"
    assert verify(PRESENTATION, now=NOW + 300 + 60)["name"] == "张三"


def test_key_binding_from_the_future_is_refused():
    assert reason_of(verify, PRESENTATION, now=NOW - 61) == "kb_not_yet_valid"


def test_disclosure_dropped_after_key_binding_breaks_sd_hash():
    jwt, first, _second, kb = PRESENTATION.split("~")

    assert reason_of(verify, f"{jwt}~{first}~{kb}") == "sd_hash_mismatch"


def test_disclosure_added_after_key_binding_breaks_sd_hash():
    extra = create_credential().split("~")[3]
    jwt, first, second, kb = PRESENTATION.split("~")

    # a disclosure from another credential of the same issuer is not referenced
    assert reason_of(verify, f"{jwt}~{first}~{second}~{extra}~{kb}") == "disclosure_not_referenced"


def test_missing_key_binding_is_refused():
    assert reason_of(verify, PRESENTATION.rsplit("~", 1)[0] + "~") == "kb_missing"


def test_key_binding_signed_by_another_key_is_refused():
    presentation = sdjwt.present(
        create_credential(), release=["name"], holder_key=OTHER_EC, aud=AUD, nonce=NONCE, iat=NOW
    )

    assert reason_of(verify, presentation) == "kb_invalid"


def test_key_binding_with_the_wrong_typ_is_refused():
    body = PRESENTATION.rsplit("~", 1)[0] + "~"
    kb = sdjwt.sign_jws(
        {"iat": NOW, "aud": AUD, "nonce": NONCE, "sd_hash": b64(hashlib.sha256(body.encode()).digest())},
        key=HOLDER,
        kid=None,
        alg="ES256",
        typ="JWT",
    )

    assert reason_of(verify, body + kb) == "kb_invalid"


def test_credential_without_cnf_cannot_be_bound():
    claims = create_claims()
    del claims["cnf"]
    credential = sdjwt.issue(key=ISSUER_EC, kid="dept-1", alg="ES256", claims=claims, sd_claims=PERSONAL)

    assert reason_of(verify, create_presentation(credential)) == "no_holder_key"


def test_present_refuses_a_presentation():
    assert (
        reason_of(sdjwt.present, PRESENTATION, release=[], holder_key=HOLDER, aud=AUD, nonce=NONCE)
        == "malformed"
    )


# -- compact JWS helpers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "alg"), [(ISSUER_EC, "ES256"), (ISSUER_ED, "EdDSA")])
def test_sign_and_verify_jws(key, alg):
    token = sdjwt.sign_jws({"licence_id": "L-1", "status": "02"}, key=key, kid="dept-1", alg=alg, typ="x+jwt")

    header, payload = sdjwt.verify_jws(token, resolver(key), typ="x+jwt")

    assert header == {"alg": alg, "typ": "x+jwt", "kid": "dept-1"}
    assert payload == {"licence_id": "L-1", "status": "02"}


def test_verify_jws_refusals():
    token = sdjwt.sign_jws({"exp": NOW}, key=ISSUER_EC, kid="dept-1", alg="ES256", typ="x+jwt")

    assert reason_of(sdjwt.verify_jws, token, resolver(), typ="y+jwt") == "bad_typ"
    assert reason_of(sdjwt.verify_jws, token, resolver(OTHER_EC), typ="x+jwt") == "bad_signature"
    assert reason_of(sdjwt.verify_jws, token, resolver(), typ="x+jwt", now=NOW + 60) == "expired"
    assert reason_of(sdjwt.verify_jws, token + "~", resolver(), typ="x+jwt") == "malformed"


def test_sign_jws_refusals():
    assert reason_of(sdjwt.sign_jws, {}, key=ISSUER_EC, kid="k", alg="HS256", typ="JWT") == "alg_not_allowed"
    assert reason_of(sdjwt.sign_jws, {}, key=ISSUER_EC, kid="k", alg="EdDSA", typ="JWT") == "bad_key"
    public = ISSUER_EC.as_dict(private=False)
    assert reason_of(sdjwt.sign_jws, {}, key=public, kid="k", alg="ES256", typ="JWT") == "bad_key"


def test_error_carries_reason_and_message():
    error = SdJwtError("expired", "the credential has expired")

    assert isinstance(error, ValueError)
    assert (error.reason, error.message, str(error)) == (
        "expired",
        "the credential has expired",
        "expired: the credential has expired",
    )
