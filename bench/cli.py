"""``python -m bench``: run the benchmark and write the report into ``bench/`` (or ``--out``)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from bench import adapters_sync, audit_bench, harness, lookups, report, sizes

assert audit_bench  # loaded before a long run starts, like every other part of the harness

HERE = Path(__file__).resolve().parent


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: ~2k licences per backend, lookups on ~5k, sizes 2k/10k, "
        "small audit and adapter runs (~5 min)",
    )
    parser.add_argument(
        "--licences",
        type=int,
        default=None,
        help="licences per backend, half posted by one client and "
        "half by concurrent clients (default 20000, --quick 2000)",
    )
    parser.add_argument(
        "--clients", type=int, default=2, help="concurrent clients (feeds) in the second phase"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="operations a batch (default 500)")
    parser.add_argument(
        "--backends",
        default=",".join(harness.BACKENDS),
        help="ingest phases, comma-separated: sqlite,postgres (or 'none' for lookups only)",
    )
    parser.add_argument(
        "--lookup-licences",
        type=int,
        default=None,
        help="licences in the lookups database, two per citizen (default 100000, --quick 5000)",
    )
    parser.add_argument(
        "--lookup-concurrency",
        default=",".join(str(c) for c in lookups.CONCURRENCIES),
        help="concurrent clients of each lookups level (default 1,8,32,64)",
    )
    parser.add_argument(
        "--lookup-seconds",
        type=float,
        default=None,
        help="measured seconds per level and server (default 6, --quick 2)",
    )
    parser.add_argument(
        "--lookup-backend", default="postgres", choices=("postgres", "sqlite"), help="database of lookups"
    )
    parser.add_argument(
        "--lookup-profile",
        default="auto",
        choices=("auto", "always", "never"),
        help="profile the lookup path: when the target is not met (auto), always, never",
    )
    parser.add_argument("--no-lookups", action="store_true", help="skip the lookups phase")
    parser.add_argument("--no-prefill", action="store_true", help="lookups only, no prefill levels")
    parser.add_argument(
        "--sizes",
        default=None,
        help="licences of the size sweep, comma-separated, on one growing PostgreSQL database "
        "(default 10000,100000,1000000; --quick 2000,10000; 'none' to skip)",
    )
    parser.add_argument(
        "--size-seconds", type=float, default=None, help="measured seconds per size (default 8, --quick 2)"
    )
    parser.add_argument(
        "--size-concurrency", type=int, default=8, help="concurrent clients at every size (default 8)"
    )
    parser.add_argument(
        "--audit-leaves",
        type=int,
        default=None,
        help="audit log filled to N leaves (default 1000000, --quick 20000; 0 to skip)",
    )
    parser.add_argument(
        "--adapter-citizens",
        type=int,
        default=None,
        help=f"adapters' full sync of N citizens (default {adapters_sync.DEFAULT_CITIZENS}, --quick "
        f"{adapters_sync.QUICK_CITIZENS}; 0 to skip)",
    )
    parser.add_argument("--no-profile", action="store_true", help="skip the in-process profile")
    parser.add_argument("--no-plots", action="store_true", help="write no PNG")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.md/json and plots go")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    total = args.licences or (2_000 if args.quick else 20_000)
    backends = tuple(b.strip() for b in args.backends.split(",") if b.strip() and b.strip() != "none")
    lookup_config = None
    if not args.no_lookups:
        lookup_config = lookups.LookupConfig(
            licences=args.lookup_licences or (5_000 if args.quick else 100_000),
            concurrencies=tuple(int(c) for c in args.lookup_concurrency.split(",") if c.strip()),
            seconds=args.lookup_seconds or (2.0 if args.quick else 6.0),
            warmup_s=0.5 if args.quick else 1.5,
            backend=args.lookup_backend,
            profile="never" if args.no_profile else args.lookup_profile,
            profile_seconds=3.0 if args.quick else 6.0,
            profile_lookups=150 if args.quick else 400,
            recovery_timeout_s=10.0 if args.quick else 60.0,
            prefill=not args.no_prefill,
            verify_seconds=1.0 if args.quick else 2.0,
        )
    size_config = None
    size_text = args.sizes or ("2000,10000" if args.quick else ",".join(str(n) for n in sizes.SIZES))
    if size_text.strip() != "none":
        size_config = sizes.SizeConfig(
            sizes=tuple(int(n) for n in size_text.split(",") if n.strip()),
            concurrency=args.size_concurrency,
            seconds=args.size_seconds or (2.0 if args.quick else 8.0),
            warmup_s=0.5 if args.quick else 1.5,
        )
    audit_leaves = (
        args.audit_leaves if args.audit_leaves is not None else (20_000 if args.quick else 1_000_000)
    )
    citizens = args.adapter_citizens
    if citizens is None:
        citizens = adapters_sync.QUICK_CITIZENS if args.quick else adapters_sync.DEFAULT_CITIZENS
    adapters_config = adapters_sync.Config(citizens=citizens, out=args.out) if citizens else None
    config = harness.Config(
        backends=backends,
        sequential_licences=total // 2,
        concurrent_licences=total - total // 2,
        clients=args.clients,
        batch_size=args.batch_size,
        profile_licences=0 if args.no_profile else (1_000 if args.quick else 2_000),
        keep_dir=args.out,
        lookups=lookup_config,
        sizes=size_config,
        audit_leaves=audit_leaves or None,
        audit_quick=args.quick,
        adapters=adapters_config,
    )

    def log(line: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {line}", file=sys.stderr, flush=True)

    result = harness.run_bench(config, log)
    written = report.write_all(result, args.out, plots=not args.no_plots)
    for backend, b in result["backends"].items():
        for phase, p in b["ingest"].items():
            print(
                f"{backend:9} {phase:13} {p['per_second']:8,.0f} licences/s  "
                f"ratio {p['ratio_to_ceiling']:.2f} of ceiling {b['ceiling']['per_second']:,.0f}/s  "
                f"p50 {p['batch_latency_s']['p50'] * 1000:,.0f} ms  "
                f"p99 {p['batch_latency_s']['p99'] * 1000:,.0f} ms"
            )
    target = result.get("target")
    if target:
        print(
            f"target (PostgreSQL >= {target['threshold']} x ceiling): {'met' if target['met'] else 'NOT met'}"
        )
    looked = result.get("lookups")
    if looked:
        for c, level in looked["levels"].items():
            bare, measured = level["bare"], level["lookups"]
            print(
                f"lookups   {c:>2} clients    {measured['ok_per_second']:8,.0f} req/s  "
                f"ratio {level['ratio']:.2f} of bare {bare['per_second']:,.0f}/s  "
                f"p50 {measured['latency_s']['p50'] * 1000:,.1f} ms  "
                f"p99 {measured['latency_s']['p99'] * 1000:,.1f} ms  "
                f"(bare p50 {bare['latency_s']['p50'] * 1000:,.1f} ms, p99 "
                f"{bare['latency_s']['p99'] * 1000:,.1f} ms)"
            )
        print(lookups.summary_line(looked))
    for line in report.summary_lines(result):
        print(line)
    print("wrote " + ", ".join(str(p) for p in written.values()))
    return 0
