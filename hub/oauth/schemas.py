"""Response models of OAuth's own records: citizens' consents."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ConsentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    client_id: str
    purpose: str
    case_id: str
    scope: str
    released: list[dict[str, Any]] = Field(description="Each licence type with exactly the fields released.")
    receipt: str = Field(description="The hub-signed consent receipt (JWS, typ consent-receipt+jwt).")
    status: Literal["given", "withdrawn"]
    given_at: datetime
    withdrawn_at: datetime | None
    given_leaf_index: int | None = Field(description="The audit log leaf recording the consent.")
    withdrawn_leaf_index: int | None = Field(description="The audit log leaf recording the withdrawal.")
