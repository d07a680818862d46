"""Decoding benchmark: our decoder vs raw pyzbar on seeded synthetic handheld-camera frames.

Run: ``.venv/bin/python -m bench.decode_bench`` (prints a Markdown "## Decoding" section).
Frames come from bench.camera (generated in memory, deterministic for the seed); only decoding
is timed, on one core, including the JPEG decode of the upload.

A *wrong read* is a returned text that is not printed in the frame. A product GTIN read on a
product frame is therefore not wrong for the generic decoder; the scan pipelines (Code128 only +
unit-code check) cannot return it anyway.
"""

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from pyzbar import pyzbar

from bench.camera import Frame, make_frames
from labels.decode import decode_image
from tally.units import is_valid_code

cv2.setNumThreads(1)  # one core, as one server worker has

# (label, low, high): low <= value < high
ROTATION_BUCKETS = [
    ("0–10°", 0, 10),
    ("10–20°", 10, 20),
    ("20–30°", 20, 30),
    ("30–45°", 30, 46),
]  # degrees off the nearest image axis
BLUR_BUCKETS = [
    ("0–0.5", 0, 0.5),
    ("0.5–1.0", 0.5, 1.0),
    ("1.0–1.6", 1.0, 1.6),
    ("1.6–2.0", 1.6, 2.0),
    ("2.0–2.5", 2.0, 3),
]
PPM_BUCKETS = [("1.5–2", 1.5, 2.0), ("2–3", 2.0, 3.0), ("3–4.5", 3.0, 5)]


@dataclass
class Outcome:
    """Per-pipeline results, one entry per frame."""

    hits: list[bool] = field(default_factory=list)
    wrong: list[int] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)


def _ours(frame: Frame) -> set[str]:
    """The scan endpoint: Code128 only, then the unit-code pattern and Damm check."""
    return {b.text for b in decode_image(frame.jpeg, formats=["Code128"]) if is_valid_code(b.text)}


def _ours_generic(frame: Frame) -> set[str]:
    """The generic /api/decode: all common formats, no unit-code check."""
    return {b.text for b in decode_image(frame.jpeg)}


def _gray(frame: Frame) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_GRAYSCALE)


def _pyzbar_checked(frame: Frame) -> set[str]:
    """Raw pyzbar on the whole frame, Code128 only, plus the same unit-code check."""
    found = pyzbar.decode(_gray(frame), symbols=[pyzbar.ZBarSymbol.CODE128])
    texts = {r.data.decode("latin-1") for r in found}
    return {t for t in texts if is_valid_code(t)}


def _pyzbar_all(frame: Frame) -> set[str]:
    """Raw pyzbar, every symbology, no check: what a naive endpoint would return."""
    return {r.data.decode("latin-1") for r in pyzbar.decode(_gray(frame))}


PIPELINES: dict[str, Callable[[Frame], set[str]]] = {
    "ours (Code128 + unit check)": _ours,
    "raw pyzbar (Code128 + unit check)": _pyzbar_checked,
    "ours generic (all formats, no check)": _ours_generic,
    "raw pyzbar (all symbols, no check)": _pyzbar_all,
}


def _measure(frames: list[Frame], fn: Callable[[Frame], set[str]]) -> Outcome:
    out = Outcome()
    fn(frames[0])  # warm-up: first-call allocations are not per-frame cost
    for frame in frames:
        t0 = time.perf_counter()
        texts = fn(frame)
        out.ms.append((time.perf_counter() - t0) * 1000)
        out.hits.append(frame.expected is not None and frame.expected in texts)
        out.wrong.append(len(texts - set(frame.present)))
    return out


def _rate(frames: list[Frame], out: Outcome, keep: Callable[[Frame], bool]) -> str:
    idx = [i for i, f in enumerate(frames) if f.expected is not None and keep(f)]
    if not idx:
        return "–"
    hit = sum(out.hits[i] for i in idx)
    return f"{100 * hit / len(idx):.1f} % ({hit}/{len(idx)})"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _off_axis(frame: Frame) -> float:
    r = frame.conditions.rotation_deg % 90
    return min(r, 90 - r)


def run(n: int = 240, seed: int = 20240) -> str:
    """Generate ``n`` frames for ``seed``, run every pipeline, return the Markdown section."""
    frames = make_frames(n, seed)
    results = {name: _measure(frames, fn) for name, fn in PIPELINES.items()}
    labels = [f for f in frames if f.expected is not None]
    reasonable = [f for f in labels if f.conditions.reasonable]
    empty = [i for i, f in enumerate(frames) if f.expected is None]
    lines = [
        "## Decoding",
        "",
        f"{n} synthetic 1280x720 handheld-camera JPEG frames (bench/camera.py, seed {seed}): "
        f"{len(labels)} with a unit label (any rotation, tilt <= 30°, blur σ 0–2.5 px, "
        f"1.5–4.5 px/module, uneven light, noise, JPEG q 40–80), {len(empty)} without a unit code "
        f"(background only, or a product EAN-13). *Reasonable* = >= 2 px/module and blur σ < 1.6 "
        f"({len(reasonable)} frames). Times: one core, JPEG decode included. *Wrong* = returned "
        "texts not printed in the frame.",
        "",
        "| pipeline | read, all label frames | read, reasonable | wrong reads | median ms "
        "| p95 ms | median ms, no-code frames |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, out in results.items():
        lines.append(
            f"| {name} | {_rate(frames, out, lambda f: True)} "
            f"| {_rate(frames, out, lambda f: f.conditions.reasonable)} "
            f"| {sum(out.wrong)} | {statistics.median(out.ms):.1f} | {_pct(out.ms, 0.95):.1f} "
            f"| {statistics.median([out.ms[i] for i in empty]):.1f} |"
        )
    lines += _breakdown(
        frames, results, "Rotation off the nearest axis", ROTATION_BUCKETS, _off_axis
    )
    lines += _breakdown(
        frames, results, "Blur σ (px)", BLUR_BUCKETS, lambda f: f.conditions.blur_sigma
    )
    lines += _breakdown(
        frames, results, "Pixels per module", PPM_BUCKETS, lambda f: f.conditions.px_per_module
    )
    return "\n".join(lines) + "\n"


def _breakdown(
    frames: list[Frame],
    results: dict[str, Outcome],
    title: str,
    buckets: list[tuple[str, float, float]],
    value: Callable[[Frame], float],
) -> list[str]:
    """Read rates of the two scan pipelines per bucket (label frames only)."""
    names = list(PIPELINES)[:2]
    lines = [
        "",
        f"| {title} | frames | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for label, lo, hi in buckets:

        def keep(f: Frame, lo: float = lo, hi: float = hi) -> bool:
            return lo <= value(f) < hi

        count = sum(1 for f in frames if f.expected is not None and keep(f))
        cells = [_rate(frames, results[name], keep) for name in names]
        lines.append(f"| {label} | {count} | " + " | ".join(cells) + " |")
    return lines


if __name__ == "__main__":
    print(run())
