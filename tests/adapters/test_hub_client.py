"""The SDK's hub client against ``httpx.MockTransport``: retry policy, private_key_jwt, token refresh."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import parse_qs

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey

from adapters.sdk.hub_client import FeedConflict, HubClient, HubRefused
from adapters.sdk.keys import PrivateKey
from adapters.sdk.retry import HubUnavailable, RetryPolicy, retry_after_seconds

HUB = "http://hub.example"
TOKEN_ENDPOINT = HUB + "/oauth/token"
METADATA = {
    "issuer": HUB,
    "token_endpoint": TOKEN_ENDPOINT,
    "jwks_uri": HUB + "/.well-known/jwks.json",
    "token_endpoint_auth_methods_supported": ["private_key_jwt", "client_secret_basic"],
}
BATCH = json.dumps(
    {"department": "zz-police", "sequence": 1, "operations": [{"op": "issue", "credential": "x~"}]}
)
RESULT = {
    "department": "zz-police",
    "sequence": 1,
    "accepted": 1,
    "rejected": 0,
    "replayed": False,
    "results": [],
}


class FakeHub:
    """Answers discovery and tokens; the batch endpoint answers from a script, one entry per call."""

    def __init__(
        self,
        batch_answers: list[httpx.Response | Exception],
        token_answers: list[httpx.Response] | None = None,
    ):
        self.batch_answers = batch_answers
        self.token_answers = token_answers or []
        self.batch_calls = 0
        self.token_requests: list[dict[str, list[str]]] = []
        self.authorizations: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/.well-known/oauth-authorization-server":
            return httpx.Response(200, json=METADATA)
        if request.url.path == "/oauth/token":
            self.token_requests.append(parse_qs(request.content.decode()))
            if self.token_answers:
                return self.token_answers.pop(0)
            n = len(self.token_requests)
            return httpx.Response(
                200, json={"access_token": f"token-{n}", "token_type": "Bearer", "expires_in": 300}
            )
        if request.url.path == "/v1/licences/batch":
            self.authorizations.append(request.headers.get("authorization", ""))
            self.batch_calls += 1
            answer = self.batch_answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        return httpx.Response(404, json={"title": "Not found"})


@pytest.fixture
def client_key() -> PrivateKey:
    key = ECKey.generate_key("P-256", private=True)
    return PrivateKey(key=key, kid=key.thumbprint(), alg="ES256")


def make_client(
    fake: FakeHub, key: PrivateKey, sleeps: list[float], clock: Callable[[], float] | None = None
) -> HubClient:
    return HubClient(
        HUB, client_id="dept-1", client_key=key, transport=httpx.MockTransport(fake),
        retry=RetryPolicy(attempts=4, base_delay=0.5), sleep=sleeps.append,
        **({"clock": clock} if clock else {}),
    )  # fmt: skip


def test_a_500_is_retried_and_the_200_after_it_returned(client_key: PrivateKey) -> None:
    fake = FakeHub([httpx.Response(500, text="boom"), httpx.Response(200, json=RESULT)])
    sleeps: list[float] = []
    assert make_client(fake, client_key, sleeps).push_batch(BATCH) == RESULT
    assert fake.batch_calls == 2
    assert len(sleeps) == 1 and 0.25 <= sleeps[0] <= 0.5  # first backoff: half fixed, half jitter


def test_a_400_is_not_retried(client_key: PrivateKey) -> None:
    problem = {"title": "Invalid input", "status": 400, "detail": "operations: missing"}
    fake = FakeHub([httpx.Response(400, json=problem), httpx.Response(200, json=RESULT)])
    sleeps: list[float] = []
    with pytest.raises(HubRefused) as refused:
        make_client(fake, client_key, sleeps).push_batch(BATCH)
    assert refused.value.status == 400 and refused.value.problem == problem
    assert fake.batch_calls == 1 and sleeps == []


def test_a_409_gap_is_a_feed_conflict_naming_the_expected_sequence(client_key: PrivateKey) -> None:
    fake = FakeHub([httpx.Response(409, json={"title": "Sequence gap", "expected_sequence": 4})])
    with pytest.raises(FeedConflict) as conflict:
        make_client(fake, client_key, []).push_batch(BATCH)
    assert conflict.value.expected_sequence == 4 and fake.batch_calls == 1


def test_429_waits_as_long_as_retry_after_says(client_key: PrivateKey) -> None:
    fake = FakeHub([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json=RESULT)])
    sleeps: list[float] = []
    make_client(fake, client_key, sleeps).push_batch(BATCH)
    assert sleeps == [7.0] and fake.batch_calls == 2


def test_retry_after_as_an_http_date() -> None:
    response = httpx.Response(503, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after_seconds(response, now=1445412470.0) == pytest.approx(10.0)


def test_network_errors_are_retried(client_key: PrivateKey) -> None:
    fake = FakeHub(
        [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.Response(200, json=RESULT)]
    )
    sleeps: list[float] = []
    assert make_client(fake, client_key, sleeps).push_batch(BATCH) == RESULT
    assert fake.batch_calls == 3 and len(sleeps) == 2 and sleeps[1] >= 0.5  # the wait grows


def test_attempts_are_bounded(client_key: PrivateKey) -> None:
    fake = FakeHub([httpx.Response(503) for _ in range(10)])
    sleeps: list[float] = []
    with pytest.raises(HubUnavailable, match="after 4 attempt"):
        make_client(fake, client_key, sleeps).push_batch(BATCH)
    assert fake.batch_calls == 4 and len(sleeps) == 3


def test_token_by_private_key_jwt_from_the_metadata(client_key: PrivateKey) -> None:
    fake = FakeHub([httpx.Response(200, json=RESULT), httpx.Response(200, json=RESULT)])
    client = make_client(fake, client_key, [])
    client.push_batch(BATCH)
    client.push_batch(BATCH)
    assert len(fake.token_requests) == 1 and fake.authorizations == ["Bearer token-1", "Bearer token-1"]
    form = fake.token_requests[0]
    assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["licences.push"]
    assert form["client_assertion_type"] == ["urn:ietf:params:oauth:client-assertion-type:jwt-bearer"]
    assertion = jwt.decode(form["client_assertion"][0], client_key.key)
    claims = assertion.claims
    assert assertion.header["kid"] == client_key.kid and assertion.header["alg"] == "ES256"
    assert claims["iss"] == claims["sub"] == "dept-1" and claims["aud"] == TOKEN_ENDPOINT
    assert claims["exp"] - claims["iat"] <= 60 and claims["jti"]


def test_token_fetched_again_before_it_expires_with_a_new_assertion(client_key: PrivateKey) -> None:
    now = [1_000_000.0]
    fake = FakeHub([httpx.Response(200, json=RESULT) for _ in range(3)])
    client = make_client(fake, client_key, [], clock=lambda: now[0])
    client.push_batch(BATCH)  # token-1 lives 300 s
    now[0] += 150
    client.push_batch(BATCH)  # 150 s left: still used
    now[0] += 100
    client.push_batch(BATCH)  # 50 s left: a fresh one first
    assert fake.authorizations == ["Bearer token-1", "Bearer token-1", "Bearer token-2"]
    jtis = {jwt.decode(f["client_assertion"][0], client_key.key).claims["jti"] for f in fake.token_requests}
    assert len(jtis) == 2  # every assertion is used once (RFC 7523 §3)


def test_token_endpoint_5xx_is_retried_but_an_oauth_error_is_not(client_key: PrivateKey) -> None:
    fake = FakeHub(
        [httpx.Response(200, json=RESULT)], token_answers=[httpx.Response(502, text="bad gateway")]
    )
    sleeps: list[float] = []
    make_client(fake, client_key, sleeps).push_batch(BATCH)
    assert len(fake.token_requests) == 2 and len(sleeps) == 1

    refused = FakeHub(
        [], token_answers=[httpx.Response(400, json={"error": "invalid_client", "error_description": "no"})]
    )
    with pytest.raises(HubRefused, match="invalid_client"):
        make_client(refused, client_key, []).push_batch(BATCH)
    assert len(refused.token_requests) == 1 and refused.batch_calls == 0


def test_a_refused_token_is_replaced_once(client_key: PrivateKey) -> None:
    fake = FakeHub([httpx.Response(401, json={"title": "Unauthorized"}), httpx.Response(200, json=RESULT)])
    assert make_client(fake, client_key, []).push_batch(BATCH) == RESULT
    assert fake.authorizations == ["Bearer token-1", "Bearer token-2"]
