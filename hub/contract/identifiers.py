"""Checks for the identifiers licences carry, by python-stdnum.

- 公民身份号码 (GB 11643): 18 characters, ISO 7064 MOD 11-2 check character, a real birth date, and an
  address code that GB/T 2260 has assigned at some time. python-stdnum's own ``validate`` also demands that
  the county existed in the birth year, which refuses real numbers (people born before 1983 in 金水区
  hold 410105 numbers), so that one rule is left out.
- 统一社会信用代码 (GB 32100): 18 characters, its own check character.
"""

from __future__ import annotations

from datetime import date

from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError


def check_citizen_id(value: object) -> str:
    """Return the compact form of a valid citizen ID number, or raise ValueError with the reason."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        number = ric.compact(value)
        if len(number) != 18 or not number[:-1].isdigit():
            raise ValueError("must be 17 digits and a check character")
        if number[-1] != ric.calc_check_digit(number):
            raise ValueError("wrong check character")
        if ric.get_birth_date(number) > date.today():
            raise ValueError("birth date in the future")
        if not any(props.get("county") for _, props in numdb.get("cn/loc").info(number[:6])):
            raise ValueError("unknown address code")
        return number
    except ValidationError as exc:
        raise ValueError(f"not a valid 公民身份号码 (GB 11643): {exc.message}") from None
    except ValueError as exc:
        raise ValueError(f"not a valid 公民身份号码 (GB 11643): {exc}") from None


def check_uscc(value: object) -> str:
    """Return the compact form of a valid unified social credit code, or raise ValueError."""
    if not isinstance(value, str):
        raise ValueError("must be a string")
    try:
        return str(uscc.validate(value))
    except ValidationError as exc:
        raise ValueError(f"not a valid 统一社会信用代码 (GB 32100): {exc.message}") from None
