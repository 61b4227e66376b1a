"""When and how long to wait before sending a request again.

Retried: network errors (connection refused or reset, timeouts), 5xx answers and 429 Too Many Requests,
honouring ``Retry-After`` (RFC 9110 §10.2.3). Never retried: any other 4xx, because sending the same
request again cannot change the answer. Attempts are bounded; between them the wait grows exponentially
with jitter, so many adapters restarting together do not hit the hub in lockstep.

Sending a batch again is safe: the hub answers a replayed feed sequence with the result it stored.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime

import httpx

log = logging.getLogger("adapters.sdk.retry")


class HubUnavailable(Exception):
    """The hub could not be reached, or kept answering 5xx / 429, for every attempt."""


class RetryableStatus(Exception):
    """Raised from inside a send (e.g. Authlib's token response hook) to ask for a retry."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    base_delay: float = 0.5  # seconds before the second attempt, doubling after that
    max_delay: float = 30.0
    max_retry_after: float = 300.0  # a longer Retry-After means: give up now, try in a later run
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def backoff(self, attempt: int) -> float:
        """The wait after failed attempt ``attempt`` (1-based): half fixed, half random (equal jitter)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)


def is_retryable(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); None if absent/bad."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def send_with_retries(
    send: Callable[[], httpx.Response],
    *,
    policy: RetryPolicy,
    sleep: Callable[[float], None] = time.sleep,
    what: str = "request",
) -> httpx.Response:
    """Call ``send`` until it returns an answer that is not retryable, or attempts run out.

    Returns the final response (which may be a 4xx for the caller to interpret). Raises
    :class:`HubUnavailable` when every attempt failed on the network or with 5xx / 429.
    """
    last_problem = ""
    wait: float | None
    for attempt in range(1, policy.attempts + 1):
        try:
            response = send()
        except httpx.TransportError as exc:
            last_problem = f"{type(exc).__name__}: {exc}"
            wait = policy.backoff(attempt)
        except RetryableStatus as exc:
            response = exc.response
            last_problem, wait = _wait_for(response, attempt, policy)
        else:
            if not is_retryable(response.status_code):
                return response
            last_problem, wait = _wait_for(response, attempt, policy)
        if wait is None or attempt == policy.attempts:
            break
        log.warning(
            "hub.request.retry",
            extra={"what": what, "attempt": attempt, "wait_s": round(wait, 3), "problem": last_problem},
        )
        sleep(wait)
    raise HubUnavailable(f"{what} failed after {attempt} attempt(s): {last_problem}")


def _wait_for(response: httpx.Response, attempt: int, policy: RetryPolicy) -> tuple[str, float | None]:
    problem = f"HTTP {response.status_code}"
    retry_after = retry_after_seconds(response)
    if retry_after is None:
        return problem, policy.backoff(attempt)
    if retry_after > policy.max_retry_after:
        return f"{problem} with Retry-After {retry_after:.0f}s (more than we wait)", None
    return problem, retry_after
