"""Property tests of the identifier checks against python-stdnum as the oracle: 公民身份号码 (GB 11643)
and 统一社会信用代码 (GB 32100)."""

from __future__ import annotations

import string
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import numdb
from stdnum.cn import ric, uscc
from stdnum.exceptions import ValidationError

from hub.contract.identifiers import check_citizen_id, check_uscc

ADDRESS_CODES = ["410105", "410100", "110101", "440305", "999999", "000000"]
USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"


@st.composite
def citizen_ids(draw: st.DrawFn) -> str:
    """Mostly well-formed numbers (real or unknown address, real or impossible dates, right or wrong
    check character), sometimes any 18 characters."""
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(alphabet=string.digits + "Xx ", min_size=16, max_size=19))
    born = draw(st.dates(min_value=date(1800, 1, 1), max_value=date(2100, 12, 31)))
    body = (
        draw(st.sampled_from(ADDRESS_CODES))
        + born.strftime("%Y%m%d")
        + draw(st.from_regex(r"\d{3}", fullmatch=True))
    )
    if draw(st.booleans()):
        body = body[:10] + draw(st.sampled_from(["0230", "1301", "0431"])) + body[14:]
    check = (
        ric.calc_check_digit(body + "0") if draw(st.integers(0, 3)) else draw(st.sampled_from("0123456789X"))
    )
    return body + check


def stdnum_verdict(number: str) -> tuple[bool, date | None]:
    """stdnum's checks of length, format, check character and birth date, and whether GB/T 2260 ever
    assigned the address code. stdnum also ties the code to the birth year; the hub does not (a number
    issued after a district was renamed carries the new code whatever the birth year)."""
    compact = ric.compact(number)
    try:
        if len(compact) != 18 or not compact[:-1].isdigit() or compact[-1] != ric.calc_check_digit(compact):
            return False, None
        born = ric.get_birth_date(compact)
    except (ValidationError, ValueError):
        return False, None
    known = any(props.get("county") for _, props in numdb.get("cn/loc").info(compact[:6]))
    return known, born


@settings(max_examples=300, deadline=None)
@given(citizen_ids())
def test_citizen_id_agrees_with_stdnum(number: str) -> None:
    oracle, born = stdnum_verdict(number)
    try:
        ours = check_citizen_id(number)
    except ValueError as exc:
        assert str(exc).startswith("not a valid 公民身份号码"), exc
        # Stricter than stdnum only where stdnum cannot know: a birth in the future or before 1850.
        if oracle:
            assert born is not None and (born > date.today() or born.year < 1850), number
        return
    assert oracle, f"accepted {number!r}, stdnum refuses it"
    assert ours == number.strip().upper()


@st.composite
def usccs(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 4)) == 0:
        return draw(st.text(alphabet=USCC_CHARS + "IOSVZ-", min_size=16, max_size=20))
    body = draw(st.text(alphabet=USCC_CHARS, min_size=17, max_size=17))
    if draw(st.integers(0, 3)):
        return body + uscc.calc_check_digit(body)
    return body + draw(st.sampled_from(USCC_CHARS))


@settings(max_examples=300, deadline=None)
@given(usccs())
def test_uscc_agrees_with_stdnum(code: str) -> None:
    try:
        ours = check_uscc(code)
    except ValueError as exc:
        assert str(exc).startswith("not a valid 统一社会信用代码"), exc
        assert not uscc.is_valid(code), code
        return
    assert uscc.is_valid(code) and ours == uscc.compact(code)


@pytest.mark.parametrize("value", [None, 12345, b"410105198605141237", ["x"]])
def test_non_strings_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="must be a string"):
        check_citizen_id(value)
    with pytest.raises(ValueError, match="must be a string"):
        check_uscc(value)


def test_generators_reach_both_outcomes() -> None:
    valid = "410105198605141237"
    assert check_citizen_id(valid) == valid and ric.is_valid(valid)
    wrong = valid[:-1] + str((int(valid[-1]) + 1) % 10)
    assert not ric.is_valid(wrong)
    with pytest.raises(ValueError):
        check_citizen_id(wrong)
    assert check_uscc("91410100MA44B0Y60K") == "91410100MA44B0Y60K"
    with pytest.raises(ValueError):
        check_uscc("91410100MA44B0Y60J")
