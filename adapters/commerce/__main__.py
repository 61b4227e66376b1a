"""``python -m adapters.commerce``: sync the market-regulation registry into the hub, show the local
state, write a sample registry snapshot, or serve a snapshot as a stand-in of the registry's API.

    python -m adapters.commerce generate --out var/commerce --citizens 1000
    python -m adapters.commerce serve --snapshot var/commerce --port 8701 &
    python -m adapters.commerce sync --source http://127.0.0.1:8701/api/v1 --hub http://127.0.0.1:8000 \\
        --client-id CLIENT --key var/demo/keys/zz-amr.private.jwk.json \\
        --client-key var/demo/keys/zz-amr-client.private.jwk.json
    python -m adapters.commerce status
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.commerce.generate import evolve_registry, registry_records, write_snapshot
from adapters.commerce.mapping import map_record
from adapters.commerce.source import MAX_PAGE_SIZE, CommerceSource
from adapters.commerce.standin import API_PREFIX, RegistryStandIn
from adapters.commerce.standin import serve as serve_standin
from adapters.samples.population import generate as generate_population
from adapters.sdk.cli import console, department_app


def open_source(
    source: Annotated[
        str, typer.Option(help="The registry API's base URL (…/api/v1; /enterprises is added).")
    ],
    page_size: Annotated[
        int, typer.Option(min=1, max=MAX_PAGE_SIZE, help="Records per registry API page.")
    ] = 200,
    source_token: Annotated[
        str | None,
        typer.Option(envvar="COMMERCE_SOURCE_TOKEN", help="Bearer token the registry API asks for, if any."),
    ] = None,
) -> CommerceSource:
    return CommerceSource(source, token=source_token, page_size=page_size)


app = department_app(
    department="zz-amr",
    help="Commerce (市场监督管理局) adapter: the enterprise registry API → business licences.",
    sync_help="Push what changed in the registry since the last sync.",
    open_source=open_source,
    mapper=map_record,
)


@app.command()
def generate(
    out: Path = typer.Option(..., help="Directory to write the registry snapshot (enterprises.json) into."),
    citizens: int = typer.Option(1000, min=1, help="How many residents (about one business per 25)."),
    seed: int = typer.Option(2016, help="Same seed, same people (also in the other departments' samples)."),
    changes: float = typer.Option(0.0, help="Also change this fraction of the running enterprises."),
) -> None:
    """Write a sample registry snapshot from the shared sample population."""
    population = generate_population(citizens, seed)
    records = registry_records(population, seed=seed)
    events = evolve_registry(records, population, fraction=changes, seed=seed + 1) if changes else []
    path = write_snapshot(records, out)
    console.print(
        f"wrote {len(records)} enterprise records ({len(events)} changed after the snapshot) to {path}"
    )


@app.command()
def serve(
    snapshot: Path = typer.Option(..., help="A snapshot written by `generate` (file or its directory)."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8701, help="Port to listen on."),
    token: str = typer.Option(None, envvar="COMMERCE_SOURCE_TOKEN", help="Ask for this bearer token."),
) -> None:
    """Serve a snapshot as a stand-in of the registry's API (re-read when the file changes)."""
    try:
        standin = RegistryStandIn(snapshot, token=token)
    except (OSError, ValueError) as exc:
        console.print(f"[bold red]error:[/] cannot serve {snapshot}: {exc}", highlight=False)
        raise typer.Exit(1) from None
    server = serve_standin(standin, host, port)
    console.print(f"registry stand-in at http://{host}:{server.server_address[1]}{API_PREFIX}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    app()
