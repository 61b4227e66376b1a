"""``python -m adapters.civil_affairs``: sync the marriage registry's export and the 低保 roster into the
hub, show the local state, or write sample exports.

    python -m adapters.civil_affairs generate --out var/civil --citizens 1000
    python -m adapters.civil_affairs sync --source var/civil --hub http://127.0.0.1:8000 \\
        --client-id CLIENT --key var/demo/keys/zz-civil.private.jwk.json \\
        --client-key var/demo/keys/zz-civil-client.private.jwk.json
    python -m adapters.civil_affairs status
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adapters.civil_affairs.generate import append_events, write_export
from adapters.civil_affairs.mapping import map_record
from adapters.civil_affairs.source import CivilAffairsSource
from adapters.samples.population import generate as generate_population
from adapters.sdk.cli import console, department_app


def open_source(
    source: Annotated[
        Path, typer.Option(help="Export directory (marriage_registrations.xml, subsistence_roster.csv).")
    ],
    encoding: Annotated[
        str,
        typer.Option(help="Encoding of subsistence_roster.csv (e.g. gb18030); the XML declares its own."),
    ] = "utf-8",
) -> CivilAffairsSource:
    return CivilAffairsSource(source, encoding=encoding)


app = department_app(
    department="zz-civil",
    help="Civil affairs (民政局) adapter: marriage registrations and the 低保 roster.",
    sync_help="Push what changed in the export since the last sync.",
    open_source=open_source,
    mapper=map_record,
)


@app.command()
def generate(
    out: Path = typer.Option(..., help="Directory to write the export into."),
    citizens: int = typer.Option(1000, min=1, help="How many residents."),
    seed: int = typer.Option(2016, help="Same seed, same people (also in the other departments' samples)."),
    divorces: int = typer.Option(0, min=0, help="Then let this many couples divorce (appended)."),
    ended_cases: int = typer.Option(0, min=0, help="Then end this many 低保 cases (停保 on the roster)."),
    encoding: str = typer.Option("utf-8", help="Encoding of both files (e.g. gb18030)."),
) -> None:
    """Write a sample export from the shared sample population."""
    population = generate_population(citizens, seed)
    info = write_export(population, out, seed=seed, encoding=encoding)
    console.print(
        f"wrote {info.registrations} registrations ({info.broken_registrations} broken) and "
        f"{info.cases} 低保 cases ({info.broken_cases} broken) to {out}"
    )
    if divorces or ended_cases:
        events = append_events(
            population, out, divorces=divorces, ended_cases=ended_cases, seed=seed + 1, encoding=encoding
        )
        console.print(f"appended {len(events.divorced)} divorces; ended {len(events.ended)} cases")


if __name__ == "__main__":
    app()
