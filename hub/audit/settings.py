"""Audit and supervision settings, read from ``HUB_AUDIT_*`` environment variables (and ``.env``).

There is deliberately no setting that turns auditing off: these tune tree-head cadence and the
supervision rules only.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class AuditSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_AUDIT_", env_file=".env", extra="ignore")

    head_min_interval_seconds: float = Field(
        1.0, ge=0, description="GET /v1/audit/tree-head signs a new head at most this often."
    )
    head_max_age_seconds: float = Field(
        3600.0, gt=0, description="A head older than this is replaced even if the log has not grown."
    )
    supervise_seconds: float = Field(
        60.0,
        ge=0,
        description="How often each worker evaluates the rules and signs a due head; "
        "0 leaves it to `hub audit supervise`.",
    )
    witness_urls: str = Field(
        "",
        description="Comma-separated witness URLs that `hub audit checkpoint` POSTs the current "
        "checkpoint to (text/plain, the signed note).",
    )

    volume_factor: float = Field(
        5.0,
        gt=1,
        description="Alert when a client's lookups in the last hour exceed this many times "
        "its hourly baseline.",
    )
    volume_baseline_hours: int = Field(168, ge=1, description="The trailing window the baseline averages.")
    volume_min_lookups: int = Field(
        100, ge=1, description="Below this many lookups in an hour no volume alert is raised."
    )
    refused_per_hour: int = Field(
        20, ge=1, description="Alert when a client's refused attempts in an hour exceed this."
    )
    purpose_not_covered_per_hour: int = Field(
        1, ge=1, description="Alert when this many lookups in an hour name a purpose no grant covers."
    )
    feed_stale_hours: float = Field(
        24.0, gt=0, description="Alert when a department has pushed nothing for this long."
    )
    grant_expiry_days: float = Field(7.0, gt=0, description="Alert this long before a grant expires.")
    refusals_per_minute: int = Field(
        60,
        ge=1,
        description="At most this many refusals of one identity a minute become audit events "
        '(per process); the rest are counted in hub_refusals_total{audited="capped"}.',
    )

    @property
    def witnesses(self) -> list[str]:
        return [url.strip() for url in self.witness_urls.split(",") if url.strip()]


@lru_cache
def get_audit_settings() -> AuditSettings:
    return AuditSettings()
