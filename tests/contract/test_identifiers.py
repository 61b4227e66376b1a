"""The case id rule (issue 14): an identifier for the permanent log, never prose or personal data."""

from __future__ import annotations

import pytest

from hub.contract.identifiers import check_case_id


def test_a_case_id_is_an_identifier_without_an_id_number() -> None:
    for good in ("ZZ-2026-000123", "410100:2026/0001.a_b", "Z" * 64, "41010519860514123"):  # 17 digits
        assert check_case_id(good) == good
    for bad, why in (
        ("张三", "1 to 64"), ("ZZ 1", "1 to 64"), ("", "1 to 64"), ("Z" * 65, "1 to 64"),
        ("ZZ1\n", "1 to 64"),
        ("ZZ-410105198605141237", "citizen ID number"), ("410105198605141237", "citizen ID number"),
    ):  # fmt: skip
        with pytest.raises(ValueError, match=why):
            check_case_id(bad)
