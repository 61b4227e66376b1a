"""A real hub for the adapters' end-to-end tests: uvicorn in a subprocess on PostgreSQL, its public URL
the loopback address it listens on (so the OAuth metadata's token endpoint is reachable), and the
departments and private_key_jwt clients the adapters authenticate as, seeded beforehand."""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from joserfc.jwk import ECKey
from sqlalchemy import text

from hub.context import Hub, build_hub
from hub.settings import Settings
from tests.factories import create_client, create_issuer, seed_catalog
from tests.fixtures.hub import make_settings

START_TIMEOUT_S = 30
_department_numbers = itertools.count(1)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment(settings: Settings) -> dict[str, str]:
    """The environment giving a server process the same settings and secrets as ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    for name, value in settings.model_dump(mode="json").items():
        if value is not None and not isinstance(value, list | dict):
            env[f"HUB_{name.upper()}"] = str(value)
    env["HUB_LOG_LEVEL"] = "WARNING"
    return env


@dataclass(frozen=True)
class DepartmentSetup:
    """A department as its adapter sees it: ids and the two private key files."""

    id: str
    uscc: str
    client_id: str
    key_file: Path
    client_key_file: Path


class HubServer:
    def __init__(self, database_url: str, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = make_settings(database_url, workdir / "objects").model_copy(
            update={"public_url": self.url}
        )
        self.hub: Hub = build_hub(settings)
        seed_catalog(self.hub)
        self.env = server_environment(settings)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = (self.workdir / "hub-server.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "hub.main:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--log-level", "warning"],
            cwd=self.workdir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"hub server exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"hub server not ready in {START_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.hub.close()

    def log_tail(self) -> str:
        path = self.workdir / "hub-server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def register_police(self, keys_dir: Path) -> DepartmentSetup:
        """A new police department (its own feed) with a signing key and a private_key_jwt client."""
        department_id = f"zz-police-{next(_department_numbers)}"
        issuer = create_issuer(self.hub, "police", id=department_id)
        client_key = ECKey.generate_key("P-256", private=True)
        kid = client_key.thumbprint()
        client = create_client(
            self.hub, kind="department", department_id=department_id, auth_method="private_key_jwt",
            jwks={"keys": [{**client_key.as_dict(private=False), "kid": kid}]},
        )  # fmt: skip
        keys_dir.mkdir(parents=True, exist_ok=True)
        key_file = keys_dir / f"{department_id}.private.jwk.json"
        key_file.write_text(json.dumps({**issuer.key.as_dict(private=True), "kid": issuer.kid}))
        client_key_file = keys_dir / f"{department_id}-client.private.jwk.json"
        client_key_file.write_text(json.dumps({**client_key.as_dict(private=True), "kid": kid}))
        return DepartmentSetup(department_id, issuer.uscc, client.client_id, key_file, client_key_file)

    def allow_several_per_holder(self) -> None:
        """Let two departments give the same people ID cards and household registers. Tests that sync
        one sample population through two police feeds need it; the hub otherwise refuses a person's
        second valid one from another issuer, as these types are one per holder."""
        with self.hub.session_factory() as session, session.begin():
            session.execute(text("UPDATE licence_type SET one_per_holder = :no"), {"no": False})

    def feed_rows(self, department_id: str) -> dict[str, int]:
        with self.hub.engine.connect() as conn:
            params = {"d": department_id}
            licences = conn.execute(text("SELECT count(*) FROM licence WHERE department_id = :d"), params)
            versions = conn.execute(
                text("SELECT count(*) FROM licence_version v JOIN licence l ON l.id = v.licence_pk "
                     "WHERE l.department_id = :d"), params,
            )  # fmt: skip
            changes = conn.execute(
                text("SELECT count(*) FROM licence_status_change s JOIN licence l ON l.id = s.licence_pk "
                     "WHERE l.department_id = :d"), params,
            )  # fmt: skip
            last = conn.execute(text("SELECT last_sequence FROM feed WHERE department_id = :d"), params)
            return {
                "licences": licences.scalar_one(),
                "versions": versions.scalar_one(),
                "status_changes": changes.scalar_one(),
                "last_sequence": last.scalar_one_or_none() or 0,
            }


@dataclass(frozen=True)
class HeldLicence:
    """A licence as the hub holds it: its current version's claims (catalog fields only), status, and
    how many versions it has."""

    type_code: str
    serial: str
    licence_id: str
    version: int
    versions: int
    status: str
    claims: dict[str, object]
    previous_licence_id: str | None


def held_licences(hub: Hub, department_id: str) -> dict[tuple[str, str], HeldLicence]:
    """Every licence of the department, by (type code, serial), with its current credential opened."""
    from hub.contract import sdjwt
    from tests.factories import TYPES

    query = text(
        "SELECT l.type_code, l.serial, l.current_licence_id, l.current_version, l.status, "
        "v.credential_sealed, v.previous_licence_id, "
        "(SELECT count(*) FROM licence_version w WHERE w.licence_pk = l.id) "
        "FROM licence l JOIN licence_version v ON v.licence_id = l.current_licence_id "
        "WHERE l.department_id = :d"
    )
    held = {}
    with hub.engine.connect() as conn:
        for type_code, serial, licence_id, version, status, sealed, previous, versions in conn.execute(
            query, {"d": department_id}
        ):
            credential = hub.keyring.open(bytes(sealed), aad=licence_id.encode()).decode()
            claims = sdjwt.resolve_disclosures(sdjwt.parse(credential))
            fields = {f["name"] for f in TYPES[type_code]["fields"]}
            held[(type_code, serial)] = HeldLicence(
                type_code, serial, licence_id, version, versions, status,
                {k: v for k, v in claims.items() if k in fields}, previous,
            )  # fmt: skip
    return held
