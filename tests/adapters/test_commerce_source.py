"""Reading the market-regulation registry API (a stand-in on ``httpx.MockTransport``): pagination,
``updated_since`` cursors, retries of 5xx / 429 / network errors, and malformed pages refused before a
single record is yielded."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import pytest

from adapters.commerce.generate import registry_records
from adapters.commerce.source import CommerceSource, Cursor
from adapters.commerce.standin import RegistryStandIn
from adapters.samples.population import generate
from adapters.sdk.records import SourceError
from adapters.sdk.retry import RetryPolicy

BASE = "http://registry.example/api/v1"


def synthetic(count: int, times: Callable[[int], str]) -> list[dict[str, Any]]:
    """Minimal records (the source looks only at 主体身份代码 and 更新时间), ids in shuffled order."""
    ids = [f"41010500{n:08d}" for n in range(count)]
    random.Random(count).shuffle(ids)
    return [{"主体身份代码": ids[n], "更新时间": times(n), "n": n} for n in range(count)]


def at(minute: int) -> str:
    return f"2026-11-01T09:{minute:02d}:00+08:00"


class Fixture:
    def __init__(self, records: list[dict[str, Any]], *, page_size: int = 5, token: str | None = None,
                 attempts: int = 4) -> None:  # fmt: skip
        self.standin = RegistryStandIn(records, token=token)
        self.waits: list[float] = []
        self.queued: list[httpx.Response | Exception] = []  # answered (or raised) before the stand-in
        self.source = CommerceSource(
            BASE, token=token, page_size=page_size, transport=httpx.MockTransport(self.handle),
            retry=RetryPolicy(attempts=attempts, base_delay=0.01), sleep=self.waits.append,
        )  # fmt: skip

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.queued:
            answer = self.queued.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return self.standin(request)

    def fail(self, answer: Callable[[int, Mapping[str, str]], tuple[int, bytes] | None]) -> list[int]:
        """Let ``answer(call number, query)`` answer requests first; returns the list of call numbers."""
        calls: list[int] = []

        def intercept(path: str, query: Mapping[str, str]) -> tuple[int, bytes] | None:
            calls.append(len(calls) + 1)
            return answer(len(calls), query)

        self.standin.intercept = intercept
        return calls


def expected_order(records: list[dict[str, Any]]) -> list[str]:
    return [r["主体身份代码"] for r in sorted(records, key=lambda r: (r["更新时间"], r["主体身份代码"]))]


@pytest.fixture(scope="module")
def sample() -> list[dict[str, Any]]:
    return registry_records(generate(1000, seed=13), seed=13)


def test_every_page_is_read_in_the_registrys_order(sample: list[dict[str, Any]]) -> None:
    registry = Fixture(sample, page_size=7)
    records = list(registry.source.read(None))
    assert [r.key for r in records] == expected_order(sample)
    assert registry.source.pending(None) == len(records) == len(sample) > 30
    assert all(r.kind == "enterprise" for r in records)
    assert records[0].data == next(s for s in sample if s["主体身份代码"] == records[0].key)
    assert {q["page_size"] for q in registry.standin.requests} == {"7"}
    assert "updated_since" not in registry.standin.requests[0]
    assert len(registry.standin.requests) <= 2 * (len(sample) // 7 + 1)  # pending reused the fetch


def test_reading_from_any_position_asks_only_for_what_changed_since(sample: list[dict[str, Any]]) -> None:
    registry = Fixture(sample, page_size=6)
    records = list(registry.source.read(None))
    for cut in (0, 1, 6, 17, len(records) - 2, len(records) - 1):
        registry.standin.requests.clear()
        rest = list(registry.source.read(records[cut].position))
        assert [(r.key, r.position) for r in rest] == [(r.key, r.position) for r in records[cut + 1 :]]
        assert registry.standin.requests[0]["updated_since"] == records[cut].data["更新时间"]
        assert registry.source.pending(records[cut].position) == len(rest)
    assert Cursor.load(records[-1].position) == Cursor(records[-1].data["更新时间"], records[-1].key)


def test_many_records_sharing_one_update_time_are_paged_through() -> None:
    ties = synthetic(30, lambda n: at(1) if n < 3 else at(5) if n < 26 else at(9))
    registry = Fixture(ties, page_size=4)
    records = list(registry.source.read(None))
    assert [r.key for r in records] == expected_order(ties)
    for cut in (2, 3, 4, 11, 25, 26):  # cursors inside, at the start and at the end of the tie
        rest = list(registry.source.read(records[cut].position))
        assert [r.key for r in rest] == [r.key for r in records[cut + 1 :]]


def test_records_changed_after_a_sync_come_again_and_nothing_else() -> None:
    records = synthetic(12, at)
    registry = Fixture(records, page_size=5)
    end = list(registry.source.read(None))[-1].position
    assert registry.source.pending(end) == 0 and list(registry.source.read(end)) == []
    records[3] = {**records[3], "更新时间": at(30), "登记状态": "吊销，未注销"}
    registry.standin.load(records)
    (again,) = registry.source.read(end)
    assert (again.key, again.data["登记状态"]) == (records[3]["主体身份代码"], "吊销，未注销")


def test_a_registry_answering_500_then_200_is_retried(sample: list[dict[str, Any]]) -> None:
    registry = Fixture(sample, page_size=10)
    calls = registry.fail(lambda n, query: (500, b"Internal Server Error") if n in (2, 3) else None)
    assert [r.key for r in registry.source.read(None)] == expected_order(sample)
    assert len(registry.waits) == 2 and len(calls) == len(registry.standin.requests)


def test_too_many_requests_waits_as_long_as_the_registry_asks() -> None:
    registry = Fixture(synthetic(8, at))
    registry.queued.append(httpx.Response(429, headers={"Retry-After": "3"}))
    assert len(list(registry.source.read(None))) == 8 and registry.waits == [3.0]


def test_network_errors_are_retried() -> None:
    registry = Fixture(synthetic(8, at))
    registry.queued += [httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")]
    assert len(list(registry.source.read(None))) == 8 and len(registry.waits) == 2


def test_a_registry_that_keeps_failing_stops_the_read_with_a_clear_message() -> None:
    registry = Fixture(synthetic(20, at), attempts=3)
    registry.fail(lambda n, query: (503, b"busy") if query.get("page") == "1" and n > 1 else None)
    records = registry.source.read(None)
    with pytest.raises(SourceError) as caught:
        next(records)
    assert str(caught.value) == (
        f"the market-regulation registry at {BASE}/enterprises is unavailable: registry page 1 after "
        f"{at(4)} failed after 3 attempt(s): HTTP 503; nothing was pushed"
    )


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (401, {"code": 40100, "msg": "missing or wrong access token"}, "HTTP 401 missing or wrong access "
         "token (check --source-token)"),
        (400, {"code": 40001, "msg": "page_size too large"}, "HTTP 400 page_size too large"),
        (404, "<html>not found</html>", "HTTP 404 <html>not found</html>"),
    ],
)  # fmt: skip
def test_refusals_are_not_retried(status: int, body: Any, message: str) -> None:
    registry = Fixture(synthetic(8, at))
    content = body if isinstance(body, str) else json.dumps(body)
    calls = registry.fail(lambda n, query: (status, content.encode()))
    with pytest.raises(SourceError, match=re.escape(f"the registry refused registry page 1: {message}")):
        registry.source.pending(None)
    assert calls == [1] and registry.waits == []


def test_the_token_is_sent_when_the_registry_asks_for_one() -> None:
    registry = Fixture(synthetic(8, at), token="s3cret")
    assert len(list(registry.source.read(None))) == 8
    without = CommerceSource(BASE, transport=httpx.MockTransport(registry.standin))
    with pytest.raises(SourceError, match="HTTP 401"):
        without.pending(None)


def _page(records: list[Any], **data: Any) -> bytes:
    body = {"code": 0, "msg": "success", "data": {"total": 30, "page": 1, "page_size": 5, "records": records,
                                                  **data}}  # fmt: skip
    return json.dumps(body, ensure_ascii=False).encode()


GOOD = {"主体身份代码": "4101050000009999", "更新时间": at(40)}
MALFORMED = {
    "truncated": (b'{"code": 0, "data": {"total": 30, "records": [{"', r"is not valid JSON \(truncated\?\)"),
    "a list": (b"[]", "is not a JSON object"),
    "an error code": (json.dumps({"code": 50010, "msg": "数据库维护中"}).encode(),
                      "answered registry page 1 after .* with code 50010: 数据库维护中"),
    "no records": (json.dumps({"code": 0, "data": {"total": 30}}).encode(), "has no data.records list"),
    "no total": (_page([GOOD], total=None), "has no data.total count"),
    "another page": (_page([GOOD], page=2), "the registry answered page 2"),
    "a record that is no object": (_page([GOOD, "x"]), "record 2 is not a JSON object"),
    "no update time": (_page([{"主体身份代码": "4101050000009999", "更新时间": "yesterday"}]),
                       "record 1: 更新时间 missing or not an ISO 8601 time"),
    "no record id": (_page([{"更新时间": at(40)}]), "record 1: no 主体身份代码"),
    "out of order": (_page([GOOD, {**GOOD, "更新时间": at(39)}]), "record 2 is out of order"),
    # Past the json parser's depth (a RecursionError inside it): named, not a traceback.
    "nested too deeply": (_page([{**GOOD, "经营范围": "@"}]).replace(b'"@"', b"[" * 5000 + b"]" * 5000),
                          r"registry\.example/api/v1/.*is JSON nested too deeply to read"),
}  # fmt: skip


@pytest.mark.parametrize("damage", MALFORMED)
def test_a_malformed_page_is_refused_before_any_record_is_yielded(damage: str) -> None:
    body, message = MALFORMED[damage]
    registry = Fixture(synthetic(30, at), page_size=5)
    # Keyset paging: page 1, then page 1 after the last 更新时间 read … the third request is damaged.
    registry.fail(lambda n, query: (200, body) if n == 3 else None)
    records = registry.source.read(None)
    with pytest.raises(SourceError, match=message):
        next(records)
    assert len(registry.standin.requests) == 3 and registry.waits == []


def test_a_cursor_from_something_else_is_refused() -> None:
    with pytest.raises(SourceError, match="is not a registry cursor"):
        Cursor.load('{"snapshot": "abc", "row": 3}')
    with pytest.raises(SourceError, match="is not a time"):
        Cursor.load('{"updated_since": "soon", "after_id": "1"}')


@pytest.mark.parametrize("url", ["var/commerce", "ftp://registry.example/api/v1", "http://[::1"])
def test_a_source_that_is_no_http_url_is_refused_at_once(url: str) -> None:
    with pytest.raises(SourceError, match="--source must be the registry API's http"):
        CommerceSource(url)
