"""Tree heads as C2SP checkpoints: the served note is checked here with the test's own parsing of the
signed-note and tlog-checkpoint texts and `cryptography` alone (key id = SHA-256(DER SPKI)[:4], ECDSA
P-256 over SHA-256, DER, signature type 0x02); `hub audit checkpoint` writes the note to a file and
POSTs it to witnesses (a loopback server and httpx.MockTransport), naming the ones that refuse."""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from hub.audit import checkpoint, external
from hub.audit.settings import get_audit_settings
from hub.cli import app
from hub.context import Hub
from hub.settings import Settings
from tests.audit.conftest import append_events, cli_env


def parse_signed_note(note: str) -> tuple[str, list[tuple[str, bytes]]]:
    """The test's reading of signed-note "Format": text up to the last blank line, then lines
    ``— name base64``."""
    text, _, signatures = note.rpartition("\n\n")
    lines = [line.split(" ") for line in signatures.splitlines()]
    assert all(parts[0] == "\u2014" and len(parts) == 3 for parts in lines)
    return text + "\n", [(name, base64.b64decode(sig)) for _, name, sig in lines]


def public_key_of_vkey(vkey: str) -> tuple[str, int, ec.EllipticCurvePublicKey]:
    name, key_id, encoded = vkey.split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x02
    key = serialization.load_der_public_key(raw[1:])
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
    assert hashlib.sha256(raw[1:]).digest()[:4] == bytes.fromhex(key_id)  # the id of type 0x02
    return name, int(key_id, 16), key


def test_checkpoint_is_a_signed_note_over_the_json_head(client: TestClient, hub: Hub) -> None:
    append_events(hub, 5)
    response = client.get("/v1/audit/checkpoint")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    head = client.get("/v1/audit/tree-head").json()

    text, signatures = parse_signed_note(response.text)
    assert text == f"hub.test/audit\n{head['tree_size']}\n{head['root_hash']}\n"
    keys = client.get("/v1/audit/checkpoint-key").json()
    assert keys["origin"] == "hub.test/audit" and keys["signature_type"] == 2
    [published] = keys["keys"]
    name, key_id, public = public_key_of_vkey(published["vkey"])
    assert published["key_id"] == f"{key_id:08x}"
    [(signer, raw)] = signatures
    assert signer == name == "hub.test/audit"
    assert int.from_bytes(raw[:4], "big") == key_id
    public.verify(raw[4:], text.encode(), ec.ECDSA(hashes.SHA256()))  # raises if it does not verify


def test_the_same_head_gives_the_same_note(client: TestClient, hub: Hub) -> None:
    append_events(hub, 3)
    first = client.get("/v1/audit/checkpoint").text
    assert client.get("/v1/audit/checkpoint").text == first  # RFC 6979: cacheable, comparable


def test_retired_keys_stay_published_and_verify_their_notes(client: TestClient, hub: Hub) -> None:
    append_events(hub, 2)
    old_note = client.get("/v1/audit/checkpoint").text
    result = CliRunner().invoke(app, ["keys", "rotate"], env=cli_env(hub.settings))
    assert result.exit_code == 0, result.output
    hub.signer.refresh()
    keys = [checkpoint.parse_vkey(k["vkey"]) for k in client.get("/v1/audit/checkpoint-key").json()["keys"]]
    assert len(keys) == 2 and len({k.key_id for k in keys}) == 2
    assert checkpoint.verify_checkpoint(old_note, keys).tree_size == 2


def test_verification_refuses_edits_and_strangers(client: TestClient, hub: Hub) -> None:
    append_events(hub, 4)
    note = client.get("/v1/audit/checkpoint").text
    keys = [checkpoint.parse_vkey(k["vkey"]) for k in client.get("/v1/audit/checkpoint-key").json()["keys"]]
    assert checkpoint.verify_checkpoint(note, keys, origin="hub.test/audit").tree_size == 4

    forged = note.replace("\n4\n", "\n3\n", 1)
    with pytest.raises(checkpoint.CheckpointError, match="does not verify"):
        checkpoint.verify_checkpoint(forged, keys)
    stranger = checkpoint.NoteKey("hub.test/audit", ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(checkpoint.CheckpointError, match="no signature of a known key"):
        checkpoint.verify_checkpoint(note, [stranger])
    with pytest.raises(checkpoint.CheckpointError, match="origin"):
        checkpoint.verify_checkpoint(note, keys, origin="other.example/audit")
    with pytest.raises(checkpoint.CheckpointError, match="leading zeroes"):
        checkpoint.verify_checkpoint(note.replace("\n4\n", "\n04\n", 1), keys)
    with pytest.raises(checkpoint.CheckpointError, match="id"):
        checkpoint.parse_vkey(keys[0].vkey.replace(f"+{keys[0].key_id:08x}+", "+00000000+"))


def test_origin_is_the_public_url_without_scheme() -> None:
    assert (
        checkpoint.origin_for("https://zwfw.zhengzhou.gov.cn/licences/")
        == "zwfw.zhengzhou.gov.cn/licences/audit"
    )
    assert checkpoint.origin_for("http://127.0.0.1:8000") == "127.0.0.1:8000/audit"
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.origin_for("not a url")


class Witness(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        Witness.received.append((self.path, self.headers["Content-Type"], body))
        refuse = self.path == "/refuse"
        self.send_response(409 if refuse else 200)
        self.end_headers()
        self.wfile.write(b"checkpoint is older than the one I hold" if refuse else b"")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def witness() -> Iterator[str]:
    Witness.received.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Witness)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_checkpoint_command_writes_the_note_and_posts_it(
    hub: Hub, settings: Settings, tmp_path: Path, witness: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_events(hub, 6)
    monkeypatch.setenv("HUB_AUDIT_WITNESS_URLS", f"{witness}/add, {witness}/refuse")
    get_audit_settings.cache_clear()
    try:
        out = tmp_path / "head.txt"
        result = CliRunner().invoke(app, ["audit", "checkpoint", "--out", str(out)], env=cli_env(settings))
    finally:
        get_audit_settings.cache_clear()
    assert result.exit_code == 1, result.output
    keys = checkpoint.note_keys_of_jwks("hub.test/audit", hub.signer.jwks)
    assert checkpoint.verify_checkpoint(out.read_text(), keys).tree_size == 6
    assert [(path, kind) for path, kind, _ in Witness.received] == [
        ("/add", "text/plain; charset=utf-8"), ("/refuse", "text/plain; charset=utf-8"),
    ]  # fmt: skip
    assert all(body == out.read_text() for _, _, body in Witness.received)
    assert f"taken by {witness}/add" in result.output
    assert (
        f"witness refused: {witness}/refuse: HTTP 409: checkpoint is older than the one I hold"
        in " ".join(result.output.split())
    )


def test_checkpoint_command_needs_somewhere_to_keep_it(settings: Settings) -> None:
    result = CliRunner().invoke(app, ["audit", "checkpoint"], env=cli_env(settings))
    assert result.exit_code == 2
    assert "nowhere to keep it" in result.output


def test_witness_refusals_name_status_and_silence() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/slow":
            raise httpx.ReadTimeout("timed out", request=request)
        assert request.headers["content-type"] == "text/plain; charset=utf-8"
        return httpx.Response(403 if request.url.path == "/closed" else 202, text="unknown log")

    with httpx.Client(transport=httpx.MockTransport(answer)) as client:
        refused = external.post_to_witnesses(
            "note\n", ["http://w.test/ok", "http://w.test/closed", "http://w.test/slow"], client=client
        )
    assert [(r.url, r.reason) for r in refused] == [
        ("http://w.test/closed", "HTTP 403: unknown log"),
        ("http://w.test/slow", "no answer (ReadTimeout: timed out)"),
    ]
