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
from collections.abc import Iterator
from typing import Any

from adapters.sdk.records import SourceError


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
