"""Property tests of licence ids (GB/T 36904 form) against python-stdnum's ISO 7064 MOD 37,36 as the
oracle for the check character, and of parsing what was formatted."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36

from hub.contract.licence_id import PREFIX, LicenceId, LicenceIdError, check_character, parse_licence_id

PART = st.text(alphabet=string.digits + string.ascii_uppercase, min_size=1, max_size=40)
TYPE_CODES = st.sampled_from(["11100000000013127D001", "11100000000019887N001", "X1"]) | PART
USCCS = st.sampled_from(["11410100MB1234567X", "91410100MA44XYZ12Q"]) | PART


@settings(max_examples=400, deadline=None)
@given(type_code=TYPE_CODES, uscc=USCCS, serial=PART, version=st.integers(1, 999))
def test_check_character_is_stdnums_mod_37_36(type_code: str, uscc: str, serial: str, version: int) -> None:
    body = f"{PREFIX}.{type_code}.{uscc}.{serial}.{version:03d}"
    assert check_character(body) == mod_37_36.calc_check_digit(body.replace(".", ""))
    licence_id = LicenceId(type_code, uscc, serial, version)
    assert parse_licence_id(str(licence_id)) == licence_id


@settings(max_examples=200, deadline=None)
@given(type_code=TYPE_CODES, uscc=USCCS, serial=PART, version=st.integers(1, 999), data=st.data())
def test_a_changed_check_character_is_refused(
    type_code: str, uscc: str, serial: str, version: int, data: st.DataObject
) -> None:
    text = str(LicenceId(type_code, uscc, serial, version))
    wrong = data.draw(st.sampled_from(string.digits + string.ascii_uppercase).filter(lambda c: c != text[-1]))
    with pytest.raises(LicenceIdError, match="check character"):
        parse_licence_id(text[:-1] + wrong)
