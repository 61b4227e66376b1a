"""Civil-affairs mapping (pure): registrations and roster rows to catalog licence drafts."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from stdnum.cn import ric

from adapters.civil_affairs.generate import write_export
from adapters.civil_affairs.mapping import (
    DIVORCE,
    MARRIAGE,
    SUBSISTENCE,
    map_divorce,
    map_marriage,
    map_record,
    map_subsistence,
    parse_period,
)
from adapters.civil_affairs.source import JOINED_MARRIAGE, CivilAffairsSource
from adapters.samples.population import generate
from adapters.sdk.records import MappingError, SourceRecord
from adapters.sdk.validation import problems_with
from hub.contract.status import LicenceStatus, StatusReason
from tests.factories import TYPES


def with_id(number: str, check: str | None = None) -> str:
    """The first 17 characters of ``number`` and their check character, or ``check`` instead."""
    body = number[:17]
    return body + (check if check is not None else ric.calc_check_digit(body + "0"))


def wrong_check(number: str) -> str:
    return with_id(number, next(c for c in "0123456789X" if c != number[-1]))


HUSBAND, WIFE = with_id("41010519800312123"), with_id("41010219820615002")
MARRIAGE_RECORD: dict[str, Any] = {
    "登记流水号": "7", "登记类型": "结婚", "登记日期": "2008-10-01", "结婚证字号": "J410105-2008-000123",
    "婚姻登记机关": "郑州市金水区民政局婚姻登记处", "备注": "",
    "男方": {"姓名": "王建国", "性别": "男", "国籍": "中国", "出生日期": "1980-03-12",
             "身份证件类型": "居民身份证", "身份证件号": HUSBAND},
    "女方": {"姓名": "李秀英", "性别": "女", "国籍": "中国", "出生日期": "1982-06-15",
             "身份证件类型": "居民身份证", "身份证件号": WIFE},
}  # fmt: skip
DIVORCE_RECORD: dict[str, Any] = {
    **copy.deepcopy(MARRIAGE_RECORD), "登记流水号": "90", "登记类型": "离婚", "登记日期": "2019-04-02",
    "离婚证字号": "L410105-2019-000045", "原结婚证字号": "J410105-2008-000123",
}  # fmt: skip
del DIVORCE_RECORD["结婚证字号"], DIVORCE_RECORD["备注"]
ROSTER_ROW = {
    "证号": "ZZDB410105202500001", "户主姓名": "王建国", "户主身份证号": HUSBAND,
    "家庭住址": "河南省郑州市金水区花园路12号院3号楼2单元501号", "保障类别": "城市低保",
    "分类施保类别": "B类", "保障人数": "3", "月保障金额": "2240",
    "家庭成员": "王建国（户主）、李秀英（配偶）、王小明（子）", "发证机关": "郑州市金水区民政局",
    "发证日期": "2025-12-14", "有效期": "2025-12-14至2026-12-13", "状态": "在保",
}  # fmt: skip


def marriage(**changes: Any) -> dict[str, Any]:
    record = copy.deepcopy(MARRIAGE_RECORD)
    for name, value in changes.items():
        if "/" in name:
            party, field = name.split("/")
            record[party][field] = value
        else:
            record[name] = value
    return record


def assert_catalog_accepts(drafts: list[Any]) -> None:
    for draft in drafts:
        assert problems_with(TYPES[draft.type_code], draft.values) == [], draft


def test_a_marriage_gives_each_spouse_a_certificate() -> None:
    drafts = map_marriage(marriage())
    assert [(d.type_code, d.part, d.values["holder_id_number"]) for d in drafts] == [
        (MARRIAGE, "male", HUSBAND), (MARRIAGE, "female", WIFE),
    ]  # fmt: skip
    male, female = drafts
    assert male.values == {
        "registration_date": "2008-10-01", "certificate_number": "J410105-2008-000123",
        "registration_authority": "郑州市金水区民政局婚姻登记处", "male_party_name": "王建国",
        "male_party_nationality": "中国", "male_party_birth_date": "1980-03-12",
        "male_party_id_document_number": HUSBAND, "female_party_name": "李秀英",
        "female_party_nationality": "中国", "female_party_birth_date": "1982-06-15",
        "female_party_id_document_number": WIFE, "holder_name": "王建国", "holder_id_number": HUSBAND,
    }  # fmt: skip
    assert {**female.values, "holder_name": "王建国", "holder_id_number": HUSBAND} == male.values
    assert (male.valid_from, male.valid_until, male.status) == (date(2008, 10, 1), None, LicenceStatus.VALID)
    assert_catalog_accepts(drafts)


def test_a_foreign_spouse_is_named_by_document_but_holds_no_licence() -> None:
    record = marriage(**{"女方/国籍": "韩国", "女方/身份证件类型": "护照", "女方/身份证件号": "M12345678"})
    (draft,) = map_marriage(record)
    assert (draft.part, draft.values["holder_id_number"]) == ("male", HUSBAND)
    assert draft.values["female_party_id_document_number"] == "M12345678"
    assert draft.values["female_party_nationality"] == "韩国"
    assert_catalog_accepts([draft])


def test_the_holder_must_still_be_a_valid_citizen_id_when_the_spouse_is_foreign() -> None:
    record = marriage(**{"女方/国籍": "美国", "女方/身份证件类型": "护照", "女方/身份证件号": "512345678",
                         "男方/身份证件号": wrong_check(HUSBAND)})  # fmt: skip
    with pytest.raises(
        MappingError, match=r"^男方/身份证件号: not a valid 公民身份号码 \(GB 11643\): wrong check"
    ):
        map_marriage(record)
    neither = marriage(**{"女方/身份证件类型": "护照", "女方/身份证件号": "E1", "男方/身份证件类型": "护照",
                          "男方/身份证件号": "E2"})  # fmt: skip
    with pytest.raises(MappingError, match="neither party holds a 居民身份证"):
        map_marriage(neither)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"女方/身份证件号": "41010219820615002"},
         "女方/身份证件号: not a valid 公民身份号码 (GB 11643): must be 17 digits"),
        ({"男方/身份证件号": "990105198003121234"}, "男方/身份证件号: not a valid 公民身份号码"),
        ({"男方/出生日期": "1980-03-13"}, "男方/出生日期 does not match the 公民身份号码"),
        ({"男方/身份证件号": WIFE, "女方/身份证件号": HUSBAND, "男方/出生日期": "1982-06-15",
          "女方/出生日期": "1980-03-12"}, "男方/身份证件号: its sex digit is not 男"),
        ({"女方/姓名": "", "登记日期": ""}, "required fields missing: 登记日期, 女方/姓名"),
        ({"女方": None, "婚姻登记机关": " "}, "required fields missing: 婚姻登记机关, 女方"),
        ({"登记日期": "2008-13-01"}, "登记日期: not a date"),
        ({"_problem": "<姓名> appears more than once"}, "<姓名> appears more than once"),
    ],
)  # fmt: skip
def test_a_bad_registration_fails_whole_naming_the_field_not_the_value(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MappingError) as failure:
        map_marriage(marriage(**changes))
    assert str(failure.value).startswith(reason)
    assert HUSBAND not in str(failure.value) and WIFE not in str(failure.value)


def test_a_divorce_ends_the_marriage_certificates_unchanged_and_issues_divorce_certificates() -> None:
    married = map_marriage(marriage())
    drafts = map_divorce({**DIVORCE_RECORD, JOINED_MARRIAGE: marriage()})
    assert [(d.type_code, d.part, d.status) for d in drafts] == [
        (MARRIAGE, "male", LicenceStatus.CANCELLED), (MARRIAGE, "female", LicenceStatus.CANCELLED),
        (DIVORCE, "male", LicenceStatus.VALID), (DIVORCE, "female", LicenceStatus.VALID),
    ]  # fmt: skip
    # the same content as the marriage's own drafts: a status change, not a new version
    assert [d.content_hash for d in drafts[:2]] == [d.content_hash for d in married]
    assert {(d.status_reason, d.status_reason_code) for d in drafts[:2]} == {
        ("离婚登记", StatusReason.REGISTRATION_ENDED)
    }
    divorce = drafts[2]
    assert divorce.values["certificate_number"] == "L410105-2019-000045"
    assert divorce.values["registration_date"] == "2019-04-02" and divorce.valid_from == date(2019, 4, 2)
    assert_catalog_accepts(drafts)


def test_a_divorce_of_a_marriage_not_in_the_export_only_issues_divorce_certificates() -> None:
    assert [d.type_code for d in map_divorce(DIVORCE_RECORD)] == [DIVORCE, DIVORCE]
    broken = marriage(**{"女方/姓名": ""})  # its own record went to the dead letters
    assert [d.type_code for d in map_divorce({**DIVORCE_RECORD, JOINED_MARRIAGE: broken})] == [
        DIVORCE,
        DIVORCE,
    ]
    with pytest.raises(MappingError, match="required fields missing: 离婚证字号"):
        map_divorce({**DIVORCE_RECORD, "离婚证字号": "", JOINED_MARRIAGE: marriage()})


def test_a_roster_row_gives_a_subsistence_certificate() -> None:
    (draft,) = map_subsistence(ROSTER_ROW)
    assert draft.type_code == SUBSISTENCE and draft.status is LicenceStatus.VALID
    assert draft.values == {
        "certificate_number": "ZZDB410105202500001", "holder_name": "王建国", "holder_id_number": HUSBAND,
        "address": "河南省郑州市金水区花园路12号院3号楼2单元501号", "category": "城市低保",
        "assistance_class": "B类", "covered_persons": 3, "monthly_amount_yuan": 2240,
        "family_members": "王建国（户主）、李秀英（配偶）、王小明（子）",
        "issuing_authority": "郑州市金水区民政局",
        "issue_date": "2025-12-14", "valid_from": "2025-12-14", "valid_until": "2026-12-13",
    }  # fmt: skip
    assert (draft.valid_from, draft.valid_until) == (date(2025, 12, 14), date(2026, 12, 13))
    assert_catalog_accepts([draft])
    (amounts,) = map_subsistence({**ROSTER_ROW, "月保障金额": "2240.00元", "分类施保类别": "", "有效期": ""})
    assert amounts.values["monthly_amount_yuan"] == 2240 and "assistance_class" not in amounts.values
    assert amounts.valid_until is None and "valid_until" not in amounts.values


@pytest.mark.parametrize(
    ("state", "status", "code"),
    [("在保", LicenceStatus.VALID, None), ("暂停", LicenceStatus.SUSPENDED, "under_review"),
     ("停保", LicenceStatus.CANCELLED, "eligibility_ended")],
)  # fmt: skip
def test_a_case_that_ends_changes_status_with_the_state_word_only(
    state: str, status: LicenceStatus, code: str | None
) -> None:
    (draft,) = map_subsistence({**ROSTER_ROW, "状态": state})
    assert draft.status is status and draft.status_reason_code == code
    assert draft.status_reason == (None if status is LicenceStatus.VALID else state)
    assert draft.content_hash == map_subsistence(ROSTER_ROW)[0].content_hash


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"户主身份证号": wrong_check(HUSBAND)}, "户主身份证号: not a valid 公民身份号码"),
        ({"户主姓名": "", "发证日期": ""}, "required fields missing: 户主姓名, 发证日期"),
        ({"保障人数": "三"}, "保障人数: not a whole number"),
        ({"月保障金额": "2240.50"}, "月保障金额: not a whole number"),
        ({"有效期": "2025-12-14"}, "有效期 must be <start>至<end>"),
        ({"有效期": "2026-12-14至2025-12-14"}, "有效期 must end after it starts"),
        ({"状态": "待审"}, "状态 must be one of 在保, 正常, 暂停, 停保, 退保"),
        ({"_problem": "row has 5 fields, the header 13"}, "row has 5 fields"),
    ],
)  # fmt: skip
def test_a_bad_roster_row_fails_naming_the_column(changes: dict[str, str], reason: str) -> None:
    with pytest.raises(MappingError) as failure:
        map_subsistence({**ROSTER_ROW, **changes})
    assert str(failure.value).startswith(reason)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-12-14至2026-12-13", (date(2025, 12, 14), date(2026, 12, 13))),
        ("2025年12月14日 至 2026年12月13日", (date(2025, 12, 14), date(2026, 12, 13))),
        ("20251214-20261213", (date(2025, 12, 14), date(2026, 12, 13))),
    ],
)
def test_validity_periods_as_rosters_print_them(text: str, expected: tuple[date, date]) -> None:
    assert parse_period(text) == expected


def test_an_unknown_registration_type_fails() -> None:
    with pytest.raises(MappingError, match="登记类型 must be 结婚 or 离婚"):
        map_record(SourceRecord("J1", "{}", {**MARRIAGE_RECORD, "登记类型": "补领"}, kind="registration"))


def test_every_generated_record_maps_to_drafts_the_catalog_accepts_except_the_broken_ones(
    tmp_path: Path,
) -> None:
    population = generate(800, seed=21)
    info = write_export(population, tmp_path, seed=21)
    failed, drafts = 0, []
    for record in CivilAffairsSource(tmp_path).read(None):
        try:
            drafts.extend(map_record(record))
        except MappingError:
            failed += 1
    assert failed == info.broken_registrations + info.broken_cases
    assert_catalog_accepts(drafts)
    citizen_spouses = sum(
        (m.husband in population.citizens) + (m.wife in population.citizens)
        for m in population.marriages + population.foreign_marriages
    )
    divorced = sum(2 for m in population.marriages if m.divorced_on)
    assert len(drafts) == citizen_spouses + 2 * divorced + len(population.subsistence)
