"""Offline verification of what a lookup returns: an SD-JWT VC presentation with the hub's key binding.

Anyone holding the hub's key bundle can check a result without asking the hub (DESIGN 4): the department's
signature on the credential (RFC 9901 §7.1), every disclosure, ``exp``/``nbf`` (RFC 7519 §4.1.4-5, which
several SD-JWT libraries skip), the key binding (RFC 9901 §7.3: ``aud``, ``nonce``, freshness,
``sd_hash``), and the licence's entry in the hub-signed Status List Token (draft-ietf-oauth-status-list).

The key bundle is a JWK set whose every key names the issuer it is trusted for (an ``iss`` member), so a
department's key verifies only credentials that department issued, and the hub's keys only the key binding
and status lists. Imports nothing from the hub but ``hub.contract``, so a client may vendor it.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import quote

import httpx

from hub.contract import sdjwt

STATUS_LIST_TYP = "statuslist+jwt"
BUNDLE_FORMAT = "licence-hub-keys/1"
MAX_STATUS_LIST_BYTES = 16 << 20  # a decompressed list beyond this is refused, not inflated
_PUBLIC_MEMBERS = ("kty", "crv", "x", "y", "kid", "alg", "use")
# A retired key verifies what it signed before ``retired_at``, a compromised one what it signed before
# ``compromised_since`` (the department JWKS publish both as NumericDates); a key of another state none.
_USABLE_KEY_STATUSES = frozenset({"active", "retired", "compromised"})

# Every VerificationFailed.reason; the machine-readable half of what `hub verify` prints.
REASONS = frozenset(
    {
        "malformed",
        "keys_unavailable",
        "unknown_issuer_key",
        "bad_signature",
        "disclosure_not_referenced",
        "expired",
        "not_yet_valid",
        "kb_invalid",
        "aud_mismatch",
        "nonce_mismatch",
        "kb_stale",
        "sd_hash_mismatch",
        "status_revoked",
        "status_suspended",
        "status_unavailable",
        "status_list_bad_signature",
        "key_retired",
        "key_compromised",
    }
)
# Reasons hub.contract.sdjwt raises that keep their name here; any other becomes the step's default.
_KEPT = frozenset(
    {
        "bad_signature",
        "disclosure_not_referenced",
        "expired",
        "not_yet_valid",
        "kb_invalid",
        "aud_mismatch",
        "nonce_mismatch",
        "kb_stale",
        "sd_hash_mismatch",
    }
)


class VerificationFailed(Exception):
    """The presentation must not be relied on; ``reason`` is one of ``REASONS``."""

    def __init__(self, reason: str, message: str):
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


@contextmanager
def _reasons(default: str, keep: frozenset[str] = _KEPT) -> Iterator[None]:
    try:
        yield
    except sdjwt.SdJwtError as error:
        reason = error.reason if error.reason in keep else default
        raise VerificationFailed(reason, error.message) from None


@dataclass(frozen=True, slots=True)
class VerifiedLicence:
    """A presentation that passed every check; ``claims`` are the disclosed and plain claims (no ``cnf``)."""

    claims: dict[str, Any]
    licence_id: str | None
    issuer: str
    type: str | None
    status: Literal["valid", "unchecked"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "licence_id": self.licence_id,
            "type": self.type,
            "issuer": self.issuer,
            "status": self.status,
            "claims": self.claims,
        }


# -- trusted keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustedKey:
    iss: str
    kid: str
    jwk: Mapping[str, Any] = field(repr=False)  # public members only
    status: str | None = None
    retired_at: int | None = None
    compromised_since: int | None = None

    def check_signed_at(self, iat: Any) -> None:
        """Refuse a credential this key signed (by its ``iat``) after it was retired or compromised.

        ``iat`` is the signer's word: a thief of the key can backdate it. The hub refuses anything that
        reaches it after retirement or compromise whatever its ``iat``, and withholds (marks invalid in
        the status list) what reached it from ``compromised_since`` on, so the status check covers the
        rest."""
        if not isinstance(iat, int) or isinstance(iat, bool):
            raise VerificationFailed("malformed", "the credential has no iat")
        if self.status == "compromised" and (self.compromised_since is None or iat >= self.compromised_since):
            raise VerificationFailed(
                "key_compromised",
                f"key {self.kid!r} of {self.iss} is compromised since {self.compromised_since}",
            )
        if self.status == "retired" and self.retired_at is not None and iat > self.retired_at:
            raise VerificationFailed(
                "key_retired", f"key {self.kid!r} of {self.iss} was retired at {self.retired_at}, before iat"
            )


class TrustedKeys:
    """The hub's keys and each department's, every one tagged with the only ``iss`` it may verify."""

    def __init__(self, hub: str, keys: Iterable[TrustedKey]):
        self.hub = hub.rstrip("/")
        self._keys: dict[tuple[str, str], TrustedKey] = {}
        for key in keys:
            if (key.iss, key.kid) in self._keys:
                raise VerificationFailed("keys_unavailable", f"key {key.kid!r} of {key.iss} given twice")
            with _reasons("keys_unavailable", keep=frozenset()):
                sdjwt.alg_for_key(key.jwk)  # refuses private, unusable or unsupported keys now, not later
            self._keys[(key.iss, key.kid)] = key

    @property
    def keys(self) -> list[TrustedKey]:
        return list(self._keys.values())

    @property
    def issuers(self) -> set[str]:
        """The department issuers this bundle trusts (the hub itself issues no licence)."""
        return {iss for iss, _ in self._keys} - {self.hub}

    def issuer_key(self, iss: str, kid: str | None) -> TrustedKey | None:
        """The key ``kid`` of issuer ``iss``: never another issuer's, never the hub's."""
        if iss == self.hub or not isinstance(kid, str):
            return None
        key = self._keys.get((iss, kid))
        if key is None or (key.status is not None and key.status not in _USABLE_KEY_STATUSES):
            return None
        return key

    def hub_key(self, kid: str | None) -> Mapping[str, Any] | None:
        key = self._keys.get((self.hub, kid)) if isinstance(kid, str) else None
        return key.jwk if key is not None else None

    def is_hub_key(self, jwk: Mapping[str, Any]) -> bool:
        """Whether ``jwk`` (a credential's ``cnf.jwk``) has the coordinates of one of the hub's keys."""
        wanted = tuple(jwk.get(m) for m in ("kty", "crv", "x", "y"))
        return any(
            key.iss == self.hub and tuple(key.jwk.get(m) for m in ("kty", "crv", "x", "y")) == wanted
            for key in self._keys.values()
        )

    # The bundle is an RFC 7517 JWK set with extra members, so generic JWKS tools still read it.
    def to_bundle(self) -> dict[str, Any]:
        keys = []
        for key in self._keys.values():
            entry = {**key.jwk, "iss": key.iss}
            for name in ("status", "retired_at", "compromised_since"):
                if getattr(key, name) is not None:
                    entry[name] = getattr(key, name)
            keys.append(entry)
        return {"format": BUNDLE_FORMAT, "hub": self.hub, "keys": keys}

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_bundle(), indent=2, ensure_ascii=False) + "\n")

    @classmethod
    def from_bundle(cls, bundle: Any) -> TrustedKeys:
        if not isinstance(bundle, Mapping) or not isinstance(bundle.get("hub"), str):
            raise VerificationFailed(
                "keys_unavailable",
                'not a key bundle (a JWK set with "hub" and an "iss" on every key); '
                "build one from the hub's address with `hub verify --jwks URL --save-keys FILE`",
            )
        entries = bundle.get("keys")
        if not isinstance(entries, list):
            raise VerificationFailed("keys_unavailable", 'the bundle has no "keys" array')
        keys = []
        for entry in entries:
            if not isinstance(entry, Mapping) or not isinstance(entry.get("iss"), str):
                raise VerificationFailed("keys_unavailable", 'every key of the bundle needs an "iss"')
            keys.append(_trusted_key(entry, entry["iss"]))
        return cls(bundle["hub"], keys)

    @classmethod
    def load(cls, source: str | Path, *, http: httpx.Client | None = None) -> TrustedKeys:
        """A saved bundle file, or a running hub's address (or its ``/.well-known/jwks.json``)."""
        text = str(source)
        if text.startswith(("http://", "https://")):
            return fetch_trusted_keys(text.removesuffix("/.well-known/jwks.json"), http=http)
        try:
            bundle = json.loads(Path(source).read_text())
        except (OSError, ValueError) as error:
            raise VerificationFailed("keys_unavailable", f"cannot read key bundle {text}: {error}") from None
        return cls.from_bundle(bundle)


def _trusted_key(jwk: Mapping[str, Any], iss: str) -> TrustedKey:
    if "d" in jwk:
        raise VerificationFailed("keys_unavailable", "a trusted key must be public")
    public = {m: jwk[m] for m in _PUBLIC_MEMBERS if m in jwk}
    kid, status = public.get("kid"), jwk.get("status")
    if not isinstance(kid, str) or not kid:
        raise VerificationFailed("keys_unavailable", f"a key of {iss} has no kid")
    if status is not None and not isinstance(status, str):
        raise VerificationFailed("keys_unavailable", f"key {kid!r} has a non-string status")
    times = {name: jwk.get(name) for name in ("retired_at", "compromised_since")}
    for name, value in times.items():
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise VerificationFailed("keys_unavailable", f"key {kid!r} has a non-NumericDate {name}")
    return TrustedKey(iss=iss, kid=kid, jwk=public, status=status, **times)


def http_client(timeout: float = 10.0) -> httpx.Client:
    """The HTTP client the ``hub verify`` command uses (one place to swap its transport)."""
    return httpx.Client(timeout=timeout, follow_redirects=False)


def _get_json(http: httpx.Client, url: str) -> Any:
    try:
        response = http.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as error:
        raise VerificationFailed("keys_unavailable", f"GET {url}: {error}") from None
    if response.status_code != 200:
        raise VerificationFailed("keys_unavailable", f"GET {url} answered {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise VerificationFailed("keys_unavailable", f"GET {url} did not return JSON") from None


def fetch_trusted_keys(hub_url: str, *, http: httpx.Client | None = None) -> TrustedKeys:
    """Build the bundle from a running hub: its metadata ``issuer`` (RFC 8414), ``/.well-known/jwks.json``,
    and the JWKS of every department in ``/v1/departments``, each key tagged with its department's issuer.
    """
    base = hub_url.rstrip("/")
    owned = http is None
    client = http or http_client()
    try:
        metadata = _get_json(client, base + "/.well-known/oauth-authorization-server")
        hub_id = metadata.get("issuer") if isinstance(metadata, dict) else None
        if not isinstance(hub_id, str) or not hub_id:
            raise VerificationFailed("keys_unavailable", f"{base} publishes no issuer in its metadata")
        hub_jwks = _get_json(client, base + "/.well-known/jwks.json")
        if not isinstance(hub_jwks, dict) or not isinstance(hub_jwks.get("keys"), list):
            raise VerificationFailed("keys_unavailable", "the hub's JWKS has no keys")
        keys = [_trusted_key(jwk, hub_id) for jwk in hub_jwks["keys"]]
        departments = _get_json(client, base + "/v1/departments")
        if not isinstance(departments, list):
            raise VerificationFailed("keys_unavailable", "/v1/departments is not a list")
        for department in departments:
            if not isinstance(department, dict):
                raise VerificationFailed("keys_unavailable", "/v1/departments holds a non-object")
            issuer, department_id = department.get("issuer"), department.get("id")
            if not isinstance(issuer, str) or not isinstance(department_id, str) or issuer == hub_id:
                raise VerificationFailed("keys_unavailable", f"department {department_id!r} has no issuer")
            jwks = _get_json(client, f"{base}/v1/departments/{quote(department_id, safe='')}/jwks")
            if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
                raise VerificationFailed("keys_unavailable", f"department {department_id} has no JWKS")
            keys.extend(_trusted_key(jwk, issuer) for jwk in jwks["keys"])
    finally:
        if owned:
            client.close()
    return TrustedKeys(hub_id, keys)


# -- status lists ---------------------------------------------------------------------------------------


class StatusSource(Protocol):
    """Where a Status List Token comes from: the hub, or one saved earlier for fully offline checks."""

    def status_list_token(self, uri: str) -> str: ...


class OnlineStatus:
    """Fetches each status list from its ``uri`` (once per instance)."""

    def __init__(self, http: httpx.Client | None = None):
        self._http = http
        self._tokens: dict[str, str] = {}

    def status_list_token(self, uri: str) -> str:
        if uri not in self._tokens:
            client = self._http or http_client()
            try:
                response = client.get(uri, headers={"Accept": "application/statuslist+jwt"})
            except httpx.HTTPError as error:
                raise VerificationFailed("status_unavailable", f"GET {uri}: {error}") from None
            finally:
                if self._http is None:
                    client.close()
            if response.status_code != 200:
                raise VerificationFailed("status_unavailable", f"GET {uri} answered {response.status_code}")
            self._tokens[uri] = response.text.strip()
        return self._tokens[uri]


class SavedStatus:
    """Status List Tokens saved earlier, by the ``sub`` each names (checked again after verification)."""

    def __init__(self, tokens: Iterable[str] | Mapping[str, str]):
        if isinstance(tokens, Mapping):
            self._tokens = {uri: token.strip() for uri, token in tokens.items()}
            return
        self._tokens = {}
        for token in tokens:
            with _reasons("status_unavailable", keep=frozenset()):
                sub = sdjwt.decode_jws(token.strip(), "status list token").payload.get("sub")
            if not isinstance(sub, str):
                raise VerificationFailed("status_unavailable", "a saved status list token has no sub")
            self._tokens[sub] = token.strip()

    @classmethod
    def load(cls, path: str | Path) -> SavedStatus:
        """A file holding one or more compact tokens (whitespace between), or a JSON object uri -> token."""
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise VerificationFailed("status_unavailable", f"cannot read {path}: {error}") from None
        if text.lstrip().startswith("{"):
            try:
                mapping = json.loads(text)
            except ValueError:
                raise VerificationFailed("status_unavailable", f"{path} is not valid JSON") from None
            if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                raise VerificationFailed("status_unavailable", f"{path} must map each uri to a token")
            return cls(mapping)
        return cls(text.split())

    def status_list_token(self, uri: str) -> str:
        token = self._tokens.get(uri)
        if token is None:
            raise VerificationFailed("status_unavailable", f"no saved status list for {uri}")
        return token


def verify_status_list_token(
    token: str, *, keys: TrustedKeys, uri: str, now: int | None = None, leeway_s: int = 60
) -> dict[str, Any]:
    """Check a Status List Token (draft-ietf-oauth-status-list §5): signed by the hub, ``typ``, not
    expired, ``sub`` naming ``uri``. Returns its payload."""
    now = int(time.time()) if now is None else now
    signature_reasons = frozenset({"bad_signature", "unknown_kid", "bad_typ", "alg_not_allowed"})
    try:
        _, payload = sdjwt.verify_jws(
            token,
            lambda header: keys.hub_key(header.get("kid")),
            typ=STATUS_LIST_TYP,
            now=now,
            leeway_s=leeway_s,
        )
    except sdjwt.SdJwtError as error:
        if error.reason in signature_reasons:
            raise VerificationFailed("status_list_bad_signature", f"status list: {error.message}") from None
        if error.reason == "expired":
            raise VerificationFailed("status_unavailable", "the status list token has expired") from None
        raise VerificationFailed("status_unavailable", f"status list: {error.message}") from None
    if payload.get("iss") != keys.hub:
        raise VerificationFailed("status_list_bad_signature", "the status list is not issued by the hub")
    if "exp" not in payload:
        raise VerificationFailed("status_unavailable", "the status list token has no exp")
    if payload.get("sub") != uri:
        raise VerificationFailed("status_unavailable", f"the status list token is not the one at {uri}")
    return payload


def status_value(status_list: Any, index: int) -> int:
    """The value at ``index`` of a ``status_list`` claim ({bits, lst}: base64url of zlib, low bits first)."""
    if not isinstance(status_list, Mapping):
        raise VerificationFailed("status_unavailable", "the token has no status_list")
    bits, lst = status_list.get("bits"), status_list.get("lst")
    if bits not in (1, 2, 4, 8) or not isinstance(lst, str):
        raise VerificationFailed("status_unavailable", "status_list needs bits 1, 2, 4 or 8 and an lst")
    try:
        compressed = base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))
        inflater = zlib.decompressobj()
        raw = inflater.decompress(compressed, MAX_STATUS_LIST_BYTES)
    except (binascii.Error, ValueError, zlib.error):
        raise VerificationFailed("status_unavailable", "status_list.lst is not base64url zlib") from None
    if inflater.unconsumed_tail:
        raise VerificationFailed("status_unavailable", "the status list is too large")
    per_byte = 8 // bits
    if index // per_byte >= len(raw):
        raise VerificationFailed("status_unavailable", f"index {index} is beyond the status list")
    return (raw[index // per_byte] >> ((index % per_byte) * bits)) & ((1 << bits) - 1)


def check_status(
    payload: Mapping[str, Any],
    *,
    keys: TrustedKeys,
    source: StatusSource,
    now: int | None = None,
    leeway_s: int = 60,
) -> None:
    """Refuse a credential whose status list entry is not VALID (0): 1 invalid, 2 suspended."""
    status = payload.get("status")
    reference = status.get("status_list") if isinstance(status, Mapping) else None
    uri = reference.get("uri") if isinstance(reference, Mapping) else None
    index = reference.get("idx") if isinstance(reference, Mapping) else None
    if not isinstance(uri, str) or not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise VerificationFailed("status_unavailable", "the credential carries no status list reference")
    if not uri.startswith(keys.hub + "/"):
        raise VerificationFailed("status_unavailable", f"the status list {uri} is not the hub's")
    token = source.status_list_token(uri)
    list_payload = verify_status_list_token(token, keys=keys, uri=uri, now=now, leeway_s=leeway_s)
    value = status_value(list_payload.get("status_list"), index)
    if value == 1:
        raise VerificationFailed(
            "status_revoked", "the licence is no longer valid (revoked, annulled, cancelled or lapsed)"
        )
    if value == 2:
        raise VerificationFailed("status_suspended", "the licence is suspended")
    if value != 0:
        raise VerificationFailed("status_unavailable", f"unknown status value {value}")


# -- presentations --------------------------------------------------------------------------------------


def verify_presentation_offline(
    presentation: str,
    *,
    keys: TrustedKeys,
    aud: str,
    nonce: str,
    max_age_s: int = 300,
    now: int | None = None,
    status: StatusSource | None,
    leeway_s: int = 60,
) -> VerifiedLicence:
    """Verify a lookup's SD-JWT+KB against trusted keys; ``status=None`` skips the status list on purpose.

    Order: framing; the department's key for the credential's own ``iss`` and its signature (RFC 9901
    §7.1 step 2); ``exp``/``nbf``/``iat``; every disclosure referenced by a digest (step 3); the holder key is
    the hub's; the KB-JWT (§7.3); then the status list entry.
    """
    now = int(time.time()) if now is None else int(now)
    if not isinstance(presentation, str):
        raise VerificationFailed("malformed", "a presentation is a string")
    with _reasons("malformed", keep=frozenset()):
        parsed = sdjwt.parse(presentation.strip())

    iss, kid = parsed.payload.get("iss"), parsed.header.get("kid")
    if not isinstance(iss, str):
        raise VerificationFailed("malformed", "the credential has no iss")
    issuer_key = keys.issuer_key(iss, kid)
    if issuer_key is None:
        known = (
            "the hub issues no licences"
            if iss == keys.hub
            else (
                f"no trusted key {kid!r} for {iss}"
                if iss in keys.issuers
                else f"{iss} is not a trusted issuer"
            )
        )
        raise VerificationFailed("unknown_issuer_key", known)
    with _reasons("malformed"):
        sdjwt.verify_issuer_signature(parsed, lambda _header: issuer_key.jwk)
    issuer_key.check_signed_at(parsed.payload.get("iat"))
    with _reasons("malformed"):
        sdjwt.check_validity(parsed.payload, now=now, leeway_s=leeway_s)
        claims = sdjwt.resolve_disclosures(parsed)

    with _reasons("kb_invalid"):
        holder = sdjwt.holder_key_from_cnf(parsed.payload)
        if not keys.is_hub_key(parsed.payload["cnf"]["jwk"]):
            raise VerificationFailed("kb_invalid", "the credential is not bound to a hub key")
        sdjwt.verify_key_binding(
            parsed, holder_key=holder, aud=aud, nonce=nonce, max_age_s=max_age_s, now=now, leeway_s=leeway_s
        )

    if status is not None:
        check_status(parsed.payload, keys=keys, source=status, now=now, leeway_s=leeway_s)
    claims.pop("cnf", None)
    licence_id, vct = claims.get("licence_id"), claims.get("vct")
    return VerifiedLicence(
        claims=claims,
        licence_id=licence_id if isinstance(licence_id, str) else None,
        issuer=iss,
        type=vct if isinstance(vct, str) else None,
        status="valid" if status is not None else "unchecked",
    )


StatusMode = Literal["online", "offline", "skip"]


def verify_command(
    presentation: str,
    *,
    jwks: str,
    aud: str,
    nonce: str,
    status_mode: StatusMode = "online",
    status_list: str | Path | None = None,
    save_keys: str | Path | None = None,
    max_age_s: int = 300,
) -> VerifiedLicence:
    """What ``hub verify`` does: load (and optionally save) the keys, pick the status source, verify."""
    if status_mode == "offline" and status_list is None:
        raise VerificationFailed("status_unavailable", "--status offline needs --status-list FILE")
    if status_mode != "offline" and status_list is not None:
        raise VerificationFailed("status_unavailable", "--status-list goes with --status offline")
    keys = TrustedKeys.load(jwks)
    if save_keys is not None:
        keys.save(save_keys)
    source: StatusSource | None
    if status_mode == "online":
        source = OnlineStatus()
    elif status_mode == "offline":
        assert status_list is not None
        source = SavedStatus.load(status_list)
    else:
        source = None
    return verify_presentation_offline(
        presentation, keys=keys, aud=aud, nonce=nonce, max_age_s=max_age_s, status=source
    )
