"""Pure functions from police records to licence drafts of the catalog's police types.

A population-register row (Chinese column names, as exported) becomes a resident ID card (居民身份证,
when the person holds one) and a household register page (居民户口簿); a certificate record becomes a
no-criminal-record certificate (无犯罪记录证明). Values the catalog would refuse are passed through
unchanged so that the catalog check names the field; only an invalid 公民身份号码, which is the record's
identity, fails the whole record here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from adapters.sdk.dates import iso_date, parse_date
from adapters.sdk.records import LicenceDraft, MappingError, SourceRecord
from hub.contract.identifiers import check_citizen_id
from hub.contract.status import LicenceStatus, StatusReason

ID_CARD = "11100000000013127D001"
HOUSEHOLD_REGISTER = "11100000000013127D002"
NO_CRIMINAL_RECORD = "11100000000013127D003"
LONG_TERM = "长期"

# Population register column → household register field (the ID card uses a few of them too).
HOUSEHOLD_COLUMNS = {
    "户号": "household_number",
    "户别": "household_type",
    "户主姓名": "head_of_household_name",
    "住址": "household_address",
    "户口登记机关": "registration_authority",
    "姓名": "name",
    "与户主关系": "relationship_to_head",
    "曾用名": "former_name",
    "性别": "sex",
    "出生地": "birthplace",
    "民族": "ethnicity",
    "籍贯": "native_place",
    "出生日期": "birth_date",
    "本市其他住址": "other_address_in_city",
    "宗教信仰": "religion",
    "公民身份号码": "id_number",
    "身高": "height_cm",
    "血型": "blood_type",
    "文化程度": "education",
    "婚姻状况": "marital_status",
    "兵役状况": "military_service",
    "服务处所": "employer",
    "职业": "occupation",
    "何时由何地迁来本市": "moved_in_from",
    "何时由何地迁来本址": "moved_in_address_from",
    "登记日期": "registration_date",
}
ID_CARD_COLUMNS = {
    "姓名": "name",
    "性别": "sex",
    "民族": "ethnicity",
    "出生日期": "birth_date",
    "住址": "address",
    "公民身份号码": "id_number",
    "签发机关": "issuing_authority",
}
CERTIFICATE_COLUMNS = {
    "证明编号": "certificate_number",
    "姓名": "name",
    "性别": "sex",
    "公民身份号码": "id_number",
    "查询起始日期": "query_period_from",
    "查询截止日期": "query_period_until",
    "查询结果": "query_result",
    "用途": "purpose",
    "开具单位": "issuing_unit",
    "开具日期": "issue_date",
    "有效期至": "valid_until",
}
DATE_FIELDS = {
    "birth_date",
    "registration_date",
    "query_period_from",
    "query_period_until",
    "issue_date",
    "valid_until",
}
PERSON_STATUS = {"": LicenceStatus.VALID, "正常": LicenceStatus.VALID, "注销": LicenceStatus.CANCELLED}
CERTIFICATE_STATUS = {"": LicenceStatus.VALID, "有效": LicenceStatus.VALID, "作废": LicenceStatus.ANNULLED}


def parse_validity(text: str) -> tuple[date, date | None]:
    """有效期限 as printed on an ID card: ``20150101-20350101``, ``2015.01.01-2035.01.01``,
    ``20150101-长期``. Returns (from, until), until None for 长期; ValueError if malformed."""
    start, sep, end = text.strip().partition("-")
    valid_from = parse_date(start)
    if not sep or valid_from is None:
        raise ValueError("有效期限 must be <start>-<end> or <start>-长期")
    if end.strip() == LONG_TERM:
        return valid_from, None
    valid_until = parse_date(end)
    if valid_until is None or valid_until <= valid_from:
        raise ValueError("有效期限 must end after it starts")
    return valid_from, valid_until


def _values(row: Mapping[str, Any], columns: Mapping[str, str]) -> dict[str, Any]:
    """Non-empty values by field name; dates in ISO form, 身高 as an integer when it is one."""
    values: dict[str, Any] = {}
    for column, name in columns.items():
        text = str(row.get(column) or "").strip()
        if not text:
            continue
        if name in DATE_FIELDS:
            values[name] = iso_date(text)
        elif name == "height_cm":
            values[name] = int(text) if text.isdigit() else text
        else:
            values[name] = text
    return values


def _citizen_id(row: Mapping[str, Any]) -> str:
    try:
        return check_citizen_id(str(row.get("公民身份号码") or ""))
    except ValueError as exc:
        raise MappingError(f"公民身份号码: {exc}") from None


def map_person(row: Mapping[str, Any]) -> list[LicenceDraft]:
    """A population-register row → household register page, and ID card when 签发机关 and 有效期限 are set."""
    if row.get("_problem"):
        raise MappingError(str(row["_problem"]))
    id_number = _citizen_id(row)
    birth = parse_date(str(row.get("出生日期") or ""))
    if birth is not None and birth.strftime("%Y%m%d") != id_number[6:14]:
        raise MappingError("出生日期 does not match the 公民身份号码")
    sex = str(row.get("性别") or "").strip()
    if sex in ("男", "女") and (int(id_number[16]) % 2 == 1) != (sex == "男"):
        raise MappingError("性别 does not match the 公民身份号码")
    state = str(row.get("人员状态") or "").strip()
    if state not in PERSON_STATUS:
        raise MappingError(f"人员状态 must be one of {', '.join(s for s in PERSON_STATUS if s)}")
    status = PERSON_STATUS[state]
    reason = None
    if status is not LicenceStatus.VALID:
        reason = str(row.get("注销原因") or "").strip() or None

    household = _values(row, HOUSEHOLD_COLUMNS)
    household["id_number"] = id_number
    # A household register has no period of validity: its registration date is a field, not nbf.
    # 注销 ends the registration, whatever the cause: the code says only that, 注销原因 goes as the text.
    code = None if status is LicenceStatus.VALID else StatusReason.REGISTRATION_ENDED
    drafts = [
        LicenceDraft(
            HOUSEHOLD_REGISTER, household, status=status, status_reason=reason, status_reason_code=code
        )
    ]

    validity = str(row.get("有效期限") or "").strip()
    if validity or str(row.get("签发机关") or "").strip():
        card = _values(row, ID_CARD_COLUMNS)
        card["id_number"] = id_number
        problems: tuple[str, ...] = ()
        valid_from = valid_until = None
        try:
            valid_from, valid_until = parse_validity(validity)
        except ValueError as exc:
            problems = (str(exc),)  # this licence goes to the dead letters; the household register does not
        else:
            card["valid_from"] = valid_from.isoformat()
            if valid_until:
                card["valid_until"] = valid_until.isoformat()
        card_draft = LicenceDraft(
            ID_CARD,
            card,
            valid_from,
            valid_until,
            status=status,
            status_reason=reason,
            status_reason_code=code,
            problems=problems,
        )
        drafts.insert(0, card_draft)
    return drafts


def map_certificate(record: Mapping[str, Any]) -> list[LicenceDraft]:
    """A certificate record → a no-criminal-record certificate; 作废 (voided) → annulled (03)."""
    values = _values(record, CERTIFICATE_COLUMNS)
    values["id_number"] = _citizen_id(record)
    state = str(record.get("状态") or "").strip()
    if state not in CERTIFICATE_STATUS:
        raise MappingError(f"状态 must be one of {', '.join(s for s in CERTIFICATE_STATUS if s)}")
    status = CERTIFICATE_STATUS[state]
    issued = parse_date(str(record.get("开具日期") or ""))
    until = parse_date(str(record.get("有效期至") or ""))
    voided = status is LicenceStatus.ANNULLED
    return [
        LicenceDraft(
            NO_CRIMINAL_RECORD,
            values,
            valid_from=issued,
            valid_until=until,
            status=status,
            status_reason="作废" if voided else None,
            status_reason_code=StatusReason.ISSUED_IN_ERROR if voided else None,
        )
    ]


def map_record(record: SourceRecord) -> list[LicenceDraft]:
    """The mapper the sync engine calls: dispatch on the police source's record kinds."""
    if record.kind == "certificate":
        return map_certificate(record.data)
    return map_person(record.data)
