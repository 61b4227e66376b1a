"""The FastAPI application: routers of every feature, one error renderer, health and metrics."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path

import anyio.to_thread
import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from hub.console.router import install as install_console
from hub.context import Hub, build_hub, resolve_secrets
from hub.errors import NotFound, ServiceUnavailable
from hub.kit import collector
from hub.kit.http import (
    BodySizeLimit,
    ConcurrencyLimit,
    RateLimit,
    RefuseNul,
    RequestMetrics,
    SecurityHeaders,
)
from hub.kit.logging import configure_logging
from hub.settings import Settings, get_settings
from hub.web import refusals
from hub.web.access import router as access_router
from hub.web.audit import router as audit_router
from hub.web.callers import MonitorDep, caller_key
from hub.web.deps import HubDep
from hub.web.keys import router as keys_router
from hub.web.lookups import router as lookups_router
from hub.web.me import router as me_router
from hub.web.oauth import router as oauth_router
from hub.web.problems import install_error_handlers
from hub.web.registry import router as registry_router
from storage.database import ping as ping_database

DEFAULT_BODY_LIMIT = 1 << 20


def create_app(settings: Settings | None = None, *, hub: Hub | None = None) -> FastAPI:
    """Build the app. Pass ``hub`` to share one already built (tests, several apps in one process)."""
    settings = hub.settings if hub else (settings or get_settings())
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes and dependencies run on AnyIO's thread pool. With at least one thread per admitted
        # request (ConcurrencyLimit below), a request holding a connection or a row lock always finds a
        # thread for its next step, so load queues instead of deadlocking.
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.max_concurrent_requests
        owned = app.state.hub is None
        if owned:
            app.state.hub = await run_in_threadpool(build_hub, settings)
            app.state.hub.checks.start()
            collector.settle()
        host_port = settings.metrics_host_port
        listener = start_http_server(host_port[1], host_port[0]) if host_port else None
        yield
        if listener is not None:
            listener[0].shutdown()
            listener[0].server_close()
        if owned:
            app.state.hub.close()

    app = FastAPI(
        title="Licence hub",
        version="1.0.0",
        description="Licence and certificate sharing hub: signed registry, graded access, verifiable proofs.",
        lifespan=lifespan,
        docs_url=None,  # served below from the hub's own copies of Swagger UI and ReDoc
        redoc_url=None,
    )
    app.state.hub = hub
    install_error_handlers(app)
    refusals.install(app)  # 401 and 403 are audited, then answered like every other problem
    app.include_router(keys_router)
    app.include_router(oauth_router)
    app.include_router(registry_router)
    app.include_router(access_router)
    app.include_router(lookups_router)
    app.include_router(audit_router)
    app.include_router(me_router)
    install_console(app)
    _install_docs(app)

    @app.get("/healthz", tags=["operations"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"])
    def readyz(hub: HubDep) -> dict[str, str]:
        """Readiness: the database and the object store answer."""
        checks = {}
        for name, check in (("database", lambda: ping_database(hub.engine)), ("objects", hub.objects.ping)):
            try:
                check()
                checks[name] = "ok"
            except Exception as exc:  # any failure of a dependency means "not ready"
                raise ServiceUnavailable(
                    f"{name} is not reachable: {type(exc).__name__}", check=name
                ) from None
        return {"status": "ok", **checks}

    if settings.metrics_address is None:

        @app.get("/metrics", tags=["operations"], response_class=Response)
        def metrics(caller: MonitorDep) -> Response:
            """Prometheus metrics, for a bearer token with the ``metrics`` scope (a ``monitor`` client's;
            Prometheus's ``oauth2`` scrape setting fetches one). With ``HUB_METRICS_ADDRESS`` set they are
            served there instead, and this route does not exist."""
            return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    def limit_for(path: str) -> int:
        if path == "/v1/licences/batch":
            return settings.max_batch_bytes
        if path == "/v1/attachments":
            return settings.max_attachment_bytes + 1
        return DEFAULT_BODY_LIMIT

    app.add_middleware(
        SessionMiddleware,
        secret_key=_session_secret(settings, hub),
        session_cookie="hub_session",
        max_age=settings.citizen_session_seconds,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )
    app.add_middleware(RefuseNul, binary_paths=frozenset({"/v1/attachments"}))
    app.add_middleware(BodySizeLimit, limit_for=limit_for)
    app.add_middleware(ConcurrencyLimit, limit=settings.max_concurrent_requests)
    app.add_middleware(
        RateLimit,
        rate=settings.rate_limit_per_second,
        burst=settings.rate_limit_burst,
        key_for=caller_key,
    )
    app.add_middleware(RequestMetrics)
    # Outermost: refusals of the limits above (413, 429, 503) carry the headers too.
    app.add_middleware(SecurityHeaders, no_store_prefixes=PERSONAL_PREFIXES)
    return app


#: Answers about a person (pages, their API answers, sign-in and consent, lookups and prefill, cases,
#: admin views): never stored by a browser or a proxy.
PERSONAL_PREFIXES = (
    "/me",
    "/v1/me",
    "/console",
    "/oauth",
    "/v1/lookups",
    "/v1/prefill",
    "/v1/cases",
    "/v1/admin",
)

#: Swagger UI and ReDoc come from the ``fastapi-offline`` wheel and are served by the hub: government
#: networks are often cut off from CDNs, and a page that loads script from elsewhere trusts elsewhere.
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}


def _docs_policy(nonce: str) -> str:
    """The viewers' CSP: the hub's own scripts plus one inline start-up script by nonce (Swagger UI);
    inline styles and blob: workers, which both viewers build at run time; still never framed."""
    return (
        f"default-src 'self'; script-src 'self' 'nonce-{nonce}'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


def _install_docs(app: FastAPI) -> None:
    assets = "/docs/assets"
    favicon = f"{assets}/favicon.png"

    def page(html: HTMLResponse) -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        body = bytes(html.body).decode().replace("<script>", f'<script nonce="{nonce}">')
        return HTMLResponse(body, headers={"Content-Security-Policy": _docs_policy(nonce)})

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        """Swagger UI for ``/openapi.json``."""
        return page(
            get_swagger_ui_html(
                openapi_url="/openapi.json",
                title=f"{app.title} · Swagger UI",
                swagger_js_url=f"{assets}/swagger-ui-bundle.js",
                swagger_css_url=f"{assets}/swagger-ui.css",
                swagger_favicon_url=favicon,
                swagger_ui_parameters={"validatorUrl": None},  # no call to the public validator
            )
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        """ReDoc for ``/openapi.json``."""
        return page(
            get_redoc_html(
                openapi_url="/openapi.json",
                title=f"{app.title} · ReDoc",
                redoc_js_url=f"{assets}/redoc.standalone.js",
                redoc_favicon_url=favicon,
                with_google_fonts=False,
            )
        )

    @app.get(assets + "/{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        """The viewers' script, style and icon, from the installed wheel."""
        if name not in DOCS_ASSETS:
            raise NotFound(f"no documentation asset {name!r}")
        return Response(
            _docs_asset(name, favicon),
            media_type=DOCS_ASSETS[name],
            headers={"Cache-Control": "max-age=86400"},
        )


#: ReDoc's sidebar shows a logo from Redocly's CDN; the hub's own icon stands in for it, so the viewer
#: asks nothing of another host (the CSP would refuse it anyway).
REDOC_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@lru_cache(maxsize=len(DOCS_ASSETS))
def _docs_asset(name: str, favicon: str) -> bytes:
    return (DOCS_ASSETS_DIR / name).read_bytes().replace(REDOC_CDN_LOGO, favicon.encode())


def _session_secret(settings: Settings, hub: Hub | None) -> str:
    secret = (hub.settings if hub else resolve_secrets(settings)).session_secret
    assert secret, "settings refuse to start without a session secret outside demo mode"
    return secret
