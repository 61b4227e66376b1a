"""Pure functions from civil-affairs records to licence drafts of the catalog's civil-affairs types.

- A 结婚登记 record becomes a marriage certificate (结婚证) for each spouse who holds a 公民身份号码; both
  spouses' certificates carry the same 结婚证字号 and are told apart by ``part`` (``male`` / ``female``).
- A 离婚登记 record becomes a divorce certificate (离婚证) for each such spouse, and ends the marriage
  certificates of the marriage it dissolves (04 注销, read with it by the source): the same content as
  that marriage's record gives, so the hub receives a status change and no new version.
- A 低保 roster row becomes a minimum-subsistence certificate; 暂停 suspends it (02), 停保 ends it (04).

A spouse without a 公民身份号码 (a foreigner, or a Hong Kong, Macao or Taiwan resident registering with a
permit) is named in the certificate with their document number, in the ``*_id_document_number`` fields
(kind string), but holds no licence in the hub: a holder must be a 公民身份号码. A party without a
身份证件类型 is taken to hold a 居民身份证. A record with an invalid 公民身份号码, a malformed date or a
missing required field fails as a whole, with a reason that names the field and never its value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from adapters.civil_affairs.source import JOINED_MARRIAGE
from adapters.sdk.dates import parse_date
from adapters.sdk.records import LicenceDraft, MappingError, SourceRecord
from hub.contract.identifiers import check_citizen_id
from hub.contract.status import LicenceStatus, StatusReason

MARRIAGE = "11100000000014269L001"
DIVORCE = "11100000000014269L002"
SUBSISTENCE = "11100000000014269L003"
CITIZEN_DOCUMENT = "居民身份证"
PARTIES = (("男方", "male", "男"), ("女方", "female", "女"))
PARTY_REQUIRED = ("姓名", "国籍", "出生日期", "身份证件号")
CERTIFICATE_ELEMENT = {MARRIAGE: "结婚证字号", DIVORCE: "离婚证字号"}
DIVORCE_REASON = "离婚登记"

ROSTER_FIELDS = {
    "证号": "certificate_number",
    "户主姓名": "holder_name",
    "户主身份证号": "holder_id_number",
    "家庭住址": "address",
    "保障类别": "category",
    "分类施保类别": "assistance_class",
    "家庭成员": "family_members",
    "发证机关": "issuing_authority",
}
ROSTER_REQUIRED = (
    "证号",
    "户主姓名",
    "户主身份证号",
    "保障类别",
    "保障人数",
    "月保障金额",
    "发证机关",
    "发证日期",
)
# The reason a case ended (income, work, property) says more about the household than a status may:
# the statement carries the roster's state word only.
ROSTER_STATUS = {
    "": LicenceStatus.VALID,
    "在保": LicenceStatus.VALID,
    "正常": LicenceStatus.VALID,
    "暂停": LicenceStatus.SUSPENDED,
    "停保": LicenceStatus.CANCELLED,
    "退保": LicenceStatus.CANCELLED,
}
ROSTER_REASON = {
    LicenceStatus.SUSPENDED: StatusReason.UNDER_REVIEW,
    LicenceStatus.CANCELLED: StatusReason.ELIGIBILITY_ENDED,
}

_PERIOD = re.compile(r"^(.+?)\s*至\s*(.+)$|^(\d{8})-(\d{8})$")
_YUAN = re.compile(r"^(\d+)(?:\.0+)?\s*元?$")


def parse_period(text: str) -> tuple[date, date]:
    """有效期 as the roster prints it: ``2025-03-01至2026-02-28`` or ``20250301-20260228``, inclusive."""
    match = _PERIOD.match(text.strip())
    start, end = (match.group(1) or match.group(3), match.group(2) or match.group(4)) if match else ("", "")
    valid_from, valid_until = parse_date(start), parse_date(end)
    if valid_from is None or valid_until is None:
        raise MappingError("有效期 must be <start>至<end>")
    if valid_until < valid_from:
        raise MappingError("有效期 must end after it starts")
    return valid_from, valid_until


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    return value.strip() if isinstance(value, str) else ""


def _date(record: Mapping[str, Any], name: str, label: str) -> date:
    parsed = parse_date(_text(record, name))
    if parsed is None:
        raise MappingError(f"{label}: not a date")
    return parsed


# -- the marriage registry ---------------------------------------------------------------------------------


def _registration(
    record: Mapping[str, Any], type_code: str
) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The values both spouses' certificates share, and the holders: (part, name, 公民身份号码)."""
    if record.get("_problem"):
        raise MappingError(str(record["_problem"]))
    number_element = CERTIFICATE_ELEMENT[type_code]
    missing = [name for name in ("登记日期", number_element, "婚姻登记机关") if not _text(record, name)]
    parties = {}
    for element, _, _ in PARTIES:
        party = record.get(element)
        if not isinstance(party, Mapping):
            missing.append(element)
            continue
        parties[element] = party
        missing.extend(f"{element}/{name}" for name in PARTY_REQUIRED if not _text(party, name))
    if missing:
        raise MappingError(f"required fields missing: {', '.join(missing)}")
    values: dict[str, Any] = {
        "registration_date": _date(record, "登记日期", "登记日期").isoformat(),
        "certificate_number": _text(record, number_element),
        "registration_authority": _text(record, "婚姻登记机关"),
    }
    if _text(record, "备注"):
        values["remarks"] = _text(record, "备注")
    holders = []
    for element, part, sex in PARTIES:
        party = parties[element]
        birth = _date(party, "出生日期", f"{element}/出生日期")
        values[f"{part}_party_name"] = _text(party, "姓名")
        values[f"{part}_party_nationality"] = _text(party, "国籍")
        values[f"{part}_party_birth_date"] = birth.isoformat()
        document = _text(party, "身份证件号")
        if _text(party, "身份证件类型") in ("", CITIZEN_DOCUMENT):
            document = _citizen_id(party, element, birth, sex)
            holders.append((part, values[f"{part}_party_name"], document))
        values[f"{part}_party_id_document_number"] = document
    if not holders:
        raise MappingError(f"neither party holds a {CITIZEN_DOCUMENT}: no certificate can be held in the hub")
    return values, holders


def _citizen_id(party: Mapping[str, Any], element: str, birth: date, sex: str) -> str:
    try:
        number = check_citizen_id(_text(party, "身份证件号"))
    except ValueError as exc:
        raise MappingError(f"{element}/身份证件号: {exc}") from None
    if number[6:14] != birth.strftime("%Y%m%d"):
        raise MappingError(f"{element}/出生日期 does not match the 公民身份号码")
    if (int(number[16]) % 2 == 1) != (sex == "男"):
        raise MappingError(f"{element}/身份证件号: its sex digit is not {sex}")
    return number


def _certificates(
    record: Mapping[str, Any],
    type_code: str,
    status: LicenceStatus,
    reason: str | None = None,
    code: StatusReason | None = None,
) -> list[LicenceDraft]:
    values, holders = _registration(record, type_code)
    registered = date.fromisoformat(values["registration_date"])
    return [
        LicenceDraft(
            type_code,
            {**values, "holder_name": name, "holder_id_number": number},
            valid_from=registered,
            status=status,
            status_reason=reason,
            status_reason_code=code,
            part=part,
        )
        for part, name, number in holders
    ]


def map_marriage(record: Mapping[str, Any]) -> list[LicenceDraft]:
    """A 结婚登记 record → a marriage certificate for each spouse with a 公民身份号码."""
    return _certificates(record, MARRIAGE, LicenceStatus.VALID)


def map_divorce(record: Mapping[str, Any]) -> list[LicenceDraft]:
    """A 离婚登记 record → the marriage certificates it ends (when the source found that marriage) and a
    divorce certificate for each spouse with a 公民身份号码."""
    divorce = _certificates(record, DIVORCE, LicenceStatus.VALID)
    marriage = record.get(JOINED_MARRIAGE)
    if not isinstance(marriage, Mapping):
        return divorce  # registered elsewhere: not this department's certificates to end
    try:
        ended = _certificates(
            marriage, MARRIAGE, LicenceStatus.CANCELLED, DIVORCE_REASON, StatusReason.REGISTRATION_ENDED
        )
    except MappingError:
        ended = []  # that marriage record went to the dead letters itself: nothing of it is in the hub
    return ended + divorce


# -- the 低保 roster ---------------------------------------------------------------------------------------


def _whole_number(row: Mapping[str, Any], column: str) -> int:
    match = _YUAN.match(_text(row, column))
    if match is None:
        raise MappingError(f"{column}: not a whole number")
    return int(match.group(1))


def map_subsistence(row: Mapping[str, Any]) -> list[LicenceDraft]:
    """A roster row → a minimum-subsistence certificate, valid for its 有效期."""
    if row.get("_problem"):
        raise MappingError(str(row["_problem"]))
    missing = [column for column in ROSTER_REQUIRED if not _text(row, column)]
    if missing:
        raise MappingError(f"required fields missing: {', '.join(missing)}")
    try:
        holder = check_citizen_id(_text(row, "户主身份证号"))
    except ValueError as exc:
        raise MappingError(f"户主身份证号: {exc}") from None
    state = _text(row, "状态")
    if state not in ROSTER_STATUS:
        raise MappingError(f"状态 must be one of {', '.join(s for s in ROSTER_STATUS if s)}")
    values: dict[str, Any] = {
        name: _text(row, column) for column, name in ROSTER_FIELDS.items() if _text(row, column)
    }
    values["holder_id_number"] = holder
    values["covered_persons"] = _whole_number(row, "保障人数")
    values["monthly_amount_yuan"] = _whole_number(row, "月保障金额")
    values["issue_date"] = _date(row, "发证日期", "发证日期").isoformat()
    valid_from = valid_until = None
    if _text(row, "有效期"):
        valid_from, valid_until = parse_period(_text(row, "有效期"))
        values["valid_from"], values["valid_until"] = valid_from.isoformat(), valid_until.isoformat()
    status = ROSTER_STATUS[state]
    return [
        LicenceDraft(
            SUBSISTENCE,
            values,
            valid_from=valid_from,
            valid_until=valid_until,
            status=status,
            status_reason=state if status is not LicenceStatus.VALID else None,
            status_reason_code=ROSTER_REASON.get(status),
        )
    ]


def map_record(record: SourceRecord) -> list[LicenceDraft]:
    """The mapper the sync engine calls: dispatch on the civil-affairs source's record kinds."""
    if record.kind == "marriage":
        return map_marriage(record.data)
    if record.kind == "divorce":
        return map_divorce(record.data)
    if record.kind == "subsistence":
        return map_subsistence(record.data)
    raise MappingError("登记类型 must be 结婚 or 离婚")
