"""The licence type catalog the hub seeds (``data/licence_types.json``) and the refused examples.

Each type: ``code``, ``name_zh``, ``name_en``, ``issuer_kind``, ``holder_kind``, ``holder_field`` (the field
holding the holder's 公民身份号码 or 统一社会信用代码, tier 1), ``number_field`` (the printed 证照编号),
``classification`` (ordinary / sensitive / state_secret) and ``fields`` (``name``, ``label_zh``, ``label_en``,
``tier`` 0-3, ``kind``, ``required``, ``values`` for enums). Attachment fields hold a SHA-256 hex digest.

Type codes have the national catalog's shape: the issuing ministry's 18-character 统一社会信用代码 followed
by a 3-digit serial, so they contain only [0-9A-Z] and can sit inside a GB/T 36904 licence id.
``11100000000013127D001`` (居民身份证, 公安部) is the code seen in public use; the other police
serials and the prefixes used for 民政部 (``11100000000014269L``) and 国家市场监督管理总局
(``11100000000019887N``) are demo codes: valid check characters, not official assignments. Replace them
with the catalog's real codes before exchanging licences with other platforms.

``data/licence_types_refused.json`` holds a state-secret (涉密) type that the hub must refuse; it is kept
apart so that seeding never loads it, and exists for tests that prove the refusal.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any


@cache
def _read(name: str) -> list[dict[str, Any]]:
    text = resources.files("hub.registry").joinpath(f"data/{name}").read_text(encoding="utf-8")
    return json.loads(text)


def load_licence_types() -> list[dict[str, Any]]:
    """Return the licence types the hub seeds (a fresh deep copy on each call)."""
    return copy.deepcopy(_read("licence_types.json"))


def load_refused_examples() -> list[dict[str, Any]]:
    """Return example types the hub must refuse (classification ``state_secret``); never seeded."""
    return copy.deepcopy(_read("licence_types_refused.json"))
