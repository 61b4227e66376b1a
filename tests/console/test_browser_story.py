"""The console's story in real headless Chromium (Debian's, driven by Playwright; never a downloaded
browser): an admin signs in and requests a T3 grant, a second admin approves it, the citizen consents on
the consent page, the approval service's lookup (authorization code + PKCE, then ``POST /v1/lookups``,
over HTTP as a real client) returns the sensitive field, the citizen sees that use in /me with its proof
checked in the page, and withdraws consent; an auditor checks an entry's proof on the audit page.

Any JavaScript error, console error, failed request or unexpected 4xx/5xx response fails the test. A
screenshot of every page is saved under ``var/test-artifacts/console/`` (printed at the end)."""

from __future__ import annotations

import base64
import hashlib
import random
import re
import secrets
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect, sync_playwright

from hub.access import service as access_service
from hub.access.models import Admin
from hub.access.schemas import ClientCreate
from hub.context import build_hub
from hub.demo_data import citizen_id
from storage.database import transaction
from tests.console.conftest import PASSWORD
from tests.factories import (
    ID_CARD,
    NO_CRIMINAL_RECORD,
    batch,
    create_admin,
    create_issuer,
    issue,
    seed_catalog,
)
from tests.fixtures.hub import make_settings
from tests.interop.live import ServerThread, loopback_socket

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console"
PURPOSE = "GGZLZF"  # 城市公共租赁住房保障
CASE_ID = "ZZ-2026-004711"
ID_NUMBER = citizen_id(random.Random(2026))
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium and a CJK font, or the run fails: the project's setup (``make test``, target
    system-packages) installs chromium, chromium-driver and fonts-noto-cjk."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install the Debian packages chromium and chromium-driver "
            "(make system-packages)",
            pytrace=False,
        )
    fc_list = shutil.which("fc-list")
    fonts = subprocess.run([fc_list, ":lang=zh"], capture_output=True, text=True).stdout if fc_list else ""
    if not fonts.strip():
        pytest.fail(
            "no CJK font (fc-list :lang=zh is empty): install fonts-noto-cjk (make system-packages), "
            "or Chinese pages render as empty boxes",
            pytrace=False,
        )
    return CHROMIUM


class ApprovalServiceCallback(BaseHTTPRequestHandler):
    """The approval service's redirect URI: a page on its own loopback port that notes the query."""

    received: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.received.append(self.path)
        body = (
            '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,">'
            "<title>审批系统</title>已返回审批系统"
        )
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@dataclass
class Story:
    url: str
    redirect_uri: str
    admins: tuple[Admin, Admin]
    auditor: Admin
    client_id: str
    client_secret: str
    problems: list[str] = field(default_factory=list)
    shots: list[Path] = field(default_factory=list)

    def watch(self, page: Page, expected_statuses: dict[str, int] | None = None) -> Page:
        """Fail the story on any page error, console error, failed request or unexpected status."""
        allowed = expected_statuses or {}
        page.on("pageerror", lambda error: self.problems.append(f"pageerror on {page.url}: {error}"))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: (
                r.status >= 400
                and allowed.get(urlsplit(r.url).path) != r.status
                and self.problems.append(f"HTTP {r.status}: {r.request.method} {r.url}")
            ),
        )
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    def shot(self, page: Page, name: str) -> None:
        path = ARTIFACTS / f"{len(self.shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)


@pytest.fixture
def story(
    chromium: Path, sqlite_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Story]:
    """A live hub (uvicorn on a free loopback port, SQLite, demo sign-in) holding the citizen's licences,
    two city admins, an auditor and an approval service."""
    monkeypatch.setattr(
        access_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    database = tmp_path / "hub.sqlite3"
    shutil.copyfile(sqlite_template, database)
    sock, url = loopback_socket()
    settings = make_settings(f"sqlite:///{database}", tmp_path / "objects").model_copy(
        update={"public_url": url, "demo": True}
    )
    hub = build_hub(settings)
    server = ServerThread(hub, sock)
    callback = ThreadingHTTPServer(("127.0.0.1", 0), ApprovalServiceCallback)
    threading.Thread(target=callback.serve_forever, daemon=True).start()
    redirect_uri = f"http://127.0.0.1:{callback.server_address[1]}/callback"
    try:
        seed_catalog(hub)
        police = create_issuer(hub, "police")
        ops = [issue(police.credential(t, holder=ID_NUMBER)) for t in (ID_CARD, NO_CRIMINAL_RECORD)]
        pushed = httpx.post(f"{url}/v1/licences/batch", json=batch(police, 1, *ops), headers=police.headers)
        assert pushed.json()["accepted"] == 2, pushed.text
        admins = (create_admin(hub), create_admin(hub))
        with transaction(hub.session_factory) as session:
            client, secret = access_service.create_client(
                session,
                ClientCreate(
                    name="公共租赁住房审批系统",
                    kind="service",
                    region_code="410100",
                    organisation="郑州市住房保障中心",
                    auth_method="client_secret_post",
                    redirect_uris=[redirect_uri],
                ),
                by=admins[0],
            )
        assert secret is not None
        if ARTIFACTS.exists():
            shutil.rmtree(ARTIFACTS)
        ARTIFACTS.mkdir(parents=True)
        yield Story(url, redirect_uri, admins, create_admin(hub, role="auditor"), client.client_id, secret)
    finally:
        callback.shutdown()
        callback.server_close()
        server.stop()
        sock.close()
        hub.close()


def sign_in_admin(story: Story, page: Page, admin: Admin, shot: str | None = None) -> None:
    page.goto(f"{story.url}/console")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    expect(page.get_by_role("heading", name="管理员登录")).to_be_visible()
    if shot:
        story.shot(page, shot)
    page.get_by_label("用户名").fill(admin.username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    expect(page).to_have_url(f"{story.url}/console")


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def new_context(browser: Browser, viewport: dict[str, int]) -> BrowserContext:
    return browser.new_context(viewport=viewport, locale="zh-CN", device_scale_factor=1)  # type: ignore[arg-type]


def test_grant_consent_lookup_and_withdrawal_in_chromium(
    story: Story, chromium: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = story.admins
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            # 1. The first admin signs in and requests a T3 grant with the pickers.
            page = story.watch(new_context(browser, DESKTOP).new_page())
            sign_in_admin(story, page, first, shot="sign-in")
            expect(page.get_by_role("heading", name="近 24 小时每小时查询次数")).to_be_visible()
            story.shot(page, "dashboard")
            for path, name in (
                ("/console/departments", "departments"),
                ("/console/clients", "clients"),
                ("/console/service-items", "service-items"),
                ("/console/alerts", "alerts"),
            ):
                page.goto(story.url + path)
                story.shot(page, name)
            page.goto(f"{story.url}/console/grants")
            page.get_by_label("应用").select_option(story.client_id)
            page.get_by_label("证照类型").select_option(NO_CRIMINAL_RECORD)
            page.get_by_label("最高级别").select_option("3")
            page.get_by_label("用途（服务事项）").select_option([PURPOSE])
            page.get_by_label("行政区划").select_option("410100")
            page.get_by_label("法律依据").fill("《郑州市公共租赁住房管理办法》第十二条")
            page.get_by_role("button", name="提交").click()
            row = page.locator("tr[id^=grant-]").filter(has_text=NO_CRIMINAL_RECORD)
            expect(row).to_have_attribute("data-status", "pending")
            expect(row.get_by_role("button", name="批准")).to_have_count(0)  # not by the one who asked
            story.shot(page, "grant-requested")

            # 2. A second admin approves it.
            page2 = story.watch(new_context(browser, DESKTOP).new_page())
            sign_in_admin(story, page2, second)
            page2.goto(f"{story.url}/console/grants")
            row2 = page2.locator("tr[id^=grant-]").filter(has_text=NO_CRIMINAL_RECORD)
            row2.get_by_role("button", name="批准").click()
            expect(row2).to_have_attribute("data-status", "active")
            story.shot(page2, "grant-approved")

            # 3. The approval service sends the citizen to the consent page (a phone).
            verifier, challenge = pkce()
            state = secrets.token_urlsafe(12)
            authorize = f"{story.url}/oauth/authorize?" + urlencode(
                {
                    "response_type": "code",
                    "client_id": story.client_id,
                    "redirect_uri": story.redirect_uri,
                    "scope": f"licence:{NO_CRIMINAL_RECORD}:t3",
                    "state": state,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "purpose": PURPOSE,
                    "case_id": CASE_ID,
                }
            )
            citizen = story.watch(new_context(browser, PHONE).new_page())
            citizen.goto(authorize)
            expect(citizen).to_have_url(re.compile(r"/oauth/sign-in"))
            story.shot(citizen, "citizen-sign-in-phone")
            citizen.get_by_label("公民身份号码").fill(ID_NUMBER)
            citizen.get_by_role("button", name="登录").click()
            expect(citizen.get_by_role("heading", name="授权确认 · Allow access")).to_be_visible()
            expect(citizen.get_by_text("敏感 · sensitive").first).to_be_visible()
            story.shot(citizen, "consent-phone")
            citizen.get_by_role("button", name="同意 · Allow").click()
            citizen.wait_for_url(story.redirect_uri + "**")
            returned = {k: v[0] for k, v in parse_qs(urlsplit(citizen.url).query).items()}
            assert returned["state"] == state

            # 4. The approval service exchanges the code (PKCE) and looks the licence up.
            with httpx.Client(base_url=story.url, timeout=10) as http:
                token = http.post(
                    "/oauth/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": returned["code"],
                        "redirect_uri": story.redirect_uri,
                        "code_verifier": verifier,
                        "client_id": story.client_id,
                        "client_secret": story.client_secret,
                    },
                )
                assert token.status_code == 200, token.text
                bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
                lookup_body = {
                    "holder_id": ID_NUMBER,
                    "types": [NO_CRIMINAL_RECORD],
                    "purpose": PURPOSE,
                    "case_id": CASE_ID,
                    "nonce": secrets.token_urlsafe(12),
                }
                found = http.post("/v1/lookups", json=lookup_body, headers=bearer)
                assert found.status_code == 200, found.text
                [released] = found.json()["released"]
                assert (released["type_code"], released["tier"]) == (NO_CRIMINAL_RECORD, 3)
                assert "query_result" in released["claims"]  # the T3 field

                # 5. The citizen sees that use in /me, checks its proof in the page, withdraws consent.
                citizen.goto(f"{story.url}/me")
                use = (
                    citizen.locator("li.use")
                    .filter(has_text="公共租赁住房审批系统")
                    .filter(has_text="lookup")
                )
                expect(use).to_have_count(1)
                expect(use).to_contain_text(CASE_ID)
                expect(citizen.locator("#tree-head .signature")).to_contain_text("✓")
                story.shot(citizen, "me-phone")
                use.get_by_role("button", name="验证包含证明").click()
                expect(use.locator(".result")).to_contain_text("✓ 已验证")
                consent = citizen.locator("li.consent").filter(has_text=CASE_ID)
                expect(consent).to_have_attribute("data-status", "given")
                consent.get_by_role("button", name="撤回同意").click()
                expect(citizen.get_by_role("status")).to_contain_text("已撤回同意")
                expect(citizen.locator("li.consent").filter(has_text=CASE_ID)).to_have_attribute(
                    "data-status", "withdrawn"
                )
                story.shot(citizen, "me-withdrawn-phone")
                citizen.set_viewport_size(DESKTOP)
                story.shot(citizen, "me-desktop")

                after = http.post(
                    "/v1/lookups", json=lookup_body | {"nonce": secrets.token_urlsafe(12)}, headers=bearer
                )
                assert after.status_code == 401, after.text

            # 6. An auditor finds the lookup and checks its inclusion proof and the head's signature.
            audit = story.watch(new_context(browser, DESKTOP).new_page())
            sign_in_admin(story, audit, story.auditor)
            audit.goto(f"{story.url}/console/audit?action=lookup")
            expect(audit.locator("#tree-head .signature")).to_contain_text("✓")
            entry = audit.locator("table.events tbody tr").first
            expect(entry).to_contain_text(CASE_ID)
            entry.get_by_role("button", name="验证包含证明").click()
            expect(entry.locator(".result")).to_contain_text("✓")
            story.shot(audit, "audit")
            # The check is real: the same proof does not hold for altered leaf bytes.
            entry.get_by_role("button", name="验证包含证明").evaluate(
                "b => { b.dataset.leaf = b.dataset.leaf.replace('released', 'refused'); }"
            )
            entry.get_by_role("button", name="验证包含证明").click()
            expect(entry.locator(".result")).to_contain_text("✗ 验证失败")

            # 7. The same console in English.
            page.goto(f"{story.url}/console/lang?to=en&next=/console")
            expect(page.get_by_role("heading", name="Lookups per hour, last 24 hours")).to_be_visible()
            expect(page.locator("svg.chart rect[height]:not([height='0'])")).to_have_count(1)
            story.shot(page, "dashboard-en")
        finally:
            browser.close()

    with capsys.disabled():
        print(f"\nconsole screenshots ({len(story.shots)}): {ARTIFACTS}")
    assert story.problems == []
    assert all(path.stat().st_size > 5000 for path in story.shots)


def test_api_viewers_work_offline_under_their_csp(story: Story, chromium: Path) -> None:
    """Swagger UI and ReDoc render the hub's API from the hub alone: any request to another host is
    refused (as on an offline government network) and fails the test, as does any CSP violation (Chromium
    reports those as console errors)."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            context = new_context(browser, DESKTOP)
            elsewhere: list[str] = []

            def only_the_hub(route: Route) -> None:
                if route.request.url.startswith(story.url + "/") or route.request.url.startswith("data:"):
                    route.continue_()
                else:
                    elsewhere.append(route.request.url)
                    route.abort()

            context.route("**/*", only_the_hub)
            page = story.watch(context.new_page())
            page.goto(f"{story.url}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("Licence hub")
            expect(page.locator(".opblock-summary-path").filter(has_text="/v1/lookups").first).to_be_visible()
            story.shot(page, "swagger-ui")
            page.goto(f"{story.url}/redoc")
            expect(page.get_by_role("heading", name=re.compile("Licence hub"))).to_be_visible()
            expect(page.get_by_text("/v1/lookups").first).to_be_attached()
            story.shot(page, "redoc")
        finally:
            browser.close()
    assert elsewhere == []
    assert story.problems == []
