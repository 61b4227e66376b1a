"""Reading civil-affairs exports: cursor positions, divorces read with their marriage, and broken or
hostile files refused as a whole before any record is read."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.civil_affairs.__main__ import app
from adapters.civil_affairs.generate import append_events, write_export
from adapters.civil_affairs.source import (
    JOINED_MARRIAGE,
    REGISTRATIONS_FILE,
    ROSTER_FILE,
    CivilAffairsSource,
    Cursor,
)
from adapters.samples.population import Population, generate
from adapters.sdk.records import SourceError

HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


@pytest.fixture
def population() -> Population:
    return generate(300, seed=53)


@pytest.fixture
def export(population: Population, tmp_path: Path) -> Path:
    write_export(population, tmp_path, seed=53)
    return tmp_path


def write_xml(directory: Path, body: str, head: str = HEAD) -> Path:
    path = directory / REGISTRATIONS_FILE
    path.write_text(head + body, encoding="utf-8")
    return path


def one_record(fields: str) -> str:
    return f"<婚姻登记数据><婚姻登记记录><登记流水号>1</登记流水号>{fields}</婚姻登记记录></婚姻登记数据>"


def test_reading_from_any_position_gives_the_rest(export: Path) -> None:
    source = CivilAffairsSource(export)
    records = list(source.read(None))
    registrations = len(source.registrations.records)
    assert len(records) == registrations + len(source.roster) == source.pending(None)
    assert {r.kind for r in records[:registrations]} == {"marriage", "divorce"}
    assert {r.kind for r in records[registrations:]} == {"subsistence"}
    for cut in (0, 1, 57, registrations - 1, registrations, len(records) - 1):
        rest = list(source.read(records[cut].position))
        assert [(r.key, r.position) for r in rest] == [(r.key, r.position) for r in records[cut + 1 :]]
        assert source.pending(records[cut].position) == len(rest)
    assert list(source.read(records[-1].position)) == []


def test_a_divorce_is_read_with_the_marriage_it_ends_and_under_its_key(
    population: Population, export: Path
) -> None:
    records = list(CivilAffairsSource(export).read(None))
    divorces = [r for r in records if r.kind == "divorce"]
    assert len(divorces) == sum(1 for m in population.marriages if m.divorced_on) > 0
    marriages = {r.key: r for r in records if r.kind == "marriage"}
    for divorce in divorces:
        assert divorce.key == divorce.data["原结婚证字号"]
        assert divorce.data[JOINED_MARRIAGE] == marriages[divorce.key].data
        assert records.index(marriages[divorce.key]) < records.index(divorce)


def test_a_later_export_continues_after_the_last_registration_and_rereads_a_new_roster(
    population: Population, export: Path
) -> None:
    end = list(CivilAffairsSource(export).read(None))[-1].position
    events = append_events(population, export, divorces=2, ended_cases=1, seed=9)
    source = CivilAffairsSource(export)
    rest = list(source.read(end))
    assert [r.kind for r in rest] == ["divorce", "divorce"] + ["subsistence"] * len(source.roster)
    assert [r.key for r in rest[:2]] == [m.certificate for m in events.divorced]
    assert all(JOINED_MARRIAGE in r.data for r in rest[:2])
    ended = [r for r in rest if r.key == events.ended[0].certificate]
    assert [r.data["状态"] for r in ended] == ["停保"]


def test_an_older_export_is_refused(export: Path) -> None:
    end = list(CivilAffairsSource(export).read(None))[-1].position
    path = export / REGISTRATIONS_FILE
    text = path.read_text(encoding="utf-8")
    cut = text.rindex("  <婚姻登记记录>")
    path.write_text(text[:cut] + "</婚姻登记数据>\n", encoding="utf-8")
    with pytest.raises(SourceError, match="older than what the hub holds"):
        list(CivilAffairsSource(export).read(end))


@pytest.mark.parametrize("cut", [200, 301, 1000])
def test_a_truncated_xml_export_is_refused(export: Path, cut: int) -> None:
    path = export / REGISTRATIONS_FILE
    path.write_bytes(path.read_bytes()[:-cut])
    with pytest.raises(SourceError, match=r"marriage_registrations.xml: not well-formed XML \(truncated\?\)"):
        CivilAffairsSource(export)


def test_an_xml_export_in_another_encoding_than_declared_is_refused(export: Path) -> None:
    path = export / REGISTRATIONS_FILE
    path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    with pytest.raises(SourceError, match=r"not valid utf-8 at byte \d+ \(line 2\).*encoding it declares"):
        CivilAffairsSource(export)


def test_an_xml_export_declaring_gb18030_is_read(population: Population, tmp_path: Path) -> None:
    write_export(population, tmp_path, seed=53, encoding="gb18030")
    assert (
        (tmp_path / REGISTRATIONS_FILE).read_bytes().startswith(b'<?xml version="1.0" encoding="GB18030"?>')
    )
    with pytest.raises(SourceError, match="not valid utf-8"):
        CivilAffairsSource(tmp_path)  # the roster is GB18030 too, and says so nowhere
    source = CivilAffairsSource(tmp_path, encoding="gb18030")
    names = {r.data["男方"]["姓名"] for r in source.read(None) if r.kind == "marriage"}
    assert names & {c.name for c in population.citizens.values()}


@pytest.mark.parametrize(
    "doctype",
    [
        '<!DOCTYPE 婚姻登记数据 [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n',
        '<!DOCTYPE 婚姻登记数据 [<!ENTITY secret SYSTEM "file:///etc/hostname">]>\n',
        '<!DOCTYPE 婚姻登记数据 SYSTEM "http://127.0.0.1:9/registry.dtd">\n',
        "<!DOCTYPE 婚姻登记数据>\n",
    ],
)
def test_a_doctype_or_entity_is_refused_before_anything_is_expanded(tmp_path: Path, doctype: str) -> None:
    write_xml(tmp_path, one_record("<备注>&b;&secret;</备注>"), HEAD + doctype)
    with pytest.raises(SourceError, match=r"line 2: a DOCTYPE declaration is not accepted in an export"):
        CivilAffairsSource(tmp_path)


def test_an_undeclared_entity_is_not_well_formed_but_character_references_are_fine(tmp_path: Path) -> None:
    write_xml(tmp_path, one_record("<备注>&x;</备注>"))
    with pytest.raises(SourceError, match="not well-formed XML: undefined entity at line 2"):
        CivilAffairsSource(tmp_path)
    write_xml(tmp_path, one_record("<备注>A&amp;B &#x4E2D;</备注>"))
    assert CivilAffairsSource(tmp_path).registrations.records == [{"登记流水号": "1", "备注": "A&B 中"}]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<导出><婚姻登记记录/></导出>", "the root element is <导出>"),
        ("<婚姻登记数据><记录/></婚姻登记数据>", "<记录> where a <婚姻登记记录> was expected"),
        (
            "<婚姻登记数据><婚姻登记记录><登记流水号>1<x/></登记流水号></婚姻登记记录></婚姻登记数据>",
            "nested deeper",
        ),
        (
            "<婚姻登记数据><婚姻登记记录><登记流水号>2</登记流水号></婚姻登记记录>"
            "<婚姻登记记录><登记流水号>2</登记流水号></婚姻登记记录></婚姻登记数据>",
            "登记流水号 must be a number that increases, got '2'",
        ),
        ("<婚姻登记数据><婚姻登记记录><登记类型>结婚</登记类型></婚姻登记记录></婚姻登记数据>", "got None"),
    ],
)
def test_an_export_of_another_shape_is_refused(tmp_path: Path, body: str, message: str) -> None:
    write_xml(tmp_path, body)
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CivilAffairsSource(tmp_path)


def test_a_field_given_twice_is_a_record_problem_not_a_file_error(tmp_path: Path) -> None:
    write_xml(
        tmp_path,
        "<婚姻登记数据><婚姻登记记录><登记流水号>1</登记流水号><男方><姓名>甲</姓名><姓名>乙</姓名></男方>"
        "</婚姻登记记录></婚姻登记数据>",
    )
    (record,) = CivilAffairsSource(tmp_path).read(None)
    assert (
        record.data["男方"] == {"姓名": "甲"} and record.data["_problem"] == "<姓名> appears more than once"
    )


def test_roster_missing_columns_are_named_and_its_encoding_checked(export: Path) -> None:
    path = export / ROSTER_FILE
    original = path.read_text(encoding="utf-8")
    lines = original.splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in ("证号", "状态")]
    path.write_text("\n".join(",".join(line.split(",")[i] for i in keep) for line in lines), encoding="utf-8")
    with pytest.raises(SourceError, match=r"subsistence_roster\.csv: missing columns 证号, 状态"):
        CivilAffairsSource(export)
    path.write_bytes(original.encode("gb18030"))
    with pytest.raises(SourceError, match=r"not valid utf-8 at byte \d+ \(line 1\).*--encoding gb18030"):
        CivilAffairsSource(export)
    assert len(CivilAffairsSource(export, encoding="gb18030").roster) == len(lines) - 1


def test_a_short_roster_row_becomes_a_record_problem(export: Path) -> None:
    path = export / ROSTER_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = ",".join(lines[2].split(",")[:5])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = [r for r in CivilAffairsSource(export).read(None) if r.kind == "subsistence"]
    assert rows[1].data["_problem"] == "row has 5 fields, the header 13"


def test_either_file_alone_is_an_export_but_neither_is_not(export: Path) -> None:
    (export / ROSTER_FILE).unlink()
    assert {r.kind for r in CivilAffairsSource(export).read(None)} == {"marriage", "divorce"}
    (export / REGISTRATIONS_FILE).unlink()
    with pytest.raises(SourceError, match=r"neither marriage_registrations\.xml nor subsistence_roster\.csv"):
        CivilAffairsSource(export)


def test_the_generate_command_writes_an_export_the_source_reads(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["generate", "--out", str(tmp_path), "--citizens", "200", "--seed", "5", "--divorces", "1"]
    )
    assert result.exit_code == 0, result.output
    source = CivilAffairsSource(tmp_path)
    assert source.registrations.records[-1]["登记类型"] == "离婚"
    assert Cursor.load(list(source.read(None))[-1].position).serial == len(source.registrations.records)


def test_a_roster_field_over_the_csv_limit_is_refused_naming_the_line(export: Path) -> None:
    path = export / ROSTER_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + ',"' + "低保" * 70_000 + '"'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(
        SourceError, match=r"subsistence_roster\.csv line 3: the CSV cannot be read \(field larger"
    ):
        CivilAffairsSource(export)


def test_an_xml_export_nested_deeply_is_refused_cleanly(tmp_path: Path) -> None:
    write_xml(tmp_path, one_record("<a>" * 50_000 + "</a>" * 50_000))
    with pytest.raises(SourceError, match=r"marriage_registrations\.xml"):
        CivilAffairsSource(tmp_path)
