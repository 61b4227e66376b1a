"""Offline verification of lookup results (issue 5, item 5): the importable verifier, ``hub verify``, and
the independent ``sd-jwt`` reference library (openwallet-foundation-labs) on the same presentations."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jwcrypto.jwk import JWK
from sd_jwt.verifier import SDJWTVerifier
from typer.testing import CliRunner

from hub.cli import app
from hub.contract import sdjwt, verifier
from hub.contract.issuing import build_credential
from hub.contract.verifier import (
    OnlineStatus,
    SavedStatus,
    TrustedKeys,
    VerificationFailed,
    verify_presentation_offline,
)
from hub.demo_data import sample_values
from hub.main import create_app
from tests.factories import ID_CARD, TYPES
from tests.verify.conftest import CITIZEN, NONCE, Evidence

runner = CliRunner()


# -- altering a presentation as an attacker or a careless client would ----------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def id_card(evidence: Evidence) -> str:
    return evidence.presentations["id_card"]


def split(presentation: str) -> tuple[str, list[str], str]:
    issuer_jwt, *disclosures, kb = presentation.split("~")
    return issuer_jwt, disclosures, kb


def join(issuer_jwt: str, disclosures: list[str], kb: str) -> str:
    return "~".join([issuer_jwt, *disclosures, kb])


def tamper_disclosure(presentation: str) -> str:
    """Replace the disclosed ``name`` by another value: a new disclosure the issuer never signed."""
    issuer_jwt, disclosures, kb = split(presentation)
    index = next(
        i
        for i, d in enumerate(disclosures)
        if sdjwt.parse(f"{issuer_jwt}~{d}~").disclosures[0].name == "name"
    )
    disclosures[index] = sdjwt.make_disclosure("name", "李四").encoded
    return join(issuer_jwt, disclosures, kb)


def drop_disclosure(presentation: str) -> str:
    issuer_jwt, disclosures, kb = split(presentation)
    return join(issuer_jwt, disclosures[1:], kb)


def change_issuer_payload(presentation: str) -> str:
    issuer_jwt, disclosures, kb = split(presentation)
    header, _, signature = issuer_jwt.split(".")
    claims = sdjwt.decode_jws(issuer_jwt).payload | {"licence_id": "forged"}
    forged = b64(json.dumps(claims).encode())
    return join(f"{header}.{forged}.{signature}", disclosures, kb)


def foreign_key_binding(presentation: str) -> str:
    """A KB-JWT with the right aud, nonce and sd_hash, signed by a key that is not the credential's cnf."""
    from joserfc.jwk import ECKey

    issuer_jwt, disclosures, _ = split(presentation)
    body = join(issuer_jwt, disclosures, "")
    kb_payload = {
        "iat": int(time.time()),
        "aud": "x",
        "nonce": NONCE,
        "sd_hash": b64(hashlib.sha256(body.encode()).digest()),
    }
    other = ECKey.generate_key("P-256", private=True)
    return body + sdjwt.sign_jws(kb_payload, key=other, kid="other", alg="ES256", typ=sdjwt.KB_TYP)


def forge_issuer(
    evidence: Evidence, *, iss: str, key: Any, kid: str, alg: str, hub_url: str = "http://hub.test"
) -> str:
    """A credential claiming ``iss`` signed with ``key``, presented with the hub's real holder key."""
    spec = TYPES[ID_CARD]
    credential = build_credential(
        licence_type=spec, licence_id=evidence.police.licence_id(ID_CARD),
        values=sample_values(spec, CITIZEN, evidence.police.rng), issuer=iss, key=key, kid=kid, alg=alg,
        holder_jwk=evidence.police.holder_jwk, hub_url=hub_url, department_id=evidence.police.id,
        status_list=0, status_index=900,
    )  # fmt: skip
    holder_kid = evidence.police.holder_jwk["kid"]
    holder_key = evidence.hub.signer.key_for(holder_kid)
    assert holder_key is not None
    return sdjwt.present(
        credential, release=["name"], holder_key=holder_key,
        holder_kid=holder_kid, aud=evidence.aud, nonce=NONCE,
    )  # fmt: skip


# -- the importable verifier ----------------------------------------------------------------------------


def verify(evidence: Evidence, presentation: str, **overrides: Any) -> verifier.VerifiedLicence:
    options: dict[str, Any] = {
        "keys": TrustedKeys.load(evidence.bundle),
        "aud": evidence.aud,
        "nonce": NONCE,
        "status": OnlineStatus(evidence.client),
    }
    return verify_presentation_offline(presentation, **(options | overrides))


def failure(call: Callable[[], Any]) -> str:
    with pytest.raises(VerificationFailed) as caught:
        call()
    assert caught.value.reason in verifier.REASONS
    return caught.value.reason


def test_a_lookup_result_verifies_offline_with_the_saved_key_bundle(evidence: Evidence) -> None:
    keys = TrustedKeys.load(evidence.bundle)
    status = SavedStatus.load(evidence.status_lists)

    result = verify_presentation_offline(
        evidence.presentations["id_card"], keys=keys, aud=evidence.aud, nonce=NONCE, status=status
    )

    assert result.status == "valid"
    assert result.licence_id == evidence.licence_ids["id_card"]
    assert result.issuer == evidence.police.issuer and result.type == ID_CARD
    assert result.claims["id_number"] == CITIZEN and "name" in result.claims
    assert "address" not in result.claims and "cnf" not in result.claims  # tier 2 and the holder key
    assert "_sd" not in result.claims and "_sd_alg" not in result.claims


def test_an_eddsa_department_verifies_online_and_the_bundle_tags_every_key(evidence: Evidence) -> None:
    result = verify(evidence, evidence.presentations["business"])
    assert result.status == "valid" and result.issuer == evidence.commerce.issuer

    bundle = json.loads(evidence.bundle.read_text())
    by_kid = {k["kid"]: k for k in bundle["keys"]}
    assert bundle["hub"] == "http://hub.test"
    assert by_kid[evidence.police.kid]["iss"] == evidence.police.issuer
    assert by_kid[evidence.commerce.kid]["iss"] == evidence.commerce.issuer
    assert by_kid[evidence.commerce.kid]["status"] == "active" and "d" not in by_kid[evidence.commerce.kid]
    assert {k["kid"] for k in bundle["keys"] if k["iss"] == "http://hub.test"} == {
        k["kid"] for k in evidence.client.get("/.well-known/jwks.json").json()["keys"]
    }


def test_the_reference_library_verifies_the_same_presentations(evidence: Evidence) -> None:
    keys = TrustedKeys.load(evidence.bundle)

    def issuer_key(iss: str, header: dict[str, Any]) -> JWK:
        key = keys.issuer_key(iss, header.get("kid"))
        assert key is not None, f"no trusted key for {iss}"
        return JWK(**key.jwk)

    for name in ("id_card", "business"):  # ES256 and EdDSA departments
        presentation = evidence.presentations[name]
        reference = SDJWTVerifier(presentation, issuer_key, evidence.aud, NONCE).get_verified_payload()
        ours = verify(evidence, presentation)
        assert {k: v for k, v in reference.items() if k != "cnf"} == ours.claims

    # The reference library refuses what breaks the key binding ...
    with pytest.raises(ValueError, match="Invalid digest"):
        SDJWTVerifier(tamper_disclosure(evidence.presentations["id_card"]), issuer_key, evidence.aud, NONCE)
    with pytest.raises(ValueError, match="Invalid audience"):
        SDJWTVerifier(evidence.presentations["id_card"], issuer_key, "someone-else", NONCE)
    with pytest.raises(ValueError, match="Invalid nonce"):
        SDJWTVerifier(evidence.presentations["id_card"], issuer_key, evidence.aud, "other")
    # ... but does not look at exp (its verifier says "TODO: Check exp/nbf/iat"), which is why ours does.
    expired = SDJWTVerifier(evidence.presentations["expired"], issuer_key, evidence.aud, NONCE)
    assert expired.get_verified_payload()["exp"] < time.time()
    assert failure(lambda: verify(evidence, evidence.presentations["expired"])) == "expired"


CASES: dict[str, tuple[Callable[[Evidence], str], dict[str, Any], str]] = {
    "tampered disclosure": (lambda e: tamper_disclosure(id_card(e)), {}, "disclosure_not_referenced"),
    "wrong aud": (id_card, {"aud": "someone-else"}, "aud_mismatch"),
    "wrong nonce": (id_card, {"nonce": "other"}, "nonce_mismatch"),
    "expired credential": (lambda e: e.presentations["expired"], {}, "expired"),
    "revoked licence": (lambda e: e.presentations["household"], {}, "status_revoked"),
    "suspended licence": (lambda e: e.presentations["suspended"], {}, "status_suspended"),
    "dropped disclosure": (lambda e: drop_disclosure(id_card(e)), {}, "sd_hash_mismatch"),
    "forged issuer payload": (lambda e: change_issuer_payload(id_card(e)), {}, "bad_signature"),
    "foreign key binding": (lambda e: foreign_key_binding(id_card(e)), {}, "kb_invalid"),
    "not an sd-jwt": (lambda e: "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", {}, "malformed"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_failure_has_its_own_reason(evidence: Evidence, case: str) -> None:
    build, overrides, reason = CASES[case]
    assert failure(lambda: verify(evidence, build(evidence), **overrides)) == reason


def test_the_saved_status_list_shows_the_revocation_without_the_hub(evidence: Evidence) -> None:
    saved = SavedStatus.load(evidence.status_lists)
    revoked = failure(lambda: verify(evidence, evidence.presentations["household"], status=saved))
    assert revoked == "status_revoked"
    # Skipping the status check is explicit, and says so in the result.
    assert verify(evidence, evidence.presentations["household"], status=None).status == "unchecked"


def test_time_bounds_of_credential_and_key_binding(evidence: Evidence) -> None:
    presentation = evidence.presentations["id_card"]
    week_ago = int(time.time()) - 7 * 86400
    assert failure(lambda: verify(evidence, presentation, now=week_ago, status=None)) == "not_yet_valid"
    later = int(time.time()) + 3600
    assert failure(lambda: verify(evidence, presentation, now=later, status=None)) == "kb_stale"
    assert verify(evidence, presentation, now=later, max_age_s=7200, status=None).status == "unchecked"


@pytest.mark.parametrize("header_kid", ["own", "claimed"])
def test_a_department_key_verifies_only_its_own_iss(evidence: Evidence, header_kid: str) -> None:
    # The police key signs a credential claiming to come from commerce, naming either its own kid or
    # commerce's: neither verifies, because the bundle pairs each key with the one issuer it belongs to.
    kid = evidence.police.kid if header_kid == "own" else evidence.commerce.kid
    forged = forge_issuer(
        evidence, iss=evidence.commerce.issuer, key=evidence.police.key, kid=kid, alg="ES256"
    )
    expected = "unknown_issuer_key" if header_kid == "own" else "bad_signature"
    assert failure(lambda: verify(evidence, forged, status=None)) == expected
    # The same credential under the police's own iss is accepted: the refusal is about the pairing.
    genuine = forge_issuer(
        evidence, iss=evidence.police.issuer, key=evidence.police.key, kid=evidence.police.kid, alg="ES256"
    )
    assert verify(evidence, genuine, status=None).issuer == evidence.police.issuer


def test_the_hubs_own_keys_issue_no_licence(evidence: Evidence) -> None:
    hub_kid = evidence.police.holder_jwk["kid"]
    forged = forge_issuer(
        evidence, iss="http://hub.test", key=evidence.hub.signer.key_for(hub_kid), kid=hub_kid, alg="ES256"
    )
    assert failure(lambda: verify(evidence, forged, status=None)) == "unknown_issuer_key"


def test_a_status_list_elsewhere_than_the_hub_is_not_followed(evidence: Evidence) -> None:
    police = evidence.police
    elsewhere = forge_issuer(
        evidence,
        iss=police.issuer,
        key=police.key,
        kid=police.kid,
        alg="ES256",
        hub_url="https://evil.example",
    )
    assert verify(evidence, elsewhere, status=None).issuer == police.issuer  # genuinely signed
    assert failure(lambda: verify(evidence, elsewhere)) == "status_unavailable"


def test_status_list_tokens_are_checked_before_use(evidence: Evidence) -> None:
    from joserfc.jwk import ECKey

    presentation = evidence.presentations["id_card"]
    police_uri = f"http://hub.test/v1/status-lists/{evidence.police.id}/0"
    token = evidence.client.get(police_uri).text
    header, payload = sdjwt.decode_jws(token).header, sdjwt.decode_jws(token).payload
    impostor = ECKey.generate_key("P-256", private=True)
    resigned = sdjwt.sign_jws(payload, key=impostor, kid=header["kid"], alg="ES256", typ="statuslist+jwt")
    assert (
        failure(lambda: verify(evidence, presentation, status=SavedStatus({police_uri: resigned})))
        == "status_list_bad_signature"
    )

    commerce_token = evidence.client.get(f"/v1/status-lists/{evidence.commerce.id}/0").text
    swapped = SavedStatus({police_uri: commerce_token})  # a valid token, but for another list
    assert failure(lambda: verify(evidence, presentation, status=swapped)) == "status_unavailable"

    after_expiry = payload["exp"] + 120
    outdated = failure(
        lambda: verify(evidence, presentation, status=SavedStatus([token]), now=after_expiry, max_age_s=10**6)
    )
    assert outdated == "status_unavailable"
    assert failure(lambda: verify(evidence, presentation, status=SavedStatus([]))) == "status_unavailable"


def test_key_bundles_are_refused_when_they_do_not_say_whose_keys_they_are(
    evidence: Evidence, tmp_path: Path
) -> None:
    plain = tmp_path / "jwks.json"
    plain.write_text(json.dumps(evidence.client.get("/.well-known/jwks.json").json()))
    assert failure(lambda: TrustedKeys.load(plain)) == "keys_unavailable"
    untagged = json.loads(evidence.bundle.read_text())
    del untagged["keys"][0]["iss"]
    assert failure(lambda: TrustedKeys.from_bundle(untagged)) == "keys_unavailable"
    assert failure(lambda: TrustedKeys.load(tmp_path / "missing.json")) == "keys_unavailable"


# -- hub verify -----------------------------------------------------------------------------------------


@pytest.fixture
def hub_over_http(evidence: Evidence, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hub verify`` reaches the test hub through Starlette's in-process transport instead of a socket."""
    monkeypatch.setattr(
        verifier, "http_client", lambda timeout=10.0: TestClient(create_app(hub=evidence.hub))
    )


def hub_verify(evidence: Evidence, presentation: Path | str, *args: str, stdin: str | None = None) -> Any:
    return runner.invoke(
        app,
        ["verify", str(presentation), "--aud", evidence.aud, "--nonce", NONCE, *args],
        input=stdin,
    )


def test_hub_verify_fetches_saves_and_prints_the_claims(
    evidence: Evidence, hub_over_http: None, tmp_path: Path
) -> None:
    saved = tmp_path / "bundle.json"
    file = evidence.write(tmp_path, "id_card", evidence.presentations["id_card"])

    result = hub_verify(evidence, file, "--jwks", "http://hub.test", "--save-keys", str(saved))

    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["licence_id"] == evidence.licence_ids["id_card"] and printed["status"] == "valid"
    assert printed["claims"]["id_number"] == CITIZEN
    assert json.loads(saved.read_text()) == json.loads(evidence.bundle.read_text())

    offline = hub_verify(
        evidence, "-", "--jwks", str(saved), "--status", "offline",
        "--status-list", str(evidence.status_lists), stdin=evidence.presentations["business"],
    )  # fmt: skip
    assert offline.exit_code == 0, offline.output
    assert json.loads(offline.stdout)["issuer"] == evidence.commerce.issuer


CLI_CASES = ["tampered disclosure", "wrong aud", "wrong nonce", "expired credential", "revoked licence"]


@pytest.mark.parametrize("case", CLI_CASES)
@pytest.mark.parametrize("status", ["online", "offline"])
def test_hub_verify_names_each_failure(
    evidence: Evidence, hub_over_http: None, tmp_path: Path, case: str, status: str
) -> None:
    build, overrides, reason = CASES[case]
    file = evidence.write(tmp_path, "presentation", build(evidence))
    args = ["--jwks", str(evidence.bundle), "--status", status]
    if status == "offline":
        args += ["--status-list", str(evidence.status_lists)]
    if "aud" in overrides:
        args += ["--aud", overrides["aud"]]
    if "nonce" in overrides:
        args += ["--nonce", overrides["nonce"]]

    result = hub_verify(evidence, file, *args)

    assert result.exit_code == 1
    assert result.stderr.startswith(f"failed: {reason}: "), result.output
    assert result.stdout == ""


def test_hub_verify_refuses_a_missing_file_and_a_missing_status_list(
    evidence: Evidence, tmp_path: Path
) -> None:
    missing = hub_verify(evidence, tmp_path / "nope", "--jwks", str(evidence.bundle))
    assert missing.exit_code == 1 and missing.stderr.startswith("failed: malformed: cannot read")
    file = evidence.write(tmp_path, "id_card", evidence.presentations["id_card"])
    no_list = hub_verify(evidence, file, "--jwks", str(evidence.bundle), "--status", "offline")
    assert no_list.exit_code == 1 and no_list.stderr.startswith("failed: status_unavailable: ")
