"""Sample police exports written from the shared population (``adapters.samples``), in the shapes that
``adapters.police.source`` reads: the register as CSV with Chinese headers, a change log, certificates.

A few deliberately broken rows (a wrong check character, a missing 姓名) stand for the errors real
exports carry; they must end in the dead-letter store, never in the hub.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from stdnum.cn import ric

from adapters.police.source import CERTIFICATES_FILE, CHANGES_FILE, MANIFEST_FILE, POPULATION_FILE
from adapters.samples import zhengzhou as zz
from adapters.samples.events import LifeEvent, evolve
from adapters.samples.population import AS_OF, Citizen, Household, Population

# The register record's columns, one row per part: the person, the household, the particulars, the ID
# card and the person's status.
COLUMNS = (
    "公民身份号码", "姓名", "曾用名", "性别", "民族", "出生日期", "出生地", "籍贯", "住址",
    "户号", "户别", "户主姓名", "与户主关系", "户口登记机关", "登记日期", "何时由何地迁来本市",
    "身高", "血型", "文化程度", "婚姻状况", "兵役状况", "服务处所", "职业",
    "签发机关", "有效期限", "人员状态", "注销原因",
)  # fmt: skip  # a table: one row per part of the record
PURPOSES = ("就业", "就业", "就业", "出国（境）", "留学", "入伍", "落户", "其他")


@dataclass(frozen=True)
class ExportInfo:
    directory: Path
    people: int
    broken_rows: int
    certificates: int


def person_row(citizen: Citizen, household: Household) -> dict[str, str]:
    """The citizen as the register exports them (dates YYYYMMDD, 有效期限 as printed on the card)."""
    card = ""
    if citizen.id_card_from:
        end = citizen.id_card_until.strftime("%Y%m%d") if citizen.id_card_until else "长期"
        card = f"{citizen.id_card_from:%Y%m%d}-{end}"
    county = zz.BY_CODE[citizen.county]
    return {
        "公民身份号码": citizen.id_number,
        "姓名": citizen.name,
        "曾用名": citizen.former_name,
        "性别": citizen.sex,
        "民族": citizen.ethnicity,
        "出生日期": f"{citizen.birth_date:%Y%m%d}",
        "出生地": citizen.birthplace,
        "籍贯": citizen.native_place,
        "住址": household.address,
        "户号": household.number,
        "户别": household.kind,
        "户主姓名": household.head_name,
        "与户主关系": citizen.relationship,
        "户口登记机关": household.police_station,
        "登记日期": f"{citizen.registered_on:%Y%m%d}",
        "何时由何地迁来本市": citizen.moved_in,
        "身高": str(citizen.height_cm or ""),
        "血型": citizen.blood_type,
        "文化程度": citizen.education,
        "婚姻状况": citizen.marital_status,
        "兵役状况": citizen.military_service if citizen.age() >= 18 else "",
        "服务处所": citizen.employer,
        "职业": citizen.occupation,
        "签发机关": county.police_bureau if card else "",
        "有效期限": card,
        "人员状态": "正常" if citizen.alive else "注销",
        "注销原因": "" if citizen.alive else "死亡",
    }


def _broken_rows(population: Population, rng: random.Random, count: int) -> list[dict[str, str]]:
    """Rows the adapter must refuse: half with a wrong check character, half without 姓名."""
    citizens = list(population.citizens.values())
    rows = []
    for n in range(count):
        source = rng.choice(citizens)
        row = person_row(source, population.households[source.household])
        body = f"{source.county}{source.birth_date:%Y%m%d}{rng.randrange(0, 999):03d}"
        if n % 2 == 0:
            good = ric.calc_check_digit(body + "0")
            row["公民身份号码"] = body + next(c for c in "0123456789X" if c != good)
        else:
            row["公民身份号码"] = body + ric.calc_check_digit(body + "0")
            row["姓名"] = ""
        if row["公民身份号码"] in population.citizens:
            continue
        rows.append(row)
    return rows


def certificates(population: Population, rng: random.Random, rate: float) -> list[dict[str, Any]]:
    """No-criminal-record certificates for about ``rate`` of the adults; one in fifty (at least one) is
    voided later, which appears as a second line with the same 证明编号."""
    lines: list[dict[str, Any]] = []
    voided: list[dict[str, Any]] = []
    for citizen in population.citizens.values():
        if not citizen.alive or not 18 <= citizen.age() <= 65 or rng.random() >= rate:
            continue
        issued = AS_OF - timedelta(days=rng.randrange(1, 720))
        household = population.households[citizen.household]
        record = {
            "证明编号": f"ZZGA{issued.year}{citizen.county}{len(lines) + 1:06d}",
            "姓名": citizen.name,
            "性别": citizen.sex,
            "公民身份号码": citizen.id_number,
            "查询起始日期": date(citizen.birth_date.year + 18, citizen.birth_date.month, 1).isoformat(),
            "查询截止日期": issued.isoformat(),
            "查询结果": "有犯罪记录" if rng.random() < 0.005 else "未发现有犯罪记录",
            "用途": rng.choice(PURPOSES),
            "开具单位": household.police_station,
            "开具日期": issued.isoformat(),
            "有效期至": (issued + timedelta(days=90)).isoformat(),
            "状态": "有效",
        }
        lines.append(record)
        if rng.random() < 0.02:
            voided.append({**record, "状态": "作废"})
    if lines and not voided:  # at least one, so every sample shows a voiding
        voided.append({**lines[0], "状态": "作废"})
    return lines + voided


def _write_csv(path: Path, rows: list[dict[str, str]], encoding: str) -> None:
    with path.open("w", encoding=encoding, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _write_json_lines(path: Path, records: list[dict[str, Any]], mode: str = "w") -> None:
    with path.open(mode, encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def write_export(
    population: Population,
    directory: Path | str,
    *,
    seed: int = 2016,
    broken_rows: int | None = None,
    certificate_rate: float = 0.05,
    encoding: str = "utf-8",
) -> ExportInfo:
    """Write a full export of the register (and certificates) into ``directory``; replaces an old one."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    rows = [
        person_row(c, population.households[c.household]) for c in population.citizens.values() if c.alive
    ]
    broken = _broken_rows(population, rng, len(rows) // 500 + 1 if broken_rows is None else broken_rows)
    for row in broken:
        rows.insert(rng.randrange(len(rows) + 1), row)
    _write_csv(directory / POPULATION_FILE, rows, encoding)
    issued = certificates(population, rng, certificate_rate)
    _write_json_lines(directory / CERTIFICATES_FILE, issued)
    (directory / CHANGES_FILE).write_text("", encoding="utf-8")
    digest = hashlib.sha256((directory / POPULATION_FILE).read_bytes()).hexdigest()[:16]
    manifest = {
        "format": "zz-police-export/1",
        "snapshot_id": digest,
        "exported_at": f"{AS_OF}T02:00:00+08:00",
        "changes_after": 0,
        "encoding": encoding,
    }
    (directory / MANIFEST_FILE).write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    return ExportInfo(directory, len(rows) - len(broken), len(broken), len(issued))


def append_changes(
    population: Population, directory: Path | str, *, fraction: float, seed: int
) -> list[LifeEvent]:
    """Let life happen to ``fraction`` of the population and append what changed to ``changes.jsonl``."""
    path = Path(directory) / CHANGES_FILE
    last = 0
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                last = json.loads(line)["seq"]
    events = evolve(population, fraction, seed)
    entries = []
    for n, event in enumerate(events, start=last + 1):
        citizen = population.citizens[event.id_number]
        entries.append(
            {
                "seq": n,
                "time": f"{AS_OF + timedelta(days=1)}T{n % 24:02d}:00:00+08:00",
                "op": event.op,
                "record": person_row(citizen, population.households[citizen.household]),
            }
        )
    _write_json_lines(path, entries, mode="a")
    return events
