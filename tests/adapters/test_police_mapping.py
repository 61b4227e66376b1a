"""Police mapping (pure): population-register rows and certificates to catalog licence drafts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest

from adapters.police.generate import person_row, write_export
from adapters.police.mapping import (
    HOUSEHOLD_REGISTER,
    ID_CARD,
    NO_CRIMINAL_RECORD,
    map_certificate,
    map_person,
    map_record,
    parse_validity,
)
from adapters.police.source import PoliceSource
from adapters.samples.population import generate
from adapters.sdk.records import MappingError
from adapters.sdk.validation import problems_with
from hub.contract.status import LicenceStatus, StatusReason
from tests.factories import TYPES

CATALOG = TYPES

ROW = {
    "公民身份号码": "410105198003121234", "姓名": "王建国", "性别": "男", "民族": "汉族",
    "出生日期": "19800312",
    "住址": "河南省郑州市金水区花园路12号院3号楼2单元501号", "户号": "050001234", "户别": "家庭户",
    "户主姓名": "王建国", "与户主关系": "户主", "户口登记机关": "郑州市公安局金水分局花园路派出所",
    "登记日期": "19800401", "签发机关": "郑州市公安局金水分局", "有效期限": "20150101-20350101",
    "身高": "172", "血型": "A", "婚姻状况": "已婚", "曾用名": "", "人员状态": "正常",
}  # fmt: skip


def row(**changes: str) -> dict[str, Any]:
    from stdnum.cn import ric

    data = {**ROW, **changes}
    body = data["公民身份号码"][:17]
    if "公民身份号码" not in changes:
        data["公民身份号码"] = body + ric.calc_check_digit(body + "0")
    return data


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20150101-20350101", (date(2015, 1, 1), date(2035, 1, 1))),
        ("2015.01.01-2035.01.01", (date(2015, 1, 1), date(2035, 1, 1))),
        ("20100224-长期", (date(2010, 2, 24), None)),
    ],
)
def test_validity_as_printed_on_the_card(text: str, expected: tuple[date, date | None]) -> None:
    assert parse_validity(text) == expected


@pytest.mark.parametrize(
    "text", ["", "20150101", "20150101-", "2015-01-01-2035", "20350101-20150101", "长期"]
)
def test_malformed_validity_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_validity(text)


def test_a_register_row_becomes_an_id_card_and_a_household_register_page() -> None:
    card, page = map_person(row())
    assert card.type_code == ID_CARD and page.type_code == HOUSEHOLD_REGISTER
    assert card.values == {
        "name": "王建国", "sex": "男", "ethnicity": "汉族", "birth_date": "1980-03-12",
        "address": ROW["住址"], "id_number": row()["公民身份号码"],
        "issuing_authority": "郑州市公安局金水分局",
        "valid_from": "2015-01-01", "valid_until": "2035-01-01",
    }  # fmt: skip
    assert (card.valid_from, card.valid_until) == (date(2015, 1, 1), date(2035, 1, 1))
    assert page.values["household_number"] == "050001234" and page.values["height_cm"] == 172
    assert page.values["registration_date"] == "1980-04-01" and "former_name" not in page.values
    for draft in (card, page):
        assert draft.status is LicenceStatus.VALID
        assert problems_with(CATALOG[draft.type_code], draft.values) == []


def test_long_term_card_has_no_end_and_a_child_without_card_has_only_the_register_page() -> None:
    card, _ = map_person(row(有效期限="20100224-长期"))
    assert card.valid_until is None and "valid_until" not in card.values
    (page,) = map_person(row(签发机关="", 有效期限=""))
    assert page.type_code == HOUSEHOLD_REGISTER


def test_a_cancelled_person_cancels_both_with_the_reason() -> None:
    drafts = map_person(row(人员状态="注销", 注销原因="死亡"))
    # The words go as the text (T1 and above); the public code says only that the registration ended.
    assert [(d.status, d.status_reason, d.status_reason_code) for d in drafts] == [
        (LicenceStatus.CANCELLED, "死亡", StatusReason.REGISTRATION_ENDED)
    ] * 2
    assert [d.status_reason_code for d in map_person(row())] == [None, None]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"公民身份号码": "410105198003121230"}, "wrong check character"),
        ({"公民身份号码": ""}, "公民身份号码"),
        ({"出生日期": "19800313"}, "出生日期 does not match"),
        ({"性别": "女"}, "性别 does not match"),
        ({"人员状态": "失踪"}, "人员状态 must be"),
        ({"_problem": "row has 3 fields, the header 27"}, "row has 3 fields"),
    ],
)
def test_records_the_hub_must_never_see(changes: dict[str, str], reason: str) -> None:
    with pytest.raises(MappingError, match=reason):
        map_person(row(**changes))


def test_missing_required_field_is_named_by_the_catalog_check() -> None:
    card, page = map_person(row(姓名=""))
    assert problems_with(CATALOG[ID_CARD], card.values) == ["name (姓名): required field missing"]
    assert problems_with(CATALOG[HOUSEHOLD_REGISTER], page.values) == ["name (姓名): required field missing"]


def test_a_malformed_validity_fails_only_the_id_card() -> None:
    card, page = map_person(row(有效期限="2015-长久"))
    assert card.problems and "有效期限" in card.problems[0]
    assert not page.problems and problems_with(CATALOG[HOUSEHOLD_REGISTER], page.values) == []


def test_certificates_and_their_voiding() -> None:
    record = {
        "证明编号": "ZZGA2026410105000001", "姓名": "王建国", "性别": "男",
        "公民身份号码": row()["公民身份号码"], "查询起始日期": "1998-03-01", "查询截止日期": "2026-10-01",
        "查询结果": "未发现有犯罪记录", "用途": "就业", "开具单位": "郑州市公安局金水分局花园路派出所",
        "开具日期": "2026-10-01", "有效期至": "2026-12-30", "状态": "有效",
    }  # fmt: skip
    (draft,) = map_certificate(record)
    assert (
        draft.type_code == NO_CRIMINAL_RECORD and draft.values["certificate_number"] == "ZZGA2026410105000001"
    )
    assert (draft.valid_from, draft.valid_until) == (date(2026, 10, 1), date(2026, 12, 30))
    assert problems_with(CATALOG[NO_CRIMINAL_RECORD], draft.values) == []
    (voided,) = map_certificate({**record, "状态": "作废"})
    assert voided.status is LicenceStatus.ANNULLED and voided.content_hash == draft.content_hash
    assert voided.status_reason_code is StatusReason.ISSUED_IN_ERROR and draft.status_reason_code is None


def test_every_generated_record_maps_except_the_deliberately_broken_ones(tmp_path: Path) -> None:
    population = generate(500, seed=21)
    info = write_export(population, tmp_path, seed=21, broken_rows=4)
    failures = 0
    for record in PoliceSource(tmp_path).read(None):
        try:
            drafts = map_record(record)
        except MappingError:
            failures += 1
            continue
        broken = [d for d in drafts if problems_with(CATALOG[d.type_code], d.values)]
        failures += bool(broken)
    assert failures == info.broken_rows == 4
    citizen = next(iter(population.citizens.values()))
    assert person_row(citizen, population.households[citizen.household])["户号"] == citizen.household
