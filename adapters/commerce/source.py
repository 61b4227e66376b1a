"""The market-regulation registry (市场监督管理局 企业登记系统), read through its HTTP JSON API.

The API (not ours; ``adapters.commerce.standin`` serves a stand-in of it)::

    GET {base}/enterprises?updated_since=<更新时间>&page=<1…>&page_size=<1…1000>
    Authorization: Bearer <token>                        (when the registry asks for one)

    200 {"code": 0, "msg": "success",
         "data": {"total": 1234, "page": 1, "page_size": 200, "records": [{…}, …]}}
    4xx {"code": 40001, "msg": "…"}                      a request the registry refuses
    5xx / 429                                            the registry is having trouble

``updated_since`` is inclusive (records with ``更新时间`` at or after it; all records without it), and
records come ordered by ``更新时间`` then ``主体身份代码`` (the registry's own record id), so the pair is a
total order. Dates are ``YYYY-MM-DD``; ``更新时间`` is ISO 8601, China Standard Time when it has no offset.
A record (see ``adapters.commerce.mapping``) carries 统一社会信用代码, 企业名称, 类型, 法定代表人 and their
证件类型/证件号码, 经营范围, 注册资本 (万元) and 币种, 成立日期, 营业期限自/至 (null: 长期), 住所, 登记机关,
核准日期, 证照编号, 登记状态 (存续…, 注销, 吊销…) with 注销/吊销 日期 and 原因, and 更新时间.

Reading: the cursor is the (更新时间, 主体身份代码) of the last record synced. Each request asks from the
last 更新时间 read (keyset paging, so records changing while we page cannot shift the pages under us);
pages are numbered only to get through many records sharing one 更新时间. Records at or before the
cursor are skipped. Every page of the run is fetched and checked (and spooled to a temporary file) before
the first record is yielded, so a registry that keeps failing or answers a malformed page stops the
sync before anything is pushed. Network errors, 5xx and 429 are retried with backoff
(``adapters.sdk.retry``); other 4xx are not.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import IO, Any

import httpx

from adapters.sdk.parsing import JSONTooDeep, json_loads
from adapters.sdk.records import SourceError, SourceRecord
from adapters.sdk.retry import HubUnavailable, RetryPolicy, send_with_retries

ENTERPRISES_PATH = "/enterprises"
RECORD_ID, UPDATED_AT = "主体身份代码", "更新时间"
MAX_PAGE_SIZE = 1000
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")


def parse_update_time(value: object) -> datetime | None:
    """``更新时间`` as an aware datetime (no offset: China Standard Time); None if it is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_STANDARD_TIME)


@dataclass(frozen=True)
class Cursor:
    """The last record synced: its 更新时间 as the registry wrote it, and its 主体身份代码."""

    updated_since: str | None = None
    after_id: str = ""

    def dump(self) -> str:
        return json.dumps(self.__dict__, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def load(cls, text: str | None) -> Cursor:
        if not text:
            return cls()
        try:
            data = json.loads(text)
            cursor = cls(updated_since=data["updated_since"], after_id=str(data["after_id"]))
        except (ValueError, KeyError, TypeError):
            raise SourceError(f"the source cursor {text[:80]!r} is not a registry cursor") from None
        if cursor.updated_since is not None and parse_update_time(cursor.updated_since) is None:
            raise SourceError(f"the source cursor's 更新时间 {cursor.updated_since!r} is not a time")
        return cursor

    @property
    def order_key(self) -> tuple[datetime, str] | None:
        when = parse_update_time(self.updated_since)
        return None if when is None else (when, self.after_id)


@dataclass
class _Spool:
    cursor: str | None
    file: IO[str]
    count: int = 0


class CommerceSource:
    """The enterprises of one market-regulation registry API, from a cursor on."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        page_size: int = 200,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be 1 to {MAX_PAGE_SIZE}")
        try:
            scheme = httpx.URL(base_url).scheme
        except httpx.InvalidURL:
            scheme = ""
        if scheme not in ("http", "https"):
            raise SourceError(f"--source must be the registry API's http(s) URL, not {base_url!r}")
        self.url = base_url.rstrip("/") + ENTERPRISES_PATH
        self.page_size = page_size
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        headers = {"Accept": "application/json", "User-Agent": "licence-hub-adapter/0.1 (commerce)"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._http = httpx.Client(headers=headers, timeout=timeout, transport=transport)
        self._spool: _Spool | None = None

    def close(self) -> None:
        self._replace_spool(None)
        self._http.close()

    def __enter__(self) -> CommerceSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the engine's interface -----------------------------------------------------------------------

    def pending(self, cursor_text: str | None) -> int:
        """How many records :meth:`read` yields from ``cursor_text``: fetches and checks every page, and
        keeps them for the :meth:`read` from the same cursor that follows."""
        if self._spool is None or self._spool.cursor != cursor_text:
            self._replace_spool(self._fetch(cursor_text))
        assert self._spool is not None
        return self._spool.count

    def read(self, cursor_text: str | None) -> Iterator[SourceRecord]:
        """Records changed after ``cursor_text``, in the registry's order, each with the cursor after it.
        Raises :class:`SourceError` before the first record if any page is unusable."""
        spool = self._spool if self._spool is not None and self._spool.cursor == cursor_text else None
        self._spool = None  # used once: a later read asks the registry again
        spool = spool or self._fetch(cursor_text)
        try:
            spool.file.seek(0)
            for line in spool.file:
                position, key, record = json.loads(line)
                yield SourceRecord(key, position, record, kind="enterprise")
        finally:
            spool.file.close()

    # -- fetching -------------------------------------------------------------------------------------

    def _replace_spool(self, spool: _Spool | None) -> None:
        if self._spool is not None:
            self._spool.file.close()
        self._spool = spool

    def _fetch(self, cursor_text: str | None) -> _Spool:
        """Every page after the cursor, checked, in a temporary file (memory up to 8 MiB)."""
        # Closed by read() once it was read, or when replaced: it outlives this call.
        file = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+", encoding="utf-8")  # noqa: SIM115
        spool = _Spool(cursor_text, file)
        try:
            self._fill(spool, Cursor.load(cursor_text))
        except BaseException:
            spool.file.close()
            raise
        return spool

    def _fill(self, spool: _Spool, cursor: Cursor) -> None:
        after = cursor.order_key
        anchor, page = cursor.updated_since, 1
        previous: tuple[datetime, str] | None = None  # last key of the query with this anchor
        last_text = anchor  # 更新时间 of the newest record read, as the registry wrote it
        while True:
            records, total = self._page(anchor, page)
            fresh = False
            for number, record in enumerate(records, start=1):
                where = f"page {page}{'' if anchor is None else f' after {anchor}'}, record {number}"
                key = _order_key(record, where)
                if previous is not None and key < previous:
                    raise SourceError(
                        f"{self.url}: {where} is out of order (the API must sort by 更新时间, 主体身份代码)"
                    )
                previous = key
                if after is not None and key <= after:
                    continue
                position = Cursor(str(record[UPDATED_AT]), key[1]).dump()
                spool.file.write(json.dumps([position, key[1], record], ensure_ascii=False) + "\n")
                spool.count += 1
                after, fresh, last_text = key, True, str(record[UPDATED_AT])
            if len(records) < self.page_size or page * self.page_size >= total:
                return
            if fresh and after is not None and parse_update_time(anchor) != after[0]:
                anchor, page, previous = last_text, 1, None  # ask from the newest 更新时间 read
            else:
                page += 1  # a page entirely at one 更新时间: page on through the tie

    def _page(self, updated_since: str | None, page: int) -> tuple[list[dict[str, Any]], int]:
        params: dict[str, str | int] = {"page": page, "page_size": self.page_size}
        if updated_since is not None:
            params["updated_since"] = updated_since
        what = f"registry page {page}" + ("" if updated_since is None else f" after {updated_since}")

        def send() -> httpx.Response:
            return self._http.get(self.url, params=params)

        try:
            response = send_with_retries(send, policy=self.retry, sleep=self._sleep, what=what)
        except HubUnavailable as exc:
            raise SourceError(
                f"the market-regulation registry at {self.url} is unavailable: {exc}; nothing was pushed"
            ) from None
        if response.status_code >= 400:
            raise SourceError(
                f"{self.url}: the registry refused {what}: HTTP {response.status_code} "
                f"{_message(response)}".rstrip()
                + (" (check --source-token)" if response.status_code in (401, 403) else "")
            )
        return _page_body(response, page, self.url, what)


def _page_body(response: httpx.Response, page: int, url: str, what: str) -> tuple[list[dict[str, Any]], int]:
    """The records and total of one answered page, or SourceError naming what is wrong with it."""
    try:
        body = json_loads(response.content)
    except JSONTooDeep:
        raise SourceError(f"{url}: {what} is JSON nested too deeply to read") from None
    except ValueError:
        raise SourceError(f"{url}: {what} is not valid JSON (truncated?): {response.text[:60]!r}") from None
    if not isinstance(body, dict):
        raise SourceError(f"{url}: {what} is not a JSON object")
    if body.get("code") not in (0, "0"):
        raise SourceError(
            f"{url}: the registry answered {what} with code {body.get('code')!r}: "
            f"{body.get('msg') or body.get('message') or 'no message'}"
        )
    data = body.get("data")
    records = data.get("records") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(records, list):
        raise SourceError(f"{url}: {what} has no data.records list")
    total = data.get("total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise SourceError(f"{url}: {what} has no data.total count")
    if data.get("page", page) != page:
        raise SourceError(f"{url}: asked for {what}, the registry answered page {data.get('page')!r}")
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise SourceError(f"{url}: {what}, record {number} is not a JSON object")
    return records, total


def _order_key(record: Mapping[str, Any], where: str) -> tuple[datetime, str]:
    """(更新时间, 主体身份代码): what the cursor needs of every record, so a record without them spoils
    the page, not just itself."""
    record_id = record.get(RECORD_ID)
    if not isinstance(record_id, str) or not record_id.strip():
        raise SourceError(f"{where}: no {RECORD_ID} (the registry's record id)")
    when = parse_update_time(record.get(UPDATED_AT))
    if when is None:
        raise SourceError(f"{where}: {UPDATED_AT} missing or not an ISO 8601 time")
    return when, record_id.strip()


def _message(response: httpx.Response) -> str:
    try:
        body = json_loads(response.content)
    except ValueError:  # JSONTooDeep too: an error page's message is only a hint
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("msg") or body.get("message") or body.get("detail") or "")[:200]
    return ""
