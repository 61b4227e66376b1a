"""The police department's exports, read in order from a cursor.

An export directory holds:

- ``population.csv``: the population register (人口信息) as of the export, Chinese column names, one row
  per person (UTF-8 by default; ``encoding`` for GB18030 exports);
- ``changes.jsonl``: the register's change log after the export, one JSON object a line:
  ``{"seq": 7, "time": "…", "op": "new" | "changed" | "cancelled", "record": {<row>}}``;
- ``no_criminal_record.jsonl``: certificates issued (无犯罪记录证明), one JSON object a line, appended to;
  a voided certificate appears again with ``"状态": "作废"``;
- ``manifest.json`` (optional): ``snapshot_id`` and ``changes_after`` (the last change-log ``seq`` the
  export already contains).

The cursor records how far each part was read. A new export (another ``snapshot_id``) is read whole
again; unchanged records then cost nothing, because the engine compares content hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.sdk.parsing import JSONTooDeep, csv_record, csv_rows, decode_text, json_loads
from adapters.sdk.records import JSONCursor, SourceError, SourceRecord

POPULATION_FILE, CHANGES_FILE, CERTIFICATES_FILE, MANIFEST_FILE = (
    "population.csv",
    "changes.jsonl",
    "no_criminal_record.jsonl",
    "manifest.json",
)
REQUIRED_COLUMNS = (
    "公民身份号码",
    "姓名",
    "性别",
    "民族",
    "出生日期",
    "住址",
    "户号",
    "户别",
    "户主姓名",
    "与户主关系",
    "户口登记机关",
    "登记日期",
    "签发机关",
    "有效期限",
)
CHANGE_OPS = ("new", "changed", "cancelled")


@dataclass(frozen=True)
class Cursor(JSONCursor):
    snapshot: str | None = None
    row: int = 0  # population.csv data rows read
    change: int = 0  # last change-log seq read
    certificate: int = 0  # certificate lines read


@dataclass(frozen=True)
class ExportSummary:
    snapshot_id: str
    changes_after: int
    population_rows: int
    changes: int
    certificates: int


class PoliceSource:
    def __init__(self, directory: Path | str, *, encoding: str = "utf-8") -> None:
        self.directory = Path(directory)
        self.encoding = encoding  # of population.csv
        self._texts: dict[str, str] = {}
        self.summary = self.check()

    # -- checking the whole export first, so a broken file stops the sync before anything is pushed --------

    def _text(self, name: str, *, required: bool = False) -> str:
        if name in self._texts:
            return self._texts[name]
        path = self.directory / name
        if not path.exists():
            if required:
                raise SourceError(f"{path}: missing (is --source the export directory?)")
            return ""
        data = path.read_bytes()
        if name.endswith(".csv"):
            text = decode_text(data, path, self.encoding)
        else:
            # --encoding is for the CSV export; JSON text is UTF-8 by definition, without a byte-order
            # mark (RFC 8259 §8.1).
            text = decode_text(data, path, "utf-8", hint="JSON lines must be UTF-8", byte_order_mark=False)
        self._texts[name] = text
        return text

    def check(self) -> ExportSummary:
        """Read every file once: encodings, columns, JSON lines, change-log order. Raises SourceError."""
        manifest = self._manifest()
        header, rows = self._population_header()
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise SourceError(f"{self.directory / POPULATION_FILE}: missing columns {', '.join(missing)}")
        changes = list(self._json_lines(CHANGES_FILE))
        previous = 0
        for line, entry in changes:
            seq = entry.get("seq")
            if not isinstance(seq, int) or seq <= previous:
                raise SourceError(
                    f"{self.directory / CHANGES_FILE} line {line}: seq must increase, got {seq!r}"
                )
            if entry.get("op") not in CHANGE_OPS or not isinstance(entry.get("record"), dict):
                raise SourceError(
                    f"{self.directory / CHANGES_FILE} line {line}: "
                    f"needs op ({'/'.join(CHANGE_OPS)}) and a record"
                )
            previous = seq
        certificates = sum(1 for _ in self._json_lines(CERTIFICATES_FILE))
        return ExportSummary(
            manifest["snapshot_id"], manifest["changes_after"], rows, len(changes), certificates
        )

    def _manifest(self) -> dict[str, Any]:
        path = self.directory / MANIFEST_FILE
        if path.exists():
            try:
                manifest = json_loads(path.read_text(encoding="utf-8"))
                return {
                    "snapshot_id": str(manifest["snapshot_id"]),
                    "changes_after": int(manifest.get("changes_after", 0)),
                }
            except (ValueError, KeyError, TypeError) as exc:
                raise SourceError(f"{path}: not a valid manifest ({exc})") from None
        digest = hashlib.sha256(self._text(POPULATION_FILE, required=True).encode()).hexdigest()[:16]
        return {"snapshot_id": digest, "changes_after": 0}

    def _population_rows(self) -> Iterator[list[str]]:
        return csv_rows(self._text(POPULATION_FILE, required=True), self.directory / POPULATION_FILE)

    def _population_header(self) -> tuple[list[str], int]:
        reader = self._population_rows()
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise SourceError(f"{self.directory / POPULATION_FILE}: empty file")
        return header, sum(1 for _ in reader)

    def _json_lines(self, name: str) -> Iterator[tuple[int, dict[str, Any]]]:
        for number, line in enumerate(self._text(name).splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entry = json_loads(line)
            except JSONTooDeep:
                raise SourceError(
                    f"{self.directory / name} line {number}: JSON nested too deeply to read"
                ) from None
            except ValueError:
                raise SourceError(
                    f"{self.directory / name} line {number}: not valid JSON (truncated?)"
                ) from None
            if not isinstance(entry, dict):
                raise SourceError(f"{self.directory / name} line {number}: not a JSON object")
            yield number, entry

    # -- reading ------------------------------------------------------------------------------------------

    def pending(self, cursor_text: str | None) -> int:
        """How many records :meth:`read` would yield (for progress bars)."""
        cursor = Cursor.load(cursor_text)
        summary = self.summary
        if cursor.snapshot != summary.snapshot_id:
            return summary.population_rows + summary.changes + summary.certificates - cursor.certificate
        after = sum(1 for _, e in self._json_lines(CHANGES_FILE) if e["seq"] > cursor.change)
        return summary.population_rows - cursor.row + after + summary.certificates - cursor.certificate

    def read(self, cursor_text: str | None) -> Iterator[SourceRecord]:
        """Records after ``cursor_text`` in order: the export's rows, then change-log entries, then
        certificates; each with the cursor just after it."""
        cursor = Cursor.load(cursor_text)
        summary = self.summary
        if cursor.snapshot != summary.snapshot_id:
            if cursor.snapshot is not None and cursor.change > summary.changes_after:
                raise SourceError(
                    f"the export in {self.directory} contains changes up to seq {summary.changes_after}, but "
                    f"seq {cursor.change} was already synced: it is older than what the hub holds"
                )
            cursor = Cursor(summary.snapshot_id, 0, summary.changes_after, cursor.certificate)
        yield from self._population(cursor)
        cursor = Cursor(
            cursor.snapshot,
            summary.population_rows,
            max(cursor.change, summary.changes_after),
            cursor.certificate,
        )
        yield from self._changes(cursor)
        last_change = max([cursor.change] + [e["seq"] for _, e in self._json_lines(CHANGES_FILE)])
        yield from self._certificates(Cursor(cursor.snapshot, cursor.row, last_change, cursor.certificate))

    def _population(self, cursor: Cursor) -> Iterator[SourceRecord]:
        reader = self._population_rows()
        header = [h.strip() for h in next(reader)]
        for number, row in enumerate(reader, start=1):
            if number <= cursor.row:
                continue
            position = Cursor(cursor.snapshot, number, cursor.change, cursor.certificate).dump()
            record = csv_record(header, row)
            yield SourceRecord(_person_key(record, f"row:{number}"), position, record, kind="person")

    def _changes(self, cursor: Cursor) -> Iterator[SourceRecord]:
        entries = [e for _, e in self._json_lines(CHANGES_FILE)]
        if entries and entries[0]["seq"] > cursor.change + 1:
            raise SourceError(
                f"{self.directory / CHANGES_FILE} starts at seq {entries[0]['seq']}, but only seq "
                f"{cursor.change} was read: the entries in between are missing (was the log rotated?)"
            )
        for entry in entries:
            seq = entry["seq"]
            if seq <= cursor.change:
                continue
            record = {k: "" if v is None else str(v) for k, v in entry["record"].items()}
            if entry["op"] == "cancelled":
                record["人员状态"] = "注销"
            position = Cursor(cursor.snapshot, cursor.row, seq, cursor.certificate).dump()
            yield SourceRecord(_person_key(record, f"change:{seq}"), position, record, kind="person")

    def _certificates(self, cursor: Cursor) -> Iterator[SourceRecord]:
        for number, entry in self._json_lines(CERTIFICATES_FILE):
            if number <= cursor.certificate:
                continue
            position = Cursor(cursor.snapshot, cursor.row, cursor.change, number).dump()
            key = str(entry.get("证明编号") or f"certificate-line:{number}").strip()
            yield SourceRecord(key, position, entry, kind="certificate")


def _person_key(record: dict[str, Any], fallback: str) -> str:
    return str(record.get("公民身份号码") or "").strip().upper() or fallback
