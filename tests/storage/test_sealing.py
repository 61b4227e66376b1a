"""Encryption at rest (storage/sealing.py): AES-256-GCM with key ids, rotation and associated data."""

from __future__ import annotations

import base64
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.sealing import DataKey, Keyring, SealingError


def keyring(*kids: str) -> Keyring:
    return Keyring.from_spec(",".join(Keyring.generate_spec(kid) for kid in kids))


def secret(size: int = 32) -> str:
    return base64.b64encode(os.urandom(size)).decode()


KEYS = keyring("k1")


def test_round_trip_with_and_without_associated_data() -> None:
    sealed = KEYS.seal("张三 110101199003078515".encode(), aad=b"licence_version:42")
    assert KEYS.open(sealed, aad=b"licence_version:42") == "张三 110101199003078515".encode()
    assert KEYS.open(KEYS.seal(b"")) == b""
    assert sealed.startswith(b"v1.k1.")
    assert "张三".encode() not in sealed


def test_sealing_twice_gives_different_ciphertexts() -> None:
    assert KEYS.seal(b"same", aad=b"row") != KEYS.seal(b"same", aad=b"row")


def test_tampering_with_the_nonce_or_ciphertext_fails() -> None:
    sealed = KEYS.seal(b"the sealed credential", aad=b"row-1")
    body_start = len(b"v1.k1.")
    for position in range(body_start, len(sealed)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(sealed)
            tampered[position] ^= mask
            with pytest.raises(SealingError):
                KEYS.open(bytes(tampered), aad=b"row-1")


def test_tampering_with_the_prefix_or_key_id_fails_with_ascii_changes() -> None:
    sealed = KEYS.seal(b"the sealed credential", aad=b"row-1")
    for position in range(len(b"v1.k1")):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x01  # stays ASCII: "v1." -> "w1.", "k1" -> "j1"
        with pytest.raises(SealingError):
            KEYS.open(bytes(tampered), aad=b"row-1")


def test_tampering_with_the_key_id_bytes_fails_with_sealing_error() -> None:
    sealed = KEYS.seal(b"the sealed credential", aad=b"row-1")
    for position in range(len(b"v1."), len(b"v1.k1")):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x80  # "k" -> 0xEB, a UTF-8 lead byte without its continuation
        with pytest.raises(SealingError):
            KEYS.open(bytes(tampered), aad=b"row-1")


def test_a_truncated_sealed_value_fails_with_sealing_error() -> None:
    sealed = KEYS.seal(b"the sealed credential")
    with pytest.raises(SealingError):
        KEYS.open(sealed[: len(b"v1.k1.") + 4])


@pytest.mark.parametrize("value", [b"", b"plain text", b"v2.k1.abcdefghijklmnopqrstuvwxyz", b"v1.k1"])
def test_values_that_are_not_sealed_are_refused(value: bytes) -> None:
    with pytest.raises(SealingError, match="not a sealed value"):
        KEYS.open(value)


def test_wrong_associated_data_fails() -> None:
    sealed = KEYS.seal(b"credential", aad=b"licence:1")
    with pytest.raises(SealingError, match="failed authentication"):
        KEYS.open(sealed, aad=b"licence:2")
    with pytest.raises(SealingError, match="failed authentication"):
        KEYS.open(sealed)


def test_a_key_of_the_same_id_but_another_secret_cannot_open() -> None:
    sealed = KEYS.seal(b"credential")
    with pytest.raises(SealingError, match="failed authentication"):
        keyring("k1").open(sealed)


def test_unknown_key_id_names_the_key() -> None:
    sealed = keyring("retired").seal(b"credential")
    with pytest.raises(SealingError, match="no data key 'retired'"):
        KEYS.open(sealed)


def test_rotation_opens_old_values_and_seals_with_the_new_key() -> None:
    old_spec = Keyring.generate_spec("k1")
    old = Keyring.from_spec(old_spec)
    sealed_before = old.seal(b"old row", aad=b"row-1")

    rotated = Keyring.from_spec(f"{Keyring.generate_spec('k2')},{old_spec}")
    assert rotated.active.kid == "k2" and rotated.kids == ["k2", "k1"]
    assert rotated.open(sealed_before, aad=b"row-1") == b"old row"
    sealed_after = rotated.seal(b"new row", aad=b"row-2")
    assert rotated.key_id_of(sealed_after) == "k2"
    with pytest.raises(SealingError, match="no data key 'k2'"):
        old.open(sealed_after, aad=b"row-2")


def test_reseal_moves_a_value_to_the_active_key() -> None:
    old_spec, new_spec = Keyring.generate_spec("k1"), Keyring.generate_spec("k2")
    sealed = Keyring.from_spec(old_spec).seal(b"row data", aad=b"row-7")
    rotated = Keyring.from_spec(f"{new_spec},{old_spec}")

    resealed = rotated.reseal(sealed, aad=b"row-7")
    assert rotated.key_id_of(resealed) == "k2"
    assert rotated.open(resealed, aad=b"row-7") == b"row data"
    # Once every row is resealed the old key can go.
    assert Keyring.from_spec(new_spec).open(resealed, aad=b"row-7") == b"row data"
    assert rotated.reseal(resealed, aad=b"row-7") is resealed
    with pytest.raises(SealingError, match="failed authentication"):
        rotated.reseal(sealed, aad=b"row-8")


# Keyring specs (HUB_DATA_KEYS) ---------------------------------------------------------------------------


def test_spec_with_spaces_and_a_trailing_comma_parses() -> None:
    ring = Keyring.from_spec(f" a-1:{secret()} , b_2:{secret()} ,")
    assert ring.kids == ["a-1", "b_2"] and ring.active.kid == "a-1"


BAD_SPECS = [
    (f"k1:{secret()[:-4]}!!!!", "key 'k1' is not valid base64"),
    (f"k1:{secret(16)}", "key 'k1' must be 32 bytes (AES-256), got 16"),
    (f"k1:{secret(64)}", "key 'k1' must be 32 bytes (AES-256), got 64"),
    (f"k1:{secret()},k1:{secret()}", "duplicate key ids"),
    (secret(), "keyring entries are kid:base64 separated by commas"),
    (f"bad.kid:{secret()}", "key id 'bad.kid' must be 1-32 characters"),
    (f":{secret()}", "key id '' must be 1-32 characters"),
    (f"{'k' * 33}:{secret()}", "must be 1-32 characters"),
    ("", "needs at least one key"),
    (" , ", "needs at least one key"),
]


# Named by the message: the specs hold random keys, and pytest-xdist's workers must collect equal ids.
@pytest.mark.parametrize("spec, message", BAD_SPECS, ids=[message for _, message in BAD_SPECS])
def test_bad_specs_are_refused_with_a_clear_message(spec: str, message: str) -> None:
    with pytest.raises(SealingError) as caught:
        Keyring.from_spec(spec)
    assert message in str(caught.value)
    assert spec.partition(":")[2] == "" or spec.partition(":")[2] not in str(caught.value)  # no secret


def test_generated_spec_is_a_fresh_32_byte_key() -> None:
    first, second = Keyring.generate_spec("k9"), Keyring.generate_spec("k9")
    assert first != second
    kid, _, encoded = first.partition(":")
    assert kid == "k9" and len(base64.b64decode(encoded, validate=True)) == 32
    assert Keyring.from_spec(first).kids == ["k9"]


def test_data_key_checks_its_own_shape() -> None:
    with pytest.raises(SealingError, match="32 bytes"):
        DataKey("k1", b"short")
    with pytest.raises(SealingError, match="key id"):
        DataKey("has space", os.urandom(32))
    with pytest.raises(SealingError, match="at least one key"):
        Keyring([])


# Property ------------------------------------------------------------------------------------------------


@given(plaintext=st.binary(max_size=4096), aad=st.binary(max_size=256))
def test_open_inverts_seal(plaintext: bytes, aad: bytes) -> None:
    sealed = KEYS.seal(plaintext, aad=aad)
    assert KEYS.open(sealed, aad=aad) == plaintext
    assert len(sealed) == len(b"v1.k1.") + 12 + len(plaintext) + 16


@given(plaintext=st.binary(max_size=256), aad=st.binary(max_size=64), other=st.binary(max_size=64))
def test_open_with_other_associated_data_always_fails(plaintext: bytes, aad: bytes, other: bytes) -> None:
    sealed = KEYS.seal(plaintext, aad=aad)
    if other == aad:
        other = aad + b"x"
    with pytest.raises(SealingError):
        KEYS.open(sealed, aad=other)
