"""Demo files holding secrets (department and client private keys, the credentials listing, the
generated data keys) are 0600 in 0700 folders, and files left wider by an older run are tightened."""

from __future__ import annotations

import stat
from pathlib import Path

from hub.context import build_hub
from hub.demo import seed
from hub.settings import Settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def secret_files(var: Path) -> list[Path]:
    keys = sorted((var / "demo" / "keys").glob("*.private.jwk.json"))
    assert len(keys) >= 6  # three departments, each with a signing key and a client key
    return [var / "keys" / "secrets.json", var / "demo" / "credentials.json", *keys]


def seed_demo(var: Path) -> None:
    hub = build_hub(Settings(demo=True, var_dir=var, public_url="http://hub.test"))
    try:
        seed(hub)
    finally:
        hub.close()


def test_demo_secrets_are_0600_in_0700_folders_and_stay_so(tmp_path: Path) -> None:
    var = tmp_path / "var"
    seed_demo(var)

    files = secret_files(var)
    assert {path: mode(path) for path in files} == {path: 0o600 for path in files}
    folders = {var / "keys", var / "demo", var / "demo" / "keys"}
    assert {path: mode(path) for path in folders} == {path: 0o700 for path in folders}

    for path in [*files, *folders]:  # as a demo made before these rules left them
        path.chmod(0o755 if path.is_dir() else 0o644)
    seed_demo(var)

    assert {path: mode(path) for path in files} == {path: 0o600 for path in files}
    assert {path: mode(path) for path in folders} == {path: 0o700 for path in folders}
