"""The benchmark harness runs end to end on tiny workloads and reports what it promises: ingest and
lookups (with prefill, offline verification and memory) on SQLite; the size sweep, cold start and the
audit log on PostgreSQL; the report, its plots' data and README's performance table.

No timing is asserted: only that every figure is there and positive, and that the report renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import harness, lookups, report, sizes, spy


def test_harness_reports_every_figure_on_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spy, "find_py_spy", lambda: None)  # the lookups profile runs in-process only
    config = harness.Config(
        backends=("sqlite",),
        sequential_licences=24,
        concurrent_licences=24,
        clients=2,
        batch_size=8,
        profile_licences=16,
        profile_backends=("sqlite",),
        py_spy=False,
        lookups=lookups.LookupConfig(
            licences=20,
            concurrencies=(1, 2),
            seconds=0.2,
            warmup_s=0.1,
            backend="sqlite",
            batch_size=8,
            signers=0,
            profile="always",
            profile_lookups=5,
            verify_seconds=0.1,
        ),
    )
    result = harness.run_bench(config)

    assert {"machine", "config", "backends", "total_seconds"} <= result.keys()
    assert result["machine"]["cores"] > 0 and result["machine"]["python"]
    sqlite = result["backends"]["sqlite"]
    assert sqlite["ceiling"]["per_second"] > 0
    assert sqlite["sdjwt_reference"]["per_second"] > 0
    assert set(sqlite["ingest"]) == {"sequential", "concurrent_2"}
    for phase, expected_clients in (("sequential", 1), ("concurrent_2", 2)):
        measured = sqlite["ingest"][phase]
        assert measured["clients"] == expected_clients
        assert measured["licences"] == 24
        assert measured["batches"] == len(measured["batches_detail"]) > 0
        assert measured["per_second"] > 0 and measured["ratio_to_ceiling"] > 0
        assert sum(r["licences"] for r in measured["rounds"]) == 24  # posted in rounds, none lost
        assert min(r["ratio_to_ceiling"] for r in measured["rounds"]) <= measured["ratio_to_ceiling"]
        latency = measured["batch_latency_s"]
        assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert sqlite["in_process"]["per_second"] > 0 and sqlite["in_process"]["statements"]
    assert any(stage["seconds"] > 0 for stage in sqlite["profile"]["stages"])
    assert sqlite["profile"]["top_tottime"]
    assert "target" not in result  # the target is about PostgreSQL, which this run did not measure

    looked = result["lookups"]
    assert looked["dataset"]["licences"] == looked["dataset"]["licences_in_database"] == 20
    assert looked["dataset"]["citizens"] == 10 and looked["response_bytes"]["median"] > 0
    assert set(looked["levels"]) == {"1", "2"}
    for level in looked["levels"].values():
        for server in ("bare", "lookups"):
            measured = level[server]
            assert measured["requests"] > 0 and measured["errors"] == 0 and measured["per_second"] > 0
            latency = measured["latency_s"]
            assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
        assert level["ratio"] > 0
        prefill = level["prefill"]
        for server, measured in (("bare", prefill["bare"]), ("prefill", prefill["prefill"])):
            assert measured["requests"] > 0 and measured["errors"] == 0, server
            assert measured["server_rss_bytes"]["max"] > 0
        assert prefill["ratio"] > 0
    assert looked["prefill_response_bytes"]["median"] > looked["response_bytes"]["median"]
    verified = looked["offline_verification"]
    assert verified["samples"] == 31  # one ID card a validated lookup
    for key in ("ceiling", "full", "no_status"):
        assert verified[key]["per_second"] > 0
    assert looked["server_rss_idle_bytes"] > 0
    assert looked["target"] == {"measured": False, "concurrency": 32}  # 32 clients were not run
    assert looked["in_process"]["statements_per_lookup"] > 0
    assert any(stage["seconds"] > 0 for stage in looked["profile"]["stages"])
    assert "server_profile_skipped" in looked

    written = report.write_all(result, tmp_path, plots=False)
    assert (
        json.loads(written["json"].read_text())["backends"]["sqlite"]["ingest"]["sequential"]["licences"]
        == 24
    )
    markdown = written["markdown"].read_text()
    assert "## Machine" in markdown and "SQLite" in markdown and "ratio to ceiling" in markdown
    assert "Lookups against the ceiling" in markdown and "bare req/s" in markdown
    assert "## Prefill against the ceiling" in markdown and "## Offline verification" in markdown
    assert "## Resident memory under load" in markdown and "## Summary" in markdown


def test_size_sweep_cold_start_and_audit_on_postgres(tmp_path: Path) -> None:
    config = harness.Config(
        backends=(),
        lookups=None,
        sizes=sizes.SizeConfig(
            sizes=(200, 400), seconds=0.5, warmup_s=0.2, signers=0, chunk=150, cold_start_runs=1
        ),
    )
    result = harness.run_bench(config)
    from bench import audit_bench

    result["audit"] = audit_bench.run(
        config.pg_admin_url, leaves=300, quick=True, log=lambda _: None, counts=(5, 5, 5)
    )

    swept = result["sizes"]
    assert swept["sizes"] == [200, 400] and set(swept["levels"]) == {"200", "400"}
    for size, level in swept["levels"].items():
        assert level["growth"]["licences_in_database"] == int(size)
        measured = level["lookups"]
        assert measured["requests"] > 0 and measured["errors"] == 0
        assert 0 < measured["latency_s"]["p50"] <= measured["latency_s"]["p99"]
        assert measured["server_rss_bytes"]["max"] > 0
        cold = level["cold_start"]
        assert 0 < cold["ready_s"] <= cold["first_answer_s"] and cold["first_answer_status"] == 200
    assert swept["bare_cold_start"]["ready_s"] > 0
    assert swept["target"]["measured"] and swept["target"]["ratio"] > 0
    assert result["audit"]["appends"]["1"]["appends_per_s"] > 0

    written = report.write_all(result, tmp_path, plots=False)
    markdown = written["markdown"].read_text()
    assert "## Lookups against registry size" in markdown and "## Audit log" in markdown
    table = report.readme_section(result)
    assert "Lookup p50 against registry size" in table and "Cold start" in table
    readme = tmp_path / "README.md"
    readme.write_text("# Hub\n\n## Two commands\n\ntext\n\n## Configuration\n\nmore\n")
    assert report.update_readme(result, readme)
    text = readme.read_text()
    assert text.index("## Performance") < text.index("## Configuration") and "Audit appends" in text
    assert not report.update_readme(result, readme)  # regenerating from the same report changes nothing
