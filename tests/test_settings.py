"""Settings (hub/settings.py) refuse missing or default secrets outside demo mode; demo mode generates its
secrets once into var/keys/secrets.json (hub/context.py ``resolve_secrets``)."""

from __future__ import annotations

import base64
import json
import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.context import resolve_secrets
from hub.settings import DEMO_SECRET, Settings
from storage.sealing import Keyring

SECRETS = ("data_keys", "blind_index_key", "session_secret")


def env_name(field: str) -> str:
    return f"HUB_{field.upper()}"


def fresh_secrets() -> dict[str, str]:
    return {
        "data_keys": Keyring.generate_spec("prod1"),
        "blind_index_key": base64.b64encode(os.urandom(32)).decode(),
        "session_secret": base64.b64encode(os.urandom(32)).decode(),
    }


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No HUB_* variable from the outside and no .env in the working folder."""
    for name in list(os.environ):
        if name.startswith("HUB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def set_env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for field, value in values.items():
        monkeypatch.setenv(env_name(field), value)


def test_production_settings_with_every_secret_build(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = fresh_secrets()
    set_env(monkeypatch, secrets)
    settings = Settings()
    assert settings.demo is False
    assert {field: getattr(settings, field) for field in SECRETS} == secrets


@pytest.mark.parametrize("field", SECRETS)
@pytest.mark.parametrize("how", ["missing", "empty", "demo default", "demo default inside"])
def test_missing_or_default_secret_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, field: str, how: str
) -> None:
    secrets = fresh_secrets()
    if how == "missing":
        del secrets[field]
    else:
        secrets[field] = {
            "empty": "",
            "demo default": DEMO_SECRET,
            "demo default inside": f"k1:{DEMO_SECRET}",
        }[how]
    set_env(monkeypatch, secrets)
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    assert env_name(field) in message
    assert "demo default" in message and "hub keys generate-secrets" in message
    for other in SECRETS:
        if other != field:
            assert env_name(other) not in message


def test_every_missing_secret_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert all(env_name(field) in str(refused.value) for field in SECRETS)


def test_secrets_are_read_from_a_dot_env_file(tmp_path: Path) -> None:
    secrets = fresh_secrets()
    (tmp_path / ".env").write_text("".join(f"{env_name(k)}={v}\n" for k, v in secrets.items()))
    assert Settings().data_keys == secrets["data_keys"]


def test_refusal_does_not_echo_the_secrets_that_were_given(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = fresh_secrets()
    del secrets["blind_index_key"]
    set_env(monkeypatch, secrets)
    with pytest.raises(ValidationError) as refused:
        Settings()
    message = str(refused.value)
    for value in secrets.values():
        secret_part = value.partition(":")[2] or value
        assert secret_part[:8] not in message and secret_part[-12:] not in message


def test_demo_mode_needs_no_secrets() -> None:
    settings = Settings(demo=True)
    assert all(getattr(settings, field) is None for field in SECRETS)


# Demo secrets -------------------------------------------------------------------------------------------


def test_demo_secrets_are_generated_once_with_mode_0600(tmp_path: Path) -> None:
    settings = Settings(demo=True, var_dir=tmp_path / "var")
    path = tmp_path / "var" / "keys" / "secrets.json"
    assert not path.exists()

    first = resolve_secrets(settings)
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert {field: getattr(first, field) for field in SECRETS} == {field: stored[field] for field in SECRETS}
    assert Keyring.from_spec(stored["data_keys"]).active.kid
    assert len(base64.b64decode(stored["blind_index_key"], validate=True)) == 32
    assert DEMO_SECRET not in path.read_text()

    written = path.stat()
    second = resolve_secrets(Settings(demo=True, var_dir=tmp_path / "var"))
    assert {field: getattr(second, field) for field in SECRETS} == {
        field: getattr(first, field) for field in SECRETS
    }
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert settings.data_keys is None  # the settings given are not changed in place


def test_demo_secrets_differ_between_installations(tmp_path: Path) -> None:
    one = resolve_secrets(Settings(demo=True, var_dir=tmp_path / "one"))
    two = resolve_secrets(Settings(demo=True, var_dir=tmp_path / "two"))
    assert all(getattr(one, field) != getattr(two, field) for field in SECRETS)


def test_secrets_given_win_over_the_demo_file(tmp_path: Path) -> None:
    given = Keyring.generate_spec("mine")
    resolved = resolve_secrets(Settings(demo=True, var_dir=tmp_path / "var", data_keys=given))
    stored = json.loads((tmp_path / "var" / "keys" / "secrets.json").read_text())
    assert resolved.data_keys == given
    assert resolved.blind_index_key == stored["blind_index_key"]


def test_no_demo_file_when_every_secret_is_given(tmp_path: Path) -> None:
    secrets = fresh_secrets()
    resolved = resolve_secrets(Settings(var_dir=tmp_path / "var", **secrets))  # type: ignore[arg-type]
    assert {field: getattr(resolved, field) for field in SECRETS} == secrets
    assert not (tmp_path / "var").exists()
