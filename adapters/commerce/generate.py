"""A sample registry snapshot written from the shared population (``adapters.samples``): the records the
market-regulation API serves (``adapters.commerce.standin``), in the shape ``adapters.commerce.source``
reads. The businesses and their legal representatives are the population's, so the same citizens appear
in the police register and as legal representatives here.

Besides going concerns (存续), a registry holds enterprises that were cancelled (注销) or whose licence
was revoked (吊销), and a few records real registries carry with errors (a wrong check character in the
统一社会信用代码, no 经营范围): those must end in the dead-letter store, never in the hub.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from stdnum.cn import uscc

from adapters.commerce.source import CHINA_STANDARD_TIME, parse_update_time
from adapters.samples import zhengzhou as zz
from adapters.samples.economy import Business, uscc_code
from adapters.samples.population import AS_OF, Citizen, Population

SNAPSHOT_FILE = "enterprises.json"
SNAPSHOT_FORMAT = "zz-amr-enterprises/1"
RUNNING = "存续（在营、开业、在册）"
CANCELLATION_REASONS = ("决议解散", "股东会决议解散", "营业执照被吊销后申请注销")
INDIVIDUAL_CANCELLATION = "经营者申请注销"
REVOCATION_REASON = "成立后无正当理由超过6个月未开业，或者开业后自行停业连续6个月以上"
STREETS = ("经三路", "花园路", "中原路", "大学路", "商都路", "农业路", "建设路", "航海路", "文化路")
CHANGE_KINDS = ("moved", "revoked", "representative", "cancelled", "new")


@dataclass(frozen=True)
class RegistryChange:
    kind: str  # moved | representative | revoked | cancelled | new
    record_id: str  # 主体身份代码


def update_time(day: date, rng: random.Random) -> str:
    """A 更新时间 during office hours of ``day``, China Standard Time."""
    moment = datetime.combine(day, time(8, 30), CHINA_STANDARD_TIME) + timedelta(seconds=rng.randrange(32400))
    return moment.isoformat()


def _capital(text: str) -> tuple[int | None, str | None]:
    """``100万元人民币`` (the population's form) → 100 and 人民币, as the API gives them."""
    if not text:
        return None, None
    amount, _, currency = text.partition("万元")
    return int(amount), currency or "人民币"


def enterprise_record(business: Business, representative: Citizen, record_id: str, updated_at: str) -> dict:
    """The business as the registry API returns it."""
    capital, currency = _capital(business.registered_capital)
    county = zz.BY_CODE[business.county]
    return {
        "主体身份代码": record_id,
        "统一社会信用代码": business.uscc,
        "证照编号": business.licence_number,
        "企业名称": business.name,
        "类型": business.entity_type,
        "法定代表人": representative.name,
        "法定代表人证件类型": "中华人民共和国居民身份证",
        "法定代表人证件号码": representative.id_number,
        "经营范围": business.business_scope,
        "注册资本": capital,
        "注册资本币种": currency,
        "成立日期": business.established.isoformat(),
        "营业期限自": business.established.isoformat(),
        "营业期限至": business.term_until.isoformat() if business.term_until else None,
        "住所": business.domicile,
        "登记机关": county.market_regulator,
        "核准日期": business.established.isoformat(),
        "登记状态": RUNNING,
        "注销日期": None,
        "注销原因": None,
        "吊销日期": None,
        "吊销原因": None,
        "更新时间": updated_at,
    }


def _record_id(county: str, serial: int) -> str:
    return f"{county}{serial:010d}"


def _later_day(rng: random.Random, start: date, end: date = AS_OF) -> date:
    return start + timedelta(days=rng.randrange(max(1, (end - start).days)))


def cancellation_reason(record: dict[str, Any], rng: random.Random) -> str:
    return INDIVIDUAL_CANCELLATION if record["类型"] == "个体工商户" else rng.choice(CANCELLATION_REASONS)


def cancel(record: dict[str, Any], on: date, reason: str, updated_at: str) -> None:
    record.update(
        {"登记状态": "注销", "注销日期": on.isoformat(), "注销原因": reason, "更新时间": updated_at}
    )


def revoke(record: dict[str, Any], on: date, updated_at: str) -> None:
    record.update(
        {
            "登记状态": "吊销，未注销",
            "吊销日期": on.isoformat(),
            "吊销原因": REVOCATION_REASON,
            "更新时间": updated_at,
        }
    )


def registry_records(
    population: Population, *, seed: int = 2016, ended_rate: float = 0.08, broken: int | None = None
) -> list[dict[str, Any]]:
    """Every business of the population as a registry record: some changed since founding (a later
    核准日期), about ``ended_rate`` cancelled or revoked (at least one of each when there are a dozen
    businesses), and ``broken`` records with errors (default one per 40 businesses, at least two)."""
    rng = random.Random(seed)
    records: list[dict[str, Any]] = []
    for serial, business in enumerate(population.businesses, start=1):
        approved = business.established if rng.random() < 0.6 else _later_day(rng, business.established)
        record = enterprise_record(
            business,
            population.citizens[business.legal_representative],
            _record_id(business.county, serial),
            update_time(approved, rng),
        )
        record["核准日期"] = approved.isoformat()
        roll = rng.random()
        if serial == 4 or (serial != 9 and roll < ended_rate * 0.6):
            on = _later_day(rng, approved)
            cancel(record, on, cancellation_reason(record, rng), update_time(on, rng))
        elif serial == 9 or roll < ended_rate:
            on = _later_day(rng, approved)
            revoke(record, on, update_time(on, rng))
        records.append(record)
    count = max(2, len(records) // 40) if broken is None else broken
    for n in range(count):
        records.append(_broken_record(population, rng, n, len(population.businesses) + n + 1))
    return records


def _broken_record(population: Population, rng: random.Random, n: int, serial: int) -> dict[str, Any]:
    """A record the adapter must refuse: alternately a wrong USCC check character, or no 经营范围."""
    owner = rng.choice(list(population.citizens.values()))
    business = _new_business(population, rng, serial, _later_day(rng, date(2010, 1, 1)), owner)
    record = enterprise_record(
        business, owner, _record_id(business.county, serial), update_time(business.established, rng)
    )
    if n % 2 == 0:
        good = business.uscc[-1]
        record["统一社会信用代码"] = business.uscc[:-1] + next(c for c in "0123456789" if c != good)
    else:
        record["经营范围"] = ""
    return record


def _new_business(
    population: Population, rng: random.Random, serial: int, on: date, owner: Citizen
) -> Business:
    county = zz.BY_CODE[owner.county]
    industry, scope = rng.choice(zz.INDUSTRIES)
    return Business(
        uscc=uscc_code(rng, county.code, individual=False),
        licence_number=f"{county.code}{on.year % 100:02d}{serial:08d}",
        name=f"郑州{owner.name[0]}氏{industry}有限公司",
        entity_type="有限责任公司（自然人独资）",
        legal_representative=owner.id_number,
        business_scope=scope,
        registered_capital="50万元人民币",
        established=on,
        term_until=None,
        domicile=f"{county.address_prefix}{rng.choice(STREETS)}{rng.randrange(1, 400)}号",
        county=county.code,
    )


def evolve_registry(
    records: list[dict[str, Any]], population: Population, *, fraction: float, seed: int
) -> list[RegistryChange]:
    """Let about ``fraction`` of the running enterprises (at least one) change after the snapshot, in
    place: moves and new legal representatives (变更登记: new 核准日期, a new licence version),
    revocations and cancellations (a status change only), and new enterprises (a new licence). The first
    five changes are one of each kind; every change gets a later 更新时间 than anything before."""
    rng = random.Random(seed)
    running = [
        r
        for r in records
        if r["登记状态"] == RUNNING and uscc.is_valid(r["统一社会信用代码"]) and r["经营范围"]
    ]
    rng.shuffle(running)
    adults = [c for c in population.citizens.values() if c.alive and 22 <= c.age() <= 70]
    wanted = max(1, round(fraction * len(running)))
    times = (parse_update_time(r["更新时间"]) for r in records)
    latest = max((t for t in times if t is not None), default=None)
    clock = datetime.combine(AS_OF + timedelta(days=1), time(9), CHINA_STANDARD_TIME)
    if latest is not None and latest >= clock:
        clock = latest + timedelta(minutes=7)
    day = clock.date()
    changes: list[RegistryChange] = []
    serial = len(records) + 1
    for n in range(wanted):
        kind = CHANGE_KINDS[n] if n < len(CHANGE_KINDS) else rng.choice(CHANGE_KINDS)
        stamp = (clock + timedelta(minutes=7 * n)).isoformat()
        if kind == "new" or not running:
            owner = rng.choice(adults)
            business = _new_business(population, rng, serial, day, owner)
            record = enterprise_record(business, owner, _record_id(business.county, serial), stamp)
            records.append(record)
            serial += 1
            changes.append(RegistryChange("new", record["主体身份代码"]))
            continue
        record = running.pop()
        if kind == "moved":
            county = zz.BY_CODE[record["主体身份代码"][:6]]
            record["住所"] = f"{county.address_prefix}{rng.choice(STREETS)}{rng.randrange(400, 800)}号"
            record.update({"核准日期": day.isoformat(), "更新时间": stamp})
        elif kind == "representative":
            owner = rng.choice([a for a in adults if a.id_number != record["法定代表人证件号码"]])
            record.update(
                {
                    "法定代表人": owner.name,
                    "法定代表人证件号码": owner.id_number,
                    "核准日期": day.isoformat(),
                    "更新时间": stamp,
                }
            )
        elif kind == "revoked":
            revoke(record, day, stamp)
        else:
            cancel(record, day, cancellation_reason(record, rng), stamp)
        changes.append(RegistryChange(kind, record["主体身份代码"]))
    return changes


def write_snapshot(records: list[dict[str, Any]], directory: Path | str) -> Path:
    """Write the registry's records where the stand-in reads them; replaces an older snapshot."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SNAPSHOT_FILE
    body = {"format": SNAPSHOT_FORMAT, "as_of": AS_OF.isoformat(), "records": records}
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(body, ensure_ascii=False, indent=1), encoding="utf-8")
    temporary.replace(path)  # the stand-in never serves a half-written file
    return path


def read_snapshot(path: Path | str) -> list[dict[str, Any]]:
    path = Path(path)
    if path.is_dir():
        path = path / SNAPSHOT_FILE
    body = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"{path}: not a {SNAPSHOT_FORMAT} snapshot")
    return list(body["records"])
