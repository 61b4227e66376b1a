"""``hub audit``: verify the log against its signed tree heads, and run supervision."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from hub.cli.common import console, errors, open_hub

audit_app = typer.Typer(help="The tamper-evident audit log and supervision.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    head: Annotated[
        list[str] | None,
        typer.Option(
            "--head",
            help="A head kept elsewhere: a checkpoint note or JSON tree head, as a file "
            "or an http(s) URL. Repeatable.",
        ),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            help="Trust only this note verifier key (from GET /v1/audit/checkpoint-key) "
            "instead of the keys in the database. Repeatable.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the log from storage, check every signed tree head and the consistency between
    consecutive heads; name every modified, deleted or reordered event. With --head, also check the log
    against heads kept elsewhere: truncation, rewritten leaves and deleted heads. Exits 1 on any
    finding, 2 when a --head cannot be read or is not signed by the hub."""
    from hub.audit import checkpoint, external
    from hub.audit.heads import jwks_resolver, log_origin, note_keys
    from hub.audit.verify import verify_log

    hub = open_hub()
    try:
        origin = log_origin(hub)
        try:
            keys = [checkpoint.parse_vkey(k) for k in key or []] or note_keys(hub)
        except checkpoint.CheckpointError as exc:
            errors.print(f"[red]--key:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        resolve = external.jws_resolver(keys) if key else jwks_resolver(hub.signer.jwks)
        try:
            given = [
                external.parse_head(
                    source, external.read_source(source), keys=keys, resolve=resolve, origin=origin
                )
                for source in head or []
            ]
        except external.HeadError as exc:
            errors.print(f"[red]--head:[/red] {exc}", highlight=False)
            raise typer.Exit(2) from None
        with hub.read_session_factory() as session:
            report = verify_log(session, resolve, given)
    finally:
        hub.close()
    if as_json:
        typer.echo(json.dumps({**asdict(report), "ok": report.ok}, ensure_ascii=False, indent=2))
    else:
        console.print(
            f"{report.tree_size} leaves, {report.events} events, {report.heads} signed tree heads, "
            f"{report.external_heads} external heads"
        )
        for finding in report.findings:
            errors.print(f"[red]{finding.kind}[/red] {finding.message}", highlight=False)
        if report.ok:
            console.print("[green]the log verifies[/green]")
        if report.caveat:
            console.print(f"[yellow]warning:[/yellow] {report.caveat}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def checkpoint_command(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the checkpoint (a C2SP signed note) to this file.")
    ] = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness", help="POST it to this URL too (besides HUB_AUDIT_WITNESS_URLS). Repeatable."
        ),
    ] = None,
) -> None:
    """Sign a tree head over every committed event now and keep it outside the database: write it as a
    C2SP checkpoint to --out and/or POST it (text/plain) to the configured witnesses. Exits 1 when a
    witness refuses it, 2 when there is nowhere to send it."""
    from hub.audit import external
    from hub.audit.heads import checkpoint_note, fresh_head
    from hub.audit.settings import get_audit_settings

    settings = get_audit_settings()
    witnesses = [*settings.witnesses, *(witness or [])]
    if out is None and not witnesses:
        errors.print(
            "[red]nowhere to keep it:[/red] give --out FILE or --witness URL, or set HUB_AUDIT_WITNESS_URLS",
            highlight=False,
        )
        raise typer.Exit(2)
    hub = open_hub()
    try:
        head = fresh_head(hub, min_interval_s=0, max_age_s=settings.head_max_age_seconds)
        note = checkpoint_note(hub, head)
    finally:
        hub.close()
    if out is not None:
        out.write_text(note, encoding="utf-8")
        console.print(f"checkpoint of {head.tree_size} leaves written to {out}", highlight=False)
    refused = external.post_to_witnesses(note, witnesses)
    for url in witnesses:
        if all(r.url != url for r in refused):
            console.print(f"checkpoint of {head.tree_size} leaves taken by {url}", highlight=False)
    for refusal in refused:
        errors.print(f"[red]witness refused:[/red] {refusal.url}: {refusal.reason}", highlight=False)
    if refused:
        raise typer.Exit(1)


@audit_app.command("supervise")
def supervise(
    once: Annotated[bool, typer.Option(help="One round, then exit.")] = False,
) -> None:
    """Evaluate the supervision rules and sign due tree heads every HUB_AUDIT_SUPERVISE_SECONDS."""
    from hub.audit.settings import get_audit_settings
    from hub.supervision.supervisor import tick

    settings = get_audit_settings()
    hub = open_hub()
    try:
        while True:
            raised = tick(hub, settings)
            console.print(f"supervision round: {raised} alerts raised")
            if once:
                return
            time.sleep(settings.supervise_seconds or 60)
    finally:
        hub.close()
