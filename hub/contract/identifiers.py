"""Checks for the identifiers licences carry, by python-stdnum.

- 公民身份号码 (GB 11643): 18 characters, ISO 7064 MOD 11-2 check character, a real birth date, and an
  address code that GB/T 2260 has assigned at some time. python-stdnum's own ``validate`` also demands that
  the county existed in the birth year, which refuses real numbers (people born before 1983 in 金水区
  hold 410105 numbers), so that one rule is left out.
- 统一社会信用代码 (GB 32100): 18 characters, its own check character.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

# 办件编号: the approval case a lookup or consent is for, as the approval system numbers it. It goes into
# the permanent audit log, which holds no personal data, so it is an identifier and never free prose.
# The rule's words are ASCII: /oauth/authorize sends them back in an RFC 6749 error_description.
CASE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$"
CASE_ID_RULE = (
    "1 to 64 characters: letters, digits and . _ : / -, beginning with a letter or digit, "
    "holding no citizen ID number"
)


def check_case_id(value: str) -> str:
    """Return ``value`` if it is a case id (``CASE_ID_PATTERN``) with no valid 公民身份号码 inside it (the
    pattern admits digits, so a client could otherwise put the holder's number into the log); else raise
    ValueError naming the rule."""
    if not re.fullmatch(CASE_ID_PATTERN, value):
        raise ValueError(f"a case id is {CASE_ID_RULE}")
    for start in range(len(value) - 17):
        candidate = value[start : start + 18]
        if _CITIZEN_ID.fullmatch(candidate.upper()):
            try:
                check_citizen_id(candidate)
            except ValueError:
                continue
            raise ValueError("a case id holds no personal data, and this one holds a citizen ID number")
    return value


def check_citizen_id(value: object) -> str:
    """Return a valid citizen ID number (upper-case X), or raise ValueError with the reason."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    number = value.strip().upper()
    reason = None
    if not _CITIZEN_ID.fullmatch(number):
        reason = "must be 17 digits and a check character"
    elif number[-1] != ric.calc_check_digit(number):
        reason = "wrong check character"
    else:
        try:
            birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except ValueError:
            birth = None
        if birth is None or birth > date.today() or birth.year < 1850:
            reason = "not a real birth date"
        elif not _known_address_code(number[:6]):
            reason = "unknown address code"
    if reason:
        raise ValueError(f"not a valid 公民身份号码 (GB 11643): {reason}")
    return number


@lru_cache(maxsize=8192)
def _known_address_code(code: str) -> bool:
    """Whether GB/T 2260 has ever assigned this county-level code (stdnum's table; scanned once per code)."""
    return any(props.get("county") for _, props in numdb.get("cn/loc").info(code))


_CITIZEN_ID = re.compile(r"\d{17}[\dX]")


def check_uscc(value: object) -> str:
    """Return the compact form of a valid unified social credit code, or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise ValueError(f"not a valid 统一社会信用代码 (GB 32100): {exc}") from None


def holder_region(holder_kind: str, holder: str) -> str:
    """The region code a holder's identifier names: a citizen's GB 11643 address code (the county where
    the number was first given, not always where the holder lives now), an organisation's GB 32100
    registration-authority code (characters 3-8)."""
    return holder[:6] if holder_kind == "person" else holder[2:8]
