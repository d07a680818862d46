"""Label rendering benchmark: PDF (one per page and A4 sheets), ZPL and single PNG labels.

Run from the repository root: ``python -m bench.labels_bench``. Every run renders fresh unit codes,
so the per-text bitmap cache in labels.render helps only with what repeats in real batches (SKUs,
names, line and box numbers), never with the codes themselves.
"""

import io
import itertools
import os
import platform
import statistics
import time
from collections.abc import Callable

import PIL

from labels.pdf import render_pdf
from labels.render import Label, LabelSize, render_image, render_png
from labels.zpl import render_zpl
from tally.units import make_code

BATCH = 1000
RUNS = 3
PNG_SAMPLES = 200
NAMES = (
    "婴儿奶粉 900g",
    "Aptamil 爱他美 婴儿配方奶粉 1段 800g",
    "维生素C咀嚼片 60粒",
    "Face cream 50ml",
)
_serials = itertools.count(1_000_000)


def _batch(count: int = BATCH) -> list[Label]:
    """A manifest-like batch: unique codes, 40 lines of 25 units, 24 units to a box."""
    labels = []
    for i in range(count):
        labels.append(
            Label(
                code=make_code(next(_serials)),
                sku=f"SKU-{i // 25:04d}",
                name=f"{NAMES[i // 25 % len(NAMES)]} #{i // 25}",
                line_no=1 + i // 25,
                box_no=f"B{i // 24:03d}",
                manifest_no="MF20241105001",
                copy_no=1 if i % 50 == 0 else 0,
            )
        )
    return labels


def _median(work: Callable[[list[Label]], bytes | str]) -> tuple[float, int]:
    """Median wall time of RUNS runs, each on a fresh batch, and the output size."""
    times, size = [], 0
    for _ in range(RUNS):
        labels = _batch()
        start = time.perf_counter()
        out = work(labels)
        times.append(time.perf_counter() - start)
        size = len(out)
    return statistics.median(times), size


def _pillow_pdf(labels: list[Label]) -> bytes:
    """Pillow's own PDF writer with the same 1-bit pages (CCITT G4 via libtiff), for comparison."""
    pages = [render_image(label, dpi=300) for label in labels]
    out = io.BytesIO()
    pages[0].save(out, "PDF", save_all=True, append_images=pages[1:], resolution=300.0)
    return out.getvalue()


def run() -> str:
    """Run the benchmark and return it as a Markdown section."""
    cases = [
        ("PDF, one 50x30 label per page, 203 dpi", lambda labels: render_pdf(labels, dpi=203)),
        ("PDF, one 50x30 label per page, 300 dpi", lambda labels: render_pdf(labels, dpi=300)),
        ("PDF, A4 sheets of 4 x 9 50x30 labels, 300 dpi", lambda ls: render_pdf(ls, sheet="a4")),
        ("ZPL, 50x30, 203 dpi", lambda labels: render_zpl(labels, dpi=203).encode()),
        ("for comparison: Pillow's PDF writer, one per page, 300 dpi", _pillow_pdf),
    ]
    rows = []
    for name, work in cases:
        seconds, size = _median(work)
        per_label = seconds / BATCH * 1000
        rows.append(f"| {name} | {seconds:.3f} s | {per_label:.2f} ms | {size / 1024:,.0f} KiB |")
    png_times = []
    for label in _batch(PNG_SAMPLES):
        start = time.perf_counter()
        render_png(label, dpi=203, size=LabelSize())
        png_times.append(time.perf_counter() - start)
    png_ms = statistics.median(png_times) * 1000
    return "\n".join(
        [
            "## Labels",
            "",
            f"{BATCH:,} unit labels per run (unique codes; 40 manifest lines of 25 units, "
            f"24 units to a box, every 50th a reprint); median of {RUNS} runs; "
            f"{platform.python_implementation()} {platform.python_version()}, "
            f"Pillow {PIL.__version__}, {os.cpu_count()} CPUs, one process.",
            "",
            f"| {BATCH:,} labels to | time | per label | output |",
            "| --- | ---: | ---: | ---: |",
            *rows,
            "",
            f"One 50x30 label to PNG at 203 dpi: median {png_ms:.2f} ms over {PNG_SAMPLES} labels.",
            "",
        ]
    )


if __name__ == "__main__":
    print(run())
