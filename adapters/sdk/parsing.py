"""Department files read within the parsers' limits: a limit hit is a ``SourceError`` naming the file and
line, never a traceback.

Python's csv module refuses a field over ``csv.field_size_limit()`` (131,072 characters) with
``csv.Error``, and its json module gives up on nesting about a thousand levels deep with
``RecursionError``. Neither is a legitimate export (no register field is that long, no record that deep),
so the limits stay where they are and the operator is told where the file is broken.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Sequence
from typing import Any

from adapters.sdk.records import SourceError

RE_EXPORT_HINT = "re-export as UTF-8, or pass --encoding gb18030 for a GB18030 export"


class JSONTooDeep(ValueError):
    """A JSON text nested deeper than the parser goes."""


def csv_rows(text: str, where: object) -> Iterator[list[str]]:
    """The rows of a CSV text, or ``SourceError`` "<where> line N: …" for one the csv parser refuses
    (a field over its size limit, a NUL byte, …)."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceError(
                f"{where} line {reader.line_num}: the CSV cannot be read ({exc}; fields are at most "
                f"{csv.field_size_limit()} characters: is a quote left open?)"
            ) from None
        yield row


def json_loads(text: str | bytes) -> Any:
    """``json.loads``, with nesting too deep for the parser raised as :class:`JSONTooDeep` (a ValueError)
    instead of ``RecursionError``."""
    try:
        return json.loads(text)
    except RecursionError:
        raise JSONTooDeep("JSON nested too deeply to read") from None


def decode_text(
    data: bytes, where: object, encoding: str, *, hint: str = RE_EXPORT_HINT, byte_order_mark: bool = True
) -> str:
    """``data`` decoded from ``encoding`` (as the operator named it), or ``SourceError`` "<where>: not
    valid <encoding> at byte N (line L); <hint>", or one naming an unknown encoding. With
    ``byte_order_mark``, UTF-8 also accepts the byte-order mark spreadsheet programs put at the start."""
    utf8 = encoding.lower().replace("_", "-") in ("utf-8", "utf8")
    try:
        return data.decode("utf-8-sig" if byte_order_mark and utf8 else encoding)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SourceError(
            f"{where}: not valid {encoding} at byte {exc.start} (line {line}); {hint}"
        ) from None
    except LookupError:
        raise SourceError(f"unknown encoding {encoding!r}") from None


def csv_record(header: Sequence[str], row: Sequence[str]) -> dict[str, Any]:
    """A CSV row as {column: value}, values stripped; a row whose field count is not the header's keeps
    what it has and says so in ``_problem`` (the mapping sends such a record to the dead letters)."""
    record: dict[str, Any] = dict(zip(header, (v.strip() for v in row), strict=False))
    if len(row) != len(header):
        record["_problem"] = f"row has {len(row)} fields, the header {len(header)}"
    return record
