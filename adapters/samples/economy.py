"""What businesses (with citizens as legal representatives) and minimum-subsistence (低保) cases of the
sample population are, and the reference data they are drawn from; ``adapters.samples.population``
draws them, with the people."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date

from stdnum.cn import uscc

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
