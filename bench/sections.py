"""The report's parts beyond ingest and lookups: the summary table (also README's performance table),
prefill, offline verification, resident memory, lookups against dataset size and cold start, the audit
log and the adapters' full syncs; and their plots (``prefill.png``, ``sizes.png``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

Add = Any  # list.append of the markdown lines


def _rate(value: float) -> str:
    return f"{value / 1000:,.1f}k" if value >= 10_000 else f"{value:,.0f}"


def _ms(seconds: float) -> str:
    value = seconds * 1000
    return f"{value:,.1f} ms" if value < 100 else f"{value:,.0f} ms"


def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _verdict(met: bool) -> str:
    return "**met**" if met else "**NOT MET**"


# The summary -----------------------------------------------------------------------------------------------


def summary_rows(report: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(measure, result, ceiling in the same run, ratio, target) for every headline figure of a run."""
    rows: list[tuple[str, str, str, str, str]] = []
    target = report.get("target") or {}
    for backend, name in (("postgres", "PostgreSQL"), ("sqlite", "SQLite")):
        b = report.get("backends", {}).get(backend)
        if not b:
            continue
        seq = b["ingest"]["sequential"]
        others = [p for phase, p in b["ingest"].items() if phase != "sequential"]
        result = f"{_rate(seq['per_second'])} licences/s"
        if others:
            result += f" ({others[0]['clients']} clients: {_rate(others[0]['per_second'])}/s)"
        goal = "—"
        if backend == "postgres" and target:
            goal = f"≥ {target['threshold']} (one feed): {_verdict(target['met'])}"
        rows.append(
            (
                f"Batch ingest, {name}, one feed",
                result,
                f"bare ES256 verify {_rate(seq.get('ceiling_per_second', b['ceiling']['per_second']))}/s"
                + (
                    f" (mean of {len(seq['rounds']) + 1}, measured between rounds)"
                    if seq.get("rounds")
                    else ""
                ),
                f"{seq['ratio_to_ceiling']:.2f}"
                + (f" ({others[0]['ratio_to_ceiling']:.2f})" if others else "")
                + (f", median of {len(seq['rounds'])} rounds" if seq.get("rounds") else ""),
                goal,
            )
        )
    lk = report.get("lookups")
    if lk and lk.get("levels"):
        n = lk["dataset"]["licences_in_database"]
        lt = lk.get("target") or {}
        for c, level in lk["levels"].items():
            m, bare = level["lookups"], level["bare"]
            goal = "—"
            if lt.get("measured") and str(lt["concurrency"]) == c:
                goal = f"≥ 0.25, p99 ≤ 100 ms: {_verdict(lt['met'])}"
            rows.append(
                (
                    f"Lookups, {c} client{'s' if c != '1' else ''}, {n:,} licences",
                    f"{_rate(m['ok_per_second'])}/s, p50 {_ms(m['latency_s']['p50'])}, "
                    f"p99 {_ms(m['latency_s']['p99'])}" + (f", {m['errors']} failed" if m["errors"] else ""),
                    f"bare endpoint {_rate(bare['per_second'])}/s",
                    f"{level['ratio']:.2f}",
                    goal,
                )
            )
        for c, level in lk["levels"].items():
            pf = level.get("prefill")
            if not pf:
                continue
            m, bare = pf["prefill"], pf["bare"]
            rows.append(
                (
                    f"Prefill (MZCFBG), {c} client{'s' if c != '1' else ''}",
                    f"{_rate(m['ok_per_second'])}/s, p50 {_ms(m['latency_s']['p50'])}, "
                    f"p99 {_ms(m['latency_s']['p99'])}" + (f", {m['errors']} failed" if m["errors"] else ""),
                    f"bare endpoint {_rate(bare['per_second'])}/s",
                    f"{pf['ratio']:.2f}",
                    "—",
                )
            )
        ov = lk.get("offline_verification")
        if ov:
            rows.append(
                (
                    "Offline verification of lookup presentations",
                    f"{_rate(ov['full']['per_second'])}/s with the status list, "
                    f"{_rate(ov['no_status']['per_second'])}/s without",
                    f"bare 2 × ES256 {_rate(ov['ceiling']['per_second'])}/s",
                    f"{ov['full']['ratio_to_ceiling']:.2f} ({ov['no_status']['ratio_to_ceiling']:.2f})",
                    "—",
                )
            )
        memory = memory_summary(lk)
        if memory:
            rows.append(
                (
                    f"Hub resident memory under lookup load (≤ {memory['concurrency']} clients)",
                    f"{_mib(memory['hub_max'])} (idle {_mib(memory['hub_idle'])})",
                    f"bare endpoint {_mib(memory['bare_max'])}",
                    "—",
                    "—",
                )
            )
    audit = report.get("audit")
    if audit:
        a, s = audit["appends"], audit["share"]
        rows.append(
            (
                f"Audit appends, log at {audit['fill']['leaves']:,} leaves",
                f"{a['1']['appends_per_s']:,}/s (1 writer), {a['8']['appends_per_s']:,}/s (8 writers); "
                f"inclusion proof {audit['proofs']['inclusion']['median_ms']} ms",
                "—",
                "—",
                f"audit share of a lookup {s['share_of_request']:.0%} (≤ 20%): {_verdict(s['meets_target'])}",
            )
        )
    sz = report.get("sizes")
    if sz and sz.get("levels"):
        levels = sz["levels"]
        first = levels[str(min(int(k) for k in levels))]
        cold, bare_cold = first["cold_start"], sz.get("bare_cold_start") or {}
        rows.append(
            (
                "Cold start, `hub serve` to first answer",
                f"{cold['ready_s']:.1f} s to /readyz, {cold.get('first_answer_s', 0):.1f} s to a lookup "
                f"({first['licences']:,} licences)",
                f"bare app {bare_cold.get('ready_s', 0):.1f} s",
                "—",
                "—",
            )
        )
        parts = ", ".join(
            f"{int(k):,}: {_ms(v['lookups']['latency_s']['p50'])}"
            for k, v in sorted(levels.items(), key=lambda kv: int(kv[0]))
        )
        t = sz.get("target") or {}
        rows.append(
            (
                f"Lookup p50 against registry size ({sz['concurrency']} clients)",
                parts,
                "—",
                f"{t['ratio']:.2f}" if t.get("measured") else "—",
                f"largest ≤ {t.get('threshold', 1.3)} × smallest: {_verdict(t['met'])}"
                if t.get("measured")
                else "—",
            )
        )
    ad = report.get("adapters")
    if ad:
        parts = []
        for kind, sync in ad.get("syncs", {}).items():
            if "records_per_second" in sync:
                parts.append(f"{kind} {_rate(sync['licences_per_second'])} licences/s")
            elif sync.get("timed_out") and sync.get("partial_licences_per_second"):
                parts.append(
                    f"{kind} stopped at the {sync['wall_seconds']:.0f} s budget "
                    f"({_rate(sync['partial_licences_per_second'])} licences/s until then)"
                )
            else:
                parts.append(f"{kind}: {sync.get('error') or sync.get('skipped') or 'not measured'}")
        if parts:
            rows.append(
                (f"Adapter full sync, {ad['config']['citizens']:,} citizens", "; ".join(parts), "—", "—", "—")
            )
    return rows


def memory_summary(lk: dict[str, Any]) -> dict[str, Any] | None:
    hub, bare = [], []
    for level in lk.get("levels", {}).values():
        for key, sink in (("lookups", hub), ("bare", bare)):
            rss = level[key].get("server_rss_bytes")
            if rss:
                sink.append(rss["max"])
        pf = level.get("prefill")
        if pf and pf["prefill"].get("server_rss_bytes"):
            hub.append(pf["prefill"]["server_rss_bytes"]["max"])
    if not hub:
        return None
    return {
        "hub_max": max(hub),
        "hub_idle": lk.get("server_rss_idle_bytes", 0),
        "bare_max": max(bare) if bare else 0,
        "concurrency": max(int(c) for c in lk["levels"]),
    }


def machine_line(report: dict[str, Any]) -> str:
    m = report["machine"]
    pg = (m.get("postgresql") or "").split(" ")[0]
    workers = (report.get("lookups") or {}).get("servers", {}).get("workers", 1)
    return (
        f"{m['cores']} vCPU {m['cpu_model']}, {m['ram_gib']} GiB, {m['python']}, PostgreSQL {pg}, "
        f"{workers} uvicorn worker{'s' if workers != 1 else ''}, {m['date'][:10]}"
    )


def performance_table(report: dict[str, Any]) -> str:
    lines = [
        "| Measure | Result | Ceiling in the same run | Ratio | Target |",
        "|---|---|---|---:|---|",
    ]
    lines += [f"| {' | '.join(row)} |" for row in summary_rows(report)]
    return "\n".join(lines)


# Sections --------------------------------------------------------------------------------------------------


def render(report: dict[str, Any], plots: list[str], add: Add) -> None:
    for name, error in (report.get("phase_errors") or {}).items():
        add(f"**The {name} phase failed** and has no figures in this report: `{error}`")
        add("")
    for name, note in (report.get("phase_notes") or {}).items():
        add(f"**Note on the {name} phase:** {note}")
        add("")
    lk = report.get("lookups")
    if lk and any(level.get("prefill") for level in lk.get("levels", {}).values()):
        _prefill(lk, plots, add)
    if lk and lk.get("offline_verification"):
        _verification(lk["offline_verification"], add)
    if lk:
        _memory(lk, add)
    if report.get("sizes"):
        _sizes(report["sizes"], plots, add)
    if report.get("audit"):
        _audit(report["audit"], add)
    if report.get("adapters"):
        _adapters(report["adapters"], add)


def _prefill(lk: dict[str, Any], plots: list[str], add: Add) -> None:
    add("## Prefill against the ceiling")
    add("")
    b = lk.get("prefill_response_bytes", {})
    add(
        "`POST /v1/prefill` of the service item `MZCFBG` (民族成分变更) for a random loaded citizen: the ID "
        "card and the household register at T2 fill the form (the approval service holds T2 grants for "
        "both). "
        "Answers are checked (complete, the form's ID number the holder's) during warm-ups and every 500th "
        f"request. Typical answer: {b.get('median', 0):,} bytes. **Ceiling**: the same bare app answering a "
        "captured prefill response of the median size, same server command line, measured just before at the "
        "same concurrency, in the same run as the lookups above."
    )
    add("")
    add(
        "| clients | bare req/s | bare p50 | bare p99 | prefill/s | prefill p50 | prefill p99 "
        "| ratio to bare | failed |"
    )
    add("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c, level in lk["levels"].items():
        pf = level.get("prefill")
        if not pf:
            continue
        bare, m = pf["bare"], pf["prefill"]
        add(
            f"| {c} | {_rate(bare['per_second'])} | {_ms(bare['latency_s']['p50'])} "
            f"| {_ms(bare['latency_s']['p99'])} "
            f"| **{_rate(m['ok_per_second'])}** | {_ms(m['latency_s']['p50'])} "
            f"| {_ms(m['latency_s']['p99'])} "
            f"| **{pf['ratio']:.2f}** | {m['errors']} |"
        )
    add("")
    if "prefill.png" in plots:
        add("![prefill.png](prefill.png)")
        add("")


def _verification(ov: dict[str, Any], add: Add) -> None:
    add("## Offline verification against the ceiling")
    add("")
    add(
        f"{ov['samples']} SD-JWT+KB presentations returned by the validated lookups above (mean "
        f"{ov['presentation_bytes_mean']:,.0f} characters), verified in a loop, one thread, with "
        "`hub.contract.verifier.verify_presentation_offline` (what `hub verify` runs): the hub's key bundle "
        "fetched once, status list tokens saved once. **Ceiling**: the two signatures no verifier can skip, "
        "checked bare with joserfc (the department's ES256 on the issuer JWT and the hub's ES256 on the "
        "KB-JWT)."
    )
    add("")
    add("| | presentations/s | ratio to ceiling |")
    add("| --- | ---: | ---: |")
    add(f"| ceiling: bare 2 × ES256 verify | {_rate(ov['ceiling']['per_second'])} | 1.00 |")
    add(
        f"| `verify_presentation_offline`, saved status list (`--status offline`) | "
        f"**{_rate(ov['full']['per_second'])}** | **{ov['full']['ratio_to_ceiling']:.2f}** |"
    )
    add(
        "| `verify_presentation_offline`, no status check (`--status skip`) "
        f"| {_rate(ov['no_status']['per_second'])} "
        f"| {ov['no_status']['ratio_to_ceiling']:.2f} |"
    )
    add("")


def _memory(lk: dict[str, Any], add: Add) -> None:
    memory = memory_summary(lk)
    if not memory:
        return
    add("## Resident memory under load")
    add("")
    add(
        "RSS of each server's process tree (psutil), sampled every 0.25 s during every measured window "
        "above; "
        f"the hub holds {lk['dataset']['licences_in_database']:,} licences."
    )
    add("")
    add("| clients | bare endpoint | hub, lookups | hub, prefill |")
    add("| ---: | ---: | ---: | ---: |")
    for c, level in lk["levels"].items():
        pf = level.get("prefill")
        hub_pf = (
            _mib(pf["prefill"]["server_rss_bytes"]["max"])
            if pf and pf["prefill"].get("server_rss_bytes")
            else "—"
        )
        bare_rss = level["bare"].get("server_rss_bytes", {}).get("max", 0)
        hub_rss = level["lookups"].get("server_rss_bytes", {}).get("max", 0)
        add(f"| {c} | {_mib(bare_rss)} | {_mib(hub_rss)} | {hub_pf} |")
    add("")
    add(
        f"Idle hub before the levels: {_mib(memory['hub_idle'])}. "
        f"Peak under load: **{_mib(memory['hub_max'])}**."
    )
    add("")


def _sizes(sz: dict[str, Any], plots: list[str], add: Add) -> None:
    levels = sz.get("levels") or {}
    add("## Lookups against registry size (PostgreSQL)")
    add("")
    add(
        f"One database grown {' → '.join(f'{n:,}' for n in sz['sizes'])} licences (a resident ID card and a "
        f"household register per citizen), rows built {sz.get('method', '')}. At each size `hub serve` is "
        f"started on the prepared database, 31 lookups are checked in full, then {sz['concurrency']} clients "
        f"send lookups for {sz['warmup_s']:.1f} s of warm-up and {sz['seconds']:.0f} s measured (the same "
        "requests as above: a random loaded citizen's ID card at T2)."
    )
    add("")
    add(
        "| licences | database | built at | lookups/s | p50 | p99 | failed | hub RSS | cold start: /readyz | "
        "first lookup |"
    )
    add("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in sorted(levels, key=int):
        v = levels[key]
        m, g, cold = v["lookups"], v["growth"], v["cold_start"]
        add(
            f"| {int(key):,} | {g['database_bytes'] / 2**30:,.2f} GiB | {_rate(g['per_second'])}/s "
            f"| {_rate(m['ok_per_second'])} | **{_ms(m['latency_s']['p50'])}** "
            f"| {_ms(m['latency_s']['p99'])} "
            f"| {m['errors']} | {_mib(m.get('server_rss_bytes', {}).get('max', 0))} "
            f"| {cold['ready_s']:.2f} s "
            f"| {cold.get('first_answer_s', 0):.2f} s |"
        )
    add("")
    bare = sz.get("bare_cold_start")
    if bare:
        add(
            "Cold start of the bare endpoint app under the same uvicorn command line: "
            f"**{bare['ready_s']:.2f} s** "
            f"to its first answer (median of {len(bare['runs'])}); `hub serve` also applies migrations and "
            "loads its keys before uvicorn starts."
        )
        add("")
    t = sz.get("target") or {}
    if t.get("measured"):
        add(
            f"**Target**: {t['description']}: {_verdict(t['met'])} — p50 at {t['largest']:,} is "
            f"**{t['ratio']:.2f}×** p50 at {t['smallest']:,}."
        )
        add("")
    if "sizes.png" in plots:
        add("![sizes.png](sizes.png)")
        add("")


def _demoted(markdown: str) -> list[str]:
    lines = markdown.splitlines()
    if lines and lines[0].startswith("# "):
        lines = lines[1:]
    return [("#" + line) if line.startswith("## ") else line for line in lines]


def _audit(audit: dict[str, Any], add: Add) -> None:
    from bench import audit_bench

    add("## Audit log")
    add("")
    add("(`bench/audit_bench.py`, run by `python -m bench` on its own fresh database.)")
    add("")
    for line in _demoted(audit_bench.report({**audit, "machine": _NO_MACHINE}))[3:]:
        add(line)
    add("")


_NO_MACHINE = {
    "date": "",
    "cpu_model": "",
    "cores_usable": 0,
    "cores": 0,
    "ram_gib": 0,
    "python": "",
    "postgresql": "",
    "git": {},
}


def _adapters(adapters: dict[str, Any], add: Add) -> None:
    from bench import adapters_sync

    add("## Department adapters: full sync")
    add("")
    add("(`bench/adapters_sync.py`, run by `python -m bench` on its own fresh hub.)")
    add("")
    try:
        rendered = adapters_sync.render_markdown(adapters)
    except (KeyError, TypeError, ValueError) as exc:
        add(f"(could not render the adapters' section: {exc})")
        return
    for line in _demoted(rendered):
        add(line)
    add("")


# Plots -----------------------------------------------------------------------------------------------------


def write_plots(report: dict[str, Any], directory: Path) -> list[str]:
    import matplotlib.pyplot as plt

    names = []
    lk = report.get("lookups") or {}
    levels = {c: v for c, v in (lk.get("levels") or {}).items() if v.get("prefill")}
    if levels:
        xs = [int(c) for c in levels]
        fig, (lat, rps) = plt.subplots(1, 2, figsize=(13, 5))
        for key, colour, label in (
            ("bare", "#888888", "bare endpoint (ceiling)"),
            ("prefill", "#2ca02c", "prefill"),
        ):
            rate_key = "ok_per_second" if key == "prefill" else "per_second"
            p50 = [levels[str(c)]["prefill"][key]["latency_s"]["p50"] * 1000 for c in xs]
            p99 = [levels[str(c)]["prefill"][key]["latency_s"]["p99"] * 1000 for c in xs]
            lat.plot(xs, p50, marker="o", color=colour, label=f"{label} p50")
            lat.plot(xs, p99, marker="s", linestyle="--", color=colour, label=f"{label} p99")
            rps.plot(
                xs,
                [levels[str(c)]["prefill"][key][rate_key] for c in xs],
                marker="o",
                color=colour,
                label=label,
            )
        for ax in (lat, rps):
            ax.set_xscale("log", base=2)
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.set_xlabel("concurrent clients")
            ax.set_yscale("log")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
        lat.set_ylabel("latency (ms)")
        lat.set_title("Prefill latency vs concurrency")
        rps.set_ylabel("requests/s")
        rps.set_title("Prefill requests/s vs concurrency")
        fig.tight_layout()
        fig.savefig(directory / "prefill.png", dpi=110)
        plt.close(fig)
        names.append("prefill.png")
    sz = report.get("sizes") or {}
    if sz.get("levels"):
        keys = sorted(sz["levels"], key=int)
        xs = [int(k) for k in keys]
        fig, (lat, rps) = plt.subplots(1, 2, figsize=(13, 5))
        for pct, style in (("p50", "-o"), ("p99", "--s")):
            lat.plot(
                xs,
                [sz["levels"][k]["lookups"]["latency_s"][pct] * 1000 for k in keys],
                style,
                color="#1f77b4",
                label=f"lookups {pct}",
            )
        small = sz["levels"][keys[0]]["lookups"]["latency_s"]["p50"] * 1000
        lat.axhline(
            small * 1.3, color="#d62728", linestyle=":", label="target: 1.3 × p50 at the smallest size"
        )
        rps.plot(
            xs,
            [sz["levels"][k]["lookups"]["ok_per_second"] for k in keys],
            "-o",
            color="#1f77b4",
            label="lookups/s",
        )
        from matplotlib.ticker import NullFormatter

        for ax in (lat, rps):
            ax.set_xscale("log")
            ax.set_xticks(xs, [f"{x:,}" for x in xs])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("licences in the registry")
            ax.grid(True, which="both", alpha=0.3)
            ax.legend()
            ax.set_ylim(bottom=0)
        lat.set_ylabel("latency (ms)")
        lat.set_title(f"Lookup latency vs registry size ({sz['concurrency']} clients)")
        rps.set_ylabel("lookups/s")
        rps.set_title("Lookups/s vs registry size")
        fig.tight_layout()
        fig.savefig(directory / "sizes.png", dpi=110)
        plt.close(fig)
        names.append("sizes.png")
    return names
