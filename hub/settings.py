"""Typed settings, read from ``HUB_*`` environment variables (and ``.env``).

Outside demo mode the hub refuses to start with a default or missing secret: a government data centre
must provide its own keys, never the ones that ship in this repository.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_SECRET = "demo-only-not-a-secret"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_file=".env", extra="ignore", hide_input_in_errors=True
    )

    demo: bool = Field(False, description="Demo mode: generated secrets, dev sign-in. Never in production.")
    var_dir: Path = Field(Path("var"), description="Where the embedded default keeps its files.")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite under var_dir.")
    object_store_url: str | None = Field(None, description="file:///path or s3://KEY:SECRET@host:port/bucket")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL the hub is reached at.")
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1

    # Secrets. Data keys are "kid:base64(32 bytes)" entries separated by commas; the first is active.
    data_keys: str | None = Field(None, description="AES-256-GCM keys for data at rest, first is active.")
    blind_index_key: str | None = Field(None, description="HMAC key (base64, 32 bytes) for holder indexes.")

    session_secret: str | None = Field(None, description="Signs browser session cookies (sign-in, consent).")

    access_token_ttl_seconds: int = Field(300, ge=30, le=3600)
    admin_token_ttl_seconds: int = Field(1800, ge=60, le=43200)
    authorization_code_ttl_seconds: int = Field(120, ge=30, le=600)
    citizen_session_seconds: int = Field(
        1800, ge=60, le=86400, description="A browser session ends after this long without a request."
    )
    console_session_seconds: int = Field(
        8 * 3600,
        ge=60,
        le=86400,
        description="A sign-in to the web console (admin or citizen) lasts at "
        "most this long, however active; then the person signs in again.",
    )

    # Upstream OpenID Connect provider for citizens and admins (the city's unified identity platform).
    oidc_issuer: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_id_number_claim: str = Field("id_number", description="ID-token claim holding the 公民身份号码.")

    max_concurrent_requests: int = Field(
        32,
        ge=1,
        le=500,
        description="Requests a worker handles at once; more wait their turn. Threads and database "
        "connections are sized from it, so no request waits for a thread or a connection that a request "
        "queued behind it holds.",
    )

    rate_limit_per_second: float = Field(
        300.0,
        ge=0,
        description="Requests a second each caller (the OAuth client of its bearer token, else the "
        "remote address) may make, sustained; over it the answer is 429 with Retry-After. Counted per "
        "worker process. 0 turns the limit off.",
    )
    rate_limit_burst: int = Field(600, ge=1, description="Requests a caller may make at once above the rate.")

    max_batch_operations: int = 1000
    ingest_workers: int = Field(
        default_factory=lambda: max(0, min(7, (os.cpu_count() or 1) - 1)),
        ge=0,
        le=64,
        description="Processes that check a large ingest batch's operations beside the request's own "
        "(signatures, disclosures, claims). 0 checks everything in the request's process. Default: one "
        "fewer than the cores, at most 7.",
    )
    max_batch_bytes: int = 16 * 1024 * 1024
    max_attachment_bytes: int = 10 * 1024 * 1024
    attachment_media_types: tuple[str, ...] = ("image/jpeg", "image/png", "application/pdf")
    status_list_ttl_seconds: int = 300
    log_level: str = "INFO"
    metrics_address: str | None = Field(
        None,
        pattern=r"^[^\s:]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$",
        description="host:port where Prometheus metrics are served alone (say 127.0.0.1:9464, on a network "
        "only the monitoring reaches); /metrics on the hub's own port then answers 404. Unset, /metrics "
        "takes a bearer token with the ``metrics`` scope (a ``monitor`` client's). One worker only: "
        "each worker process would bind it.",
    )

    @model_validator(mode="after")
    def _one_metrics_listener(self) -> Settings:
        if self.metrics_address and self.workers > 1:
            raise ValueError(
                "HUB_METRICS_ADDRESS needs HUB_WORKERS=1 (every worker would bind it); with several "
                "workers scrape /metrics with a monitor client's token"
            )
        return self

    @property
    def metrics_host_port(self) -> tuple[str, int] | None:
        """``metrics_address`` split, brackets of an IPv6 literal removed."""
        if not self.metrics_address:
            return None
        host, _, port = self.metrics_address.rpartition(":")
        return host.strip("[]"), int(port)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> Settings:
        if self.demo:
            return self
        missing = [
            name
            for name in ("data_keys", "blind_index_key", "session_secret")
            if not getattr(self, name) or DEMO_SECRET in (getattr(self, name) or "")
        ]
        if missing:
            raise ValueError(
                "outside demo mode these secrets must be set and not the demo default: "
                + ", ".join(f"HUB_{m.upper()}" for m in missing)
                + " (generate them with `hub keys generate-secrets`)"
            )
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.var_dir / 'hub.sqlite3').resolve()}"

    @property
    def resolved_object_store_url(self) -> str:
        return self.object_store_url or (self.var_dir / "objects").resolve().as_uri()


@lru_cache
def get_settings() -> Settings:
    return Settings()
