"""The benchmark harness runs end to end on a tiny SQLite workload and reports what it promises.

No timing is asserted: only that every figure is there and positive, and that the report renders.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import harness, lookups, report, spy


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
            seconds=0.3,
            warmup_s=0.1,
            backend="sqlite",
            batch_size=8,
            signers=0,
            profile="always",
            profile_lookups=5,
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
