"""Everything a running hub holds for its lifetime, built once from settings: engine, sessions, data
keyring, blind index, object store and the hub's signing keys."""

from __future__ import annotations

import base64
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub import db
from hub.keys.service import HubSigner, ensure_active_key
from hub.kit.backoff import Backoff
from hub.kit.blind_index import BlindIndex
from hub.kit.pool import WorkerPool
from hub.kit.private_files import keep_private, write_private
from hub.settings import Settings
from storage.database import make_engine, make_session_factory, transaction
from storage.objects import ObjectStore, object_store_from_url
from storage.sealing import Keyring

log = logging.getLogger("hub.context")


@dataclass
class Hub:
    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    read_session_factory: sessionmaker[Session]
    keyring: Keyring
    blind_index: BlindIndex
    objects: ObjectStore
    signer: HubSigner
    checks: WorkerPool
    # Failed sign-ins and client authentications, per identity and address, in this process.
    auth_backoff: Backoff = field(default_factory=Backoff)

    def close(self) -> None:
        self.checks.close()
        self.engine.dispose()


def demo_secrets(var_dir: Path) -> dict[str, str]:
    """Secrets for demo mode, generated on first start and kept in ``var/keys/secrets.json`` (0600)."""
    path = var_dir / "keys" / "secrets.json"
    if path.exists():
        keep_private(path)
        return dict(json.loads(path.read_text()))
    secrets = {
        "data_keys": Keyring.generate_spec("demo1"),
        "blind_index_key": base64.b64encode(os.urandom(32)).decode(),
        "session_secret": base64.b64encode(os.urandom(32)).decode(),
    }
    write_private(path, json.dumps(secrets), exclusive=True)
    log.info("keys.demo_secrets.created", extra={"path": str(path)})
    return secrets


def resolve_secrets(settings: Settings) -> Settings:
    """Fill missing secrets from the demo secret file; only demo mode gets here without them."""
    names = ("data_keys", "blind_index_key", "session_secret")
    if all(getattr(settings, name) for name in names):
        return settings
    secrets = demo_secrets(settings.var_dir)
    return settings.model_copy(update={name: getattr(settings, name) or secrets[name] for name in names})


def build_hub(settings: Settings, *, migrate: bool = True) -> Hub:
    """Connect to the database and object store, apply migrations and make sure a hub key exists."""
    settings = resolve_secrets(settings)
    assert settings.data_keys and settings.blind_index_key and settings.session_secret
    # A request may hold two connections (a read and a write session); a few more for background work.
    engine = make_engine(settings.resolved_database_url, pool_size=2 * settings.max_concurrent_requests + 4)
    if migrate:
        db.upgrade(engine)
    factory = make_session_factory(engine)
    keyring = Keyring.from_spec(settings.data_keys)
    with transaction(factory) as session:
        ensure_active_key(session, keyring)
    blind_index = BlindIndex(base64.b64decode(settings.blind_index_key))
    return Hub(
        settings=settings,
        engine=engine,
        session_factory=factory,
        read_session_factory=make_session_factory(engine, read_only=True),
        keyring=keyring,
        blind_index=blind_index,
        objects=object_store_from_url(settings.resolved_object_store_url, keyring=keyring),
        signer=HubSigner(make_session_factory(engine, read_only=True), keyring),
        # Each worker imports the ingest checks as it starts (a second or so), not with its first batch.
        checks=WorkerPool(settings.ingest_workers, preload=["hub.registry.ingest_checks"]),
    )
