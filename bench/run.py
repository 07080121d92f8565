"""Runs the measurements and prints one table, each figure beside its floor from the same run.

    python -m bench.run [--quick] [--only P1,P3] [--database axcrm_bench] [--extra key=value …]

Each `bench/p<N>_*.py` module exposes `measure(ctx) -> list[Result]`. A module that does not exist yet is
skipped with a line saying so; one that raises becomes a failed row with the error as its note. The table
also goes to bench/results/latest.md with the machine and the date. Exit status 1 when a target is not met.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench.common import BENCH_DATABASE, ROOT, BenchContext, Result

MODULES = {
    "P1": "bench.p1_dashboard",
    "P2": "bench.p2_lists",
    "P3": "bench.p3_sweep",
    "P4": "bench.p4_notices",
    "P5": "bench.p5_firm_page",
}
RESULTS = ROOT / "bench" / "results"
HEADER = ("key", "what", "measured", "floor", "ratio", "target", "met", "note")


def context(
    database: str = BENCH_DATABASE, quick: bool = False, extra: dict[str, str] | None = None
) -> BenchContext:
    from bench.generate import database_url

    return BenchContext(
        database_url=database_url(database),
        redis_url=os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0",
        workdir=Path(tempfile.mkdtemp(prefix="axcrm-bench-")),
        quick=quick,
        extra=dict(extra or {}),
    )


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}" if abs(value) >= 10 else f"{value:,.2f}"
    return f"{text} {unit}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(results: Sequence[Result]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for result in results:
        ratio = result.ratio
        cells = (
            result.key,
            result.what,
            _figure(result.measured, result.unit),
            _figure(result.floor, result.unit),
            "—" if ratio is None else f"{ratio:.2f}×",
            result.target,
            "yes" if result.met else "**no**",
            result.note,
        )
        lines.append("| " + " | ".join(_cell(str(cell)) for cell in cells) + " |")
    return "\n".join(lines)


def print_table(results: Sequence[Result]) -> None:
    print(table(results), flush=True)


def machine() -> str:
    """nproc, RAM, PostgreSQL server version, Python, date: the line that goes above the figures."""
    cores = os.cpu_count() or 0
    memory = ""
    try:
        kilobytes = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{kilobytes / 1024 / 1024:.0f} GB RAM"
    except (OSError, StopIteration, ValueError):
        pass
    postgres = ""
    try:
        import psycopg

        from bench.generate import libpq_url

        with psycopg.connect(libpq_url("postgres"), connect_timeout=3) as conn:
            postgres = "PostgreSQL " + conn.execute("SHOW server_version").fetchone()[0].split()[0]
    except Exception:  # the table is still worth writing without it
        postgres = "PostgreSQL ?"
    load = ""
    with contextlib.suppress(OSError):  # not on every platform
        load = "load " + " ".join(f"{value:.1f}" for value in os.getloadavg())
    return ", ".join(
        part
        for part in (
            f"{cores} cores",
            memory,
            postgres,
            f"Python {platform.python_version()}",
            load,
            datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        )
        if part
    )


def _failed(key: str, error: BaseException) -> Result:
    message = f"{type(error).__name__}: {error}".strip()
    return Result(key, "measurement failed", float("nan"), None, "", "—", False, message[:300])


def run(keys: Sequence[str], ctx: BenchContext) -> list[Result]:
    results: list[Result] = []
    for key in keys:
        name = MODULES[key]
        if importlib.util.find_spec(name) is None:
            print(f"{key}: {name} does not exist yet, skipped", flush=True)
            continue
        started = time.perf_counter()
        print(f"{key}: {name} …", flush=True)
        try:
            module = importlib.import_module(name)
            found = list(module.measure(ctx))
        except Exception as error:  # one broken measurement must not hide the others
            traceback.print_exc()
            found = [_failed(key, error)]
        print(f"{key}: {len(found)} rows in {time.perf_counter() - started:.0f} s", flush=True)
        results.extend(found)
    return results


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="fewer repetitions: checks the harness, not figures"
    )
    parser.add_argument("--only", default="", help="comma-separated keys, e.g. P1,P3")
    parser.add_argument("--database", default=BENCH_DATABASE)
    parser.add_argument(
        "--extra", action="append", default=[], metavar="KEY=VALUE", help="passed to ctx.extra"
    )
    args = parser.parse_args(argv)
    keys = [key.strip().upper() for key in args.only.split(",") if key.strip()] or list(MODULES)
    unknown = [key for key in keys if key not in MODULES]
    if unknown:
        parser.error(f"unknown keys {unknown}; known: {', '.join(MODULES)}")
    extra = dict(item.split("=", 1) for item in args.extra if "=" in item)
    ctx = context(args.database, args.quick, extra)
    results = run(keys, ctx)
    about = f"{machine()}; database {args.database}; commit {_git_commit()}" + (
        "; quick" if args.quick else ""
    )
    print()
    print(about)
    print()
    print_table(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(f"{about}\n\n{table(results)}\n", encoding="utf-8")
    print(f"\nwritten to {(RESULTS / 'latest.md').relative_to(ROOT)}")
    return 0 if results and all(result.met for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
