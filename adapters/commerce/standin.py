"""A stand-in of the market-regulation registry's enterprise API (the real one is not ours), serving a
snapshot written by ``adapters.commerce.generate`` exactly as ``adapters.commerce.source`` documents it.

As an ``httpx.MockTransport`` handler (``httpx.MockTransport(RegistryStandIn(records))``) or over HTTP
(``python -m adapters.commerce serve --snapshot var/commerce``), for tests, demos and benchmarks. Served
from a file, it reads the file again when it changes, so a new ``generate --changes`` shows as changes.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from adapters.commerce.generate import SNAPSHOT_FILE, read_snapshot
from adapters.commerce.source import ENTERPRISES_PATH, MAX_PAGE_SIZE, RECORD_ID, UPDATED_AT, parse_update_time

API_PREFIX = "/api/v1"
Answer = tuple[int, bytes]
Intercept = Callable[[str, Mapping[str, str]], Answer | None]


def _json(status: int, body: Any) -> Answer:
    return status, json.dumps(body, ensure_ascii=False).encode("utf-8")


class RegistryStandIn:
    """``GET /api/v1/enterprises?updated_since=&page=&page_size=`` over a list of records.

    ``intercept(path, query)`` may answer a request first (status, body bytes): how tests make the
    registry fail or answer malformed pages."""

    def __init__(self, records: list[dict[str, Any]] | Path | str, *, token: str | None = None) -> None:
        self.path = None if isinstance(records, list) else Path(records)
        self.token = token
        self.intercept: Intercept | None = None
        self.requests: list[dict[str, str]] = []
        self._version: tuple[int, int, int] | None = None
        self._lock = threading.Lock()
        self._keys: list[Any] = []  # 更新时间 of each record, for bisecting updated_since
        self._records: list[dict[str, Any]] = []
        if isinstance(records, list):
            self.load(records)
        else:
            self._reload_if_changed()

    def load(self, records: list[dict[str, Any]]) -> None:
        """Serve these records from now on, in the API's order (更新时间, then 主体身份代码)."""
        keyed = sorted(
            (((parse_update_time(r[UPDATED_AT]), r[RECORD_ID]), r) for r in records), key=lambda pair: pair[0]
        )
        with self._lock:
            self._keys = [key[0] for key, _ in keyed]
            self._records = [record for _, record in keyed]

    def _reload_if_changed(self) -> None:
        if self.path is None:
            return
        stat = (self.path / SNAPSHOT_FILE if self.path.is_dir() else self.path).stat()
        version = (stat.st_mtime_ns, stat.st_size, stat.st_ino)  # write_snapshot replaces the file
        if version != self._version:
            self.load(read_snapshot(self.path))
            self._version = version

    def respond(self, path: str, query: Mapping[str, str], authorization: str | None = None) -> Answer:
        self.requests.append(dict(query))
        if self.intercept is not None:
            answer = self.intercept(path, query)
            if answer is not None:
                return answer
        if path.rstrip("/") != API_PREFIX + ENTERPRISES_PATH:
            return _json(404, {"code": 40400, "msg": f"no such resource {path}"})
        if self.token and authorization != f"Bearer {self.token}":
            return _json(401, {"code": 40100, "msg": "missing or wrong access token"})
        try:
            page, size = int(query.get("page", "1")), int(query.get("page_size", "20"))
        except ValueError:
            return _json(400, {"code": 40001, "msg": "page and page_size must be integers"})
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            return _json(400, {"code": 40001, "msg": f"page ≥ 1 and page_size 1 to {MAX_PAGE_SIZE}"})
        since = None
        if query.get("updated_since"):
            since = parse_update_time(query["updated_since"])
            if since is None:
                return _json(400, {"code": 40002, "msg": "updated_since must be an ISO 8601 time"})
        self._reload_if_changed()
        with self._lock:
            first = 0 if since is None else bisect_left(self._keys, since)
            start = first + (page - 1) * size
            records = self._records[start : start + size]
            total = len(self._records) - first
        data = {"total": total, "page": page, "page_size": size, "records": records}
        return _json(200, {"code": 0, "msg": "success", "data": data})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """The ``httpx.MockTransport`` handler."""
        status, body = self.respond(
            request.url.path, dict(request.url.params), request.headers.get("authorization")
        )
        return httpx.Response(status, content=body, headers={"Content-Type": "application/json"})


def serve(standin: RegistryStandIn, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """An HTTP server answering with ``standin`` (``port`` 0: any free port; see ``server_address``).
    Call ``serve_forever()`` on it, in a thread if need be, and ``shutdown()`` to stop."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            status, body = standin.respond(
                url.path, dict(parse_qsl(url.query)), self.headers.get("Authorization")
            )
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and demos log elsewhere
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    return server
