"""Reading police exports: cursor positions, and broken files refused as a whole before any push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.police.generate import append_changes, write_export
from adapters.police.source import CERTIFICATES_FILE, CHANGES_FILE, POPULATION_FILE, Cursor, PoliceSource
from adapters.samples.population import generate
from adapters.sdk.records import SourceError


@pytest.fixture
def export(tmp_path: Path) -> Path:
    population = generate(120, seed=8)
    write_export(population, tmp_path, seed=8, broken_rows=0)
    append_changes(population, tmp_path, fraction=0.05, seed=9)
    return tmp_path


def test_reading_from_any_position_gives_the_rest(export: Path) -> None:
    source = PoliceSource(export)
    records = list(source.read(None))
    summary = source.summary
    assert (
        len(records)
        == summary.population_rows + summary.changes + summary.certificates
        == source.pending(None)
    )
    assert [r.kind for r in records].count("certificate") == summary.certificates
    for cut in (0, 1, 57, summary.population_rows, summary.population_rows + 2, len(records) - 1):
        rest = list(source.read(records[cut].position))
        assert [(r.key, r.position) for r in rest] == [(r.key, r.position) for r in records[cut + 1 :]]
        assert source.pending(records[cut].position) == len(rest)
    assert list(source.read(records[-1].position)) == []


def test_a_new_export_is_read_whole_and_an_older_one_refused(export: Path) -> None:
    source = PoliceSource(export)
    end = list(source.read(None))[-1].position
    manifest = json.loads((export / "manifest.json").read_text())
    manifest.update(snapshot_id="next-export", changes_after=Cursor.load(end).change)
    (export / "manifest.json").write_text(json.dumps(manifest))
    (export / CHANGES_FILE).write_text("")
    again = PoliceSource(export)
    assert (
        len(list(again.read(end)))
        == again.summary.population_rows + again.summary.certificates - Cursor.load(end).certificate
    )
    manifest.update(snapshot_id="older-export", changes_after=0)
    (export / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SourceError, match="older than what the hub holds"):
        list(PoliceSource(export).read(end))


def test_gb18030_export_needs_its_encoding(export: Path) -> None:
    path = export / POPULATION_FILE
    path.write_bytes(path.read_text(encoding="utf-8").encode("gb18030"))
    with pytest.raises(SourceError, match=r"not valid utf-8 at byte 0 \(line 1\).*--encoding gb18030"):
        PoliceSource(export)
    assert PoliceSource(export, encoding="gb18030").summary.population_rows > 100


def test_missing_columns_are_named(export: Path) -> None:
    path = export / POPULATION_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if name not in ("户号", "有效期限")]
    path.write_text("\n".join(",".join(line.split(",")[i] for i in keep) for line in lines), encoding="utf-8")
    with pytest.raises(SourceError, match="missing columns 户号, 有效期限"):
        PoliceSource(export)


def test_a_truncated_change_log_is_refused(export: Path) -> None:
    path = export / CHANGES_FILE
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) - 40], encoding="utf-8")
    with pytest.raises(SourceError, match=r"changes.jsonl line \d+: not valid JSON \(truncated\?\)"):
        PoliceSource(export)


def test_a_rotated_change_log_is_refused(export: Path) -> None:
    source = PoliceSource(export)
    cursor = Cursor.load(
        list(source.read(None))[source.summary.population_rows].position
    )  # first change read
    path = export / CHANGES_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(lines[3:]) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match="entries in between are missing"):
        list(PoliceSource(export).read(cursor.dump()))


def test_a_short_row_becomes_a_record_problem_not_a_file_error(export: Path) -> None:
    path = export / POPULATION_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[5] = ",".join(lines[5].split(",")[:6])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    records = list(PoliceSource(export).read(None))
    assert "row has 6 fields" in records[4].data["_problem"]


def test_a_field_over_the_csv_limit_is_refused_naming_the_line(export: Path) -> None:
    path = export / POPULATION_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[7] = lines[7] + ',"' + "住" * 140_000 + '"'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=r"population\.csv line 8: the CSV cannot be read \(field larger"):
        PoliceSource(export)


@pytest.mark.parametrize("name", [CHANGES_FILE, CERTIFICATES_FILE])
def test_a_json_line_nested_past_the_parsers_depth_is_refused_naming_the_line(
    export: Path, name: str
) -> None:
    path = export / name
    lines = path.read_text(encoding="utf-8").splitlines()
    deep = json.dumps({"seq": 10**9, "op": "changed", "record": {"住址": "__DEEP__"}})
    lines.append(deep.replace('"__DEEP__"', "[" * 100_000 + "]" * 100_000))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(SourceError, match=rf"{name} line {len(lines)}: JSON nested too deeply to read"):
        PoliceSource(export)
