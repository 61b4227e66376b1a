"""The hub's error hierarchy, as RFC 9457 problem details.

Services raise these; the web layer (``hub.web.problems``) renders them as ``application/problem+json``.
"""

from __future__ import annotations

import logging
from typing import Any

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://licence-hub.dev/problems/"

log = logging.getLogger("hub.errors")


class HubError(Exception):
    """Base of every expected failure. ``code`` becomes the problem type URI's last segment."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}
        self.extra = extra

    def to_problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": PROBLEM_BASE + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


def field_error(field: str, reason: str, code: str | None = None) -> dict[str, Any]:
    entry = {"field": field, "reason": reason}
    if code:
        entry["code"] = code
    return entry


class InvalidInput(HubError):
    status, code, title = 422, "invalid-input", "Invalid input"


class NotFound(HubError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(HubError):
    status, code, title = 409, "conflict", "Conflict"


class SequenceGap(Conflict):
    code, title = "sequence-gap", "Feed sequence gap"


class Forbidden(HubError):
    status, code, title = 403, "forbidden", "Forbidden"


class Unauthorized(HubError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class InvalidSignature(HubError):
    status, code, title = 422, "invalid-signature", "Invalid signature"


class PayloadTooLarge(HubError):
    status, code, title = 413, "payload-too-large", "Payload too large"


class UnsupportedMediaType(HubError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"


class ServiceUnavailable(HubError):
    status, code, title = 503, "service-unavailable", "Service unavailable"


class TooManyRequests(HubError):
    status, code, title = 429, "too-many-requests", "Too many requests"


class InsufficientStorage(HubError):
    status, code, title = 507, "insufficient-storage", "Insufficient storage"
