"""Commerce mapping (pure): registry enterprise records to business licence drafts, and the sample
registry generated from the shared population."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

import pytest
from stdnum.cn import uscc

from adapters.commerce.generate import evolve_registry, registry_records
from adapters.commerce.mapping import BUSINESS_LICENCE, map_enterprise, registered_capital
from adapters.samples.population import Population, generate
from adapters.sdk.plan import LicenceState, plan_steps
from adapters.sdk.records import LicenceDraft, MappingError
from adapters.sdk.validation import problems_with
from hub.contract.status import LicenceStatus
from tests.factories import TYPES

CATALOG = TYPES[BUSINESS_LICENCE]


def code(body: str) -> str:
    return body + uscc.calc_check_digit(body + "0")


USCC = code("91410105MA44R7XK0")
RECORD = {
    "主体身份代码": "4101050000000042", "统一社会信用代码": USCC, "证照编号": "4101051900000042",
    "企业名称": "郑州宏达商贸有限公司", "类型": "有限责任公司（自然人投资或控股）", "法定代表人": "王建国",
    "法定代表人证件类型": "中华人民共和国居民身份证", "法定代表人证件号码": "41010519800312101x",
    "经营范围": "日用百货、五金交电、服装鞋帽销售", "注册资本": 100, "注册资本币种": "人民币",
    "成立日期": "2019-03-12", "营业期限自": "2019-03-12", "营业期限至": "2049-03-11",
    "住所": "河南省郑州市金水区花园路12号", "登记机关": "郑州市金水区市场监督管理局",
    "核准日期": "2023-06-01", "登记状态": "存续（在营、开业、在册）", "注销日期": None, "注销原因": None,
    "吊销日期": None, "吊销原因": None, "更新时间": "2023-06-01T10:15:00+08:00",
}  # fmt: skip


def record(**changes: Any) -> dict[str, Any]:
    return {**RECORD, **changes}


def licence(rec: dict[str, Any]) -> LicenceDraft:
    (draft,) = map_enterprise(rec)
    return draft


def test_a_running_enterprise_becomes_a_valid_business_licence() -> None:
    draft = licence(record())
    assert draft.type_code == BUSINESS_LICENCE and draft.status is LicenceStatus.VALID
    assert draft.values == {
        "uscc": USCC, "licence_number": "4101051900000042", "name": "郑州宏达商贸有限公司",
        "entity_type": "有限责任公司（自然人投资或控股）", "legal_representative": "王建国",
        "legal_representative_id_number": "41010519800312101X",
        "business_scope": "日用百货、五金交电、服装鞋帽销售", "registered_capital": "100万元人民币",
        "establishment_date": "2019-03-12", "business_term_from": "2019-03-12",
        "business_term_until": "2049-03-11", "domicile": "河南省郑州市金水区花园路12号",
        "registration_authority": "郑州市金水区市场监督管理局", "registration_date": "2023-06-01",
    }  # fmt: skip
    assert (draft.valid_from, draft.valid_until) == (date(2019, 3, 12), date(2049, 3, 11))
    assert draft.status_reason is None and draft.problems == ()
    assert problems_with(CATALOG, draft.values) == []


def test_a_wrong_legal_representative_id_number_is_named_by_the_catalog_check() -> None:
    draft = licence(record(法定代表人证件号码="410105198003121012"))
    assert problems_with(CATALOG, draft.values) == [
        "legal_representative_id_number (法定代表人公民身份号码): "
        "not a valid 公民身份号码 (GB 11643): wrong check character"
    ]


@pytest.mark.parametrize("until", [None, "", "长期"])
def test_a_long_term_business_has_no_end(until: str | None) -> None:
    draft = licence(record(营业期限至=until))
    assert draft.valid_until is None and "business_term_until" not in draft.values


def test_an_individual_business_declares_no_capital_and_a_passport_is_no_id_number() -> None:
    draft = licence(record(类型="个体工商户", 注册资本=None, 注册资本币种=None, 法定代表人证件类型="护照",
                           法定代表人证件号码="E12345678"))  # fmt: skip
    assert "registered_capital" not in draft.values
    assert "legal_representative_id_number" not in draft.values


@pytest.mark.parametrize(
    ("amount", "currency", "printed"),
    [(100, "人民币", "100万元人民币"), (12.5, "美元", "12.5万元美元"), ("50.000000", None, "50万元人民币"),
     ("伍拾万元", "人民币", "伍拾万元"), (None, None, ""), ("", "人民币", "")],
)  # fmt: skip
def test_registered_capital_as_printed(amount: Any, currency: Any, printed: str) -> None:
    assert registered_capital(amount, currency) == printed


@pytest.mark.parametrize(
    ("state", "status", "reason", "code"),
    [
        ("存续", LicenceStatus.VALID, None, None),
        ("在业", LicenceStatus.VALID, None, None),
        ("注销", LicenceStatus.CANCELLED, "注销；决议解散；注销日期 2026-10-01", "registration_ended"),
        (
            "吊销，未注销",
            LicenceStatus.REVOKED,
            "吊销，未注销；未按规定公示年报；吊销日期 2026-09-30",
            "penalty",
        ),
        ("吊销", LicenceStatus.REVOKED, "吊销；未按规定公示年报；吊销日期 2026-09-30", "penalty"),
        ("吊销，已注销", LicenceStatus.CANCELLED, "吊销，已注销；决议解散；注销日期 2026-10-01", "penalty"),
        ("撤销", LicenceStatus.ANNULLED, "撤销", "issued_in_error"),
        ("迁出", LicenceStatus.TRANSFERRED, "迁出", "registration_ended"),
    ],
)
def test_registration_status_becomes_the_licence_status(
    state: str, status: LicenceStatus, reason: str | None, code: str | None
) -> None:
    draft = licence(record(登记状态=state, 注销日期="2026-10-01", 注销原因="决议解散", 吊销日期="2026-09-30",
                           吊销原因="未按规定公示年报"))  # fmt: skip
    assert (draft.status, draft.status_reason, draft.status_reason_code) == (status, reason, code)


def test_an_unknown_registration_status_fails_the_record() -> None:
    with pytest.raises(MappingError, match="登记状态 must be one of 存续"):
        map_enterprise(record(登记状态="歇业中"))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (USCC[:-1] + ("0" if USCC[-1] != "0" else "1"), "check digit is invalid"),
        ("", "统一社会信用代码: not a valid"),
        (None, "统一社会信用代码: not a valid"),
        (code("11410100MA44R7XK0"), "not issued by market regulation"),
    ],
)
def test_an_invalid_uscc_fails_the_whole_record_without_echoing_it(value: str | None, reason: str) -> None:
    with pytest.raises(MappingError, match=reason) as caught:
        map_enterprise(record(统一社会信用代码=value))
    assert not value or value not in str(caught.value)


def test_missing_required_fields_are_named_by_the_catalog_check() -> None:
    draft = licence(record(经营范围="", 住所=None, 法定代表人="  "))
    assert problems_with(CATALOG, draft.values) == [
        "legal_representative (法定代表人): required field missing",
        "business_scope (经营范围): required field missing",
        "domicile (住所): required field missing",
    ]


@pytest.mark.parametrize(
    ("until", "problem"), [("2049/13/40", "not a date"), ("2018-01-01", "must be after 营业期限自")]
)
def test_a_broken_business_term_is_a_problem_of_the_licence(until: str, problem: str) -> None:
    assert problem in licence(record(营业期限至=until)).problems[0]


def test_a_date_the_catalog_refuses_passes_through_for_the_check_to_name() -> None:
    draft = licence(record(成立日期="2019年3月12日"))
    assert draft.values["establishment_date"] == "2019年3月12日"
    expected = "establishment_date (成立日期): must be a date YYYY-MM-DD"
    assert problems_with(CATALOG, draft.values) == [expected]


def test_a_revocation_is_a_status_change_alone_and_a_change_of_address_a_new_version() -> None:
    running = licence(record())
    held = LicenceState("00000001", 1, "id-v1", running.content_hash, LicenceStatus.VALID, 0, 1)
    revoked = licence(record(登记状态="吊销，未注销", 吊销日期="2026-11-02", 吊销原因="未按规定公示年报",
                             更新时间="2026-11-02T09:00:00+08:00"))  # fmt: skip
    assert revoked.content_hash == running.content_hash
    (step,) = plan_steps(revoked, held, None, lambda serial, v: f"id-v{v}")
    assert (step.op, step.after.status, step.after.version) == ("status", LicenceStatus.REVOKED, 1)

    moved = licence(record(住所="河南省郑州市金水区农业路8号", 核准日期="2026-11-02"))
    (step,) = plan_steps(moved, held, None, lambda serial, v: f"id-v{v}")
    assert (step.op, step.after.version, step.after.licence_id) == ("update", 2, "id-v2")


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(1500, seed=23)


def test_the_sample_registry_is_the_populations_businesses(population: Population) -> None:
    records = registry_records(population, seed=23)
    assert records == registry_records(population, seed=23)  # deterministic
    by_uscc = {b.uscc: b for b in population.businesses}
    outcomes: Counter[str] = Counter()
    for rec in records:
        try:
            draft = licence(rec)
        except MappingError as exc:
            outcomes["bad uscc"] += 1
            assert "统一社会信用代码" in str(exc)
            continue
        if problems_with(CATALOG, draft.values):
            outcomes["missing field"] += 1
            assert problems_with(CATALOG, draft.values) == [
                "business_scope (经营范围): required field missing"
            ]
            continue
        outcomes[draft.status.value] += 1
        business = by_uscc[draft.values["uscc"]]
        representative = population.citizens[business.legal_representative]
        assert draft.values["legal_representative"] == representative.name
        assert draft.values["legal_representative_id_number"] == representative.id_number
        assert draft.values.get("registered_capital", "") == business.registered_capital
    assert outcomes["bad uscc"] == outcomes["missing field"] == 1
    assert outcomes["04"] >= 1 and outcomes["07"] >= 1
    assert outcomes["01"] + outcomes["04"] + outcomes["07"] == len(population.businesses)
    assert len({r["主体身份代码"] for r in records}) == len(records)


def test_registry_changes_are_later_than_everything_before(population: Population) -> None:
    records = registry_records(population, seed=23)
    before = {r["主体身份代码"]: dict(r) for r in records}
    latest = max(r["更新时间"] for r in records)
    changes = evolve_registry(records, population, fraction=0.1, seed=24)
    assert [c.kind for c in changes[:5]] == ["moved", "revoked", "representative", "cancelled", "new"]
    changed = {r["主体身份代码"]: r for r in records if r != before.get(r["主体身份代码"])}
    assert changed.keys() == {c.record_id for c in changes}
    assert all(r["更新时间"] > latest for r in changed.values())
    statuses = {c.kind: licence(changed[c.record_id]).status for c in changes}
    assert statuses["revoked"] is LicenceStatus.REVOKED and statuses["cancelled"] is LicenceStatus.CANCELLED
    assert statuses["moved"] is statuses["new"] is LicenceStatus.VALID
    second = evolve_registry(records, population, fraction=0.05, seed=25)
    assert min(r["更新时间"] for r in records if r["主体身份代码"] in {c.record_id for c in second}) > max(
        r["更新时间"] for r in changed.values()
    )
