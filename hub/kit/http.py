"""ASGI pieces shared by the whole app: body size limits, NUL refusal, per-client rate limits, request
metrics and security headers."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import anyio
from prometheus_client import Counter, Gauge, Histogram
from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import PROBLEM_JSON, HubError, InvalidInput, PayloadTooLarge, TooManyRequests


def problem_response(problem: dict[str, Any], headers: dict[str, str] | None = None) -> JSONResponse:
    """An RFC 9457 problem as the answer, with its status."""
    return JSONResponse(problem, status_code=problem["status"], media_type=PROBLEM_JSON, headers=headers)


REQUESTS = Counter("hub_http_requests_total", "HTTP requests", ["method", "route", "status"])
RATE_LIMITED = Counter("hub_http_rate_limited_total", "Requests refused with 429 by the rate limit")
IN_FLIGHT = Gauge("hub_http_requests_in_flight", "Requests admitted or waiting for admission")
LATENCY = Histogram(
    "hub_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class BodySizeLimit:
    """Refuse request bodies over a per-path limit with 413, counting bytes as they stream in (a
    missing or lying Content-Length does not get past it)."""

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int]) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _too_large(send, limit)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await _too_large(send, limit)


class RefuseNul:
    """Refuse a NUL character anywhere in a request's path, query or text body with 422 naming where.

    PostgreSQL stores no NUL in text columns and refused such values deep in a statement (a 500); no
    field of this API holds one, so one check at the door serves every route (issue 14). Bodies are read
    whole before the app sees them, except on ``binary_paths`` (uploads), which are bytes by nature."""

    def __init__(self, app: ASGIApp, binary_paths: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.binary_paths = binary_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        where = _nul_in_url(scope)
        if where is None and scope["path"] not in self.binary_paths:
            chunks, more = [], True
            while more:
                message = await receive()
                if message["type"] != "http.request":
                    await self.app(scope, _replay([], message, receive), send)
                    return
                chunks.append(message.get("body", b""))
                more = message.get("more_body", False)
            body = b"".join(chunks)
            where = _nul_in_body(body)
            receive = _replay([body], None, receive)
        if where is not None:
            error = InvalidInput(
                f"{where} holds a NUL character, which no field of this API accepts",
                errors=[{"field": where, "reason": "contains a NUL character"}],
            )
            await _send_problem(send, error, scope["path"])
            return
        await self.app(scope, receive, send)


def _replay(bodies: list[bytes], then: Message | None, original: Receive) -> Callable[[], Any]:
    """A ``receive`` that gives the body already read, then the original's messages: a streamed response
    listens there for the client's disconnect, which must not come early."""
    pending: list[Message] = [{"type": "http.request", "body": b, "more_body": False} for b in bodies]
    if then is not None:
        pending.append(then)

    async def receive() -> Message:
        if pending:
            return pending.pop(0)
        return await original()

    return receive


def _nul_in_url(scope: Scope) -> str | None:
    if "\x00" in scope["path"]:
        return "path"
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "query"
        return "query"
    return None


def _nul_in_body(body: bytes) -> str | None:
    if b"\\u0000" not in body and b"%00" not in body and b"\x00" not in body:
        return None
    try:
        document = json.loads(body)
    except ValueError:
        for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                return name.replace("\x00", "") or "body"
        return "body" if b"\x00" in body else None
    return _nul_at(document, "")


def _nul_at(value: Any, where: str) -> str | None:
    """The dotted path of the first string (or key) holding NUL in a JSON document."""
    if isinstance(value, str):
        return (where or "body") if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        here = f"{where}[{key}]" if isinstance(key, int) else (f"{where}.{key}" if where else str(key))
        if isinstance(key, str) and "\x00" in key:
            return here.replace("\x00", "")
        found = _nul_at(item, here)
        if found:
            return found
    return None


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send, limit: int) -> None:
    error = PayloadTooLarge(
        f"request body is over the limit of {limit} bytes",
        errors=[{"field": "body", "reason": f"over {limit} bytes"}],
    )
    await _send_problem(send, error)


async def _send_problem(send: Send, error: HubError, path: str | None = None) -> None:
    body = json.dumps(error.to_problem(path)).encode()
    headers = [(b"content-type", PROBLEM_JSON.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in error.headers.items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimit:
    """Per-caller token buckets: ``rate`` requests a second sustained, bursts of up to ``burst``.

    ``key_for`` names the caller of a request (the authenticated client, else the remote address).
    Over the limit the answer is 429 problem+json with ``Retry-After``: the whole seconds until the
    bucket holds a token again. The buckets live in this process: with several workers each counts
    its own share, so the effective limit is ``rate`` times the number of workers.
    """

    EXEMPT = ("/healthz", "/readyz", "/metrics")
    MAX_BUCKETS = 10_000

    def __init__(self, app: ASGIApp, rate: float, burst: int, key_for: Callable[[Scope], str]) -> None:
        self.app = app
        self.rate = rate
        self.burst = max(1, burst)
        self.key_for = key_for
        self._buckets: dict[str, tuple[float, float]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.rate <= 0 or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        key = self.key_for(scope)
        wait = self._take(key, time.monotonic())
        if wait > 0:
            RATE_LIMITED.inc()
            seconds = max(1, math.ceil(wait))
            error = TooManyRequests(
                f"over the limit of {self.rate:g} requests a second (bursts of {self.burst}) for this "
                f"caller; retry after {seconds} s",
                headers={"Retry-After": str(seconds)},
            )
            await _send_problem(send, error, scope["path"])
            return
        await self.app(scope, receive, send)

    def _take(self, key: str, now: float) -> float:
        """Take a token from ``key``'s bucket; return 0, or the seconds until one is there."""
        tokens, last = self._buckets.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return (1 - tokens) / self.rate
        self._buckets[key] = (tokens - 1, now)
        if len(self._buckets) > self.MAX_BUCKETS:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket.
        full = [k for k, (t, last) in self._buckets.items() if t + (now - last) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class ConcurrencyLimit:
    """Admit at most ``limit`` requests at once; the rest wait here, holding no thread and no connection.

    Threads and database connections are sized from the same number, so an admitted request never waits
    for a resource held by a request queued behind it (the deadlock a thread pool smaller than the load
    and a connection pool smaller than the thread pool otherwise make)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._semaphore: anyio.Semaphore | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ("/healthz", "/metrics"):
            await self.app(scope, receive, send)
            return
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.limit)
        IN_FLIGHT.inc()
        try:
            async with self._semaphore:
                await self.app(scope, receive, send)
        finally:
            IN_FLIGHT.dec()


class RequestMetrics:
    """Count and time every request by its route template (never the raw path: ids stay out)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            REQUESTS.labels(scope["method"], template, str(status)).inc()
            LATENCY.labels(scope["method"], template).observe(time.perf_counter() - start)


#: The policy of every page the hub serves (CSP Level 3): scripts, styles and fetches from the hub only,
#: no inline script, no plugins, and no framing by anyone (``frame-ancestors 'none'``: the consent page is
#: the only gate on T3 data, and a framed one could be clickjacked). ``form-action`` stays open because
#: the consent form's answer redirects to the approval service, which browsers check against it.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-frame-options", "DENY"),  # RFC 7034, for browsers without frame-ancestors
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),  # codes, case ids and purposes in URLs never leave in a Referer
)


class SecurityHeaders:
    """Put the security headers on every answer (a route may set a stricter or looser CSP of its own, as
    the API viewers do), and ``Cache-Control: no-store`` on answers under the personal ``prefixes`` that
    set no caching of their own (RFC 9111 §5.2.2.5): nothing personal stays in a shared or browser cache."""

    def __init__(self, app: ASGIApp, no_store_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.no_store_prefixes = no_store_prefixes

    def _personal(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.no_store_prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        personal = self._personal(scope["path"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name not in headers:
                        headers[name] = value
                if personal and "cache-control" not in headers:
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
