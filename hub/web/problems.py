"""Every failure answered as RFC 9457 problem details (``application/problem+json``): the hub's own
errors, request validation (422 with an ``errors`` list naming each field and its reason), database and
object-store outages. Anything else is a bug and is logged."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.errors import Conflict, HubError, InsufficientStorage, InvalidInput, ServiceUnavailable, field_error
from hub.kit.http import problem_response
from storage.objects import ObjectCorrupt, ObjectNotFound, ObjectStoreError, ObjectStoreFull

log = logging.getLogger("hub.errors")


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or ".".join(str(p) for p in loc)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(request: Request, exc: HubError) -> JSONResponse:
        return problem_response(exc.to_problem(request.url.path), headers=exc.headers or None)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [field_error(_location(e.get("loc", ())), e.get("msg", "invalid")) for e in exc.errors()]
        problem = InvalidInput(
            "; ".join(f"{e['field']}: {e['reason']}" for e in errors[:5]), errors=errors
        ).to_problem(request.url.path)
        return problem_response(problem)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        problem = {
            "type": "about:blank",
            "title": str(exc.detail) if exc.status_code < 500 else "Server error",
            "status": exc.status_code,
            "detail": str(exc.detail),
            "instance": request.url.path,
        }
        return problem_response(problem, headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A race lost against a concurrent writer (two registrations of one id, say): retrying shows why.
        log.warning("request.integrity_conflict", extra={"path": request.url.path})
        return problem_response(
            Conflict("the request conflicts with data written concurrently; read it again").to_problem(
                request.url.path
            )
        )

    @app.exception_handler(SQLAlchemyTimeoutError)
    async def _pool_exhausted(request: Request, exc: SQLAlchemyTimeoutError) -> JSONResponse:
        log.error("request.database_pool_exhausted", extra={"path": request.url.path})
        problem = ServiceUnavailable("the hub is overloaded; retry later").to_problem(request.url.path)
        return problem_response(problem, headers={"Retry-After": "2"})

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("request.database_unavailable", extra={"path": request.url.path})
        problem = ServiceUnavailable("the database is not reachable; retry later").to_problem(
            request.url.path
        )
        return problem_response(problem, headers={"Retry-After": "5"})

    @app.exception_handler(ObjectStoreError)
    async def _objects_down(request: Request, exc: ObjectStoreError) -> JSONResponse:
        if isinstance(exc, ObjectNotFound):
            # A digest the database knows with no object behind it: data was lost, not a client error.
            return await _bug(request, exc)
        if isinstance(exc, ObjectStoreFull):
            log.error("request.object_store_full", extra={"path": request.url.path})
            error: HubError = InsufficientStorage(
                "the object store is out of space; nothing was stored",
                errors=[field_error("body", "no room in the object store")],
            )
        else:
            log.error("request.object_store_unavailable", extra={"path": request.url.path})
            error = ServiceUnavailable(
                "the object store is not reachable; nothing was stored, retry later",
                headers={"Retry-After": "5"},
            )
        return problem_response(error.to_problem(request.url.path), headers=error.headers or None)

    @app.exception_handler(ObjectCorrupt)
    async def _object_corrupt(request: Request, exc: ObjectCorrupt) -> JSONResponse:
        # Stored data failed its integrity check: a server fault that a retry will not mend (so not 503).
        log.critical(
            "request.object_integrity_failed", extra={"path": request.url.path, "sha256": exc.sha256}
        )
        return problem_response(
            {
                "type": "about:blank",
                "title": "Internal server error",
                "status": 500,
                "detail": (
                    "the stored file failed its integrity check and was not sent; the operators are alerted"
                ),
                "instance": request.url.path,
            }
        )

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.failed", extra={"path": request.url.path})
        return problem_response(
            {
                "type": "about:blank",
                "title": "Internal server error",
                "status": 500,
                "detail": "an unexpected error occurred; it has been logged",
                "instance": request.url.path,
            }
        )
