"""Shared pieces of the ``hub`` command line: settings, building the hub, consoles, one transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console

from hub.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from hub.context import Hub

console = Console()
errors = Console(stderr=True)


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValueError as exc:
        console.print(f"[red]configuration error:[/red] {exc}")
        raise typer.Exit(2) from None


def open_hub(**overrides: object) -> Hub:
    from hub.context import build_hub

    return build_hub(load_settings(**overrides))


def run_in_transaction(action: Callable[[Session], Any]) -> Any:
    """Run ``action(session)`` in one transaction; a refusal exits 1 with the problem's detail on stderr."""
    from pydantic import ValidationError

    from hub.errors import HubError
    from storage.database import transaction

    hub = open_hub()
    try:
        with transaction(hub.session_factory) as session:
            return action(session)
    except HubError as exc:
        fields = "; ".join(f"{e['field']}: {e['reason']}" for e in exc.errors)
        errors.print(
            f"[red]refused:[/red] {exc.detail}" + (f" ({fields})" if fields else ""), highlight=False
        )
        raise typer.Exit(1) from None
    except ValidationError as exc:  # the request schemas, as the API's 422
        fields = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors())
        errors.print(f"[red]refused:[/red] invalid input ({fields})", highlight=False)
        raise typer.Exit(1) from None
    finally:
        hub.close()
