"""Structured logs: one JSON object a line, ``event`` a dotted id (``sync.batch.pushed``) and the
record's ``extra`` fields. The SDK only ever logs ids, sequences and counts, never personal data."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            "logger": record.name,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry, ensure_ascii=False, default=str)


class ConsoleHandler(logging.Handler):
    """Writes through the rich console, so log lines print above a live progress bar, not through it."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.console.print(self.format(record), markup=False, highlight=False, soft_wrap=True)
        except Exception:  # pragma: no cover - logging must never break the sync
            self.handleError(record)


def configure(console: Console, level: str = "WARNING", log_file: str | None = None) -> None:
    """JSON logs of the adapter packages to the console (at ``level``) and, if given, to a file (INFO)."""
    root = logging.getLogger("adapters")
    root.handlers.clear()
    root.setLevel(logging.INFO)
    root.propagate = False
    handler = ConsoleHandler(console)
    handler.setLevel(level.upper())
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    if log_file:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(JsonFormatter())
        root.addHandler(file_handler)
