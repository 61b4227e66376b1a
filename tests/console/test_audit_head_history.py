"""The auditor's page remembers the last tree head it checked (in the browser's localStorage) and, when the
log has grown, proves in the browser that the new head extends it (RFC 9162 §2.1.4.2 over the hub's
public consistency proof), in headless Chromium against a live hub. A fabricated head (a wrong root at a
smaller size, a different root at the same size, a larger size) raises an alarm and stays stored.

Any JavaScript error, console error, failed request or 4xx/5xx response fails the test. Screenshots go
to ``var/test-artifacts/console-head-history/``."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from playwright.sync_api import Page, expect, sync_playwright

from hub.access import service as access_service
from hub.access.models import Admin
from hub.audit import log, merkle
from hub.audit.settings import AuditSettings
from hub.context import Hub, build_hub
from tests.audit.conftest import append_events
from tests.console.conftest import PASSWORD
from tests.console.test_browser_story import CHROMIUM_ARGS, DESKTOP, chromium, new_context  # noqa: F401
from tests.factories import create_admin, seed_catalog
from tests.fixtures.hub import make_settings
from tests.interop.live import ServerThread, loopback_socket

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "console-head-history"
WRONG_ROOT = base64.b64encode(bytes(range(32))).decode()
CHECKED_AT = "2026-01-02T03:04:05.000Z"


@dataclass
class Live:
    hub: Hub
    url: str
    auditor: Admin
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"hub.audit.lastHead.{self.url}"  # the page's origin

    def watch(self, page: Page) -> Page:
        page.on("pageerror", lambda error: self.problems.append(f"pageerror on {page.url}: {error}"))
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url} {r.failure}"))
        page.on(
            "response",
            lambda r: (
                r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.request.method} {r.url}")
            ),
        )
        return page


@pytest.fixture
def live(
    chromium: Path,  # noqa: F811
    sqlite_template: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Live]:
    """A live hub (uvicorn on a loopback port, SQLite) with five audit events and an auditor; the audit
    page signs a new head whenever the log has grown (no minimum interval between heads)."""
    monkeypatch.setattr(
        access_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
    monkeypatch.setattr(
        "hub.console.views.get_audit_settings", lambda: AuditSettings(head_min_interval_seconds=0)
    )
    database = tmp_path / "hub.sqlite3"
    shutil.copyfile(sqlite_template, database)
    sock, url = loopback_socket()
    settings = make_settings(f"sqlite:///{database}", tmp_path / "objects").model_copy(
        update={"public_url": url}
    )
    hub = build_hub(settings)
    server = ServerThread(hub, sock)
    try:
        seed_catalog(hub)
        append_events(hub, 5)
        if ARTIFACTS.exists():
            shutil.rmtree(ARTIFACTS)
        ARTIFACTS.mkdir(parents=True)
        yield Live(hub, url, create_admin(hub, role="auditor"))
    finally:
        server.stop()
        sock.close()
        hub.close()


def stored(page: Page, key: str) -> Any:
    text = page.evaluate("key => localStorage.getItem(key)", key)
    return json.loads(text) if text is not None else None


def store(page: Page, key: str, head: dict[str, Any]) -> str:
    text = json.dumps(head)
    page.evaluate("([key, text]) => localStorage.setItem(key, text)", [key, text])
    return text


def page_head(page: Page) -> tuple[int, str]:
    head = page.locator("#tree-head")
    return int(head.get_attribute("data-tree-size") or ""), head.get_attribute("data-root-hash") or ""


def consistency_cases(hub: Hub, size: int) -> list[dict[str, Any]]:
    """Every pair 1 <= m <= n <= size with the hub's proof and both roots (base64), and what the Python
    verifier says of the proof claimed for a tree one smaller (the algorithm follows the shape of the
    path, which some neighbouring sizes share, so that answer is not always no)."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    with hub.read_session_factory() as session:
        roots = [log.root(session, n) for n in range(size + 1)]
        proofs = {
            (m, n): log.consistency_proof(session, m, n).path
            for n in range(1, size + 1)
            for m in range(1, n + 1)
        }
    return [
        {
            "first": m, "second": n, "first_root": b64(roots[m]), "second_root": b64(roots[n]),
            "proof": [b64(h) for h in proof],
            "one_smaller": merkle.verify_consistency(m, n - 1, roots[m], roots[n], proof),
        }
        for (m, n), proof in proofs.items()
    ]  # fmt: skip


# Runs console.js's verifyConsistency on each case as given (true), with a node, the first root or the
# length of the proof altered (false), and for a tree one smaller (as hub.audit.merkle answers).
VERIFY_CASES = """async (cases) => {
  const b = (list) => list.map(fromBase64);
  const flipped = (list, i) => list.map((h, j) => {
    const c = fromBase64(h);
    if (j === i) c[0] ^= 1;
    return c;
  });
  const failures = [];
  for (const c of cases) {
    const r1 = fromBase64(c.first_root), r2 = fromBase64(c.second_root);
    if (!(await verifyConsistency(c.first, c.second, r1, r2, b(c.proof)))) failures.push(["valid", c]);
    for (let i = 0; i < c.proof.length; i++) {
      const ok = await verifyConsistency(c.first, c.second, r1, r2, flipped(c.proof, i));
      if (ok) failures.push(["node", i, c]);
    }
    if (c.first < c.second) {
      const wrong = fromBase64(c.first_root); wrong[31] ^= 1;
      if (await verifyConsistency(c.first, c.second, wrong, r2, b(c.proof))) failures.push(["first root", c]);
      const smaller = await verifyConsistency(c.first, c.second - 1, r1, r2, b(c.proof));
      if (smaller !== c.one_smaller) failures.push(["not as in Python", c]);
      const short = await verifyConsistency(c.first, c.second, r1, r2, b(c.proof.slice(0, -1)));
      if (short) failures.push(["short", c]);
    }
  }
  return failures;
}"""


def test_auditor_page_proves_the_log_extends_the_head_it_checked_last(
    live: Live,
    chromium: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    shots: list[Path] = []

    def shot(page: Page, name: str) -> None:
        path = ARTIFACTS / f"{len(shots) + 1:02d}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        shots.append(path)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True)
        try:
            page = live.watch(new_context(browser, DESKTOP).new_page())
            page.goto(f"{live.url}/console/sign-in")
            page.get_by_label("用户名").fill(live.auditor.username)
            page.get_by_label("密码").fill(PASSWORD)
            page.get_by_role("button", name="登录").click()
            expect(page).to_have_url(f"{live.url}/console")
            signature = page.locator("#tree-head .signature")
            history = page.locator("#tree-head .history")

            # 1. The first visit: the head's signature checks, and the head is remembered.
            page.goto(f"{live.url}/console/audit")
            expect(signature).to_contain_text("✓")
            expect(history).to_have_attribute("data-state", "first")
            expect(history).to_have_attribute("aria-live", "polite")
            expect(history).to_contain_text("✓ 已在本浏览器记住此树头")
            first_size, first_root = page_head(page)
            assert first_size >= 5
            first = stored(page, live.key)
            assert (first["tree_size"], first["root_hash"]) == (first_size, first_root)
            shot(page, "first-head-remembered")

            # 2. The log grows; the reloaded page fetches the consistency proof, checks it, moves on.
            append_events(live.hub, 7)
            with page.expect_response(lambda r: "/v1/audit/proofs/consistency" in r.url) as proof_response:
                page.reload()
            expect(history).to_have_attribute("data-state", "consistent")
            second_size, second_root = page_head(page)
            assert second_size == first_size + 7
            assert proof_response.value.url.endswith(f"?first={first_size}&second={second_size}")
            expect(history).to_contain_text(f"✓ 与您 {first['checked_at'][:10]}")
            expect(history).to_contain_text(f"大小 {first_size} → {second_size}")
            second = stored(page, live.key)
            assert (second["tree_size"], second["root_hash"]) == (second_size, second_root)
            assert second["checked_at"] >= first["checked_at"]
            shot(page, "consistent")

            # 3. Nothing new: the same head.
            page.reload()
            expect(history).to_have_attribute("data-state", "same")
            assert page_head(page) == (second_size, second_root)

            # 4. A remembered head the log does not extend (a wrong root at a smaller size): alarm, kept.
            fabricated = store(
                page,
                live.key,
                {"tree_size": second_size - 3, "root_hash": WRONG_ROOT, "checked_at": CHECKED_AT},
            )
            page.reload()
            expect(history).to_have_attribute("data-state", "inconsistent")
            expect(history).to_contain_text(
                f"✗ 警告：日志与您 2026-01-02 03:04:05 UTC 核对的树头（大小 {second_size - 3}）"
            )
            expect(history).to_have_class("history result bad")
            assert page.evaluate("key => localStorage.getItem(key)", live.key) == fabricated
            shot(page, "alarm-inconsistent")

            # 5. The same size with another root: the log was forked or rewritten.
            fabricated = store(
                page, live.key, {"tree_size": second_size, "root_hash": WRONG_ROOT, "checked_at": CHECKED_AT}
            )
            page.reload()
            expect(history).to_have_attribute("data-state", "forked")
            expect(history).to_contain_text(f"✗ 警告：树大小同为 {second_size}")
            assert page.evaluate("key => localStorage.getItem(key)", live.key) == fabricated
            shot(page, "alarm-forked")

            # 6. A remembered head larger than the log: truncated (in English this time).
            fabricated = store(
                page,
                live.key,
                {"tree_size": second_size + 4, "root_hash": second_root, "checked_at": CHECKED_AT},
            )
            page.goto(f"{live.url}/console/lang?to=en&next=/console/audit")
            expect(history).to_have_attribute("data-state", "truncated")
            expect(history).to_contain_text(
                f"✗ Alarm: the tree has {second_size} entries, fewer than the {second_size + 4} of the head "
                "you checked on 2026-01-02 03:04:05 UTC: the log was truncated"
            )
            assert page.evaluate("key => localStorage.getItem(key)", live.key) == fabricated
            shot(page, "alarm-truncated-en")

            # 7. Something that is not a head: alarm, left in place.
            page.evaluate('key => localStorage.setItem(key, \'{"tree_size": "many"}\')', live.key)
            page.reload()
            expect(history).to_have_attribute("data-state", "unreadable")
            assert stored(page, live.key) == {"tree_size": "many"}

            # 8. The page's verifier itself, on every pair of sizes of this log and tampered variants.
            cases = consistency_cases(live.hub, second_size)
            assert page.evaluate(VERIFY_CASES, cases) == []
        finally:
            browser.close()

    with capsys.disabled():
        print(f"\nhead history screenshots ({len(shots)}): {ARTIFACTS}")
    assert live.problems == []
