"""The ``hub`` command: serve, demo, database migrations, keys, catalog, departments and administration."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.table import Table

from hub.cli.admin import admin_app
from hub.cli.audit import audit_app
from hub.cli.common import console, load_settings, open_hub, run_in_transaction

if TYPE_CHECKING:
    pass

app = typer.Typer(help="Licence hub: signed licence registry with graded access.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
keys_app = typer.Typer(help="The hub's signing keys and secrets.", no_args_is_help=True)
catalog_app = typer.Typer(help="Regions and the licence type catalog.", no_args_is_help=True)
departments_app = typer.Typer(help="Issuing departments and their keys.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(catalog_app, name="catalog")
app.add_typer(departments_app, name="departments")
app.add_typer(admin_app, name="admin")
app.add_typer(audit_app, name="audit")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind (HUB_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (HUB_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes (HUB_WORKERS).")] = None,
) -> None:
    """Serve the API (migrations are applied on start)."""
    import uvicorn

    settings = load_settings()
    open_hub().close()  # migrate and create keys once, before workers start
    uvicorn.run(
        "hub.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Port (default HUB_PORT or 8000).")] = None,
    seed_only: Annotated[bool, typer.Option(help="Seed and write credentials, then exit.")] = False,
) -> None:
    """Seed a demo hub on SQLite + var/, load each department's sample data through its adapter, and
    serve on 127.0.0.1 (``--seed-only``: stop once the data is in)."""
    import threading
    import time

    import uvicorn

    from hub import demo as demo_module
    from hub.main import create_app

    base = load_settings(demo=True)
    chosen = port or base.port
    url = f"http://127.0.0.1:{chosen}"
    public_url = base.public_url if "HUB_PUBLIC_URL" in os.environ else url
    listing = base.var_dir / "demo" / "credentials.json"
    served_at = json.loads(listing.read_text()).get("hub") if listing.exists() else public_url
    if served_at != public_url:
        console.print(
            f"[red]{base.var_dir}/ holds a demo served at {served_at}[/red]: the departments' adapters are "
            f"bound to that address. Use that port, or remove {base.var_dir}/."
        )
        raise typer.Exit(2)
    hub = open_hub(demo=True, port=chosen, public_url=public_url)
    path = demo_module.seed(hub)
    server = uvicorn.Server(
        uvicorn.Config(create_app(hub=hub), host="127.0.0.1", port=chosen, log_level="warning")
    )
    thread = threading.Thread(target=server.run, name="hub-demo-server", daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise typer.Exit(1)  # uvicorn said why (port in use, say)
            time.sleep(0.05)
        console.print("loading sample data through the police, commerce and civil-affairs adapters …")
        demo_module.load_data(hub, url)
        console.print(f"[green]demo data ready[/green]: credentials, holders and licence ids in {path}")
        if seed_only:
            return
        console.print(f"[bold]licence hub (demo) listening on {url}[/bold]  (docs: {url}/docs)")
        while thread.is_alive():
            thread.join(timeout=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        hub.close()


@app.command()
def verify(
    presentation: Annotated[str, typer.Argument(help="A presentation file, or - for stdin.")],
    jwks: Annotated[str, typer.Option(help="The hub's address, or a key bundle saved with --save-keys.")],
    aud: Annotated[str, typer.Option(help="Your client id: the audience the key binding must name.")],
    nonce: Annotated[str, typer.Option(help="The nonce your lookup sent.")],
    status: Annotated[
        Literal["online", "offline", "skip"], typer.Option(help="Check the status list: fetched, or saved.")
    ] = "online",
    status_list: Annotated[Path | None, typer.Option(help="Saved status list tokens.")] = None,
    save_keys: Annotated[Path | None, typer.Option(help="Write the trusted key bundle here.")] = None,
    max_age: Annotated[int, typer.Option(help="Oldest key binding accepted, in seconds.")] = 300,
) -> None:
    """Verify a presentation offline: department signature, disclosures, validity, key binding, status.

    Prints the verified claims as JSON, or `failed: <reason>: <message>` and exits 1."""
    import sys

    from hub.contract import verifier

    try:
        text = sys.stdin.read() if presentation == "-" else Path(presentation).read_text()
        result = verifier.verify_command(
            text,
            jwks=jwks,
            aud=aud,
            nonce=nonce,
            status_mode=status,
            status_list=status_list,
            save_keys=save_keys,
            max_age_s=max_age,
        )
    except OSError as exc:
        typer.echo(f"failed: malformed: cannot read {presentation}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    except verifier.VerificationFailed as exc:
        typer.echo(f"failed: {exc.reason}: {exc.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(json.dumps(result.as_dict(), ensure_ascii=False, indent=2))


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from hub import db
    from storage.database import make_engine

    settings = load_settings()
    engine = make_engine(settings.resolved_database_url, pool_size=1)
    db.upgrade(engine, revision)
    console.print(f"database at {db.current_revision(engine)}")
    engine.dispose()


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the code's head."""
    from hub import db
    from storage.database import make_engine

    engine = make_engine(load_settings().resolved_database_url, pool_size=1)
    console.print(f"database: {db.current_revision(engine)}  code head: {', '.join(db.head_revisions())}")
    engine.dispose()


@keys_app.command("generate-secrets")
def keys_generate_secrets(kid: str = "k1") -> None:
    """Print fresh HUB_DATA_KEYS, HUB_BLIND_INDEX_KEY and HUB_SESSION_SECRET values for a production .env."""
    from storage.sealing import Keyring

    typer.echo(f"HUB_DATA_KEYS={Keyring.generate_spec(kid)}")
    typer.echo(f"HUB_BLIND_INDEX_KEY={base64.b64encode(os.urandom(32)).decode()}")
    typer.echo(f"HUB_SESSION_SECRET={base64.b64encode(os.urandom(32)).decode()}")


@keys_app.command("list")
def keys_list() -> None:
    """List the hub's signing keys."""
    from hub.keys import repository

    hub = open_hub()
    table = Table("kid", "alg", "status", "created", "retired")
    with hub.read_session_factory() as session:
        for row in repository.list_keys(session):
            table.add_row(row.kid, row.alg, row.status, row.created_at.isoformat(), str(row.retired_at or ""))
    console.print(table)
    hub.close()


@keys_app.command("rotate")
def keys_rotate() -> None:
    """Make a new active signing key; the old one is retired and stays published for verification."""
    from hub.keys import service
    from storage.database import transaction

    hub = open_hub()
    with transaction(hub.session_factory) as session:
        row = service.rotate(session, hub.keyring)
    console.print(f"active hub key is now {row.kid}")
    hub.close()


@keys_app.command("reseal")
def keys_reseal() -> None:
    """Re-encrypt the hub's private keys, every stored credential and every attachment with the active
    data key; attachments stored plain (before sealing at rest) are sealed.

    Rotation: put a new key first in HUB_DATA_KEYS (keep the old one after it), run this, then drop the
    old key once this reports nothing resealed. Safe to run again; it exits 1 if an attachment could not
    be sealed (missing, or failing its integrity check), naming it."""
    from hub.keys import service
    from hub.registry.service import reseal_attachments, reseal_credentials
    from storage.database import transaction

    hub = open_hub()
    with transaction(hub.session_factory) as session:
        keys = service.reseal_all(session, hub.keyring)
    with transaction(hub.session_factory) as session:
        credentials = reseal_credentials(session, hub)
    with hub.read_session_factory() as session:
        attachments = reseal_attachments(session, hub)
    console.print(
        f"resealed {keys} hub keys, {credentials} credentials and {attachments.resealed} attachments "
        f"({attachments.unchanged} already sealed) with data key {hub.keyring.active.kid}"
    )
    for sha256, reason in attachments.failed.items():
        console.print(f"[red]not sealed:[/red] attachment {sha256}: {reason}")
    hub.close()
    if attachments.failed:
        raise typer.Exit(1)


@catalog_app.command("load")
def catalog_load() -> None:
    """Load Zhengzhou's regions and the licence type catalog shipped with the hub."""
    from hub.demo import seed_catalog

    hub = open_hub()
    seed_catalog(hub)
    console.print("regions and licence types loaded")
    hub.close()


@catalog_app.command("add-type")
def catalog_add_type(spec_file: Path) -> None:
    """Add or replace a licence type from a JSON file (state-secret types are refused)."""
    from hub.errors import HubError
    from hub.registry import service
    from storage.database import transaction

    hub = open_hub()
    try:
        with transaction(hub.session_factory) as session:
            row = service.register_licence_type(session, json.loads(spec_file.read_text()))
        console.print(f"licence type {row.code} saved")
    except HubError as exc:
        console.print(f"[red]refused:[/red] {exc.detail} {exc.errors or ''}")
        raise typer.Exit(1) from None
    finally:
        hub.close()


@departments_app.command("add")
def departments_add(id: str, name: str, kind: str, uscc: str, issuer: str, region: str = "410100") -> None:
    """Register an issuing department, as the operator (active at once; give it issuing authorizations with
    `hub departments authorize`)."""
    from hub.registry import service

    run_in_transaction(
        lambda s: service.register_department(
            s, id=id, name=name, kind=kind, region_code=region, uscc=uscc, issuer=issuer
        )
    )
    console.print(f"department {id} registered")


@departments_app.command("add-key")
def departments_add_key(department: str, jwk_file: Path) -> None:
    """Register a department's public key from a JWK file (ES256 P-256 or EdDSA Ed25519)."""
    from hub.registry import service

    row = run_in_transaction(
        lambda s: service.add_department_key(s, department, json.loads(jwk_file.read_text()))
    )
    console.print(f"key {row.kid} added to {department}")


@departments_app.command("authorize")
def departments_authorize(
    department: str,
    legal_basis: Annotated[str, typer.Option(help="The law or decision that entitles the department.")],
    jurisdiction: Annotated[str, typer.Option(help="Region code whose holders it may issue for.")] = "410100",
    type_code: Annotated[
        list[str] | None,
        typer.Option("--type", help="A licence type (repeat); default: every type of its kind."),
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=3650, help="How long the authorizations last.")] = 365,
) -> None:
    """Give a department issuing authorizations in force at once, as the operator (admins request them
    with `hub admin authorizations request`, and a second admin approves)."""
    from datetime import UTC, datetime, timedelta

    from hub.registry import service

    until = datetime.now(UTC) + timedelta(days=days)

    def authorize(session: Any) -> list[Any]:
        if not type_code:
            return service.authorize_every_type(
                session,
                department,
                jurisdiction_code=jurisdiction,
                valid_until=until,
                legal_basis=legal_basis,
            )
        return [
            service.authorize_issuing(
                session,
                department_id=department,
                type_code=code,
                jurisdiction_code=jurisdiction,
                valid_until=until,
                legal_basis=legal_basis,
            )
            for code in type_code
        ]

    rows = run_in_transaction(authorize)
    for row in rows:
        console.print(f"authorization {row.id}: {department} issues {row.type_code} over {jurisdiction}")


@departments_app.command("retire-key")
def departments_retire_key(department: str, kid: str) -> None:
    """Retire a department key: nothing it signs is taken in from now on; what was received stays."""
    from hub.registry import service

    run_in_transaction(lambda s: service.retire_department_key(s, department, kid))
    console.print(f"key {kid} retired")
