"""The ceiling of an HTTP endpoint on this machine: a bare FastAPI app, served by the same ``uvicorn`` command
line as the hub (``bench.server.HubServer`` with ``app="bench.bare_app:create_app"``).

``POST /v1/lookups`` reads the request body and answers 200 with a fixed JSON body: the bytes of a real
lookup response captured earlier in the same run (file named by ``BENCH_BARE_BODY``), so that the answer
has the very size and content type of a typical lookup; ``POST /v1/prefill`` likewise answers a captured
prefill response (``BENCH_BARE_PREFILL_BODY``). No middleware, no validation, no database: what is
left is the server (uvicorn, HTTP parsing), Starlette/FastAPI routing and the socket — the part of every
lookup the hub cannot avoid. ``GET /readyz`` lets the harness wait for it as it waits for the hub.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

BODY_ENV = "BENCH_BARE_BODY"
PREFILL_BODY_ENV = "BENCH_BARE_PREFILL_BODY"


def create_app() -> FastAPI:
    path = os.environ.get(BODY_ENV)
    body = Path(path).read_bytes() if path else b'{"status":"ok"}'
    prefill_path = os.environ.get(PREFILL_BODY_ENV)
    prefill_body = Path(prefill_path).read_bytes() if prefill_path else body
    app = FastAPI(title="bare endpoint", openapi_url=None, docs_url=None, redoc_url=None)

    @app.post("/v1/lookups")
    async def lookups(request: Request) -> Response:
        await request.body()
        return Response(body, media_type="application/json")

    @app.post("/v1/prefill")
    async def prefill(request: Request) -> Response:
        await request.body()
        return Response(prefill_body, media_type="application/json")

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ok"}

    return app
