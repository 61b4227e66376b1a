"""Optional: sample the real server process with py-spy while it ingests over HTTP.

py-spy is not a dependency of the project; when its executable is found (next to this Python or on
PATH) the harness records the server during an extra, untimed HTTP phase, with ``--gil`` so that only
the thread holding the GIL is sampled: the samples show what occupies the server's one Python core,
including the HTTP layer the in-process cProfile cannot see.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

RATE = 400


def find_py_spy() -> str | None:
    here = str(Path(sys.executable).parent)
    return shutil.which("py-spy", path=os.pathsep.join([here, os.environ.get("PATH", "")]))


class Recorder:
    def __init__(
        self, executable: str, pid: int, output: Path, rate: int = RATE, *, nonblocking: bool = False
    ) -> None:
        self.command = [
            executable,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--output",
            str(output),
            "--rate",
            str(rate),
            "--gil",
            "--nolineno",
            *(["--nonblocking"] if nonblocking else []),
        ]
        # Blocking sampling (the default) pauses the server for each sample, which gives whole stacks;
        # the sampled phase is not the timed one, so the pauses cost nothing that is reported. With dozens of
        # threads (a thread pool serving lookups) each pause is long: ``nonblocking`` reads without pausing.
        self.output = output
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> Recorder:
        self.process = subprocess.Popen(self.command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(0.5)  # let it attach
        if self.process.poll() is not None:
            error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
            raise RuntimeError(f"py-spy could not attach: {error.strip()}")
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# Ingest stages by (file suffix, function); the deepest one in a sample's stack names the sample.
_INGEST = [
    ("hub/registry/ingest", "request_digest", "request_digest"),
    ("hub/registry/ingest", "prepare", "per-operation checks: other"),
    ("hub/contract/sdjwt.py", "parse", "sdjwt.parse"),
    ("hub/contract/sdjwt.py", "verify_issuer_signature", "ES256 signature check"),
    ("hub/contract/sdjwt.py", "resolve_disclosures", "resolve_disclosures"),
    ("hub/registry/ingest", "_check_claims", "_check_claims: other"),
    ("hub/contract/identifiers.py", "check_citizen_id", "check_citizen_id (stdnum)"),
    ("hub/contract/identifiers.py", "check_uscc", "check_uscc (stdnum)"),
    ("hub/kit/blind_index.py", "of", "blind indexes (HMAC)"),
    ("hub/registry/ingest", "_apply", "_apply: other"),
    ("hub/registry/repository.py", "licences_by_serial", "SELECT existing licences"),
    ("hub/registry/repository.py", "used_status_slots", "SELECT used status slots"),
    ("hub/registry/ingest", "_add_version", "BatchWriter._add_version"),
    ("hub/registry/repository.py", "insert_licences", "INSERT licences … RETURNING"),
    ("hub/registry/repository.py", "insert_versions", "INSERT licence versions"),
    ("hub/registry/repository.py", "save_feed_batch", "save_feed_batch"),
]


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for frame in stack.split(";"):
        name, _, rest = frame.partition(" (")
        # py-spy names methods Class.method and nested code outer.<locals>.inner: keep the last part.
        frames.append((name.rsplit(".", 1)[-1], rest.rstrip(")")))
    return frames


def _classify(frames: list[tuple[str, str]]) -> str:
    files = [f for _, f in frames]

    def has(file_part: str, name: str | None = None) -> bool:
        return any(file_part in f and (name is None or n == name) for n, f in frames)

    label = None
    for name, file in frames:
        for part, func, stage in _INGEST:
            if name == func and part in file:
                label = stage
    if label is None and has("hub/registry/ingest", "ingest_batch"):
        label = "ingest_batch: other"
    if label is not None:
        return "ingest · " + label
    if has("hub/db.py", "get_session"):
        return "COMMIT and session close (get_session)"
    if has("fastapi/routing.py", "serialize_response"):
        return "FastAPI: response validation + serialisation"
    if has("fastapi/dependencies/utils.py", "request_body_to_args"):
        return "FastAPI: request body validation (pydantic)"
    if has("json/", "loads") and has("fastapi/routing.py"):
        return "FastAPI: request body JSON decoding"
    if any("h11/" in f for f in files):
        return "HTTP parsing and framing (h11)"
    if has("hub/kit/http.py"):
        return "hub middleware (body limit, metrics)"
    if any("uvicorn/" in f or "starlette/" in f or "anyio/" in f or "asyncio/" in f for f in files):
        return "uvicorn / starlette / asyncio other"
    for part, label in (("stdnum/", "stdnum"), ("hub/contract/sdjwt.py", "sdjwt"), ("psycopg/", "psycopg")):
        if part in files[-1]:
            return f"{label} (stack cut short)"
    return "other"


# Frames that run through every stage: the share of samples with any of them on the stack.
CROSS_CUTTING = {
    "SQLAlchemy (ORM, Core, engine)": "sqlalchemy/",
    "psycopg (driver)": "psycopg/",
    "pydantic": "pydantic",
}


def summarise(
    raw: Path,
    seconds: float,
    rate: int,
    units: int,
    top: int = 15,
    *,
    classify: Callable[[list[tuple[str, str]]], str] | None = None,
    unit: str = "licence",
) -> dict[str, Any]:
    """Group py-spy's raw samples by stage (``classify`` of the stack's frames; the ingest stages by
    default) and give each stage's share and its µs of the server's Python core per ``unit``."""
    classify = classify or _classify
    stages: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    crossing: Counter[str] = Counter()
    total = 0
    psycopg_queries = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        total += count
        if "psycopg/_queries.py" in stack:
            psycopg_queries += count
        for label, part in CROSS_CUTTING.items():
            if part in stack:
                crossing[label] += count
        stages[classify(frames)] += count
        leaves[stack.rsplit(";", 1)[-1]] += count
    expected = seconds * rate
    per_sample_us = 1e6 / rate
    per_unit = f"us_per_{unit}"
    return {
        f"{unit}s": units,
        "unit": unit,
        "seconds": seconds,
        "rate_hz": rate,
        "samples": total,
        "gil_busy_share": total / expected if expected else 0.0,
        # samples inside psycopg's conversion of a statement's %(name)s placeholders (psycopg/_queries.py)
        "psycopg_query_conversion_share": psycopg_queries / total if total else 0.0,
        "cross_cutting": [
            {"what": label, "share": crossing[label] / total if total else 0.0} for label in CROSS_CUTTING
        ],
        "stages": [
            {
                "stage": stage,
                "share": n / total,
                per_unit: n * per_sample_us / units,
                "us_per_unit": n * per_sample_us / units,
            }
            for stage, n in stages.most_common()
        ]
        if total and units
        else [],
        "top_self": [{"frame": frame, "share": n / total} for frame, n in leaves.most_common(top)]
        if total
        else [],
    }
