"""Businesses (with citizens as legal representatives) and minimum-subsistence (低保) cases of the
sample population."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from stdnum.cn import uscc

from adapters.samples import zhengzhou as zz

if TYPE_CHECKING:
    from adapters.samples.population import Population

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
ENTITY_TYPES = (
    ("有限责任公司（自然人投资或控股）", 0.45),
    ("个体工商户", 0.40),
    ("有限责任公司（自然人独资）", 0.10),
    ("股份有限公司（非上市、自然人投资或控股）", 0.03),
    ("有限责任公司分公司（自然人投资或控股）", 0.02),
)
SUBSISTENCE_YUAN = {"城市低保": 780, "农村低保": 560}  # monthly standard per person, Zhengzhou 2025
END_REASONS = ("家庭收入超过保障标准", "家庭成员就业", "家庭财产状况变化")


@dataclass
class Business:
    uscc: str
    licence_number: str
    name: str
    entity_type: str
    legal_representative: str  # ID number of a citizen
    business_scope: str
    registered_capital: str  # "" for 个体工商户, which declare no capital
    established: date
    term_until: date | None  # None: 长期
    domicile: str
    county: str


@dataclass
class Subsistence:
    certificate: str
    household: str
    holder: str  # ID number of the head of household
    category: str  # 城市低保 / 农村低保
    assistance_class: str
    covered_persons: int
    monthly_amount_yuan: int
    issued_on: date
    valid_until: date
    ended_on: date | None = None  # 停保: the case ended (the household no longer qualifies)
    end_reason: str = ""


def uscc_code(rng: random.Random, county: str, individual: bool) -> str:
    """A 统一社会信用代码: 9 (market regulator) + 1 enterprise / 2 individual business, the county's code,
    nine characters of organisation code, and the GB 32100 check character."""
    body = ("92" if individual else "91") + county + "".join(rng.choice(_USCC_ALPHABET) for _ in range(9))
    return body + uscc.calc_check_digit(body + "0")


def businesses(population: Population, rng: random.Random, brands: list[str]) -> list[Business]:
    """One business for about every 25 residents; legal representatives are adults aged 22-70."""
    from adapters.samples.population import AS_OF

    adults = [c for c in population.citizens.values() if 22 <= c.age() <= 70]
    made: list[Business] = []
    seen: set[str] = set()
    for serial in range(1, len(population.citizens) // 25 + 1):
        if not adults:
            break
        owner = rng.choice(adults)
        county = zz.BY_CODE[owner.county]
        entity_type = rng.choices([t for t, _ in ENTITY_TYPES], [w for _, w in ENTITY_TYPES])[0]
        individual = entity_type == "个体工商户"
        code = uscc_code(rng, county.code, individual)
        if code in seen:
            continue
        seen.add(code)
        industry, scope = rng.choice(zz.INDUSTRIES)
        if individual:
            name = f"{county.name}{owner.name[0]}记{rng.choice(zz.SHOP_KINDS)}"
            capital = ""
        else:
            name = f"郑州{rng.choice(brands)}{industry}{'股份' if '股份' in entity_type else ''}有限公司"
            capital = f"{rng.choice((10, 30, 50, 100, 200, 500, 1000, 5000))}万元人民币"
        earliest = max(owner.birth_date + timedelta(days=365 * 22), date(1993, 1, 1))
        established = earliest + timedelta(days=rng.randrange(max(1, (AS_OF - earliest).days)))
        term = None if individual or rng.random() < 0.5 else date(established.year + 30, established.month, 1)
        street = rng.choice(("经三路", "花园路", "中原路", "大学路", "商都路", "农业路", "建设路", "航海路"))
        made.append(
            Business(
                uscc=code, licence_number=f"{county.code}{established.year % 100:02d}{serial:08d}", name=name,
                entity_type=entity_type, legal_representative=owner.id_number, business_scope=scope,
                registered_capital=capital, established=established, term_until=term,
                domicile=f"{county.address_prefix}{street}{rng.randrange(1, 400)}号", county=county.code,
            )
        )  # fmt: skip
    return made


def subsistence_cases(population: Population, rng: random.Random) -> list[Subsistence]:
    """About 2% of family households receive 低保: 城市低保 in the city districts, 农村低保 elsewhere."""
    from adapters.samples.population import AS_OF

    cases: list[Subsistence] = []
    for number, household in population.households.items():
        if household.kind != "家庭户" or rng.random() >= 0.02:
            continue
        county = zz.BY_CODE[household.county]
        category = "城市低保" if county.urban else "农村低保"
        persons = len(household.members)
        issued = AS_OF - timedelta(days=rng.randrange(30, 700))
        cases.append(
            Subsistence(
                certificate=f"ZZDB{county.code}{issued.year}{len(cases) + 1:05d}", household=number,
                holder=household.members[0], category=category,
                assistance_class=rng.choice(("A类", "B类", "C类")), covered_persons=persons,
                monthly_amount_yuan=persons * SUBSISTENCE_YUAN[category] - rng.randrange(0, 3) * 100,
                issued_on=issued, valid_until=date(issued.year + 1, issued.month, min(issued.day, 28)),
            )
        )  # fmt: skip
    for case in cases:  # after all cases, so that the draws above stay what they were
        if rng.random() < 0.1:
            span = (min(case.valid_until, AS_OF) - case.issued_on).days
            case.ended_on = case.issued_on + timedelta(days=rng.randrange(1, max(2, span)))
            case.end_reason = rng.choice(END_REASONS)
    return cases
