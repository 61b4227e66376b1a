"""The benchmark's workload: departments with keys registered in a hub, and pre-signed credentials.

Departments are registered the way an operator does it (``service.register_department`` and
``service.add_department_key``); credentials are signed with ``hub.contract.issuing.build_credential``,
exactly what a department adapter sends. Everything is generated before any timing starts.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from joserfc.jwk import ECKey
from stdnum.cn import ric

from hub.context import Hub
from hub.contract.issuing import build_credential
from hub.contract.licence_id import LicenceId
from hub.contract.status import STATUS_LIST_SIZE
from hub.demo_data import ZHENGZHOU_COUNTIES, sample_values, uscc_code
from hub.registry import service
from hub.registry.catalog_data import load_licence_types
from storage.database import transaction

ID_CARD = "11100000000013127D001"  # 居民身份证 (police)
HOUSEHOLD = "11100000000013127D002"  # 居民户口簿 (police)
BUSINESS_LICENCE = "11100000000019887N001"  # 营业执照 (market regulation)

# A city's realistic intake: mostly resident ID cards, some household registers and business licences.
MIX: dict[str, float] = {ID_CARD: 0.70, HOUSEHOLD: 0.15, BUSINESS_LICENCE: 0.15}
BATCH_SIZE = 500

_KIND_NAMES = {"police": "公安局", "commerce": "市场监督管理局", "civil_affairs": "民政局"}


def licence_types() -> dict[str, dict[str, Any]]:
    return {t["code"]: t for t in load_licence_types()}


@dataclass
class Department:
    """A department registered in the hub, holding its private key as its adapter would."""

    id: str
    kind: str
    uscc: str
    issuer: str
    kid: str
    private_jwk: dict[str, Any]
    _key: ECKey | None = field(default=None, repr=False)

    @property
    def key(self) -> ECKey:
        if self._key is None:
            self._key = ECKey.import_key(self.private_jwk)
        return self._key

    @property
    def public_key(self) -> ECKey:
        return ECKey.import_key({k: v for k, v in self.private_jwk.items() if k != "d"})


@dataclass
class Feed:
    """One department's feed: its credentials cut into batches, sequences 1..N."""

    department: Department
    credentials: list[str]
    type_codes: list[str]
    batch_size: int = BATCH_SIZE
    _bodies: list[tuple[int, bytes]] | None = field(default=None, init=False, repr=False, compare=False)

    def batches(self) -> Iterator[tuple[int, list[str]]]:
        for number, start in enumerate(range(0, len(self.credentials), self.batch_size), start=1):
            yield number, self.credentials[start : start + self.batch_size]

    def bodies(self) -> list[tuple[int, bytes]]:
        """(operations, request body) of every batch, serialised up front so timing covers only HTTP (once:
        a phase posted in rounds asks for them again each round)."""
        if self._bodies is None:
            self._bodies = self._serialise()
        return self._bodies

    def _serialise(self) -> list[tuple[int, bytes]]:
        return [
            (
                len(chunk),
                json.dumps(
                    {
                        "department": self.department.id,
                        "sequence": sequence,
                        "operations": [{"op": "issue", "credential": c} for c in chunk],
                    },
                    separators=(",", ":"),
                ).encode(),
            )
            for sequence, chunk in self.batches()
        ]


def register_departments(hub: Hub, ids_and_kinds: Sequence[tuple[str, str]], seed: int) -> list[Department]:
    """Register departments with one fresh ES256 key each, directly against the hub's database."""
    rng = random.Random(seed)
    departments = []
    with transaction(hub.session_factory) as session:
        for department_id, kind in ids_and_kinds:
            key = ECKey.generate_key("P-256", private=True)
            uscc = uscc_code(rng, category="11")
            issuer = f"{hub.settings.public_url}/v1/departments/{department_id}"
            service.register_department(
                session,
                id=department_id,
                name=f"基准测试{_KIND_NAMES[kind]}{department_id[-1]}",
                kind=kind,
                region_code="410100",
                uscc=uscc,
                issuer=issuer,
            )
            row = service.add_department_key(
                session, department_id, {**key.as_dict(private=False), "alg": "ES256"}
            )
            service.authorize_every_type(
                session,
                department_id,
                jurisdiction_code="410100",
                legal_basis="benchmark",
                valid_until=datetime.now(UTC) + timedelta(days=365),
            )
            departments.append(
                Department(department_id, kind, uscc, issuer, row.kid, key.as_dict(private=True), key)
            )
    return departments


def split_mix(total: int, mix: dict[str, float] = MIX) -> dict[str, int]:
    """``total`` licences cut by the mix, the rounding remainder going to the largest share."""
    counts = {code: int(total * share) for code, share in mix.items()}
    counts[max(mix, key=mix.__getitem__)] += total - sum(counts.values())
    return counts


# The catalog marks the ID card and the household register one_per_holder (a citizen is registered as a
# permanent resident in one place only, 《户口登记条例》 art. 6), so ingest refuses a second valid one of the
# same person: two departments giving the same person one would see the second refused. Each department's
# feed draws its citizens from a block of birth dates of its own (two years: 8 counties × 1,000 sequence
# numbers × 730 days), in first-use order.
_HOLDER_BLOCKS: dict[str, int] = {}


def unique_citizen(department_id: str, index: int) -> str:
    """The ``index``-th citizen ID number of ``department_id``'s block: never another department's."""
    block = _HOLDER_BLOCKS.setdefault(department_id, len(_HOLDER_BLOCKS))
    if block >= 27:
        raise ValueError("more departments than blocks of birth dates between 1950 and 2004")
    county = ZHENGZHOU_COUNTIES[index % len(ZHENGZHOU_COUNTIES)]
    day, sequence = divmod(index // len(ZHENGZHOU_COUNTIES), 1000)
    birth = date(1950, 1, 1) + timedelta(days=block * 730 + day % 730)
    body = f"{county}{birth:%Y%m%d}{sequence:03d}"
    return body + ric.calc_check_digit(body + "0")


def make_feed(
    department: Department,
    type_counts: dict[str, int],
    *,
    holder_jwk: dict[str, Any],
    public_url: str,
    seed: int,
    batch_size: int = BATCH_SIZE,
) -> Feed:
    """Sign ``type_counts`` licences of the department's types, shuffled as a real feed interleaves them."""
    types = licence_types()
    rng = random.Random(seed)
    codes = [code for code, n in type_counts.items() for _ in range(n)]
    for code in codes:
        if types[code]["issuer_kind"] != department.kind:
            raise ValueError(f"{department.id} ({department.kind}) cannot issue {code}")
    rng.shuffle(codes)
    serials: dict[str, itertools.count[int]] = {code: itertools.count(1) for code in type_counts}
    now = int(time.time())
    credentials = []
    for index, code in enumerate(codes):
        spec = types[code]
        person = spec["holder_kind"] == "person"
        holder = unique_citizen(department.id, index) if person else uscc_code(rng, category="91")
        credentials.append(
            sign_credential(
                department,
                spec,
                holder,
                next(serials[code]),
                index,
                holder_jwk=holder_jwk,
                public_url=public_url,
                rng=rng,
                now=now,
            )
        )
    return Feed(department, credentials, codes, batch_size)


def sign_credential(
    department: Department,
    spec: dict[str, Any],
    holder: str,
    serial: int,
    index: int,
    *,
    holder_jwk: dict[str, Any],
    public_url: str,
    rng: random.Random,
    now: int,
) -> str:
    """One credential as the department's adapter signs it: licence ``serial`` of the type, version 1,
    sample values for ``holder``, status slot ``index`` (across lists), valid from 400 days before ``now``
    for ten years."""
    return build_credential(
        licence_type=spec,
        licence_id=LicenceId(spec["code"], department.uscc, f"{serial:08d}", 1),
        values=sample_values(spec, holder, rng),
        issuer=department.issuer,
        key=department.key,
        kid=department.kid,
        alg="ES256",
        holder_jwk=holder_jwk,
        hub_url=public_url,
        department_id=department.id,
        status_list=index // STATUS_LIST_SIZE,
        status_index=index % STATUS_LIST_SIZE,
        valid_from=now - 400 * 86400,
        valid_until=now + 3650 * 86400,
        issued_at=now - 60,
    )


@dataclass
class Workload:
    """A set of feeds and who posts them: ``clients[i]`` lists the feeds client ``i`` posts, in turn."""

    name: str
    clients: list[list[Feed]]

    @property
    def feeds(self) -> list[Feed]:
        return [f for client in self.clients for f in client]

    @property
    def licences(self) -> int:
        return sum(len(f.credentials) for f in self.feeds)


def workload_departments(name: str, clients: int) -> list[tuple[str, str]]:
    """Department ids and kinds a workload needs: every client posts its own pair of departments, one
    police bureau (ID cards, household registers) and one market regulation bureau (business licences),
    so that each client carries the same mix."""
    return [(f"bench-{name}-police-{i}", "police") for i in range(1, clients + 1)] + [
        (f"bench-{name}-amr-{i}", "commerce") for i in range(1, clients + 1)
    ]


def build_workload(
    name: str,
    total: int,
    clients: int,
    departments: dict[str, Department],
    *,
    holder_jwk: dict[str, Any],
    public_url: str,
    seed: int,
    batch_size: int = BATCH_SIZE,
) -> Workload:
    """Sign ``total`` licences of the mix, split evenly over ``clients`` posting clients."""
    types = licence_types()
    police_codes = {c for c in MIX if types[c]["issuer_kind"] == "police"}
    client_feeds: list[list[Feed]] = []
    for i in range(1, clients + 1):
        counts = split_mix(total // clients + (1 if i <= total % clients else 0))
        feeds = []
        for prefix, codes, salt in (("police", police_codes, 0), ("amr", set(MIX) - police_codes, 500)):
            wanted = {c: n for c, n in counts.items() if c in codes and n > 0}
            if wanted:
                feeds.append(
                    make_feed(
                        departments[f"bench-{name}-{prefix}-{i}"],
                        wanted,
                        holder_jwk=holder_jwk,
                        public_url=public_url,
                        seed=seed * 1000 + salt + i,
                        batch_size=batch_size,
                    )
                )
        client_feeds.append(feeds)
    return Workload(name, client_feeds)


def interleave(feeds: Sequence[Feed]) -> list[tuple[str, int, int, bytes]]:
    """One client's posting order as (department, sequence, operations, body): the feeds' batches merged
    by progress, so that the mix stays even over time (police batches with an occasional market
    regulation batch between them)."""
    queues = [(feed.department.id, feed.bodies()) for feed in feeds]
    positions = [0] * len(queues)
    order: list[tuple[str, int, int, bytes]] = []
    while True:
        open_queues = [i for i, (_, q) in enumerate(queues) if positions[i] < len(q)]
        if not open_queues:
            return order
        best = min(open_queues, key=lambda i: (positions[i] + 0.5) / len(queues[i][1]))
        department, queue = queues[best]
        operations, body = queue[positions[best]]
        positions[best] += 1
        order.append((department, positions[best], operations, body))
