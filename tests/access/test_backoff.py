"""Issue 14: failed sign-ins and client authentications back off per identity and per address (429 with
``Retry-After``), and nobody is locked out for good."""

from __future__ import annotations

from fastapi.testclient import TestClient

from hub.context import Hub
from hub.kit.backoff import Backoff
from tests.access.helpers import PASSWORD, problem, token_with_secret
from tests.factories import create_admin, create_client, seed_catalog


def test_backoff_grows_after_the_free_attempts_and_ends() -> None:
    backoff = Backoff(free=3, base=1.0, cap=60.0)
    keys = ["admin:a", "addr:x"]
    for second in range(3):
        assert backoff.retry_after(keys, now=second) == 0
        backoff.failed(keys, now=second)
    assert backoff.retry_after(keys, now=2) == 1.0  # the fourth attempt waits 1 s after the third failure
    backoff.failed(keys, now=3)
    assert backoff.retry_after(keys, now=3) == 2.0  # then 2 s, 4 s … at most the cap
    assert backoff.retry_after(["admin:b"], now=3) == 0  # another identity from another address: free
    backoff.succeeded("admin:a")
    assert backoff.retry_after(["admin:a"], now=3) == 0  # the owner's success clears the identity
    assert backoff.retry_after(["addr:x"], now=3) == 2.0  # the address still waits
    for _ in range(20):
        backoff.failed(["addr:x"], now=4)
    assert backoff.retry_after(["addr:x"], now=4) == 60.0  # never more than the cap
    assert backoff.retry_after(["addr:x"], now=64) == 0  # and it ends


def test_password_guessing_is_answered_429_with_retry_after(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    admin = create_admin(hub, region="410100", password=PASSWORD)
    for _ in range(10):
        wrong = client.post("/v1/admin/sign-in", json={"username": admin.username, "password": "guess"})
        problem(wrong, 401)
    blocked = client.post("/v1/admin/sign-in", json={"username": admin.username, "password": PASSWORD})
    assert "too many failed attempts" in problem(blocked, 429)["detail"]
    assert int(blocked.headers["retry-after"]) >= 1


def test_client_secret_guessing_is_answered_429(client: TestClient, hub: Hub) -> None:
    seed_catalog(hub)
    service = create_client(hub, kind="service")
    for _ in range(10):
        assert token_with_secret(client, service.client_id, "guess", "").status_code == 401
    blocked = token_with_secret(client, service.client_id, service.secret or "", "")
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) >= 1
