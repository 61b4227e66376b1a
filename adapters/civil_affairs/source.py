"""The civil-affairs department's exports, read in order from a cursor.

An export directory holds (at least one of):

- ``marriage_registrations.xml``: the marriage registry's export (婚姻登记数据), every 结婚登记 and
  离婚登记 record so far in registration order, each with an increasing 登记流水号 (see
  ``adapters.civil_affairs.registry_xml`` for the shape and why DTDs are refused). Registrations are
  never edited, so the cursor is the last 登记流水号 read and a later export is read from there on.
- ``subsistence_roster.csv``: the minimum-subsistence (低保) roster as of the export, one row per case,
  Chinese column names; a case that ended stays on it with 状态 停保. A new roster (other bytes) is read
  whole again; unchanged rows then cost nothing, because the engine compares content hashes.

A divorce record is read with the marriage record it ends (``原结婚登记``, found in the same export by
原结婚证字号), so the mapping can end exactly the licences that marriage issued. Both records have the
marriage certificate number as their key: a divorce addresses the licences of its marriage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.civil_affairs.registry_xml import RegistryExport, parse_registry_export
from adapters.sdk.parsing import csv_record, csv_rows, decode_text
from adapters.sdk.records import JSONCursor, SourceError, SourceRecord

REGISTRATIONS_FILE, ROSTER_FILE = "marriage_registrations.xml", "subsistence_roster.csv"
ROSTER_COLUMNS = (
    "证号",
    "户主姓名",
    "户主身份证号",
    "家庭住址",
    "保障类别",
    "保障人数",
    "月保障金额",
    "家庭成员",
    "发证机关",
    "发证日期",
    "有效期",
    "状态",
)
JOINED_MARRIAGE = "原结婚登记"  # the marriage record a divorce record is read with
KINDS = {"结婚": "marriage", "离婚": "divorce"}


@dataclass(frozen=True)
class Cursor(JSONCursor):
    serial: int = 0  # last 登记流水号 read
    roster: str | None = None  # digest of the roster read
    row: int = 0  # roster rows read


class CivilAffairsSource:
    def __init__(self, directory: Path | str, *, encoding: str = "utf-8") -> None:
        self.directory = Path(directory)
        self.encoding = encoding  # of subsistence_roster.csv; the XML declares its own
        self.registrations = RegistryExport({}, [])
        self.serials: list[int] = []
        self.roster_digest: str | None = None
        self.roster: list[dict[str, Any]] = []
        self.check()

    # -- checking the whole export first, so a broken file stops the sync before anything is pushed --------

    def check(self) -> None:
        """Read both files whole: encodings, well-formed XML, 登记流水号 order, roster columns."""
        xml_path, roster_path = self.directory / REGISTRATIONS_FILE, self.directory / ROSTER_FILE
        if not xml_path.exists() and not roster_path.exists():
            raise SourceError(
                f"{self.directory}: neither {REGISTRATIONS_FILE} nor {ROSTER_FILE} (is --source the export "
                "directory?)"
            )
        if xml_path.exists():
            self.registrations = parse_registry_export(xml_path.read_bytes(), xml_path)
            self.serials = self._serials(xml_path)
        if roster_path.exists():
            data = roster_path.read_bytes()
            self.roster_digest = hashlib.sha256(data).hexdigest()[:16]
            self.roster = self._roster(roster_path, data)

    def _serials(self, path: Path) -> list[int]:
        serials: list[int] = []
        for record, line in zip(self.registrations.records, self.registrations.lines, strict=True):
            text = record.get("登记流水号")
            serial = int(text) if isinstance(text, str) and text.isdigit() else None
            if serial is None or serial <= (serials[-1] if serials else 0):
                raise SourceError(
                    f"{path} line {line}: 登记流水号 must be a number that increases, got {text!r}"
                )
            serials.append(serial)
        return serials

    def _roster(self, path: Path, data: bytes) -> list[dict[str, Any]]:
        text = decode_text(data, path, self.encoding)
        reader = csv_rows(text, path)
        header = [h.strip() for h in next(reader, [])]
        if not header:
            raise SourceError(f"{path}: empty file")
        missing = [c for c in ROSTER_COLUMNS if c not in header]
        if missing:
            raise SourceError(f"{path}: missing columns {', '.join(missing)}")
        rows = []
        for row in reader:
            if not any(v.strip() for v in row):
                continue
            rows.append(csv_record(header, row))
        return rows

    # -- reading ------------------------------------------------------------------------------------------

    def _start(self, cursor_text: str | None) -> Cursor:
        cursor = Cursor.load(cursor_text)
        last = self.serials[-1] if self.serials else 0
        if cursor.serial > last and self.serials:
            raise SourceError(
                f"the export in {self.directory} holds registrations up to 登记流水号 {last}, but "
                f"{cursor.serial} was already synced: it is older than what the hub holds"
            )
        if cursor.roster != self.roster_digest:
            cursor = Cursor(cursor.serial, self.roster_digest, 0)
        return cursor

    def pending(self, cursor_text: str | None) -> int:
        """How many records :meth:`read` would yield (for progress bars)."""
        cursor = self._start(cursor_text)
        return sum(1 for s in self.serials if s > cursor.serial) + len(self.roster) - cursor.row

    def read(self, cursor_text: str | None) -> Iterator[SourceRecord]:
        """Registrations after the cursor's 登记流水号, then the roster's rows after the cursor's; each with
        the cursor just after it."""
        cursor = self._start(cursor_text)
        marriages: dict[str, dict[str, Any]] = {}
        for serial, record in zip(self.serials, self.registrations.records, strict=True):
            kind = KINDS.get(str(record.get("登记类型") or ""), "registration")
            if kind == "marriage":
                number = str(record.get("结婚证字号") or "").strip()
                key = number or f"登记流水号:{serial}"
                if number:
                    marriages.setdefault(number, record)
            else:
                number = str(record.get("原结婚证字号") or "").strip()
                key = number or f"登记流水号:{serial}"
                if kind == "divorce" and number in marriages:
                    record = {**record, JOINED_MARRIAGE: marriages[number]}
            if serial <= cursor.serial:
                continue
            position = Cursor(serial, cursor.roster, cursor.row).dump()
            yield SourceRecord(key, position, record, kind=kind)
        last = self.serials[-1] if self.serials else cursor.serial
        for row_number, row in enumerate(self.roster, start=1):
            if row_number <= cursor.row:
                continue
            position = Cursor(last, cursor.roster, row_number).dump()
            key = str(row.get("证号") or "").strip() or f"roster-row:{row_number}"
            yield SourceRecord(key, position, row, kind="subsistence")
