"""``hub audit``: verify the log against its signed tree heads, and run supervision."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from typing import Annotated

import typer

from hub.kit.cli import console, errors, open_hub

audit_app = typer.Typer(help="The tamper-evident audit log and supervision.", no_args_is_help=True)


@audit_app.command("verify")
def verify(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Recompute the log from storage, check every signed tree head and the consistency between
    consecutive heads; name every modified, deleted or reordered event. Exits 1 on any finding."""
    from hub.audit.heads import jwks_resolver
    from hub.audit.verify import verify_log

    hub = open_hub()
    try:
        with hub.read_session_factory() as session:
            report = verify_log(session, jwks_resolver(hub.signer.jwks))
    finally:
        hub.close()
    if as_json:
        typer.echo(json.dumps({**asdict(report), "ok": report.ok}, ensure_ascii=False, indent=2))
    else:
        console.print(f"{report.tree_size} leaves, {report.events} events, {report.heads} signed tree heads")
        for finding in report.findings:
            errors.print(f"[red]{finding.kind}[/red] {finding.message}", highlight=False)
        if report.ok:
            console.print("[green]the log verifies[/green]")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("supervise")
def supervise(
    once: Annotated[bool, typer.Option(help="One round, then exit.")] = False,
) -> None:
    """Evaluate the supervision rules and sign due tree heads every HUB_AUDIT_SUPERVISE_SECONDS."""
    from hub.audit.settings import get_audit_settings
    from hub.audit.supervisor import tick

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
