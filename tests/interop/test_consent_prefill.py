"""Prefill with the citizen's consent, end to end (DESIGN 5.3): sign-in, consent page, code + PKCE, a
consent-bound token, a signed consent receipt, prefill, and withdrawal revoking the token."""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
import pytest

from hub.contract import sdjwt
from hub.demo_data import citizen_id
from tests.factories import HOUSEHOLD, ID_CARD, batch, create_issuer, issue, seed_catalog
from tests.interop.browser import CASE_ID, PURPOSE, ApprovalService, Browser, local_target, query_of
from tests.interop.live import LiveHub

ID_NUMBER = citizen_id(random.Random(11))


@pytest.fixture
def live(serve: Callable[..., LiveHub]) -> LiveHub:
    started = serve(demo=True)
    seed_catalog(started.hub)
    police = create_issuer(started.hub, "police")
    ops = [issue(police.credential(t, holder=ID_NUMBER)) for t in (ID_CARD, HOUSEHOLD)]
    body = batch(police, 1, *ops)
    pushed = httpx.post(f"{started.url}/v1/licences/batch", json=body, headers=police.headers)
    assert pushed.json()["accepted"] == 2, pushed.text
    return started


def consent_token(browser: Browser, service: ApprovalService) -> dict:
    request = service.request()
    assert local_target(browser.dev_sign_in("/", ID_NUMBER)) == "/"
    approved = browser.consent(request, "approve")
    code = query_of(approved.headers["location"])["code"]
    response = service.exchange(code, request.verifier)
    assert response.status_code == 200, response.text
    return dict(response.json())


def prefill(live: LiveHub, token: str, **body: str) -> httpx.Response:
    payload = {"service_item": PURPOSE, "case_id": CASE_ID, "nonce": "consent-nonce-1"} | body
    return httpx.post(f"{live.url}/v1/prefill", json=payload, headers={"Authorization": f"Bearer {token}"})


def test_consent_prefill_and_withdrawal(live: LiveHub, service: ApprovalService, browser: Browser) -> None:
    token = consent_token(browser, service)

    # The receipt is signed by the hub and says exactly what was released, to whom, for what.
    jwks = {k["kid"]: k for k in httpx.get(f"{live.url}/.well-known/jwks.json").json()["keys"]}
    receipt_jws = token["consent_receipt"]
    _, receipt = sdjwt.verify_jws(receipt_jws, lambda h: jwks.get(h.get("kid")), typ="consent-receipt+jwt")
    assert receipt["client_id"] == service.client_id
    assert (receipt["purpose"], receipt["case_id"]) == (PURPOSE, CASE_ID)
    assert {r["type_code"]: r["tier"] for r in receipt["released"]} == {ID_CARD: 1, HOUSEHOLD: 2}
    assert ID_NUMBER not in token["consent_receipt"]

    # Prefill reads the consenting citizen's licences without being told whose they are.
    result = prefill(live, token["access_token"])
    assert result.status_code == 200, result.text
    body = result.json()
    outcomes = {m["type_code"]: (m["outcome"], m["reason"]) for m in body["materials"]}
    assert outcomes[HOUSEHOLD] == ("obtained", None)
    assert outcomes[ID_CARD] == ("refused", "tier_too_high")  # the item needs T2, the grant gives T1
    assert body["form"]["household_number"]["claim"] == "household_number"
    assert body["complete"] is False

    # The token is for this item and case only.
    other_case = prefill(live, token["access_token"], case_id="ZZ-2026-999999")
    assert other_case.status_code == 403

    # The citizen sees the consent with its receipt, and withdraws it: the token stops working.
    listed = browser.get("/v1/me/consents")
    consents = listed.json()
    assert [c["status"] for c in consents] == ["given"]
    assert consents[0]["receipt"] == token["consent_receipt"]
    # A change made with the cookie carries the session's CSRF token, which the hub's answers hand out.
    withdrawn = browser.http.post(
        f"/v1/me/consents/{consents[0]['id']}/withdraw",
        headers={"X-CSRF-Token": listed.headers["x-csrf-token"]},
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    after = prefill(live, token["access_token"])
    assert after.status_code == 401
    assert 'error="invalid_token"' in after.headers["www-authenticate"]


def test_me_routes_need_a_signed_in_citizen(live: LiveHub) -> None:
    assert httpx.get(f"{live.url}/v1/me/consents").status_code == 401
    assert httpx.post(f"{live.url}/v1/me/consents/cst_x/withdraw").status_code == 401
