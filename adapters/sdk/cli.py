"""What every department's command line shares: running a sync with a progress bar and a summary,
showing the local state, and turning the SDK's errors into one clear line and exit code 1.

A department's ``__main__.py`` calls :func:`department_app` with what is its own (its id, its mapper, and
how to open its source from the source's options) and adds its own commands, such as ``generate``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from adapters.sdk import logs
from adapters.sdk.engine import ReadSource, SyncAborted, SyncEngine, SyncReport
from adapters.sdk.hub_client import HubClient, HubRefused, HubUnavailable
from adapters.sdk.issuing import KeyNotRegistered
from adapters.sdk.keys import KeyFileError, load_private_key
from adapters.sdk.records import Mapper, SourceError, SourceRecord
from adapters.sdk.state import LocalState, StateError

console = Console(stderr=True)
EXPECTED_ERRORS = (
    SyncAborted,
    SourceError,
    HubUnavailable,
    HubRefused,
    KeyNotRegistered,
    KeyFileError,
    StateError,
)


# The options every department's `sync` takes, declared once.
HubOption = Annotated[str, typer.Option(help="The hub's base URL.")]
KeyOption = Annotated[Path, typer.Option(help="The department's private signing key (JWK file).")]
ClientIdOption = Annotated[str | None, typer.Option(help="The department's OAuth client (private_key_jwt).")]
ClientKeyOption = Annotated[Path | None, typer.Option(help="The OAuth client's private key, if not --key.")]
DepartmentOption = Annotated[str, typer.Option(help="The department's id in the hub.")]
StateOption = Annotated[
    Path | None, typer.Option(help="Local state file [default: var/adapters/<department>.state.sqlite3].")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Validate and report; push nothing, change nothing.")
]
BatchSizeOption = Annotated[int, typer.Option(min=1, max=1000, help="Operations per batch.")]
LogLevelOption = Annotated[str, typer.Option(help="Console log level (JSON lines on stderr).")]
LogFileOption = Annotated[str | None, typer.Option(help="Also write INFO logs to this file.")]


class Source(Protocol):
    """What the engine reads: records after a cursor, and how many there are (for the progress bar)."""

    def read(self, cursor: str | None) -> Iterable[SourceRecord]: ...

    def pending(self, cursor: str | None) -> int: ...


def department_app(
    *, department: str, help: str, sync_help: str, open_source: Callable[..., Source], mapper: Mapper
) -> typer.Typer:
    """A department's command line with the `sync` and `status` commands every department has.

    ``open_source`` declares the source's own options as its parameters, the way a typer command does,
    the first of them ``source`` (``--source``, where the source is); `sync` takes those and the options
    every department shares, opens the source with the former (closing it after, when it is a context
    manager) and syncs it with ``mapper``. ``department`` is the default ``--department``."""
    app = typer.Typer(help=help, no_args_is_help=True, add_completion=False)
    app.command("sync", help=sync_help)(_sync_command(department, open_source, mapper))
    add_status_command(app, department)
    return app


def _shared_sync_options(
    hub: HubOption,
    key: KeyOption,
    client_id: ClientIdOption = None,
    client_key: ClientKeyOption = None,
    department: DepartmentOption = "",
    state: StateOption = None,
    dry_run: DryRunOption = False,
    batch_size: BatchSizeOption = 500,
    log_level: LogLevelOption = "WARNING",
    log_file: LogFileOption = None,
) -> None:
    """Only a signature: the options of `sync` that every department shares, as typer reads them."""


# Where the source's options stand among the shared ones in `sync --help`: ``--source`` first, the
# others after these.
_LAST_SHARED = ("log_level", "log_file")


def _sync_command(department: str, open_source: Callable[..., Source], mapper: Mapper) -> Callable[..., None]:
    """The `sync` command: a function whose signature is the source's options and the shared ones."""
    source_parameters = list(inspect.signature(open_source, eval_str=True).parameters.values())
    if not source_parameters or source_parameters[0].name != "source":
        raise TypeError("open_source must take the --source option first")
    shared = [
        p.replace(default=department) if p.name == "department" else p
        for p in inspect.signature(_shared_sync_options, eval_str=True).parameters.values()
    ]
    first, others = source_parameters[0], source_parameters[1:]
    parameters = (
        [first]
        + [p for p in shared if p.name not in _LAST_SHARED]
        + others
        + [p for p in shared if p.name in _LAST_SHARED]
    )

    def sync(**arguments: Any) -> None:
        source_arguments = {p.name: arguments.pop(p.name) for p in source_parameters}
        with clear_errors(), ExitStack() as stack:
            source = open_source(**source_arguments)
            if isinstance(source, AbstractContextManager):
                stack.enter_context(source)
            options = sync_options(**arguments)
            run_sync(options, read=source.read, pending=source.pending, mapper=mapper)

    sync.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return sync


def sync_options(
    *,
    hub: str,
    client_id: str | None,
    key: Path,
    client_key: Path | None,
    department: str,
    state: Path | None,
    dry_run: bool,
    batch_size: int,
    log_level: str,
    log_file: str | None,
) -> SyncOptions:
    """The shared options of a `sync` command, checked (a push needs the department's client)."""
    if not dry_run and not client_id:
        raise typer.BadParameter("needed unless --dry-run", param_hint="--client-id")
    return SyncOptions(
        hub=hub,
        client_id=client_id,
        key=key,
        client_key=client_key,
        department=department,
        state=state or default_state_file(department),
        dry_run=dry_run,
        batch_size=batch_size,
        log_level=log_level,
        log_file=log_file,
    )


def add_status_command(app: typer.Typer, default_department: str) -> None:
    """Register the `status` command every department's CLI has."""

    @app.command()
    def status(
        department: DepartmentOption = default_department,
        state: StateOption = None,
        limit: Annotated[int, typer.Option(help="How many dead letters to list.")] = 20,
        show_keys: Annotated[
            bool, typer.Option("--show-keys", help="Show record keys (may be ID numbers) unmasked.")
        ] = False,
    ) -> None:
        """Cursor, licences by type and status, and dead letters of the local state."""
        show_status(state or default_state_file(department), limit=limit, show_keys=show_keys)


def default_state_file(department: str) -> Path:
    return Path("var") / "adapters" / f"{department}.state.sqlite3"


@dataclass(frozen=True)
class SyncOptions:
    hub: str
    client_id: str | None
    key: Path
    client_key: Path | None
    department: str
    state: Path
    dry_run: bool = False
    batch_size: int = 500
    log_level: str = "WARNING"
    log_file: str | None = None


@contextmanager
def clear_errors() -> Iterator[None]:
    """Expected failures end the command with their message and exit code 1, not a traceback."""
    try:
        yield
    except EXPECTED_ERRORS as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def run_sync(
    options: SyncOptions, *, read: ReadSource, pending: Callable[[str | None], int], mapper: Mapper
) -> SyncReport:
    """Sync one department's source into the hub, showing progress on a terminal."""
    logs.configure(console, options.log_level, options.log_file)
    signing_key = load_private_key(options.key)
    client_key = load_private_key(options.client_key or options.key) if options.client_id else None
    # A dry run changes nothing, so it does not create a state file either.
    state = LocalState(":memory:" if options.dry_run and not options.state.exists() else options.state)
    with (
        HubClient(options.hub, client_id=options.client_id, client_key=client_key) as hub,
        _progress() as progress,
    ):
        task = progress.add_task("records", total=None)
        engine = SyncEngine(
            hub=hub,
            state=state,
            department_id=options.department,
            signing_key=signing_key,
            mapper=mapper,
            batch_size=options.batch_size,
            dry_run=options.dry_run,
            on_record=lambda report: progress.update(task, completed=report.records),
        )

        def counted_read(cursor: str | None) -> Iterator:
            progress.update(task, total=pending(cursor))
            return iter(read(cursor))

        try:
            report = engine.run(counted_read)
        finally:
            state.close()
    print_report(report)
    return report


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )


def print_report(report: SyncReport) -> None:
    title = "dry run: nothing pushed" if report.dry_run else f"synced {report.department}"
    table = Table(title=title, show_header=False)
    rate = report.records / report.seconds if report.seconds else 0.0
    for label, value in (
        ("records read", report.records),
        ("issued", report.issued),
        ("updated (new version)", report.updated),
        ("status changes", report.status_changes),
        ("unchanged", report.unchanged),
        ("dead letters (mapping)", report.dead_letters),
        ("rejected by the hub", report.rejected),
        ("batches pushed", report.batches),
        ("batches replayed", report.replayed_batches),
        ("feed sequence", report.last_sequence),
        ("seconds", report.seconds),
        ("records/s", f"{rate:,.0f}"),
    ):
        table.add_row(label, str(value))
    Console().print(table)
    if report.adopted_at_sequence:
        console.print(
            f"[yellow]warning:[/] the state file was new but the hub's feed was at sequence "
            f"{report.adopted_at_sequence}: continued from there; records the hub already holds were "
            "issued again as new licences",
            highlight=False,
        )
    if report.dead_letters or report.rejected:
        console.print("[yellow]some records went to the dead-letter store; see the `status` command[/]")


def mask(key: str) -> str:
    """A record key fit for a screen: 410105198001011234 → 4101**********1234."""
    return key if len(key) < 10 else key[:4] + "*" * (len(key) - 8) + key[-4:]


def show_status(state_path: Path, *, limit: int = 20, show_keys: bool = False) -> None:
    """The feed's cursor, licences by type and status, and the latest open dead letters."""
    if not state_path.exists():
        console.print(f"no state file at {state_path}: nothing synced yet")
        raise typer.Exit(1)
    state = LocalState(state_path)
    try:
        feed = state.feed()
        out = Console()
        if feed is None:
            out.print("the feed has not started")
        else:
            out.print(f"department {feed.department} at {feed.hub}")
            out.print(
                f"feed sequence {feed.last_sequence}; "
                f"next status slot {feed.status_list}/{feed.next_status_index}"
            )
            out.print(f"source cursor {feed.source_cursor}")
        counts = state.counts()
        table = Table("licence type", "status", "licences", "versions", title="licences")
        for row in counts["licences"]:
            table.add_row(row["type_code"], row["status"], str(row["licences"]), str(row["versions"]))
        out.print(table)
        out.print(f"batches waiting in the outbox: {counts['pending_batches']}")
        dead = counts["dead_letters"]
        out.print(
            f"open dead letters: {sum(dead.values())} "
            f"({', '.join(f'{k} {v}' for k, v in dead.items()) or 'none'})"
        )
        letters = Table(
            "id", "time", "record", "type", "stage", "reason", title=f"latest {limit} dead letters"
        )
        for letter in state.dead_letters(limit=limit):
            key = letter["record_key"] if show_keys else mask(letter["record_key"])
            letters.add_row(
                str(letter["id"]),
                letter["created_at"],
                key,
                letter["type_code"] or "(record)",
                letter["stage"],
                letter["reason"],
            )
        out.print(letters)
    finally:
        state.close()
