"""Decoding benchmarks: our decoder vs raw pyzbar (and zxing-cpp) on synthetic frames and photos.

Run: ``.venv/bin/python -m bench.decode_bench [PHOTOS_DIR]`` (prints the Markdown "## Decoding"
and "## Decoding real photos" sections). Frames come from bench.camera (generated in memory,
deterministic for the seed); the photos are ZXing's public 1D test images (Apache-2.0), read
from PHOTOS_DIR (default: $TALLY_BENCH_PHOTOS, set by `make bench PHOTOS=DIR`) and never copied
into the project; the section says so when the folder is absent. Only decoding is timed, on
one core, including the image decode.

A *wrong read* is a returned text that is not printed in the frame. A product GTIN read on a
product frame is therefore not wrong for the generic decoder; the scan pipelines (Code128 only +
unit-code check) cannot return it anyway.
"""

import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from bench.camera import Frame, make_frames
from labels.decode import DEFAULT_FORMATS, _upce_to_gtin13, decode_image
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


# --------------------------------------------------------------------------- real photos

# ZXing's 1D blackbox images (any copy): `make bench PHOTOS=DIR`, or the folder as an argument.
PHOTOS = Path(os.environ.get("TALLY_BENCH_PHOTOS") or "zxing-1d-photos-not-given")
ROTATIONS = (0, 180)  # as ZXing's own tests do: a handheld reads symbols upside down too
# Images where a second symbol is printed beside the one the expected text names.
ALSO_PRINTED = {"code39-3/02.png": ("001EC947D49B",), "code39-3/08.png": ("001EC9476B0A",)}
_PYZBAR_SYMBOLS = [
    pyzbar.ZBarSymbol.CODE128,
    pyzbar.ZBarSymbol.CODE39,
    pyzbar.ZBarSymbol.EAN13,
    pyzbar.ZBarSymbol.EAN8,
    pyzbar.ZBarSymbol.UPCA,
    pyzbar.ZBarSymbol.UPCE,
    pyzbar.ZBarSymbol.I25,
    pyzbar.ZBarSymbol.QRCODE,
]


@dataclass(frozen=True)
class Photo:
    """One photo, as uploaded (PNG bytes), and its expected text (None: no barcode at all)."""

    name: str
    folder: str
    data: bytes
    expected: str | None
    printed: tuple[str, ...]  # every text printed in it


def load_photos(root: Path = PHOTOS, rotations: tuple[int, ...] = ROTATIONS) -> list[Photo]:
    """The photos under ``root`` (one folder per symbology, ``NAME.txt`` beside ``NAME.png``;
    ``falsepositives-*`` without), each in every rotation; [] when the folder is absent."""
    root = Path(root)
    if not root.is_dir():
        return []
    photos = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        negative = folder.name.startswith("falsepositives")
        for image in sorted(folder.glob("*.png")):
            name = f"{folder.name}/{image.name}"
            txt = image.with_suffix(".txt")
            if negative:
                expected = None
            elif txt.is_file():
                expected = _expected_text(folder.name, txt.read_text("utf-8").strip("\r\n"))
            else:
                continue
            printed = (expected,) + ALSO_PRINTED.get(name, ()) if expected else ()
            data = image.read_bytes()
            for angle in rotations:
                photos.append(
                    Photo(f"{name}@{angle}", folder.name, _rotated(data, angle), expected, printed)
                )
    return photos


def _rotated(data: bytes, angle: int) -> bytes:
    if angle == 0:
        return data
    code = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    return cv2.imencode(".png", cv2.rotate(image, code[angle]))[1].tobytes()


def _expected_text(folder: str, text: str) -> str:
    """The expected text as we answer it: UPC-A and UPC-E as their 13-digit GTIN (add-ons are
    not part of it: ZXing's expected text is the main symbol)."""
    kind = folder.rsplit("-", 1)[0]
    if kind == "upca" and len(text) == 12:
        return "0" + text
    if kind == "upce" and len(text) == 8:
        return _upce_to_gtin13(text)
    return text


def _gtin(fmt: str, text: str) -> str:
    """A raw engine's UPC-A / UPC-E text as its 13-digit GTIN, like the expected texts."""
    if fmt == "UPCA" and len(text) == 12:
        return "0" + text
    if fmt == "UPCE" and len(text) == 8:
        return _upce_to_gtin13(text)
    return text


def _photo_gray(data: bytes) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)


def _photo_ours(data: bytes) -> set[str]:
    """/api/decode: the default formats."""
    return {b.text for b in decode_image(data)}


def _photo_pyzbar(data: bytes) -> set[str]:
    """Raw pyzbar on the whole image, the same symbologies (no DataMatrix in ZBar)."""
    found = pyzbar.decode(_photo_gray(data), symbols=_PYZBAR_SYMBOLS)
    return {_gtin(r.type, r.data.decode("utf-8", "replace")) for r in found}


_ZX_FORMATS = zxingcpp.barcode_formats_from_str(",".join(DEFAULT_FORMATS))


def _photo_zxing(data: bytes) -> set[str]:
    """Raw zxing-cpp on the whole image, its default options, the same formats."""
    found = zxingcpp.read_barcodes(_photo_gray(data), formats=_ZX_FORMATS)
    return {_gtin(r.format.name, r.text) for r in found}


PHOTO_PIPELINES: dict[str, Callable[[bytes], set[str]]] = {
    "ours (/api/decode, default formats)": _photo_ours,
    "raw pyzbar": _photo_pyzbar,
    "raw zxing-cpp": _photo_zxing,
}


def run_photos(root: Path = PHOTOS) -> str:
    """Every pipeline on the photos under ``root``: the Markdown "## Decoding real photos"."""
    photos = load_photos(root)
    title = ["## Decoding real photos", ""]
    if not photos:
        return "\n".join([*title, f"Photo set absent ({root} not found): not measured; give the"
                                   " folder with `make bench PHOTOS=DIR`.", ""])
    labelled = [p for p in photos if p.expected is not None]
    negatives = len(photos) - len(labelled)
    results = {}
    for name, fn in PHOTO_PIPELINES.items():
        fn(photos[0].data)  # warm-up
        hits, wrong, wrong_photos, ms = [], 0, [], []
        for photo in photos:
            t0 = time.perf_counter()
            texts = fn(photo.data)
            ms.append((time.perf_counter() - t0) * 1000)
            hits.append(photo.expected is not None and photo.expected in texts)
            bad = texts - set(photo.printed)
            wrong += len(bad)
            if bad:
                wrong_photos.append(f"{photo.name}: {', '.join(sorted(bad))}")
        results[name] = (hits, wrong, wrong_photos, ms)
    lines = [
        *title,
        f"ZXing's public 1D test photos (Apache-2.0): {len(labelled) // len(ROTATIONS)} phone and "
        f"webcam photos of EAN-13, EAN-8, UPC-A, UPC-E (some with add-ons), Code 128, Code 39 "
        f"and ITF, each with its expected text, and {negatives // len(ROTATIONS)} photos with no "
        f"barcode; each read as uploaded and turned 180° ({len(photos)} reads). *Read* = the "
        f"expected text among the answers (UPC-A/UPC-E as their GTIN-13); *wrong* = answered "
        f"texts not printed in the photo, any answer on a no-barcode photo included. One core, "
        f"PNG decode included.",
        "",
        "| pipeline | read | wrong texts | median ms | p95 ms |",
        "|---|---|---|---|---|",
    ]
    for name, (hits, wrong, _, ms) in results.items():
        hit = sum(hits)
        lines.append(
            f"| {name} | {100 * hit / len(labelled):.1f} % ({hit}/{len(labelled)}) | {wrong} "
            f"| {statistics.median(ms):.1f} | {_pct(ms, 0.95):.1f} |"
        )
    names = list(results)
    lines += ["", "| folder | reads | " + " | ".join(names) + " |"]
    lines.append("|---|---|" + "---|" * len(names))
    for folder in sorted({p.folder for p in labelled}):
        idx = [i for i, p in enumerate(photos) if p.folder == folder]
        cells = [f"{sum(results[n][0][i] for i in idx)}" for n in names]
        lines.append(f"| {folder} | {len(idx)} | " + " | ".join(cells) + " |")
    for name, (_, _, wrong_photos, _) in results.items():
        if wrong_photos:
            lines += ["", f"Wrong texts, {name}: " + "; ".join(wrong_photos) + "."]
    return "\n".join(lines) + "\n"


def run_all(photos: Path = PHOTOS) -> str:
    """Both sections: synthetic camera frames, then the real photos."""
    return run() + "\n" + run_photos(photos)


if __name__ == "__main__":
    if len(sys.argv) > 1:
        print(run_photos(Path(sys.argv[1])))
    else:
        print(run_all())
