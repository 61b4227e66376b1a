"""Sample civil-affairs exports written from the shared population (``adapters.samples``), in the shapes
``adapters.civil_affairs.source`` reads: the marriage registry's XML export and the 低保 roster as CSV.

Every marriage of the population appears as a 结婚登记 record, every divorce as a 离婚登记 record after
it, in registration order; 低保 cases that ended stay on the roster as 停保. A few deliberately broken
records (a wrong check character, a missing 姓名) stand for the errors real exports carry; they must end
in the dead-letter store, never in the hub. :func:`append_events` lets divorces happen and cases end
after an export, as the next export shows them.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from stdnum.cn import ric

from adapters.civil_affairs.registry_xml import PARTIES, RECORD, ROOT, parse_registry_export
from adapters.civil_affairs.source import REGISTRATIONS_FILE, ROSTER_COLUMNS, ROSTER_FILE
from adapters.samples import zhengzhou as zz
from adapters.samples.economy import Subsistence
from adapters.samples.population import AS_OF, MALE, Citizen, Marriage, Population

COLUMNS = (*ROSTER_COLUMNS[:5], "分类施保类别", *ROSTER_COLUMNS[5:])
EXPORTED_BY = "郑州市民政局"


@dataclass(frozen=True)
class ExportInfo:
    directory: Path
    registrations: int  # records in the XML export, broken ones included
    cases: int  # roster rows, broken ones included
    broken_registrations: int
    broken_cases: int


@dataclass
class CivilEvents:
    divorced: list[Marriage] = field(default_factory=list)
    ended: list[Subsistence] = field(default_factory=list)


# -- records -----------------------------------------------------------------------------------------------


def _party(population: Population, marriage: Marriage, side: str) -> dict[str, str]:
    number = marriage.husband if side == "男方" else marriage.wife
    citizen = population.citizens.get(number)
    if citizen is None:
        spouse = marriage.foreign_spouse
        assert spouse is not None, f"{number} is neither a citizen nor a foreign spouse"
        return {
            "姓名": spouse.name,
            "性别": spouse.sex,
            "国籍": spouse.nationality,
            "出生日期": spouse.birth_date.isoformat(),
            "身份证件类型": spouse.document_type,
            "身份证件号": spouse.document_number,
        }
    return _citizen_party(citizen)


def _citizen_party(citizen: Citizen) -> dict[str, str]:
    return {
        "姓名": citizen.name,
        "性别": citizen.sex,
        "国籍": "中国",
        "出生日期": citizen.birth_date.isoformat(),
        "身份证件类型": "居民身份证",
        "身份证件号": citizen.id_number,
    }


def marriage_record(population: Population, marriage: Marriage) -> dict[str, Any]:
    """The 结婚登记 record of ``marriage`` (without its 登记流水号)."""
    return {
        "登记类型": "结婚",
        "登记日期": marriage.registered_on.isoformat(),
        "结婚证字号": marriage.certificate,
        "婚姻登记机关": zz.BY_CODE[marriage.county].marriage_office,
        "男方": _party(population, marriage, "男方"),
        "女方": _party(population, marriage, "女方"),
        "备注": "涉外婚姻" if marriage.foreign_spouse else "",
    }


def divorce_record(population: Population, marriage: Marriage) -> dict[str, Any]:
    assert marriage.divorced_on and marriage.divorce_certificate
    return {
        "登记类型": "离婚",
        "登记日期": marriage.divorced_on.isoformat(),
        "离婚证字号": marriage.divorce_certificate,
        "原结婚证字号": marriage.certificate,
        "婚姻登记机关": zz.BY_CODE[marriage.county].marriage_office,
        "男方": _party(population, marriage, "男方"),
        "女方": _party(population, marriage, "女方"),
    }


def roster_row(population: Population, case: Subsistence) -> dict[str, str]:
    household = population.households[case.household]
    members = "、".join(
        f"{population.citizens[m].name}（{population.citizens[m].relationship}）" for m in household.members
    )
    return {
        "证号": case.certificate,
        "户主姓名": population.citizens[case.holder].name,
        "户主身份证号": case.holder,
        "家庭住址": household.address,
        "保障类别": case.category,
        "分类施保类别": case.assistance_class,
        "保障人数": str(case.covered_persons),
        "月保障金额": str(case.monthly_amount_yuan),
        "家庭成员": members,
        "发证机关": zz.BY_CODE[household.county].civil_affairs,
        "发证日期": case.issued_on.isoformat(),
        "有效期": f"{case.issued_on.isoformat()}至{case.valid_until.isoformat()}",
        "状态": "停保" if case.ended_on else "在保",
    }


def registrations(population: Population) -> list[dict[str, Any]]:
    """Every 结婚登记 and 离婚登记 of the population, in registration order."""
    events: list[tuple[date, int, str, dict[str, Any]]] = []
    for marriage in population.marriages + population.foreign_marriages:
        events.append(
            (marriage.registered_on, 0, marriage.certificate, marriage_record(population, marriage))
        )
        if marriage.divorced_on:
            events.append(
                (marriage.divorced_on, 1, marriage.certificate, divorce_record(population, marriage))
            )
    return [record for *_, record in sorted(events, key=lambda e: e[:3])]


# -- broken records ----------------------------------------------------------------------------------------


def _fake_id(citizen: Citizen, rng: random.Random, population: Population, *, valid: bool) -> str:
    """A 公民身份号码 nobody in the population holds, of the same county, birth date and sex."""
    while True:
        order = rng.randrange(0, 500) * 2 + (1 if citizen.sex == MALE else 0)
        body = f"{citizen.county}{citizen.birth_date:%Y%m%d}{order:03d}"
        good = ric.calc_check_digit(body + "0")
        number = body + (good if valid else next(c for c in "0123456789X" if c != good))
        if number not in population.citizens:
            return number


def _broken_registrations(population: Population, rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Marriages of made-up people the mapping must refuse: half with a wrong check character, half
    without the bride's 姓名."""
    records = []
    for n in range(count):
        marriage = rng.choice(population.marriages)
        record = marriage_record(population, marriage)
        husband, wife = population.citizens[marriage.husband], population.citizens[marriage.wife]
        record["男方"]["身份证件号"] = _fake_id(husband, rng, population, valid=n % 2 == 1)
        record["女方"]["身份证件号"] = _fake_id(wife, rng, population, valid=True)
        if n % 2 == 1:
            record["女方"]["姓名"] = ""
        record["结婚证字号"] = f"J{marriage.county}-{marriage.registered_on.year}-{900001 + n:06d}"
        records.append(record)
    return records


def _broken_roster_rows(population: Population, rng: random.Random, count: int) -> list[dict[str, str]]:
    rows = []
    for n in range(count):
        case = rng.choice(population.subsistence)
        row = roster_row(population, case)
        row["户主身份证号"] = _fake_id(population.citizens[case.holder], rng, population, valid=n % 2 == 1)
        if n % 2 == 1:
            row["户主姓名"] = ""
        row["证号"] = f"{case.certificate[:-5]}9{n + 1:04d}"
        rows.append(row)
    return rows


# -- files -------------------------------------------------------------------------------------------------


def record_xml(serial: int, record: dict[str, Any]) -> str:
    lines = [f"  <{RECORD}>", f"    <登记流水号>{serial}</登记流水号>"]
    for name, value in record.items():
        if name in PARTIES:
            lines.append(f"    <{name}>")
            lines.extend(f"      <{k}>{escape(v)}</{k}>" for k, v in value.items())
            lines.append(f"    </{name}>")
        else:
            lines.append(f"    <{name}>{escape(value)}</{name}>" if value else f"    <{name}/>")
    lines.append(f"  </{RECORD}>")
    return "\n".join(lines) + "\n"


def _write_registrations(path: Path, records: list[dict[str, Any]], encoding: str) -> None:
    head = (
        f'<?xml version="1.0" encoding="{encoding.upper()}"?>\n'
        f"<{ROOT} 导出单位={quoteattr(EXPORTED_BY)} 导出时间={quoteattr(f'{AS_OF}T02:00:00+08:00')} "
        f'格式="zz-civil-marriage-export/1">\n'
    )
    body = "".join(record_xml(serial, record) for serial, record in enumerate(records, start=1))
    path.write_bytes((head + body + f"</{ROOT}>\n").encode(encoding))


def _write_roster(population: Population, path: Path, *, seed: int, broken: int | None, encoding: str) -> int:
    rng = random.Random(f"roster:{seed}")
    rows = [roster_row(population, case) for case in population.subsistence]
    count = len(rows) // 100 + 1 if broken is None else broken
    bad = _broken_roster_rows(population, rng, count) if rows else []
    for row in bad:
        rows.insert(rng.randrange(len(rows) + 1), row)
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return len(bad)


def write_export(
    population: Population,
    directory: Path | str,
    *,
    seed: int = 2016,
    broken_records: int | None = None,
    encoding: str = "utf-8",
) -> ExportInfo:
    """Write the registry's XML export and the 低保 roster into ``directory``; replaces old ones.
    ``broken_records`` per file (default: about one in 400 registrations, one in 100 cases, at least 1)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"registrations:{seed}")
    records = registrations(population)
    count = len(records) // 400 + 1 if broken_records is None else broken_records
    bad = _broken_registrations(population, rng, count) if population.marriages else []
    for record in bad:
        records.insert(rng.randrange(len(records) + 1), record)
    _write_registrations(directory / REGISTRATIONS_FILE, records, encoding)
    broken_cases = _write_roster(
        population, directory / ROSTER_FILE, seed=seed, broken=broken_records, encoding=encoding
    )
    return ExportInfo(
        directory, len(records), len(population.subsistence) + broken_cases, len(bad), broken_cases
    )


def append_events(
    population: Population,
    directory: Path | str,
    *,
    divorces: int = 1,
    ended_cases: int = 1,
    seed: int,
    encoding: str = "utf-8",
) -> CivilEvents:
    """Let ``divorces`` couples divorce and ``ended_cases`` 低保 cases end the day after the export (the
    population changes too): append the 离婚登记 records to the XML export, mark the cases 停保 on the
    roster."""
    directory = Path(directory)
    rng = random.Random(seed)
    on = AS_OF + timedelta(days=1)
    married = [
        m
        for m in population.marriages
        if m.divorced_on is None
        and population.citizens[m.husband].alive
        and population.citizens[m.wife].alive
    ]
    events = CivilEvents(divorced=rng.sample(married, min(divorces, len(married))))
    serial = _last_divorce_serial(population, on.year)
    for marriage in events.divorced:
        serial += 1
        marriage.divorced_on = on
        marriage.divorce_certificate = f"L{marriage.county}-{on.year}-{serial:06d}"
        for number in (marriage.husband, marriage.wife):
            population.citizens[number].marital_status = "离婚"
    active = [c for c in population.subsistence if c.ended_on is None]
    events.ended = rng.sample(active, min(ended_cases, len(active)))
    for case in events.ended:
        case.ended_on, case.end_reason = on, "家庭收入超过保障标准"

    path = directory / REGISTRATIONS_FILE
    data = path.read_bytes()
    last = int(parse_registry_export(data, path).records[-1]["登记流水号"])
    added = "".join(
        record_xml(last + n, divorce_record(population, m)) for n, m in enumerate(events.divorced, start=1)
    )
    text = data.decode(encoding)
    end = text.rindex(f"</{ROOT}>")
    path.write_bytes((text[:end] + added + text[end:]).encode(encoding))
    _end_on_roster(directory / ROSTER_FILE, {case.certificate for case in events.ended}, encoding)
    return events


def _end_on_roster(path: Path, certificates: set[str], encoding: str) -> None:
    """The next roster: the same rows, those of ``certificates`` now 停保."""
    with path.open(encoding=encoding, newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = list(reader.fieldnames or ()), list(reader)
    for row in rows:
        if row["证号"] in certificates:
            row["状态"] = "停保"
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)


def _last_divorce_serial(population: Population, year: int) -> int:
    pattern = re.compile(rf"^L\d{{6}}-{year}-(\d+)$")
    serials = [
        int(match.group(1))
        for m in population.marriages + population.foreign_marriages
        if m.divorce_certificate and (match := pattern.match(m.divorce_certificate))
    ]
    return max(serials, default=0)
