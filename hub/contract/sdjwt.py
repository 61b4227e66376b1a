"""SD-JWT (RFC 9901) and SD-JWT VC credentials, plus the compact JWS helpers both sides sign with.

Shared by the hub and the department adapters, so it imports nothing else from the project. Signing and
signature checks are joserfc's algorithm models; this module does the framing, the disclosure digests and
every check around them, decoding each segment exactly once.
"""

from __future__ import annotations

import binascii
import hashlib
import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, JWKRegistry, OKPKey
from joserfc.jws import JWSAlgModel, JWSRegistry

SD_ALG = "sha-256"
CREDENTIAL_TYP = "dc+sd-jwt"
KB_TYP = "kb+jwt"
MAX_COMPACT_CHARS = 1 << 20

SigningKey = ECKey | OKPKey
KeyLike = ECKey | OKPKey | Mapping[str, Any]
KeyResolver = Callable[[dict[str, Any]], "KeyLike | None"]

# alg -> (key class, curve). One entry per algorithm is all a new one (SM2 later) needs, plus its model.
_KEY_SHAPES: dict[str, tuple[type[SigningKey], str]] = {
    "ES256": (ECKey, "P-256"),
    "EdDSA": (OKPKey, "Ed25519"),
}
ALLOWED_ALGS = frozenset(_KEY_SHAPES)
# Taken from the registry directly: JWSRegistry.get_alg() warns on every "EdDSA" use (RFC 9864).
_ALG_MODELS: dict[str, JWSAlgModel] = {name: JWSRegistry.algorithms[name] for name in ALLOWED_ALGS}

# draft-ietf-oauth-sd-jwt-vc §3.2.2.2: these claims must stay in the clear; "_sd_alg" is ours.
NEVER_DISCLOSED = frozenset({"iss", "nbf", "exp", "cnf", "vct", "vct#integrity", "status", "_sd_alg"})
_RESERVED_NAMES = frozenset({"_sd", "..."})  # RFC 9901 §4.2.1


class SdJwtError(ValueError):
    """A credential, presentation or JWS that must be refused; ``reason`` is a short machine code."""

    def __init__(self, reason: str, message: str | None = None):
        super().__init__(reason, message or reason)
        self.reason = reason
        self.message = message or reason

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class Disclosure(NamedTuple):  # a tuple: thousands are made per ingest batch
    salt: str
    name: str | None  # None for an array-element disclosure
    value: Any
    encoded: str
    digest: str


class CompactJws(NamedTuple):
    header: dict[str, Any]
    payload: dict[str, Any]
    signing_input: bytes
    signature: bytes


@dataclass(slots=True)
class ParsedSdJwt:
    issuer_jwt: str
    header: dict[str, Any]
    payload: dict[str, Any]
    disclosures: list[Disclosure]
    kb_jwt: str | None
    sd_hash_input: str
    issuer: CompactJws = field(repr=False)
    kb: CompactJws | None = field(default=None, repr=False)


# -- encoding -------------------------------------------------------------------------------------------


_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", b"", b"==", b"=")


def _b64encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=").decode("ascii")


def _b64decode(segment: str, what: str) -> bytes:
    # Strict (RFC 7515 §2): URL-safe alphabet only, no padding, no whitespace. binascii directly, because
    # the base64 module's wrappers cost more than the decoding on this path.
    try:
        data = segment.encode("ascii")
        if b"+" in data or b"/" in data or b"=" in data or len(data) % 4 == 1:
            raise ValueError(what)
        return binascii.a2b_base64(data.translate(_TO_STANDARD) + _PADDING[len(data) % 4], strict_mode=True)
    except ValueError:  # also UnicodeEncodeError and binascii.Error
        raise SdJwtError("malformed", f"{what} is not base64url") from None


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


# Duplicate member names are refused rather than "last wins" (RFC 7515 §5.2), so no two parsers disagree.
_DECODER = json.JSONDecoder(object_pairs_hook=_object_without_duplicates, parse_constant=_no_constants)
# Text without "{" holds no object, so no duplicate member: the plain decoder is exact and much faster.
_PLAIN_DECODER = json.JSONDecoder(parse_constant=_no_constants)
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def _json(raw: bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8")
        decoder = _DECODER if "{" in text else _PLAIN_DECODER
        try:
            # The C scanner alone, without decode()'s two Python-level frames: enough for the usual text
            # holding one value and no surrounding whitespace. Anything else takes the full decode().
            value, end = decoder.scan_once(text, 0)  # type: ignore[attr-defined]
            if end == len(text):
                return value
        except StopIteration:
            pass
        return decoder.decode(text)
    except (ValueError, RecursionError):
        raise SdJwtError("malformed", f"{what} is not valid JSON") from None


def _digest(encoded: str) -> str:
    return _b64encode(hashlib.sha256(encoded.encode("ascii")).digest())


# -- keys -----------------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _import_public_jwk(items: tuple[tuple[str, Any], ...]) -> SigningKey:
    key = JWKRegistry.import_key(dict(items))
    if not isinstance(key, (ECKey, OKPKey)):
        raise ValueError("not an EC or OKP key")
    return key


def _coerce_key(key: KeyLike | None, *, private: bool) -> SigningKey:
    if isinstance(key, (ECKey, OKPKey)):
        return key
    if not isinstance(key, Mapping):
        raise SdJwtError("bad_key", f"expected a joserfc EC/OKP key or a JWK, got {type(key).__name__}")
    try:
        if private:
            imported = JWKRegistry.import_key(dict(key))
            if not isinstance(imported, (ECKey, OKPKey)):
                raise ValueError("not an EC or OKP key")
            return imported
        if "d" in key:
            raise ValueError("a public JWK must not carry private members")
        # Public JWKs repeat (every credential's cnf, every department key), so imports are cached.
        items = tuple(sorted(key.items()))
        try:
            hash(items)
        except TypeError:  # list-valued members such as key_ops
            return _import_public_jwk.__wrapped__(items)
        return _import_public_jwk(items)
    except (JoseError, ValueError, TypeError) as error:
        raise SdJwtError("bad_key", f"unusable JWK: {error}") from None


def _check_key_for(alg: str, key: SigningKey, reason: str) -> JWSAlgModel:
    model = _ALG_MODELS[alg]
    key_cls, curve = _KEY_SHAPES[alg]
    if not isinstance(key, key_cls) or key.curve_name != curve:
        raise SdJwtError(reason, f"{alg} needs a {curve} key")
    try:
        model.check_key(key)  # kty, and the JWK's own "use"/"alg" if it sets them
    except JoseError as error:
        raise SdJwtError(reason, f"key refused for {alg}: {error}") from None
    return model


def alg_for_key(key: KeyLike) -> str:
    """The JWS alg this module signs with for ``key`` (ES256 for P-256, EdDSA for Ed25519)."""
    resolved = _coerce_key(key, private=isinstance(key, Mapping) and "d" in key)
    for alg, (key_cls, curve) in _KEY_SHAPES.items():
        if isinstance(resolved, key_cls) and resolved.curve_name == curve:
            return alg
    raise SdJwtError("bad_key", "only P-256 and Ed25519 keys are supported")


# -- compact JWS ----------------------------------------------------------------------------------------


def sign_jws(payload: Mapping[str, Any], *, key: KeyLike, kid: str | None, alg: str, typ: str) -> str:
    """Sign ``payload`` as a compact JWS (RFC 7515 §7.1) with header ``alg``, ``typ`` and ``kid``."""
    if alg not in _ALG_MODELS:
        raise SdJwtError("alg_not_allowed", f"cannot sign with {alg!r}; allowed: {sorted(ALLOWED_ALGS)}")
    signing_key = _coerce_key(key, private=True)
    model = _check_key_for(alg, signing_key, "bad_key")
    header = {"alg": alg, "typ": typ, "kid": kid} if kid else {"alg": alg, "typ": typ}
    signing_input = _b64encode(_dumps(header).encode()) + "." + _b64encode(_dumps(payload).encode())
    try:
        signature = model.sign(signing_input.encode("ascii"), signing_key)
    except JoseError as error:
        raise SdJwtError("bad_key", f"cannot sign: {error}") from None
    return signing_input + "." + _b64encode(signature)


def decode_jws(compact: str, what: str = "JWS") -> CompactJws:
    """Split and decode a compact JWS without verifying it; header and payload must be JSON objects."""
    parts = compact.split(".")
    if len(parts) != 3:
        raise SdJwtError("malformed", f"{what} must have three segments")
    header_b64, payload_b64, signature_b64 = parts
    header = _json(_b64decode(header_b64, f"{what} header"), f"{what} header")
    if not isinstance(header, dict) or not isinstance(header.get("alg"), str):
        raise SdJwtError("malformed", f"{what} header must be an object with an alg")
    payload = _json(_b64decode(payload_b64, f"{what} payload"), f"{what} payload")
    if not isinstance(payload, dict):
        raise SdJwtError("malformed", f"{what} payload must be an object")
    signature = _b64decode(signature_b64, f"{what} signature")
    signing_input = compact[: len(header_b64) + 1 + len(payload_b64)].encode("ascii")
    return CompactJws(header, payload, signing_input, signature)


def _verify_compact(
    jws: CompactJws,
    key_source: KeyResolver | KeyLike | None,
    *,
    typ: str,
    what: str,
    kb: bool = False,
) -> None:
    header = jws.header
    alg = header["alg"]
    if alg not in _ALG_MODELS:
        reason = "kb_invalid" if kb else "alg_not_allowed"
        raise SdJwtError(reason, f"{what} alg {alg!r} is not one of {sorted(ALLOWED_ALGS)}")
    if header.get("typ") != typ:
        raise SdJwtError("kb_invalid" if kb else "bad_typ", f"{what} typ must be {typ!r}")
    if "crit" in header:
        # RFC 7515 §4.1.11: we understand no extensions, so a critical one must be refused.
        raise SdJwtError("kb_invalid" if kb else "malformed", f"{what} has unsupported crit parameters")

    if callable(key_source):
        try:
            resolved = key_source(header)
        except LookupError:
            resolved = None
        if resolved is None:
            raise SdJwtError("unknown_kid", f"no key for {what} kid {header.get('kid')!r}")
    else:
        resolved = key_source
    key = _coerce_key(resolved, private=False) if isinstance(resolved, Mapping) else resolved
    if not isinstance(key, (ECKey, OKPKey)):
        raise SdJwtError("kb_invalid" if kb else "unknown_kid", f"no usable key for {what}")

    model = _check_key_for(alg, key, "kb_invalid" if kb else "bad_signature")
    try:
        valid = model.verify(jws.signing_input, jws.signature, key)
    except JoseError:
        valid = False
    if not valid:
        raise SdJwtError("kb_invalid" if kb else "bad_signature", f"{what} signature does not verify")


def verify_jws(
    compact: str,
    key_resolver: KeyResolver,
    *,
    typ: str,
    now: int | None = None,
    leeway_s: int = 60,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a compact JWS signed by a key ``key_resolver(header)`` returns; returns (header, payload).

    Checks the alg allowlist, ``typ``, the signature, and ``exp``/``nbf``/``iat`` when the payload has
    them (RFC 7519 §4.1.4-6).
    """
    if not isinstance(compact, str) or len(compact) > MAX_COMPACT_CHARS:
        raise SdJwtError("malformed", "JWS must be a string of bounded size")
    jws = decode_jws(compact)
    _verify_compact(jws, key_resolver, typ=typ, what="JWS")
    check_validity(jws.payload, now=now, leeway_s=leeway_s)
    return jws.header, jws.payload


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_validity(payload: Mapping[str, Any], *, now: int | None = None, leeway_s: int = 60) -> None:
    """Refuse an expired, not-yet-valid or future-issued JWT payload (RFC 7519 §4.1.4-6)."""
    now = int(time.time()) if now is None else now
    for claim in ("exp", "nbf", "iat"):
        if claim in payload and not _is_number(payload[claim]):
            raise SdJwtError("malformed", f"{claim} must be a number")
    if "exp" in payload and now >= payload["exp"] + leeway_s:
        raise SdJwtError("expired", "the credential has expired")
    if "nbf" in payload and now < payload["nbf"] - leeway_s:
        raise SdJwtError("not_yet_valid", "the credential is not valid yet")
    if "iat" in payload and now < payload["iat"] - leeway_s:
        raise SdJwtError("not_yet_valid", "the credential is issued in the future")


# -- disclosures and issuance ---------------------------------------------------------------------------


def make_disclosure(name: str | None, value: Any, salt: str | None = None) -> Disclosure:
    """A disclosure for object property ``name`` (RFC 9901 §4.2.1), or an array element when None."""
    if name is not None and (not isinstance(name, str) or name in _RESERVED_NAMES):
        raise SdJwtError("reserved_claim", f"{name!r} cannot be a disclosed claim name")
    salt = salt or _b64encode(secrets.token_bytes(16))  # 128 bits, RFC 9901 §9.3
    array = [salt, value] if name is None else [salt, name, value]
    encoded = _b64encode(_dumps(array).encode())
    return Disclosure(salt, name, value, encoded, _digest(encoded))


def _refuse_sd_keys(value: Any, where: str) -> None:
    if isinstance(value, dict):
        if "_sd" in value or "..." in value:
            raise SdJwtError("reserved_claim", f"{where} uses a name reserved by SD-JWT")
        for item in value.values():
            _refuse_sd_keys(item, where)
    elif isinstance(value, list):
        for item in value:
            _refuse_sd_keys(item, where)


def issue(
    *,
    key: KeyLike,
    kid: str,
    alg: str,
    claims: Mapping[str, Any],
    sd_claims: Mapping[str, Any],
    typ: str = CREDENTIAL_TYP,
    decoys: int = 0,
) -> str:
    """Issue ``<issuer-jwt>~<disclosure>~...~``: ``claims`` in the clear, each of ``sd_claims`` as a
    top-level disclosure, digests sorted in ``_sd`` together with ``decoys`` decoy digests (RFC 9901 §4.2.5).
    """
    if "_sd_alg" in claims:
        raise SdJwtError("reserved_claim", "_sd_alg is set by the issuer")
    _refuse_sd_keys(claims, "claims")
    _refuse_sd_keys(sd_claims, "sd_claims")
    if collision := claims.keys() & sd_claims.keys():
        raise SdJwtError("claim_collision", f"claims both plain and disclosable: {sorted(collision)}")
    if forbidden := sd_claims.keys() & NEVER_DISCLOSED:
        raise SdJwtError("reserved_claim_disclosed", f"must not be disclosable: {sorted(forbidden)}")

    disclosures = [make_disclosure(name, value) for name, value in sd_claims.items()]
    digests = [d.digest for d in disclosures]
    digests.extend(_b64encode(hashlib.sha256(secrets.token_bytes(32)).digest()) for _ in range(decoys))
    payload = dict(claims)
    if digests:
        payload["_sd"] = sorted(digests)
    payload["_sd_alg"] = SD_ALG
    jwt = sign_jws(payload, key=key, kid=kid, alg=alg, typ=typ)
    return jwt + "~" + "".join(d.encoded + "~" for d in disclosures)


# -- parsing and processing -----------------------------------------------------------------------------


def _decode_disclosure(encoded: str) -> Disclosure:
    if not encoded:
        raise SdJwtError("malformed", "empty disclosure")
    array = _json(_b64decode(encoded, "disclosure"), "disclosure")
    if not isinstance(array, list) or len(array) not in (2, 3) or not isinstance(array[0], str):
        raise SdJwtError("malformed", "a disclosure must be [salt, name, value] or [salt, value]")
    if len(array) == 2:
        return Disclosure(array[0], None, array[1], encoded, _digest(encoded))
    name = array[1]
    if not isinstance(name, str) or name in _RESERVED_NAMES:
        raise SdJwtError("malformed", "a disclosure's claim name must be a string other than _sd and ...")
    return Disclosure(array[0], name, array[2], encoded, _digest(encoded))


def parse(compact: str) -> ParsedSdJwt:
    """Split and decode an SD-JWT or SD-JWT+KB (RFC 9901 §4) without verifying anything."""
    if not isinstance(compact, str):
        raise SdJwtError("malformed", "an SD-JWT is a string")
    if len(compact) > MAX_COMPACT_CHARS:
        raise SdJwtError("malformed", f"longer than {MAX_COMPACT_CHARS} characters")
    parts = compact.split("~")
    if len(parts) < 2:
        raise SdJwtError("malformed", "no '~' separator: a plain JWT is not an SD-JWT")
    issuer_jwt, *encoded, last = parts
    issuer = decode_jws(issuer_jwt, "issuer JWT")
    disclosures = [_decode_disclosure(e) for e in encoded]
    kb = decode_jws(last, "KB-JWT") if last else None
    return ParsedSdJwt(
        issuer_jwt=issuer_jwt,
        header=issuer.header,
        payload=issuer.payload,
        disclosures=disclosures,
        kb_jwt=last or None,
        sd_hash_input=compact[: len(compact) - len(last)],
        issuer=issuer,
        kb=kb,
    )


def verify_issuer_signature(
    parsed: ParsedSdJwt, key_resolver: KeyResolver, *, typ: str = CREDENTIAL_TYP
) -> None:
    """Check the issuer JWT's alg (ES256 or EdDSA only), ``typ`` and signature (RFC 9901 §7.1 step 2)."""
    _verify_compact(parsed.issuer, key_resolver, typ=typ, what="issuer JWT")


class _Unpacker:
    """RFC 9901 §7.1 step 3: replace digests by their disclosures, each digest used at most once."""

    __slots__ = ("by_digest", "seen", "used")

    def __init__(self, by_digest: dict[str, Disclosure]):
        self.by_digest = by_digest
        self.seen: set[str] = set()
        self.used = 0

    def _claim(self, digest: Any) -> Disclosure | None:
        if not isinstance(digest, str):
            raise SdJwtError("malformed", "a digest must be a string")
        if digest in self.seen:
            raise SdJwtError("duplicate_digest", "a digest appears more than once")
        self.seen.add(digest)
        disclosure = self.by_digest.get(digest)
        if disclosure is not None:
            self.used += 1
        return disclosure

    def value(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self.object(value, top=False)
        if isinstance(value, list):
            return self.array(value)
        return value

    def object(self, obj: dict[str, Any], *, top: bool) -> dict[str, Any]:
        out = {k: self.value(v) for k, v in obj.items() if k != "_sd" and not (top and k == "_sd_alg")}
        digests = obj.get("_sd")
        if digests is None:
            return out
        if not isinstance(digests, list):
            raise SdJwtError("malformed", "_sd must be an array of digests")
        for digest in digests:
            disclosure = self._claim(digest)
            if disclosure is None:
                continue  # a decoy, or a claim the holder did not release
            name = disclosure.name
            if name is None:
                raise SdJwtError("malformed", "an array-element disclosure is referenced from _sd")
            if name in out:
                raise SdJwtError("claim_collision", f"disclosed claim {name!r} already exists")
            if top and name in NEVER_DISCLOSED:
                raise SdJwtError("reserved_claim_disclosed", f"{name!r} must not be selectively disclosed")
            out[name] = self.value(disclosure.value)
        return out

    def array(self, items: list[Any]) -> list[Any]:
        out = []
        for item in items:
            if isinstance(item, dict) and len(item) == 1 and "..." in item:
                disclosure = self._claim(item["..."])
                if disclosure is None:
                    continue
                if disclosure.name is not None:
                    raise SdJwtError("malformed", "an object-property disclosure is referenced from an array")
                out.append(self.value(disclosure.value))
            else:
                out.append(self.value(item))
        return out


def resolve_disclosures(parsed: ParsedSdJwt) -> dict[str, Any]:
    """The processed claims: disclosed values in place, ``_sd``/``_sd_alg`` gone (RFC 9901 §7.1 step 3).

    Refuses a digest algorithm other than sha-256, a disclosure given twice, a digest found twice, a
    disclosed name that collides with a plain claim, and any disclosure no digest references.
    """
    if parsed.payload.get("_sd_alg", SD_ALG) != SD_ALG:  # absent means sha-256 (§4.1.1)
        raise SdJwtError("unsupported_sd_alg", f"_sd_alg must be {SD_ALG}")
    by_digest: dict[str, Disclosure] = {}
    for disclosure in parsed.disclosures:
        if disclosure.digest in by_digest:
            raise SdJwtError("duplicate_disclosure", "the same disclosure is given twice")
        by_digest[disclosure.digest] = disclosure
    unpacker = _Unpacker(by_digest)
    try:
        claims = unpacker.object(parsed.payload, top=True)
    except RecursionError:
        raise SdJwtError("malformed", "claims nest too deeply") from None
    if unpacker.used != len(by_digest):
        raise SdJwtError("disclosure_not_referenced", "a disclosure matches no digest in the credential")
    return claims


# -- presentation and key binding -----------------------------------------------------------------------


def _select(value: Any, release: set[str], by_digest: dict[str, Disclosure], keep: set[str]) -> None:
    if isinstance(value, dict):
        digests = value.get("_sd")
        for digest in digests if isinstance(digests, list) else ():
            disclosure = by_digest.get(digest) if isinstance(digest, str) else None
            if disclosure is not None and disclosure.name in release:
                keep.add(digest)
                _select(disclosure.value, release, by_digest, keep)
        for name, item in value.items():
            if name != "_sd":
                _select(item, release, by_digest, keep)
    elif isinstance(value, list):
        for item in value:
            digest = item.get("...") if isinstance(item, dict) and len(item) == 1 else None
            disclosure = by_digest.get(digest) if isinstance(digest, str) else None
            if disclosure is not None:
                # Array elements have no name; they go with the array they belong to.
                keep.add(disclosure.digest)
                _select(disclosure.value, release, by_digest, keep)
            else:
                _select(item, release, by_digest, keep)


def present(
    sd_jwt: str,
    *,
    release: Iterable[str],
    holder_key: KeyLike,
    holder_kid: str | None = None,
    aud: str,
    nonce: str,
    iat: int | None = None,
) -> str:
    """An SD-JWT+KB (RFC 9901 §4.3) keeping only the disclosures named in ``release`` (and those nested in
    them that are named too), with a KB-JWT bound to ``aud``, ``nonce`` and the presentation's sd_hash.
    """
    if isinstance(release, str):
        raise TypeError("release is an iterable of claim names, not one string")
    parsed = parse(sd_jwt)
    if parsed.kb_jwt is not None:
        raise SdJwtError("malformed", "already a presentation: it carries a KB-JWT")
    by_digest = {d.digest: d for d in parsed.disclosures}
    keep: set[str] = set()
    _select(parsed.payload, set(release), by_digest, keep)
    body = parsed.issuer_jwt + "~" + "".join(d.encoded + "~" for d in parsed.disclosures if d.digest in keep)
    kb_payload = {
        "iat": int(time.time()) if iat is None else iat,
        "aud": aud,
        "nonce": nonce,
        "sd_hash": _digest(body),
    }
    signing_key = _coerce_key(holder_key, private=True)
    kb_jwt = sign_jws(kb_payload, key=signing_key, kid=holder_kid, alg=alg_for_key(signing_key), typ=KB_TYP)
    return body + kb_jwt


def holder_key_from_cnf(payload: Mapping[str, Any]) -> SigningKey:
    """The holder's public key from the credential's ``cnf.jwk`` (RFC 7800 §3.2)."""
    cnf = payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, dict) else None
    if not isinstance(jwk, dict):
        raise SdJwtError("no_holder_key", "the credential has no cnf.jwk to bind a presentation to")
    return _coerce_key(jwk, private=False)


def verify_key_binding(
    parsed: ParsedSdJwt,
    *,
    holder_key: KeyLike | None,
    aud: str,
    nonce: str,
    max_age_s: int = 300,
    now: int | None = None,
    leeway_s: int = 60,
) -> None:
    """RFC 9901 §7.3: KB-JWT typ, alg and signature by the holder, aud, nonce, iat freshness, sd_hash."""
    if parsed.kb is None:
        raise SdJwtError("kb_missing", "the presentation has no KB-JWT")
    key = holder_key_from_cnf(parsed.payload) if holder_key is None else holder_key
    _verify_compact(parsed.kb, key, typ=KB_TYP, what="KB-JWT", kb=True)
    claims = parsed.kb.payload
    if claims.get("aud") != aud:
        raise SdJwtError("aud_mismatch", "the KB-JWT is for another audience")
    if claims.get("nonce") != nonce:
        raise SdJwtError("nonce_mismatch", "the KB-JWT answers another nonce")
    issued = claims.get("iat")
    if not isinstance(issued, (int, float)) or isinstance(issued, bool):
        raise SdJwtError("kb_invalid", "the KB-JWT has no numeric iat")
    now = int(time.time()) if now is None else now
    if issued < now - max_age_s - leeway_s:
        raise SdJwtError("kb_stale", "the KB-JWT is too old")
    if issued > now + leeway_s:
        raise SdJwtError("kb_not_yet_valid", "the KB-JWT is issued in the future")
    if claims.get("sd_hash") != _digest(parsed.sd_hash_input):
        raise SdJwtError("sd_hash_mismatch", "the KB-JWT does not cover this presentation")


def verify_presentation(
    compact: str,
    *,
    issuer_key_resolver: KeyResolver,
    holder_key: KeyLike | None = None,
    aud: str,
    nonce: str,
    max_age_s: int = 300,
    now: int | None = None,
    leeway_s: int = 60,
    typ: str = CREDENTIAL_TYP,
) -> dict[str, Any]:
    """Verify an SD-JWT+KB completely (RFC 9901 §7.1 and §7.3) and return its processed claims.

    Issuer signature, the issuer JWT's exp/nbf/iat, disclosures, then the key binding; ``holder_key``
    defaults to the credential's ``cnf.jwk``.
    """
    now = int(time.time()) if now is None else now
    parsed = parse(compact)
    verify_issuer_signature(parsed, issuer_key_resolver, typ=typ)
    check_validity(parsed.payload, now=now, leeway_s=leeway_s)
    claims = resolve_disclosures(parsed)
    verify_key_binding(
        parsed, holder_key=holder_key, aud=aud, nonce=nonce, max_age_s=max_age_s, now=now, leeway_s=leeway_s
    )
    return claims
