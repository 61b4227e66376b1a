"""Licence identifiers in the GB/T 36904 form.

``1.2.156.3005.2.<type code>.<issuer USCC>.<serial>.<3-digit version>.<check character>``

The check character is ISO/IEC 7064 MOD 37,36 (GB/T 17710) over every character before it with the dots
removed, so a mistyped id is caught before it reaches a database. python-stdnum's ``mod_37_36`` is the
reference; the hub runs the same recursion with the state after an issuer's common prefix remembered,
because every licence a department sends repeats that prefix (a test checks both agree).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from stdnum.iso7064 import mod_37_36

PREFIX = "1.2.156.3005.2"
_PART = re.compile(r"^[0-9A-Z]+$")
MAX_VERSION = 999


class LicenceIdError(ValueError):
    """The text is not a well-formed licence id; ``str(error)`` says which part is wrong."""


@dataclass(frozen=True)
class LicenceId:
    type_code: str
    issuer_uscc: str
    serial: str
    version: int

    def __post_init__(self) -> None:
        for name in ("type_code", "issuer_uscc", "serial"):
            value = getattr(self, name)
            if not _PART.match(value):
                raise LicenceIdError(f"{name} must be upper-case letters and digits, got {value!r}")
        if len(self.serial) > 40:
            raise LicenceIdError("serial must be at most 40 characters")
        if not 1 <= self.version <= MAX_VERSION:
            raise LicenceIdError(f"version must be 1..{MAX_VERSION}, got {self.version}")

    @property
    def body(self) -> str:
        return f"{PREFIX}.{self.type_code}.{self.issuer_uscc}.{self.serial}.{self.version:03d}"

    def __str__(self) -> str:
        return self.text

    @cached_property
    def text(self) -> str:
        """The id with its check character (computed once: this sits on the ingest hot path)."""
        return f"{self.body}.{check_character(self.body)}"

    def with_version(self, version: int) -> LicenceId:
        return LicenceId(self.type_code, self.issuer_uscc, self.serial, version)


_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_VALUE = {c: i for i, c in enumerate(_ALPHABET)}
_MODULUS = len(_ALPHABET)  # 36; the recursion works modulo 37 and 36 (ISO/IEC 7064 hybrid system)


def _advance(state: int, characters: str) -> int:
    for character in characters:
        state = (((state or _MODULUS) * 2) % (_MODULUS + 1) + _VALUE[character]) % _MODULUS
    return state


@lru_cache(maxsize=1024)
def _prefix_state(prefix: str) -> int:
    return _advance(_MODULUS // 2, prefix)


def check_character(body: str) -> str:
    """The MOD 37,36 check character of ``body`` (the id without its last part), as stdnum's
    ``mod_37_36.calc_check_digit(body.replace(".", ""))`` computes it."""
    head, _, tail = body.rpartition(".")  # version
    head, _, serial = head.rpartition(".")
    try:
        state = _advance(_prefix_state(head.replace(".", "")), serial + tail)
    except KeyError:  # not upper-case letters and digits: let the reference say what it makes of it
        return str(mod_37_36.calc_check_digit(body.replace(".", "")))
    return _ALPHABET[(1 - ((state or _MODULUS) * 2) % (_MODULUS + 1)) % _MODULUS]


def parse_licence_id(text: str) -> LicenceId:
    """Parse and check a licence id; raise :class:`LicenceIdError` naming what is wrong."""
    if not isinstance(text, str) or not text.startswith(PREFIX + "."):
        raise LicenceIdError(f"licence id must start with {PREFIX}.")
    parts = text[len(PREFIX) + 1 :].split(".")
    if len(parts) != 5:
        raise LicenceIdError("licence id must have type code, issuer USCC, serial, version and check parts")
    type_code, uscc, serial, version, check = parts
    if not re.fullmatch(r"\d{3}", version):
        raise LicenceIdError("version part must be three digits")
    licence_id = LicenceId(type_code, uscc, serial, int(version))
    if len(check) != 1 or text != licence_id.text:
        raise LicenceIdError("check character does not match (ISO 7064 MOD 37,36)")
    return licence_id
