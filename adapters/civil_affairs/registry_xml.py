"""Reading the marriage registry's XML export safely, with the standard library's expat parser.

The export is untrusted input, so anything beyond plain elements and text is refused before it can do
harm: a document type declaration (and with it every entity declaration, the "billion laughs" expansion
and external entities that read local files or URLs, CWE-776 / CWE-611) stops the parse at its first
byte. Character references and the five predefined entities are ordinary XML and stay allowed.

The shape, with the registry's Chinese element names::

    <婚姻登记数据 导出单位="…" 导出时间="…">
      <婚姻登记记录>
        <登记流水号>1</登记流水号> <登记类型>结婚</登记类型> <登记日期>2010-05-20</登记日期>
        <结婚证字号>J410105-2010-000001</结婚证字号> <婚姻登记机关>…</婚姻登记机关> <备注/>
        <男方><姓名>…</姓名><性别>男</性别><国籍>中国</国籍><出生日期>…</出生日期>
              <身份证件类型>居民身份证</身份证件类型><身份证件号>…</身份证件号></男方>
        <女方>…</女方>
      </婚姻登记记录>
      <婚姻登记记录> <登记类型>离婚</登记类型> <离婚证字号>…</离婚证字号> <原结婚证字号>…</原结婚证字号> …
    </婚姻登记数据>

Each record becomes a dict of its fields' text; ``男方`` and ``女方`` become nested dicts. A record with a
field twice keeps the first and notes the problem in ``_problem`` (a record problem, not a file problem).
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.parsers import expat

from adapters.sdk.records import SourceError

ROOT = "婚姻登记数据"
RECORD = "婚姻登记记录"
PARTIES = ("男方", "女方")
_DECLARED_ENCODING = re.compile(rb"""^<\?xml[^>]*?\sencoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass
class RegistryExport:
    attributes: dict[str, str]
    records: list[dict[str, Any]]
    lines: list[int] = field(default_factory=list)  # the line each record starts on, for messages


class _Refused(Exception):
    pass


def declared_encoding(data: bytes) -> str:
    """The encoding to decode ``data`` with: a byte-order mark, else the XML declaration, else UTF-8
    (XML 1.0 §4.3.3)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    match = _DECLARED_ENCODING.match(data[:200])
    return match.group(1).decode("ascii").lower() if match else "utf-8"


def decode(data: bytes, path: Path) -> str:
    encoding = declared_encoding(data)
    try:
        return data.decode(encoding)
    except LookupError:
        raise SourceError(f"{path}: declares an unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        if exc.end == len(data) and exc.reason == "unexpected end of data":
            raise SourceError(
                f"{path}: not well-formed XML (truncated?): it ends inside a character at line {line}"
            ) from None
        raise SourceError(
            f"{path}: not valid {encoding.removesuffix('-sig')} at byte {exc.start} (line {line}); the "
            "file's bytes do not match the encoding it declares (re-export it, or fix the XML declaration)"
        ) from None


def parse_registry_export(data: bytes, path: Path) -> RegistryExport:
    """Parse the whole export or raise :class:`SourceError` saying where and why it is unusable."""
    text = decode(data, path)
    # The text is already decoded: tell expat it gets UTF-8, whatever the declaration says.
    parser = expat.ParserCreate(encoding="UTF-8")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    builder = _Builder(parser)

    def refuse(what: str) -> Any:
        def handler(*_: Any) -> None:
            raise _Refused(f"{what} is not accepted in an export (entities could expand or read files)")

        return handler

    parser.StartDoctypeDeclHandler = refuse("a DOCTYPE declaration")
    parser.EntityDeclHandler = refuse("an entity declaration")
    parser.UnparsedEntityDeclHandler = refuse("an entity declaration")
    parser.ExternalEntityRefHandler = refuse("an external entity")
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(text, True)
    except _Refused as exc:
        raise SourceError(f"{path} line {parser.CurrentLineNumber}: {exc}") from None
    except expat.ExpatError as exc:
        hint = " (truncated?)" if exc.code in _TRUNCATION_CODES else ""
        raise SourceError(
            f"{path}: not well-formed XML{hint}: {expat.errors.messages[exc.code]} "
            f"at line {exc.lineno}, column {exc.offset}"
        ) from None
    return RegistryExport(builder.attributes, builder.records, builder.lines)


_TRUNCATION_CODES = {  # the errors of a document that stops early, as a truncated export does
    expat.errors.codes[message]
    for message in (
        expat.errors.XML_ERROR_NO_ELEMENTS,
        expat.errors.XML_ERROR_UNCLOSED_TOKEN,
        expat.errors.XML_ERROR_PARTIAL_CHAR,
        expat.errors.XML_ERROR_UNCLOSED_CDATA_SECTION,
    )
}


class _Builder:
    """Records as dicts while expat reads, without keeping a tree of the whole export."""

    def __init__(self, parser: expat.XMLParserType) -> None:
        self.parser = parser
        self.attributes: dict[str, str] = {}
        self.records: list[dict[str, Any]] = []
        self.lines: list[int] = []
        self.path: list[str] = []
        self.record: dict[str, Any] = {}
        self.party: dict[str, Any] | None = None
        self.text: list[str] | None = None

    def start(self, name: str, attributes: dict[str, str]) -> None:
        depth = len(self.path)
        if depth == 0:
            if name != ROOT:
                raise _Refused(f"the root element is <{name}>, an export's is <{ROOT}>")
            self.attributes = dict(attributes)
        elif depth == 1:
            if name != RECORD:
                raise _Refused(f"<{name}> where a <{RECORD}> was expected")
            self.record = {}
            self.records.append(self.record)
            self.lines.append(self.parser.CurrentLineNumber)
        elif depth == 2 and name in PARTIES:
            self.party = {}
            self._put(self.record, name, self.party)
        elif depth == 2 or (depth == 3 and self.party is not None):
            self.text = []
        else:
            raise _Refused(f"<{name}> is nested deeper than a record's fields")
        self.path.append(name)

    def data(self, text: str) -> None:
        if self.text is not None:
            self.text.append(text)
        elif text.strip():
            raise _Refused(f"text outside a field, in <{self.path[-1]}>")

    def end(self, name: str) -> None:
        self.path.pop()
        depth = len(self.path)
        if self.text is not None:
            value = "".join(self.text).strip()
            self._put(self.party if depth == 3 and self.party is not None else self.record, name, value)
            self.text = None
        elif depth == 2 and name in PARTIES:
            self.party = None

    def _put(self, target: dict[str, Any] | None, name: str, value: Any) -> None:
        assert target is not None
        if name in target:
            self.record.setdefault("_problem", f"<{name}> appears more than once")
            return
        target[name] = value
