"""Pure functions from the registry's enterprise records to business licence drafts (营业执照).

One record is one licence, held by the enterprise (its 统一社会信用代码). A 变更登记 (new address, legal
representative, scope …) changes values and 核准日期 and so makes a new version; 登记状态 becomes the
licence's status: 注销 → 04 cancelled, 吊销 → 07 revoked (sent as department-signed status statements),
撤销 → 03 annulled, 迁出 → 06 transferred. The 注销/吊销 date and reason go into the statement's reason,
not into the licence, so a status change alone never makes a new version.

An invalid 统一社会信用代码, the licence's holder, fails the whole record here; other values the catalog
would refuse are passed through unchanged so that the catalog check names the field (missing 经营范围,
a 法定代表人证件号码 with a wrong check character, …).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from adapters.sdk.dates import iso_date, parse_date
from adapters.sdk.records import LicenceDraft, MappingError, SourceRecord
from hub.contract.identifiers import check_uscc
from hub.contract.status import LicenceStatus, StatusReason

BUSINESS_LICENCE = "11100000000019887N001"
LONG_TERM = "长期"
MARKET_REGULATION = "9"  # GB 32100 登记管理部门代码 of the market regulator (工商)
RESIDENT_ID_CARD_TYPES = ("", "中华人民共和国居民身份证", "居民身份证", "身份证")

# Registry column → business licence field, for the values copied as they are (text, or dates).
COLUMNS = {
    "证照编号": "licence_number",
    "企业名称": "name",
    "类型": "entity_type",
    "法定代表人": "legal_representative",
    "经营范围": "business_scope",
    "成立日期": "establishment_date",
    "营业期限自": "business_term_from",
    "住所": "domicile",
    "登记机关": "registration_authority",
    "核准日期": "registration_date",
}
DATE_FIELDS = {"establishment_date", "business_term_from", "business_term_until", "registration_date"}

# 登记状态 as registries write it, with and without the parenthesised detail.
REGISTRATION_STATUS = {
    "存续": LicenceStatus.VALID,
    "存续（在营、开业、在册）": LicenceStatus.VALID,
    "在业": LicenceStatus.VALID,
    "在营": LicenceStatus.VALID,
    "开业": LicenceStatus.VALID,
    "注销": LicenceStatus.CANCELLED,
    "吊销，已注销": LicenceStatus.CANCELLED,
    "吊销": LicenceStatus.REVOKED,
    "吊销，未注销": LicenceStatus.REVOKED,
    "撤销": LicenceStatus.ANNULLED,
    "迁出": LicenceStatus.TRANSFERRED,
}
# The public code for each 登记状态 that is not 存续: a penalty (吊销, even when later 注销) or an error
# (撤销) says so; a 注销 or 迁出 ends this registration, for whatever reason (the reason column goes as
# the text).
REASON_CODE = {
    "注销": StatusReason.REGISTRATION_ENDED,
    "迁出": StatusReason.REGISTRATION_ENDED,
    "吊销": StatusReason.PENALTY,
    "吊销，未注销": StatusReason.PENALTY,
    "吊销，已注销": StatusReason.PENALTY,
    "撤销": StatusReason.ISSUED_IN_ERROR,
}
STATUS_DETAILS = {  # which date and reason columns explain a status
    LicenceStatus.CANCELLED: ("注销日期", "注销原因"),
    LicenceStatus.REVOKED: ("吊销日期", "吊销原因"),
    LicenceStatus.ANNULLED: ("撤销日期", "撤销原因"),
    LicenceStatus.TRANSFERRED: ("迁出日期", "迁出原因"),
}

# Registries write dates YYYY-MM-DD; some drop the leading zeros of month and day.
REGISTRY_DATE_FORMS = (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),)


def _text(record: Mapping[str, Any], column: str) -> str:
    value = record.get(column)
    return "" if value is None else str(value).strip()


def _uscc(record: Mapping[str, Any]) -> str:
    try:
        code = check_uscc(_text(record, "统一社会信用代码"))
    except ValueError as exc:
        raise MappingError(f"统一社会信用代码: {exc}") from None
    if not code.startswith(MARKET_REGULATION):
        raise MappingError("统一社会信用代码: not issued by market regulation (登记管理部门代码 is not 9)")
    return code


def registered_capital(amount: Any, currency: Any) -> str:
    """注册资本 as printed on the licence: ``100`` (万元) and ``人民币`` → ``100万元人民币``. Text the
    registry already formatted is kept; no amount (个体工商户 declare none) gives ""."""
    if amount is None or amount == "":
        return ""
    if isinstance(amount, str):
        try:
            amount = Decimal(amount.strip())
        except InvalidOperation:
            return amount.strip()
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal):
        return str(amount)
    number = Decimal(str(amount)).normalize()
    return f"{number:f}万元{str(currency or '').strip() or '人民币'}"


def status_of(record: Mapping[str, Any]) -> tuple[LicenceStatus, str | None]:
    """The licence status for 登记状态, and the reason to sign with it (date and reason as given)."""
    state = _text(record, "登记状态")
    if state not in REGISTRATION_STATUS:
        raise MappingError(f"登记状态 must be one of {', '.join(REGISTRATION_STATUS)}")
    status = REGISTRATION_STATUS[state]
    if status is LicenceStatus.VALID:
        return status, None
    day_column, reason_column = STATUS_DETAILS[status]
    day, reason = _text(record, day_column), _text(record, reason_column)
    return status, "；".join(part for part in (state, reason, day and f"{day_column} {day}") if part)


def map_enterprise(record: Mapping[str, Any]) -> list[LicenceDraft]:
    """An enterprise record → its business licence, with the status its 登记状态 says."""
    values: dict[str, Any] = {"uscc": _uscc(record)}
    status, reason = status_of(record)
    code = REASON_CODE.get(_text(record, "登记状态"))
    for column, name in COLUMNS.items():
        text = _text(record, column)
        if text:
            values[name] = iso_date(text, REGISTRY_DATE_FORMS) if name in DATE_FIELDS else text
    id_type, id_number = _text(record, "法定代表人证件类型"), _text(record, "法定代表人证件号码")
    if id_number and id_type in RESIDENT_ID_CARD_TYPES:  # a passport number is no 公民身份号码
        values["legal_representative_id_number"] = id_number.upper()
    capital = registered_capital(record.get("注册资本"), record.get("注册资本币种"))
    if capital:
        values["registered_capital"] = capital

    problems: list[str] = []
    valid_from = parse_date(_text(record, "营业期限自") or _text(record, "成立日期"), REGISTRY_DATE_FORMS)
    until_text = _text(record, "营业期限至")
    valid_until = None
    if until_text and until_text != LONG_TERM:
        valid_until = parse_date(until_text, REGISTRY_DATE_FORMS)
        if valid_until is None:
            problems.append("营业期限至: not a date YYYY-MM-DD (or 长期)")
        elif valid_from is not None and valid_until <= valid_from:
            problems.append("营业期限至: must be after 营业期限自")
        else:
            values["business_term_until"] = valid_until.isoformat()
    return [
        LicenceDraft(
            BUSINESS_LICENCE,
            values,
            valid_from=valid_from,
            valid_until=valid_until,
            status=status,
            status_reason=reason,
            status_reason_code=code,
            problems=tuple(problems),
        )
    ]


def map_record(record: SourceRecord) -> list[LicenceDraft]:
    """The mapper the sync engine calls."""
    return map_enterprise(record.data)
