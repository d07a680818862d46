"""`make bench`: run every benchmark and write docs/benchmarks.md with the machine and date."""

import datetime
import os
import platform
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

from bench import decode_bench, engines_bench, ingest_bench, labels_bench, recon_bench

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    try:
        distro = subprocess.run(
            ["sh", "-c", ". /etc/os-release; echo $PRETTY_NAME"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        distro = platform.platform()
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) / 1024 / 1024:.0f} GiB, {distro}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{_postgres_version()}"
    )


def _postgres_version() -> str:
    from tests.pgcluster import PostgresNotFound, find_bindir

    try:
        out = subprocess.run([os.path.join(find_bindir(), "postgres"), "--version"],
                             capture_output=True, text=True).stdout.split()
    except (PostgresNotFound, OSError):
        return "PostgreSQL absent"
    return f"PostgreSQL {out[-1]}" if out else "PostgreSQL"


BENCHES = (("decode", decode_bench), ("ingest", ingest_bench), ("engines", engines_bench),
           ("labels", labels_bench), ("recon", recon_bench))


def _sections(text: str) -> dict[str, str]:
    """The "## ..." sections of an earlier docs/benchmarks.md, by heading."""
    parts = re.split(r"(?m)^(?=## )", text)
    return {part.splitlines()[0]: part.rstrip() + "\n" for part in parts if part.startswith("## ")}


def main() -> int:
    """Run every benchmark, or those named (`python -m bench.run ingest`): a named run replaces
    its own sections and keeps the others of the last full run, each with its own date."""
    only = set(sys.argv[1:])
    today = datetime.date.today().isoformat()
    sections = _sections(OUT.read_text()) if only and OUT.exists() else {}
    for name, module in BENCHES:
        if only and name not in only:
            continue
        print(f"running {name} ...", flush=True)
        # decode: the synthetic frames and the real photos, two sections
        text = decode_bench.run_all() if module is decode_bench else module.run()
        for part in _sections(text).values() or [text]:
            section = part.rstrip() + f"\n\n(measured {today} on {machine()})\n"
            print(section, flush=True)
            sections[section.splitlines()[0]] = section
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text("\n".join([
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run [decode|ingest|engines|labels|recon]`),"
        f" last on"
        f" {today}. Shared, noisy machines: figures are medians, expect +-20-30 % run to run.",
        "",
        *sections.values(),
    ]))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
