"""Dependencies every router shares: the running hub and the request's unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from hub.context import Hub
from storage.database import transaction


async def get_hub(request: Request) -> Hub:
    """The running hub (async: no thread-pool hand-off for reading an attribute)."""
    hub: Hub = request.app.state.hub
    return hub


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: services never commit, this dependency does (or rolls back).
    GET and HEAD requests read without taking SQLite's write lock."""
    hub = request.app.state.hub
    factory = hub.read_session_factory if request.method in ("GET", "HEAD") else hub.session_factory
    with transaction(factory) as session:
        yield session


HubDep = Annotated[Hub, Depends(get_hub)]
# scope="function": the session commits before the response is sent, so a failed commit is never a 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_write_session(hub: HubDep) -> Iterator[Session]:
    """The unit of work of a GET that writes (an audit event, say). ``SessionDep`` gives GETs a read-only
    session, which on SQLite would have to take the write lock half-way and may fail under load."""
    with transaction(hub.session_factory) as session:
        yield session


WriteSessionDep = Annotated[Session, Depends(get_write_session, scope="function")]


def client_address(request: Request) -> str:
    """The caller's address as the server sees it (behind a proxy, run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else ""


# Row ids and cursors: the databases hold 64-bit integers at most (a larger one was a 500).
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


# How many items of a list to skip. Bounded: past the end a page is empty anyway, and the databases take
# offsets of at most 64 bits (SQLite refuses a larger one outright).
PageOffset = Annotated[int, Query(ge=0, le=1_000_000_000)]
