"""``python -m bench.adapters_sync``: each department adapter's full sync of one city's sample data, timed.

Issue 4 ("department adapters") asks that ``make bench`` generate 100,000 citizens' worth of records and
report records/s for each adapter's full sync. One run:

1. **Fresh hub.** A new PostgreSQL database ``bench_adapters_<random>``; secrets from
   ``hub keys generate-secrets``; the catalog (``hub.demo.seed_catalog``), the three departments with an
   ES256 signing key each (``hub.demo.seed_departments``) and one ``private_key_jwt`` department client
   each are written into the database *before* the hub starts (``uvicorn hub.main:create_app``, one
   worker, loopback, via ``bench.server.HubServer``).
2. **Sources.** ``python -m adapters.<department> generate --citizens N --seed S`` for the three
   departments (same seed: one population), in parallel, untimed: the police register export, the
   market-regulation registry snapshot (served by ``python -m adapters.commerce serve``, the registry
   API's stand-in, started before the clock) and the civil-affairs XML export and 低保 roster.
3. **Full syncs, one department after another** (smallest first: commerce, civil affairs, police), each
   as a department runs it:
   ``python -m adapters.<department> sync --source … --hub … --client-id … --key … --client-key …`` as
   a subprocess with a fresh state file, through the real token endpoint. The clock runs from the
   process's start to its exit (interpreter start-up, OAuth, catalog, reading, mapping, signing, pushing).
   The adapter's own summary (its ``sync.finished`` and ``sync.batch.pushed`` log lines) gives records
   read, operations pushed, dead letters and each batch's round trip; the hub's database is read back
   to check that it holds exactly what the adapter says it pushed.
   **Time budget** (``--budget``, default 480 s for the whole run): a sync still running when it is spent
   is killed and reported with what the hub holds by then; later syncs are skipped.
4. **Where the CPU went** during each sync: the adapter process (rusage), the hub server and the
   PostgreSQL backends of the hub's database (``/proc``), and the whole machine (other load included).

Writes ``adapters-results.json`` (everything) and ``adapters-results.md`` next to this file (or ``--out``).
The hub's ingest ceiling for context is read from ``results.json`` of ``python -m bench`` when present.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy.engine import make_url

from bench import access, machine, server

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SEED = 2016
DEFAULT_CITIZENS = 100_000
QUICK_CITIZENS = 5_000
DEFAULT_BUDGET_S = 480.0  # the whole default run, setup included, stays under ~8 minutes
# In order of the syncs: smallest first, so that a run out of time still measures two of them.
MODULES = {
    "commerce": "adapters.commerce",
    "civil_affairs": "adapters.civil_affairs",
    "police": "adapters.police",
}
NAMES = {
    "police": "police (公安)",
    "commerce": "commerce (市场监管)",
    "civil_affairs": "civil affairs (民政)",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")

Log = Callable[[str], None]


@dataclass
class Config:
    citizens: int = DEFAULT_CITIZENS
    seed: int = SEED
    batch_size: int = 500
    budget_s: float = DEFAULT_BUDGET_S
    pg_admin_url: str = field(default_factory=server.pg_admin_url)
    out: Path = HERE
    keep_workdir: bool = False


# -- database ---------------------------------------------------------------------------------------------


def fresh_database(admin_url: str) -> contextlib.AbstractContextManager[str]:
    """Create ``bench_adapters_<random>``, yield its SQLAlchemy URL, drop it afterwards."""
    return server.postgres_database(admin_url, prefix="bench_adapters")


def hub_holds(database_url: str, department_id: str) -> dict[str, int]:
    """What the hub's database holds of one department's feed."""
    queries = {
        "licences": "SELECT count(*) FROM licence WHERE department_id = %(d)s",
        "versions": "SELECT count(*) FROM licence_version v JOIN licence l ON l.id = v.licence_pk "
        "WHERE l.department_id = %(d)s",
        "status_changes": "SELECT count(*) FROM licence_status_change s "
        "JOIN licence l ON l.id = s.licence_pk "
        "WHERE l.department_id = %(d)s",
        "last_sequence": "SELECT coalesce(max(last_sequence), 0) FROM feed WHERE department_id = %(d)s",
    }
    with psycopg.connect(server.libpq(database_url), connect_timeout=5) as conn:
        return {
            name: int(conn.execute(query, {"d": department_id}).fetchone()[0])  # type: ignore[index]
            for name, query in queries.items()
        }


# -- seeding ------------------------------------------------------------------------------------------------


def seed_hub(cfg: server.ServerConfig, keys_dir: Path) -> list[dict[str, Any]]:
    """Catalog, the three departments with their signing keys, and a private_key_jwt client each, written
    into the database before the server starts (as ``hub demo`` seeds them)."""
    from joserfc.jwk import ECKey

    from hub import demo
    from hub.access import service as access_service
    from hub.access.schemas import ClientCreate
    from hub.context import build_hub
    from storage.database import transaction

    hub = build_hub(cfg.settings())
    try:
        demo.seed_catalog(hub)
        departments = demo.seed_departments(hub, keys_dir)
        with transaction(hub.session_factory) as session:
            admin = access.create_admin(session, "bench-admin", "Benchmark operator")
            for department in departments:
                key = ECKey.generate_key("P-256", private=True)
                kid = key.thumbprint()
                client, _ = access_service.create_client(
                    session,
                    ClientCreate(
                        name=f"{department['name']} 数据同步",
                        kind="department",
                        region_code="410100",
                        department_id=department["id"],
                        auth_method="private_key_jwt",
                        jwks={"keys": [{**key.as_dict(private=False), "kid": kid}]},
                    ),
                    by=admin,
                )
                client_key_file = keys_dir / f"{department['id']}-client.private.jwk.json"
                client_key_file.write_text(json.dumps({**key.as_dict(private=True), "kid": kid}))
                client_key_file.chmod(0o600)
                department["client_id"] = client.client_id
                department["client_key_file"] = str(client_key_file)
    finally:
        hub.close()
    return [{k: v for k, v in d.items() if not k.startswith("_")} for d in departments]


# -- processes and CPU --------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float | None:
    """user + system CPU seconds of a process so far, or None if it is gone or unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _machine_busy() -> tuple[float, float] | None:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError, IndexError):
        return None
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / CLK_TCK, sum(values[:8]) / CLK_TCK


def _db_backends(admin_url: str, database: str) -> Callable[[], dict[int, float]]:
    """CPU seconds so far of each PostgreSQL backend serving ``database`` (local server only)."""

    def sample() -> dict[int, float]:
        try:
            with psycopg.connect(server.libpq(admin_url), connect_timeout=5, autocommit=True) as conn:
                pids = [
                    r[0]
                    for r in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))
                ]
        except psycopg.Error:
            return {}
        return {pid: cpu for pid in pids if (cpu := _proc_cpu(pid)) is not None}

    return sample


class CpuWindow:
    """CPU used during a window by the adapter (the children reaped meanwhile), the hub server, the
    PostgreSQL backends of its database, the registry stand-in, and the whole machine."""

    def __init__(
        self, hub_pid: int, backends: Callable[[], dict[int, float]], standin_pid: int | None
    ) -> None:
        self.hub_pid, self.backends, self.standin_pid = hub_pid, backends, standin_pid

    def __enter__(self) -> CpuWindow:
        self._children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self._hub = _proc_cpu(self.hub_pid)
        self._standin = _proc_cpu(self.standin_pid) if self.standin_pid else None
        self._db = self.backends()
        self._machine = _machine_busy()
        self._started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._started
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        hub = _proc_cpu(self.hub_pid)
        standin = _proc_cpu(self.standin_pid) if self.standin_pid else None
        db = self.backends()
        busy = _machine_busy()
        adapter = (children.ru_utime - self._children.ru_utime) + (
            children.ru_stime - self._children.ru_stime
        )
        result: dict[str, float | None] = {
            "wall_seconds": wall,
            "adapter": adapter,
            "hub_server": hub - self._hub if hub is not None and self._hub is not None else None,
            # backends that started meanwhile count whole; backends that ended meanwhile are missed
            "postgres": sum(cpu - self._db.get(pid, 0.0) for pid, cpu in db.items()),
            "registry_standin": (
                standin - self._standin if standin is not None and self._standin is not None else None
            ),
        }
        if busy and self._machine:
            machine_busy = busy[0] - self._machine[0]
            known = sum(v for k, v in result.items() if k != "wall_seconds" and v is not None)
            result["machine"] = machine_busy
            result["other"] = max(0.0, machine_busy - known)
        self.result = result


@contextlib.contextmanager
def registry_standin(snapshot: Path, workdir: Path) -> Iterator[tuple[str, int]]:
    """The market-regulation registry's API (not ours) served from the snapshot by the adapter's stand-in."""
    port = server.free_port()
    log = (workdir / "logs" / "commerce-standin.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapters.commerce",
            "serve",
            "--snapshot",
            str(snapshot),
            "--port",
            str(port),
        ],
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    url = f"http://127.0.0.1:{port}/api/v1"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError("the registry stand-in exited; see logs/commerce-standin.log")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/enterprises?page_size=1", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the registry stand-in did not answer within 60 s")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# -- the phases ---------------------------------------------------------------------------------------------


def generate_sources(config: Config, sources: Path, logs: Path, timeout: float) -> dict[str, Any]:
    """The three departments' sample sources of one population, generated in parallel."""
    started = time.perf_counter()
    running = {}
    for kind, module in MODULES.items():
        log = (logs / f"{kind}-generate.log").open("wb")
        command = [
            sys.executable,
            "-m",
            module,
            "generate",
            "--out",
            str(sources / kind),
            "--citizens",
            str(config.citizens),
            "--seed",
            str(config.seed),
        ]
        running[kind] = (subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT), started)
        log.close()
    result: dict[str, Any] = {}
    for kind, (process, _) in running.items():
        left = max(1.0, timeout - (time.perf_counter() - started))
        try:
            code = process.wait(timeout=left)
        except subprocess.TimeoutExpired:
            for other, _ in running.values():
                if other.poll() is None:
                    other.kill()
                    other.wait(timeout=5)
            raise RuntimeError(f"generating the {kind} source took longer than {timeout:.0f} s") from None
        text = (logs / f"{kind}-generate.log").read_text(errors="replace")
        if code != 0:
            raise RuntimeError(f"`{MODULES[kind]} generate` failed:\n{text[-2000:]}")
        result[kind] = {
            "said": " ".join(text.split()),
            "bytes": sum(p.stat().st_size for p in (sources / kind).rglob("*") if p.is_file()),
        }
    result["seconds"] = time.perf_counter() - started
    return result


def _log_events(path: Path) -> list[dict[str, Any]]:
    events = []
    with contextlib.suppress(OSError):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_sync(
    kind: str,
    department: dict[str, Any],
    source: str,
    *,
    hub_url: str,
    workdir: Path,
    batch_size: int,
    timeout: float,
    cpu: CpuWindow,
) -> dict[str, Any]:
    """One full sync as the department runs it: the adapter's CLI in its own process, timed to its exit."""
    logs = workdir / "logs"
    log_file = logs / f"{kind}-sync.jsonl"
    command = [
        sys.executable,
        "-m",
        MODULES[kind],
        "sync",
        "--source",
        source,
        "--hub",
        hub_url,
        "--client-id",
        department["client_id"],
        "--department",
        department["id"],
        "--key",
        department["private_key_file"],
        "--client-key",
        department["client_key_file"],
        "--state",
        str(workdir / "state" / f"{department['id']}.sqlite3"),
        "--batch-size",
        str(batch_size),
        "--log-file",
        str(log_file),
    ]
    out = (logs / f"{kind}-sync.out").open("wb")
    timed_out = False
    with cpu:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            process.kill()
            code = process.wait(timeout=10)
        wall = time.perf_counter() - started
    out.close()
    events = _log_events(log_file)
    finished = next((e for e in reversed(events) if e.get("event") == "sync.finished"), None)
    batches = [e for e in events if e.get("event") == "sync.batch.pushed"]
    batch_seconds = [float(e.get("seconds", 0.0)) for e in batches]
    result: dict[str, Any] = {
        "department": department["id"],
        "command": " ".join(Path(part).name if part == sys.executable else part for part in command[:5])
        + " …",
        "exit_code": code,
        "timed_out": timed_out,
        "wall_seconds": wall,
        "report": finished,
        "batches_logged": len(batches),
        # from handing a batch to the pushing thread to the engine taking the hub's answer
        "batch_seconds_p50": _percentile(batch_seconds, 0.5),
        "batch_seconds_p99": _percentile(batch_seconds, 0.99),
        "accepted_logged": sum(int(e.get("accepted", 0)) for e in batches),
        "cpu_seconds": cpu.result,
    }
    if timed_out:
        result["error"] = f"stopped after {wall:.0f} s (time budget)"
        result["partial_licences_per_second"] = result["accepted_logged"] / wall
        return result
    if finished is None or code != 0:
        tail = (logs / f"{kind}-sync.out").read_text(errors="replace")[-1500:]
        result["error"] = f"exit code {code}; output tail:\n{tail}"
        return result
    records = int(finished["records"])
    operations = int(finished["operations"])
    accepted = operations - int(finished["rejected"])
    result.update(
        records=records,
        operations=operations,
        issued=int(finished["issued"]),
        updated=int(finished["updated"]),
        status_changes=int(finished["status_changes"]),
        accepted=accepted,
        dead_letters=int(finished["dead_letters"]) + int(finished["rejected"]),
        dead_letters_mapping=int(finished["dead_letters"]),
        rejected_by_hub=int(finished["rejected"]),
        engine_seconds=float(finished["seconds"]),
        records_per_second=records / wall,
        licences_per_second=accepted / wall,
    )
    cpu_used = cpu.result
    if accepted:
        result["cpu_ms_per_licence"] = {
            name: None if cpu_used.get(name) is None else 1000 * float(cpu_used[name] or 0) / accepted
            for name in ("adapter", "hub_server", "postgres")
        }
    return result


def _check_hub(database_url: str, result: dict[str, Any]) -> None:
    """The hub holds exactly what the adapter says it pushed (a fresh feed: every version and status
    change in it came from this sync)."""
    held = hub_holds(database_url, result["department"])
    result["hub_holds"] = held
    if "accepted" not in result:
        return
    problems = []
    if held["versions"] + held["status_changes"] != result["accepted"]:
        problems.append(
            f"hub holds {held['versions']} versions + {held['status_changes']} status changes, "
            f"the adapter pushed {result['accepted']} accepted operations"
        )
    if not result["rejected_by_hub"] and held["licences"] != result["issued"]:
        problems.append(f"hub holds {held['licences']} licences, the adapter issued {result['issued']}")
    if held["last_sequence"] != (result["report"] or {}).get("last_sequence"):
        problems.append(
            f"hub's feed at sequence {held['last_sequence']}, the adapter's at "
            f"{(result['report'] or {}).get('last_sequence')}"
        )
    result["hub_check"] = "; ".join(problems) or "ok"


def ingest_reference(path: Path) -> dict[str, Any] | None:
    """The hub's batch-ingest figure on PostgreSQL (1 client) from ``python -m bench``'s results.json."""
    try:
        data = json.loads(path.read_text())
        postgres = data["backends"]["postgres"]
        seq = postgres["ingest"]["sequential"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return {
        "file": path.name,
        "date": data.get("machine", {}).get("date"),
        "cpu_model": data.get("machine", {}).get("cpu_model"),
        "cores": data.get("machine", {}).get("cores"),
        "licences_per_second": seq.get("per_second"),
        "licences": seq.get("licences"),
        "batch_size": data.get("config", {}).get("batch_size"),
        "signature_ceiling_per_second": postgres.get("ceiling", {}).get("per_second"),
        "what": "pre-signed batches of 500 issue operations posted by one client, one batch at a time",
    }


def run(config: Config, log: Log) -> dict[str, Any]:
    started = time.perf_counter()
    deadline = started + config.budget_s

    def left() -> float:
        return deadline - time.perf_counter()

    result: dict[str, Any] = {
        "issue": "department adapters: records/s of each adapter's full sync",
        "config": {
            **asdict(config),
            "out": str(config.out),
            "pg_admin_url": make_url(config.pg_admin_url).render_as_string(hide_password=True),
        },
        "machine": machine.describe(server.postgres_version(config.pg_admin_url)),
        "hub_workers": server.worker_count(),
    }
    tmp = tempfile.mkdtemp(prefix="hub-bench-adapters-")
    workdir = Path(tmp)
    try:
        for sub in ("logs", "state", "keys", "sources"):
            (workdir / sub).mkdir()
        with fresh_database(config.pg_admin_url) as database_url:
            database = make_url(database_url).database
            assert database is not None
            result["database"] = "PostgreSQL, fresh database"
            cfg = server.ServerConfig.fresh(database_url, workdir)
            log("seeding the catalog, three departments (ES256 keys) and their private_key_jwt clients")
            departments = {d["kind"]: d for d in seed_hub(cfg, workdir / "keys")}
            result["departments"] = {k: {"id": d["id"], "name": d["name"]} for k, d in departments.items()}

            log(f"generating {config.citizens:,} citizens' sources (seed {config.seed}), three processes")
            result["generate"] = generate_sources(
                config, workdir / "sources", workdir / "logs", timeout=max(60.0, min(600.0, left() - 60))
            )
            log(f"  generated in {result['generate']['seconds']:.1f} s")

            hub = server.HubServer(cfg, workdir / "server" / "uvicorn.log")
            backends = _db_backends(config.pg_admin_url, database)
            result["syncs"] = {}
            with hub:
                for kind in MODULES:
                    department = departments[kind]
                    timeout = left() - 20
                    if timeout < 30:
                        result["syncs"][kind] = {
                            "department": department["id"],
                            "skipped": "time budget spent",
                        }
                        log(f"{kind}: skipped, the time budget ({config.budget_s:.0f} s) is spent")
                        continue
                    log(f"{kind}: full sync ({department['id']}), at most {timeout:.0f} s")
                    with contextlib.ExitStack() as stack:
                        standin_pid = None
                        if kind == "commerce":
                            source, standin_pid = stack.enter_context(
                                registry_standin(workdir / "sources" / kind, workdir)
                            )
                        else:
                            source = str(workdir / "sources" / kind)
                        measured = run_sync(
                            kind,
                            department,
                            source,
                            hub_url=cfg.public_url,
                            workdir=workdir,
                            batch_size=config.batch_size,
                            timeout=timeout,
                            cpu=CpuWindow(hub.pid, backends, standin_pid),
                        )
                    _check_hub(database_url, measured)
                    result["syncs"][kind] = measured
                    log("  " + sync_line(kind, measured))
                result["hub_log_problems"] = hub.log_problems()
    finally:
        if config.keep_workdir:
            result["workdir"] = str(workdir)
            log(f"kept the work directory {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["ingest_reference"] = ingest_reference(HERE / "results.json")
    result["total_seconds"] = time.perf_counter() - started
    return result


# -- the report ---------------------------------------------------------------------------------------


def sync_line(kind: str, s: dict[str, Any]) -> str:
    if "skipped" in s:
        return f"{kind}: skipped ({s['skipped']})"
    if "error" in s:
        return f"{kind}: FAILED ({s['error'].splitlines()[0]})"
    return (
        f"{kind}: {s['records']:,} records, {s['accepted']:,} licence operations, {s['dead_letters']:,} dead "
        f"letters in {s['wall_seconds']:.1f} s = {s['records_per_second']:,.0f} records/s, "
        f"{s['licences_per_second']:,.0f} licences/s (hub check: {s.get('hub_check')})"
    )


def _summary_row(result: dict[str, Any]) -> dict[str, Any]:
    """One line of the scaling table: this run's rates per department."""
    row: dict[str, Any] = {
        "citizens": result["config"]["citizens"],
        "date": result["machine"]["date"],
        "commit": (result["machine"].get("git") or {}).get("commit"),
        "cpu_model": result["machine"]["cpu_model"],
        "cores": result["machine"]["cores"],
        "departments": {},
    }
    for kind, s in result.get("syncs", {}).items():
        if "records_per_second" in s:
            row["departments"][kind] = {
                "records": s["records"],
                "accepted": s["accepted"],
                "wall_seconds": round(s["wall_seconds"], 2),
                "records_per_second": round(s["records_per_second"], 3),
                "licences_per_second": round(s["licences_per_second"], 3),
            }
    return row


def merge_scaling(result: dict[str, Any], previous_path: Path, key: str | None = None) -> None:
    """Keep the latest run of each population size on this kind of machine, for the scaling table
    (``key``: the part of the previous JSON that holds the adapters' figures)."""
    rows: dict[int, dict[str, Any]] = {}
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
        previous = json.loads(previous_path.read_text())
        if key is not None:
            previous = previous.get(key) or {}
        for row in previous.get("scaling", []):
            rows[int(row["citizens"])] = row
    current = _summary_row(result)
    for citizens, row in list(rows.items()):
        if (row.get("cpu_model"), row.get("cores")) != (current["cpu_model"], current["cores"]):
            del rows[citizens]  # another machine: not comparable
    if current["departments"]:
        rows[current["citizens"]] = current
    result["scaling"] = [rows[n] for n in sorted(rows)]


def _f(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def render_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    cfg = result["config"]
    lines = [
        "# Department adapters: full-sync throughput",
        "",
        "Written by `python -m bench.adapters_sync` (`make bench` runs it after `python -m bench`). Issue 4: "
        "*`make bench` generates 100,000 citizens' worth of records and reports records/s for each "
        "adapter's full sync.* How it is measured: the module docstring of `bench/adapters_sync.py`.",
        "",
        f"**Run:** {cfg['citizens']:,} citizens (seed {cfg['seed']}), batches of {cfg['batch_size']}, "
        f"a fresh PostgreSQL database, the hub on {result.get('hub_workers', 1)} uvicorn worker(s); "
        f"adapters and hub on the same machine, loopback only; {result['total_seconds']:.0f} s in all "
        f"(time budget {cfg['budget_s']:.0f} s).",
        "",
        f"**Machine:** {m['cpu_model']}, {m['cores']} cores ({m['cores_usable']} usable), "
        f"{m['ram_gib']} GiB; "
        f"{m['os']}; {m['python']}; PostgreSQL {m['postgresql']}; measured {m['date']}"
        + (
            f", commit {m['git'].get('commit')}{' (dirty)' if m['git'].get('dirty') else ''}"
            if m.get("git")
            else ""
        )
        + ". A shared machine: the CPU table shows other load.",
        "",
        *_load_warning(result),
        "## Full sync per department",
        "",
        "| department | source records | licences pushed | issued / updated / status "
        "| dead letters (mapping + hub) | wall time | records/s | licences/s | hub check |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    syncs = result.get("syncs", {})
    for kind, s in syncs.items():
        if "records_per_second" not in s:
            why = s.get("skipped") or (s.get("error") or "").splitlines()[0]
            held = s.get("hub_holds") or {}
            pushed = held.get("versions", 0) + held.get("status_changes", 0) if held else None
            lines.append(
                f"| {NAMES[kind]} | – | {_f(pushed)} by then | – | – | {_f(s.get('wall_seconds'), 1)} s "
                f"| – | {_f(s.get('partial_licences_per_second'))} until stopped | {why} |"
            )
            continue
        lines.append(
            f"| {NAMES[kind]} | {s['records']:,} | {s['accepted']:,} | {s['issued']:,} / {s['updated']:,} / "
            f"{s['status_changes']:,} | {s['dead_letters']:,} ({s['dead_letters_mapping']:,} + "
            f"{s['rejected_by_hub']:,}) | {s['wall_seconds']:.1f} s | **{s['records_per_second']:,.0f}** | "
            f"{s['licences_per_second']:,.0f} | {s.get('hub_check', '–')} |"
        )
    done = [s for s in syncs.values() if "records_per_second" in s]
    if done:
        records = sum(s["records"] for s in done)
        accepted = sum(s["accepted"] for s in done)
        wall = sum(s["wall_seconds"] for s in done)
        label = "all three" if len(done) == len(syncs) == len(MODULES) else "the completed ones"
        lines.append(
            f"| **{label}, one after another** | {records:,} | {accepted:,} | | "
            f"{sum(s['dead_letters'] for s in done):,} | {wall:.1f} s | {records / wall:,.0f} | "
            f"{accepted / wall:,.0f} | |"
        )
    generated = result.get("generate", {})
    lines += [
        "",
        "- *source records*: records the adapter read from its source (police: register rows and "
        "certificates; commerce: enterprise records from the registry API; civil affairs: marriage "
        "registrations and 低保 cases). *licences pushed*: operations the hub accepted (new licences, new "
        "versions, status statements). *dead letters*: records or licences that failed mapping or the "
        "catalog check (the generators plant invalid ID numbers and missing fields on purpose), plus "
        "operations the hub rejected.",
        "- *wall time*: from starting `python -m adapters.<department> sync …` to its exit — interpreter "
        "start-up, OAuth (private_key_jwt), catalog and JWKS, reading, mapping, signing, pushing, applying. "
        "*records/s* = source records ÷ wall time; *licences/s* = licences pushed ÷ wall time.",
        "- *hub check*: the hub's database, read back after the sync, holds exactly the versions, status "
        "changes and feed sequence the adapter reports.",
        f"- Generating the three sources (untimed above, three processes in parallel): "
        f"{_f(generated.get('seconds'), 1)} s.",
        "",
        "## Where the time went",
        "",
        "| department | start-up s | engine s | batches | batch round trip p50 / p99 "
        "| adapter CPU | hub CPU | PostgreSQL CPU | other load "
        "| CPU ms per licence: adapter / hub / PostgreSQL |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for kind, s in done_items(syncs):
        c = s["cpu_seconds"]
        wall = c["wall_seconds"] or 1.0

        def cores(value: float | None, w: float = wall) -> str:
            return "–" if value is None else f"{value:,.1f} s ({value / w:.2f} cores)"

        lines.append(
            f"| {NAMES[kind]} | {s['wall_seconds'] - s['engine_seconds']:.1f} | {s['engine_seconds']:.1f} | "
            f"{s['batches_logged']} | "
            f"{_f((s['batch_seconds_p50'] or 0) * 1000)} / {_f((s['batch_seconds_p99'] or 0) * 1000)} ms | "
            f"{cores(c['adapter'])} | {cores(c['hub_server'])} | {cores(c['postgres'])} | "
            f"{cores(c.get('other'))} | "
            + " / ".join(_f(v, 2) for v in (s.get("cpu_ms_per_licence") or {}).values())
            + " |"
        )
    lines += [
        "",
        "- *start-up s*: wall time outside `SyncEngine.run`: interpreter and imports, key files, opening "
        "the source (police and civil affairs check their files whole here, before anything is pushed), "
        "the summary. *engine s*: `SyncEngine.run` (OAuth, catalog and JWKS, reading, mapping, signing, "
        "pushing). *batch round trip*: from handing a batch of 500 operations to the adapter's pushing "
        "thread to the engine taking the hub's answer (the engine signs the next batch meanwhile, so this "
        "is the slower of the hub's ingest and the adapter's signing of one batch).",
        "- *CPU ms per licence* depends much less on other load than the rates: with the adapter and the "
        "hub each on its own core, the larger of the adapter's and the hub's figure bounds the sync (the "
        "hub serves on one Python core; PostgreSQL runs in its own processes).",
        "- CPU: the adapter process (rusage), the hub server process and the PostgreSQL backends of the "
        "hub's database (`/proc`), and everything else on the machine (other load), over the sync's wall "
        "time.",
    ]
    ref = result.get("ingest_reference")
    lines += ["", "## The hub's ingest ceiling, for context", ""]
    if ref and ref.get("licences_per_second"):
        lines.append(
            f"`python -m bench` ({ref['file']}, {ref['date']}, {ref['cpu_model']}, {ref['cores']} cores): "
            f"the hub ingests **{ref['licences_per_second']:,.0f} licences/s** on PostgreSQL from one "
            f"client posting pre-signed batches of {ref['batch_size']} (nothing to sign, map or read on "
            f"the client side); a bare ES256 check runs at "
            f"{_f(ref.get('signature_ceiling_per_second'))}/s on one core."
        )
        if done:
            best = max(done, key=lambda s: s["licences_per_second"])
            lines.append(
                f"The fastest adapter here pushes {best['licences_per_second']:,.0f} licences/s, "
                f"{best['licences_per_second'] / ref['licences_per_second']:.2f}× that figure, while signing "
                "its credentials on the same machine."
            )
    else:
        lines.append("No `bench/results.json` from `python -m bench` to compare with.")
    scaling = result.get("scaling") or []
    if len(scaling) > 1:
        kinds = list(MODULES)
        lines += [
            "",
            "## Scaling with the population",
            "",
            "The latest run of each size on this machine type (earlier rows come from earlier runs of this "
            "harness, kept in `adapters-results.json`; the machine is shared, so compare with care). Small "
            "populations pay each process's fixed start-up (about a second: interpreter, imports, OAuth, "
            "catalog) over few records.",
            "",
            "| citizens | date | commit | "
            + " | ".join(f"{NAMES[k]} records/s (licences/s)" for k in kinds)
            + " |",
            "|---:|---|---|" + "---:|" * len(kinds),
        ]
        for row in scaling:
            cells = []
            for k in kinds:
                d = row["departments"].get(k)
                cells.append(
                    "–" if d is None else f"{d['records_per_second']:,.0f} ({d['licences_per_second']:,.0f})"
                )
            lines.append(
                f"| {row['citizens']:,} | {row['date']} | {row.get('commit') or '–'} | "
                + " | ".join(cells)
                + " |"
            )
    problems = result.get("hub_log_problems") or []
    if problems:
        lines += ["", "## Warnings and errors in the hub's log", ""]
        lines += [f"- {p['count']}× {p['what']}" for p in problems]
    lines += [
        "",
        "## Caveats",
        "",
        "- Adapter, hub and PostgreSQL share the machine's cores; a department would run its adapter on its "
        "own machine, so the adapter's signing would not take CPU from the hub.",
        "- Each sync starts from an empty feed and state file: every record is new. A daily sync of changes "
        "reads the same source but signs and pushes only what changed.",
        "- The syncs run one after another, smallest first (commerce, civil affairs, police): each finds "
        "the tables holding the previous ones' rows.",
        "",
    ]
    return "\n".join(lines)


def _load_warning(result: dict[str, Any]) -> list[str]:
    """A warning when other work took a good share of the machine during the syncs."""
    other = wall = 0.0
    for s in result.get("syncs", {}).values():
        c = s.get("cpu_seconds") or {}
        if c.get("other") is not None:
            other += c["other"]
            wall += c["wall_seconds"]
    cores = result["machine"].get("cores_usable") or result["machine"].get("cores") or 1
    if not wall or other / wall < 0.25:
        return []
    return [
        f"**Other load:** during the syncs, other processes kept {other / wall:.1f} of the machine's "
        f"{cores} cores busy on average (see *other load* below): the rates understate what this machine "
        "does unloaded; the CPU ms per licence are the steadier figures.",
        "",
    ]


def done_items(syncs: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(k, s) for k, s in syncs.items() if "records_per_second" in s]


def write_report(result: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "adapters-results.json", out / "adapters-results.md"
    merge_scaling(result, json_path)
    json_path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n")
    md_path.write_text(render_markdown(result))
    return json_path, md_path


# -- command line -------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m bench.adapters_sync",
        description="Time each department adapter's full sync of N citizens' sample data into a fresh hub "
        "on PostgreSQL; writes adapters-results.md and adapters-results.json.",
    )
    parser.add_argument(
        "--citizens",
        type=int,
        default=None,
        help=f"population size (default {DEFAULT_CITIZENS:,}; --quick {QUICK_CITIZENS:,})",
    )
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_CITIZENS:,} citizens (~1 minute)")
    parser.add_argument("--seed", type=int, default=SEED, help="the sample population's seed")
    parser.add_argument(
        "--batch-size", type=int, default=500, help="operations per batch (adapter default 500)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        help="seconds for the whole run; a sync still running then is stopped and reported "
        f"as such (default {DEFAULT_BUDGET_S:.0f})",
    )
    parser.add_argument("--out", type=Path, default=HERE, help="where to write the report (default bench/)")
    parser.add_argument("--keep-workdir", action="store_true", help="keep sources, state files and logs")
    args = parser.parse_args(argv)
    citizens = args.citizens or (QUICK_CITIZENS if args.quick else DEFAULT_CITIZENS)
    if citizens < 1:
        parser.error("--citizens must be at least 1")
    return Config(
        citizens=citizens,
        seed=args.seed,
        batch_size=args.batch_size,
        budget_s=args.budget,
        out=args.out,
        keep_workdir=args.keep_workdir,
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    started = time.perf_counter()

    def log(message: str) -> None:
        print(f"[{time.perf_counter() - started:6.1f} s] {message}", file=sys.stderr, flush=True)

    result = run(config, log)
    json_path, md_path = write_report(result, config.out)
    log(f"wrote {md_path} and {json_path}")
    syncs = result.get("syncs", {})
    for kind, s in syncs.items():
        print(sync_line(kind, s))
    failed = [
        k
        for k, s in syncs.items()
        if ("error" in s and not s.get("timed_out")) or s.get("hub_check", "ok") != "ok"
    ]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    unfinished = [k for k, s in syncs.items() if "skipped" in s or s.get("timed_out")]
    if unfinished:
        print(f"warning: not measured within the time budget: {', '.join(unfinished)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
