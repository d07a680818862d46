"""Locate and level: the boxes OpenCV's detector finds around 1D symbols, each oriented by its
bars (``measure_box``), and the crops of a box that decoding reads, cut out with the bars
vertical: levelled, enhanced, tight, deblurred, inverted, normalised and widened.
"""

import dataclasses
import threading
from dataclasses import dataclass

import cv2
import numpy as np

# Locator: OpenCV downsamples the frame so its short side is this many pixels. Measured on the
# camera benchmark: 320 reads more frames than the default 512 and is twice as fast.
LOCATOR_SIDE = 320
MIN_BOX_SIDE = 40  # px; a 1D symbol shorter than this along its bars' normal is unreadable
PAD = 0.15  # padding across the bars, in box widths: quiet zones
TIGHT_PAD = 0.05  # the "tight" crop's padding
V_PAD = 0.3  # padding along the bars, as a fraction of PAD
ENHANCE_SCALE = 2.0  # enhanced crop: upscale across the bars
SMOOTH_FRACTION = 0.25  # enhanced crop: average along this fraction of the bar height
UNSHARP_SIGMA = 1.6  # enhanced crop: unsharp mask (frame pixels) ...
UNSHARP_AMOUNT = 4.0  # ... and strength, tuned on the camera benchmark
DEBLUR_ITERATIONS = 30  # deblurred crop: Richardson-Lucy iterations
DEBLUR_ROWS = 16  # the deconvolved profile is read as a strip this many rows high
NORMALISE_MODULES = 12  # normalised crop: window of the local darkest / lightest level, in modules
WIDE_FACTOR = 1.4  # widened crops: box width x this ...
WIDE_HEIGHT = 0.6  # ... and height at least this fraction of the box width

_local = threading.local()


def _detector() -> "cv2.barcode.BarcodeDetector":
    """One OpenCV detector per thread (the object is not documented as thread-safe)."""
    det = getattr(_local, "detector", None)
    if det is None:
        det = cv2.barcode.BarcodeDetector()
        det.setDownsamplingThreshold(LOCATOR_SIDE)
        _local.detector = det
    return det


def locate(gray: np.ndarray) -> list[np.ndarray]:
    """Rotated boxes (4x2 corner arrays) that look like 1D barcodes, largest first."""
    ok, points = _detector().detect(gray)
    if not ok or points is None:
        return []
    boxes = [np.asarray(p, np.float32).reshape(4, 2) for p in points]
    return sorted(boxes, key=lambda b: -cv2.contourArea(b))


@dataclass(frozen=True)
class _Box:
    """A located symbol: centre, extent across the bars (w) and along them (h), and the angle
    (degrees, OpenCV's convention) that turns its bars vertical."""

    cx: float
    cy: float
    w: float
    h: float
    angle: float


def measure_box(gray: np.ndarray, corners: np.ndarray) -> _Box | None:
    """Orient a located box by its bars: the structure tensor's dominant gradient direction.

    OpenCV's box angle is only as good as its downsampled view, and its long side is not always
    across the bars; the gradient direction is, so crops come out with vertical bars.
    """
    x, y, w, h = cv2.boundingRect(corners)
    x0, y0 = max(x, 0), max(y, 0)
    roi = gray[y0 : y + h, x0 : x + w]
    if roi.size == 0:
        return None
    mask = np.zeros(roi.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(corners - (x0, y0)).astype(np.int32), 1)
    gx = cv2.Sobel(roi, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(roi, cv2.CV_32F, 0, 1, ksize=3)
    sel = mask.astype(bool)
    gx, gy = gx[sel], gy[sel]
    jxx, jyy, jxy = float(gx @ gx), float(gy @ gy), float(gx @ gy)
    theta = 0.5 * np.arctan2(2 * jxy, jxx - jyy)  # gradient direction: across the bars
    across = np.array([np.cos(theta), np.sin(theta)])
    along = np.array([-np.sin(theta), np.cos(theta)])
    centre = corners.mean(axis=0)
    u, v = (corners - centre) @ across, (corners - centre) @ along
    box = _Box(
        float(centre[0]),
        float(centre[1]),
        float(np.ptp(u)),
        float(np.ptp(v)),
        float(np.degrees(theta)),
    )
    return box if box.w >= MIN_BOX_SIDE else None


def _warp(
    gray: np.ndarray, box: _Box, sx: float, sy: float, interpolation: int, pad: float = PAD
) -> tuple[np.ndarray, np.ndarray]:
    """Cut the box out with vertical bars, scaled (sx, sy), padded for the quiet zones."""
    out_w = int(round(box.w * (1 + 2 * pad) * sx))
    out_h = int(round((box.h + 2 * pad * V_PAD * box.w) * sy))
    m = np.diag([sx, sy]) @ cv2.getRotationMatrix2D((box.cx, box.cy), box.angle, 1.0)
    m[0, 2] += out_w / 2 - box.cx * sx
    m[1, 2] += out_h / 2 - box.cy * sy
    crop = cv2.warpAffine(
        gray, m, (out_w, out_h), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
    )
    return crop, cv2.invertAffineTransform(m)


def level_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
    """The box as it is, levelled: enough for sharp captures, and the cheapest."""
    return _warp(gray, box, 1.0, 1.0, cv2.INTER_LINEAR)


def enhanced_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
    """Levelled, 2x across the bars, averaged along them, then sharpened across them.

    Averaging a quarter of the bar height cuts sensor and JPEG noise ~4x, which is what lets the
    strong unsharp mask undo defocus without inventing edges.
    """
    crop, back = _warp(gray, box, ENHANCE_SCALE, 1.0, cv2.INTER_CUBIC)
    k = max(3, int(box.h * SMOOTH_FRACTION) | 1)
    smooth = cv2.boxFilter(crop, cv2.CV_32F, (1, k))
    sigma = UNSHARP_SIGMA * ENHANCE_SCALE
    blurred = cv2.GaussianBlur(smooth, (int(6 * sigma) | 1, 1), sigma)
    sharp = smooth * (1 + UNSHARP_AMOUNT) - blurred * UNSHARP_AMOUNT
    return np.clip(sharp, 0, 255).astype(np.uint8), back


def tight_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
    """Levelled with little padding: zxing-cpp's row reader sometimes fails a sharp symbol in
    one crop geometry and reads it in another (measured on sharp, unevenly lit frames)."""
    return _warp(gray, box, 1.0, 1.0, cv2.INTER_LINEAR, pad=TIGHT_PAD)


def deblurred_crop(gray: np.ndarray, box: _Box, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """The middle rows' mean profile, 2x across the bars, deconvolved for a defocus of
    ``sigma`` frame px, as a strip: reads blurred EAN/UPC photos that sharpening does not."""
    crop, back = _warp(gray, box, ENHANCE_SCALE, 1.0, cv2.INTER_CUBIC)
    top = crop.shape[0] // 4
    row = _richardson_lucy(crop[top : crop.shape[0] - top].mean(axis=0), sigma * ENHANCE_SCALE)
    shifted = back.copy()
    shifted[:, 2] += back[:, 1] * (crop.shape[0] - DEBLUR_ROWS) / 2  # the strip sits mid-crop
    return np.ascontiguousarray(np.repeat(row[None], DEBLUR_ROWS, axis=0)), shifted


def _richardson_lucy(profile: np.ndarray, sigma: float) -> np.ndarray:
    """1D Richardson-Lucy deconvolution by a Gaussian; grey levels stretched to 0..255."""
    radius = int(4 * sigma) + 1
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-(x * x) / (2 * sigma * sigma))
    kernel /= kernel.sum()
    lo, hi = np.percentile(profile, (2, 98))
    observed = np.clip((profile - lo) / max(hi - lo, 1e-6), 0.02, 1.0)
    observed = np.pad(observed, radius, mode="edge")  # no dark border from zero padding
    estimate = observed.copy()
    for _ in range(DEBLUR_ITERATIONS):  # the kernel is symmetric: it is its own mirror
        ratio = observed / (np.convolve(estimate, kernel, "same") + 1e-6)
        estimate *= np.convolve(ratio, kernel, "same")
    estimate = estimate[radius:-radius]
    return np.clip(estimate * (255 / max(float(estimate.max()), 1e-6)), 0, 255).astype(np.uint8)


def inverted(make_crop):
    """The crop with its grey levels inverted: reflective or light-printed product codes whose
    bars photograph lighter than their spaces (zxing-cpp tries this only on the full frame)."""

    def make(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
        crop, back = make_crop(gray, box)
        return 255 - crop, back

    return make


def normalised_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
    """2x across the bars, averaged along them, each pixel stretched between the local darkest
    and lightest level (about 12 modules wide), then sharpened: glare and uneven light."""
    crop, back = _warp(gray, box, ENHANCE_SCALE, 1.0, cv2.INTER_CUBIC)
    k = max(3, int(box.h * SMOOTH_FRACTION) | 1)
    smooth = cv2.boxFilter(crop, cv2.CV_32F, (1, k))
    width = max(9, int(box.w * ENHANCE_SCALE / 95 * NORMALISE_MODULES) | 1)
    kernel = np.ones((1, width), np.uint8)
    hi = cv2.GaussianBlur(cv2.dilate(smooth, kernel), (width, 1), width / 4)
    lo = cv2.GaussianBlur(cv2.erode(smooth, kernel), (width, 1), width / 4)
    floor = 0.15 * float(np.ptp(smooth))
    flat = (smooth - lo) / np.maximum(hi - lo, max(floor, 8.0))
    sigma = UNSHARP_SIGMA * ENHANCE_SCALE
    blurred = cv2.GaussianBlur(flat, (int(6 * sigma) | 1, 1), sigma)
    sharp = flat * (1 + UNSHARP_AMOUNT) - blurred * UNSHARP_AMOUNT
    return np.clip(sharp * 255, 0, 255).astype(np.uint8), back


def widened(make_crop):
    """The crop of a box widened across the bars and made at least WIDE_HEIGHT of its width
    tall: the locator sometimes boxes only the contrasty end of a faint symbol."""

    def make(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
        wide = dataclasses.replace(box, w=box.w * WIDE_FACTOR, h=max(box.h, WIDE_HEIGHT * box.w))
        return make_crop(gray, wide)

    return make
