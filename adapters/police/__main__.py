"""``python -m adapters.police``: sync the police exports into the hub, show the local state, or write
sample exports.

    python -m adapters.police generate --out var/police --citizens 1000
    python -m adapters.police sync --source var/police --hub http://127.0.0.1:8000 \\
        --client-id CLIENT --key var/demo/keys/zz-police.private.jwk.json \\
        --client-key var/demo/keys/zz-police-client.private.jwk.json
    python -m adapters.police status
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.police.generate import append_changes, write_export
from adapters.police.mapping import map_record
from adapters.police.source import PoliceSource
from adapters.samples.population import generate as generate_population
from adapters.sdk.cli import console, department_app


def open_source(
    source: Annotated[Path, typer.Option(help="Export directory (population.csv, changes.jsonl, …).")],
    encoding: Annotated[str, typer.Option(help="Encoding of population.csv (e.g. gb18030).")] = "utf-8",
) -> PoliceSource:
    return PoliceSource(source, encoding=encoding)


app = department_app(
    department="zz-police",
    help="Police (公安) adapter: population register and no-criminal-record certificates.",
    sync_help="Push what changed in the export since the last sync.",
    open_source=open_source,
    mapper=map_record,
)


@app.command()
def generate(
    out: Path = typer.Option(..., help="Directory to write the export into."),
    citizens: int = typer.Option(1000, min=1, help="How many residents."),
    seed: int = typer.Option(2016, help="Same seed, same people (also in the other departments' samples)."),
    changes: float = typer.Option(0.0, help="Also append a change log touching this fraction of residents."),
    encoding: str = typer.Option("utf-8", help="Encoding of population.csv."),
) -> None:
    """Write a sample export from the shared sample population."""
    population = generate_population(citizens, seed)
    info = write_export(population, out, seed=seed, encoding=encoding)
    console.print(
        f"wrote {info.people} residents, {info.broken_rows} broken rows and {info.certificates} "
        f"certificates to {out}"
    )
    if changes:
        events = append_changes(population, out, fraction=changes, seed=seed + 1)
        console.print(f"appended {len(events)} change-log entries")


if __name__ == "__main__":
    app()
