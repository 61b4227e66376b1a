"""Sample identities and licence values for the demo, tests and benchmarks (deterministic per seed).

Realistic per-department sample sources arrive with the adapters; these values only need to be valid
for the catalog: right kinds, right check digits.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import Any

from stdnum.cn import ric, uscc

ZHENGZHOU_COUNTIES = ("410102", "410103", "410104", "410105", "410106", "410108", "410122", "410181")
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华"


def citizen_id(
    rng: random.Random, *, county: str | None = None, birth: date | None = None, male: bool | None = None
) -> str:
    """A 公民身份号码 with a correct GB 11643 check character."""
    county = county or rng.choice(ZHENGZHOU_COUNTIES)
    birth = birth or date(1950, 1, 1) + timedelta(days=rng.randrange(0, 365 * 55))
    male = rng.random() < 0.5 if male is None else male
    sequence = rng.randrange(0, 500) * 2 + (1 if male else 0)
    body = f"{county}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def uscc_code(rng: random.Random, *, region: str = "410100", category: str = "92") -> str:
    """A 统一社会信用代码 with a correct GB 32100 check character."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    body = category + region + "".join(rng.choice(alphabet) for _ in range(9))
    return body + uscc.calc_check_digit(body + "0")


def person_name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choice(_GIVEN) for _ in range(rng.choice((1, 2))))


def sample_values(
    licence_type: dict[str, Any], holder: str, rng: random.Random, **overrides: Any
) -> dict[str, Any]:
    """Values for every field of a type that is required or cheap to fill, valid for its kind."""
    values: dict[str, Any] = {}
    for spec in licence_type["fields"]:
        name, kind = spec["name"], spec["kind"]
        if name == licence_type["holder_field"]:
            values[name] = holder
        elif kind == "attachment":
            continue  # needs an uploaded file; callers add it when they have one
        elif kind == "id_number":
            values[name] = citizen_id(rng)
        elif kind == "uscc":
            values[name] = uscc_code(rng)
        elif kind == "date":
            values[name] = (date(2015, 1, 1) + timedelta(days=rng.randrange(0, 3000))).isoformat()
        elif kind == "enum":
            values[name] = rng.choice(spec["values"])
        elif kind == "integer":
            values[name] = rng.randrange(1, 6)
        elif kind == "boolean":
            values[name] = rng.random() < 0.5
        elif "name" in name:
            values[name] = person_name(rng)
        else:
            values[name] = f"{spec['label_zh']}{rng.randrange(1000, 9999)}"
    values.update(overrides)
    return values
