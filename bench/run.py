"""`make bench`: run every benchmark and write docs/benchmarks.md with the machine and date."""

import datetime
import os
import platform
import sqlite3
import subprocess
import sys
from pathlib import Path

from bench import decode_bench, ingest_bench, labels_bench, recon_bench

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
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def main() -> int:
    only = set(sys.argv[1:])
    sections = []
    for name, module in (
        ("decode", decode_bench),
        ("ingest", ingest_bench),
        ("labels", labels_bench),
        ("recon", recon_bench),
    ):
        if only and name not in only:
            continue
        print(f"running {name} ...", flush=True)
        section = module.run()
        print(section, flush=True)
        sections.append(section)
    today = datetime.date.today().isoformat()
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(
        "\n".join(
            [
                "# Benchmarks",
                "",
                f"Written by `make bench` on {today}. Machine: {machine()}.",
                "Shared, noisy machines: figures are medians, expect +-20-30 % run to run.",
                "",
                *sections,
            ]
        )
    )
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
