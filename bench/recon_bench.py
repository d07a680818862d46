"""Reconciliation of a 5,000-line manifest with 100,000 counted scans (domain level, file DB)."""

import statistics
import tempfile
import time
from pathlib import Path

import customs_sim
from tally import labelling, manifests, scans
from tally.customs.client import CustomsClient
from tally.db import close_db, migrate, open_db
from tally.reconcile import load_reconciliation
from tests.conftest import clear_for_tally

LINES, SCANS = 5_000, 100_000


def run() -> str:
    with tempfile.TemporaryDirectory() as tmp:
        db = open_db(str(Path(tmp) / "recon.db"))
        migrate(db)
        mid = manifests.import_manifest(
            db,
            {
                "manifest_no": "RECON-1",
                "lines": [
                    {"line_no": i, "sku": f"SKU-{i}", "name": f"Item {i}", "declared_qty": 20}
                    for i in range(1, LINES + 1)
                ],
            },
            user_id=None,
        )["id"]
        with customs_sim.serve() as customs:  # inspection and write-off open the tally
            clear_for_tally(db, mid, CustomsClient(customs.url))
        codes = []
        for i in range(1, LINES + 1):
            codes += [
                x["code"]
                for x in labelling.issue_labels(db, mid, line_no=i, count=20, user_id=None)
            ]
        t0 = time.perf_counter()
        for start in range(0, SCANS, 1000):
            chunk = codes[start : start + 1000]
            scans.record_scans(db, mid, [scans.Scan(c, (c,)) for c in chunk], user_id=None)
        ingest = time.perf_counter() - t0
        timings = []
        for _ in range(7):
            t0 = time.perf_counter()
            report = load_reconciliation(db, mid)
            timings.append(time.perf_counter() - t0)
        assert report["totals"]["counted"] == SCANS and report["totals"]["lines"] == LINES
        close_db(db)
    return "\n".join(
        [
            "## Reconciliation",
            "",
            f"{LINES:,}-line manifest, {SCANS:,} counted scans in the ledger"
            " (recorded in batches of"
            f" 1,000 in {ingest:.1f} s: {SCANS / ingest:,.0f} scans/s in-process).",
            "",
            "| what | median of 7 | max |",
            "|---|---|---|",
            f"| `load_reconciliation` (JSON report) | {statistics.median(timings) * 1000:.0f} ms "
            f"| {max(timings) * 1000:.0f} ms |",
            "",
        ]
    )


if __name__ == "__main__":
    print(run())
