"""Seeded synthetic handheld-camera frames of unit labels.

Used by the decoding benchmark (bench/decode_bench.py) and by tests that "photograph" labels or
rasterized label pages. Everything is generated in memory and is deterministic for a seed: no image
is ever written to the repository.

The camera model, in order:

1. the printed image is scaled to the wanted pixels per module (INTER_AREA: a sensor integrates
   light over each pixel, so thin bars turn grey instead of aliasing);
2. it is rotated in its plane and tilted out of it (a pinhole projection of the tilted plane, so far
   edges shrink: keystone), and placed on a cluttered background;
3. the whole scene is rendered at 2x and area-downsampled to the frame size (anti-aliased edges);
4. uneven light (a linear ramp plus vignetting), defocus (Gaussian blur, sigma in frame pixels),
   sensor noise and JPEG compression are applied last, as in a phone.
"""

import math
import random
from dataclasses import dataclass

import barcode
import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from tally.units import make_code

# A unit label is 50 x 30 mm with 0.25 mm modules: 200 x 120 modules.
LABEL_MODULES = (200, 120)
QUIET_MODULES = 10
SUPERSAMPLE = 2
# Focal length as a fraction of the frame width: a phone's main camera (~69 degree horizontal FOV).
FOCAL_FRACTION = 0.75


@dataclass(frozen=True)
class Conditions:
    """How a frame was captured. ``kind`` is "label", "background" (nothing) or "gtin"."""

    kind: str
    rotation_deg: float
    tilt_deg: float
    blur_sigma: float
    px_per_module: float
    light_gradient: float
    noise: float
    jpeg_quality: int

    @property
    def reasonable(self) -> bool:
        """A capture a careful operator can be expected to make (limits in docs/barcodes.md)."""
        return self.px_per_module >= 2.0 and self.blur_sigma < 1.6


@dataclass(frozen=True)
class Frame:
    """One JPEG frame, the unit code it shows (None if none) and every text printed in it.

    ``corners``: where the printed barcode's box (quiet zones included) landed in the frame.
    """

    jpeg: bytes
    expected: str | None
    present: tuple[str, ...]
    conditions: Conditions
    corners: tuple[tuple[float, float], ...] | None = None


def _font(size: float) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=max(6, int(round(size))))


def _draw_modules(
    draw: ImageDraw.ImageDraw, modules: str, x0: int, y0: int, ppm: int, height: int
) -> None:
    """Draw a 1/0 module string as bars of exactly ``ppm`` pixels per module."""
    x = x0
    for bit in modules:
        if bit == "1":
            draw.rectangle([x, y0, x + ppm - 1, y0 + height - 1], fill=0)
        x += ppm


def make_label_image(code: str, *, px_per_module: int, rng: random.Random) -> Image.Image:
    """Return a 50 x 30 mm unit label (greyscale) with a Code128 barcode of ``code``.

    ``px_per_module`` is an integer so every bar has an exact pixel width. The barcode box including
    its quiet zones is stored in ``image.info["barcode_box"]`` (x0, y0, x1, y1) for framing.
    """
    ppm = int(px_per_module)
    w, h = LABEL_MODULES[0] * ppm, LABEL_MODULES[1] * ppm
    paper = rng.randint(236, 255)
    img = Image.new("L", (w, h), paper)
    draw = ImageDraw.Draw(img)
    modules = barcode.get("code128", code).build()[0]
    bx = (LABEL_MODULES[0] - len(modules)) // 2 * ppm
    by, bh = 28 * ppm, 50 * ppm
    _draw_modules(draw, modules, bx, by, ppm, bh)
    manifest = f"MF-{rng.randint(2024, 2026)}-{rng.randint(0, 99999):05d}"
    draw.text((8 * ppm, 6 * ppm), "BONDED TALLY", fill=0, font=_font(9 * ppm))
    draw.text((8 * ppm, 17 * ppm), manifest, fill=40, font=_font(7 * ppm))
    draw.line([(8 * ppm, 25 * ppm), (w - 8 * ppm, 25 * ppm)], fill=90, width=max(1, ppm // 3))
    draw.text((w // 2, by + bh + 4 * ppm), code, fill=0, font=_font(11 * ppm), anchor="ma")
    draw.text(
        (8 * ppm, h - 14 * ppm),
        f"pkg {rng.randint(1, 400)}/{rng.randint(400, 999)}",
        fill=40,
        font=_font(7 * ppm),
    )
    q = QUIET_MODULES * ppm
    img.info["barcode_box"] = (bx - q, by, bx + len(modules) * ppm + q, by + bh)
    return img


def random_gtin13(rng: random.Random) -> str:
    """A random EAN-13 with a correct check digit (a product's GTIN, not a unit code)."""
    body = f"{rng.randint(0, 999_999_999_999):012d}"
    odd = sum(int(c) for c in body[0::2])
    even = sum(int(c) for c in body[1::2])
    return body + str((10 - (odd + 3 * even) % 10) % 10)


def make_product_image(gtin: str, *, px_per_module: int, rng: random.Random) -> Image.Image:
    """A printed product face with an EAN-13 (and no unit code), for false-read measurements."""
    ppm = int(px_per_module)
    modules = barcode.get("ean13", gtin).build()[0]
    w, h = 180 * ppm, 110 * ppm
    img = Image.new("L", (w, h), rng.randint(150, 250))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, w, 22 * ppm], fill=rng.randint(30, 120))
    draw.text((6 * ppm, 5 * ppm), "ORGANIC GREEN TEA 500g", fill=255, font=_font(9 * ppm))
    bx, by = (w - (len(modules) + 22) * ppm) // 2, 34 * ppm
    draw.rectangle([bx, by - 4 * ppm, bx + (len(modules) + 22) * ppm, by + 58 * ppm], fill=255)
    _draw_modules(draw, modules, bx + 11 * ppm, by, ppm, 45 * ppm)
    draw.text((w // 2, by + 47 * ppm), gtin, fill=0, font=_font(9 * ppm), anchor="ma")
    img.info["barcode_box"] = (bx, by - 4 * ppm, bx + (len(modules) + 22) * ppm, by + 58 * ppm)
    return img


def _background(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    """A cluttered warehouse-ish RGB background: cardboard texture, tape, boxes, text, stripes."""
    w, h = size
    nrng = np.random.default_rng(rng.getrandbits(64))
    base = np.array([rng.randint(90, 200), rng.randint(80, 170), rng.randint(50, 140)], np.float32)
    low = cv2.resize(
        nrng.normal(0, 18, (9, 16)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC
    )
    img = Image.fromarray(np.clip(base + low[..., None], 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(3, 9)):  # boxes, tape strips, shelves
        x, y = rng.randint(-w // 4, w), rng.randint(-h // 4, h)
        color = tuple(rng.randint(20, 240) for _ in range(3))
        draw.rectangle([x, y, x + rng.randint(40, w // 2), y + rng.randint(20, h // 2)], fill=color)
    for _ in range(rng.randint(2, 8)):  # cables, edges
        pts = [(rng.randint(0, w), rng.randint(0, h)) for _ in range(2)]
        draw.line(pts, fill=tuple(rng.randint(0, 255) for _ in range(3)), width=rng.randint(1, 12))
    for _ in range(rng.randint(0, 4)):  # printed text on cartons
        draw.text(
            (rng.randint(0, w), rng.randint(0, h)),
            rng.choice(["THIS SIDE UP", "FRAGILE", "24 x 500 ml", "LOT 20931", "HANDLE"]),
            fill=tuple(rng.randint(0, 80) for _ in range(3)),
            font=_font(rng.randint(8, 32)),
        )
    if rng.random() < 0.5:  # a striped patch (corrugated edge, grille): a locator decoy
        x, y = rng.randint(0, w - 150), rng.randint(0, h - 80)
        period = rng.randint(3, 9)
        for k in range(0, rng.randint(40, 150), period):
            bar = [x + k, y, x + k + period // 2, y + rng.randint(25, 80)]
            draw.rectangle(bar, fill=(30, 30, 30))
    arr = np.asarray(img, dtype=np.float32)
    arr += _gaussian(nrng, (h, w, 1), 6)  # fibre grain
    return arr


def _gaussian(nrng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """float32 Gaussian noise (float32 sampling is several times faster than float64)."""
    return nrng.standard_normal(shape, dtype=np.float32) * np.float32(sigma)


def _homography(
    rotation_deg: float,
    tilt_deg: float,
    tilt_axis_deg: float,
    focal: float,
    center: tuple[float, float],
    origin: tuple[float, float],
) -> np.ndarray:
    """Pinhole projection of the image plane: rotate in-plane, tilt about an in-plane axis.

    Source pixel ``origin`` lands on frame pixel ``center`` at unit scale.
    """
    a = math.radians(rotation_deg)
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    axis = np.array(
        [math.cos(math.radians(tilt_axis_deg)), math.sin(math.radians(tilt_axis_deg)), 0.0]
    )
    rtilt, _ = cv2.Rodrigues(axis * math.radians(tilt_deg))
    r = rtilt @ rz
    k = np.array([[focal, 0, center[0]], [0, focal, center[1]], [0, 0, 1]])
    shift = np.array([[1, 0, -origin[0]], [0, 1, -origin[1]], [0, 0, 1]])
    return k @ np.column_stack([r[:, 0], r[:, 1], [0, 0, focal]]) @ shift


def _project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return cv2.perspectiveTransform(pts.reshape(-1, 1, 2).astype(np.float64), h).reshape(-1, 2)


def photograph(image: Image.Image, rng: random.Random, **conditions) -> bytes:
    """Photograph a printed image and return a JPEG frame (the conditions: ``shoot``)."""
    return shoot(image, rng, **conditions)[0]


def shoot(
    image: Image.Image,
    rng: random.Random,
    *,
    rotation_deg: float,
    tilt_deg: float,
    blur_sigma: float,
    noise: float,
    light_gradient: float,
    jpeg_quality: int,
    scale: float,
    frame: tuple[int, int] = (1280, 720),
    focus: tuple[int, int, int, int] | None = None,
) -> tuple[bytes, list[tuple[float, float]]]:
    """Photograph a printed image; return the JPEG frame and where the focus box's corners
    landed in it.

    ``scale`` is frame pixels per image pixel at the focus centre; ``rotation_deg`` in-plane
    rotation; ``tilt_deg`` the angle between the print and the sensor plane (random axis);
    ``blur_sigma`` defocus in frame pixels; ``noise`` sensor noise sigma in grey levels;
    ``light_gradient`` 0..1 how much darker the dim side is. ``focus`` (x0, y0, x1, y1, image
    pixels; default the whole image) is kept inside the frame when it fits, else centred: crop a
    page to what the camera should see.
    """
    fw, fh = frame
    ss = SUPERSAMPLE
    src = np.asarray(image.convert("RGB"))
    k = scale * ss
    new_size = (max(1, round(src.shape[1] * k)), max(1, round(src.shape[0] * k)))
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    src = cv2.resize(src, new_size, interpolation=interp)
    kx, ky = new_size[0] / image.width, new_size[1] / image.height
    x0, y0, x1, y1 = focus or (0, 0, image.width, image.height)
    box = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64) * [kx, ky]
    origin = tuple(box.mean(axis=0))
    focal = FOCAL_FRACTION * fw * ss
    tilt_axis = rng.uniform(0, 180)
    corners = _project(_homography(rotation_deg, tilt_deg, tilt_axis, focal, (0, 0), origin), box)
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    center = []
    for size, a, b in ((fw * ss, lo[0], hi[0]), (fh * ss, lo[1], hi[1])):
        margin = 0.03 * size
        room_lo, room_hi = margin - a, size - margin - b
        center.append(
            rng.uniform(room_lo, room_hi)
            if room_lo <= room_hi
            else size / 2 - (a + b) / 2 + rng.uniform(-0.05, 0.05) * size
        )
    h = _homography(rotation_deg, tilt_deg, tilt_axis, focal, tuple(center), origin)
    landed = [(float(x) / ss, float(y) / ss) for x, y in _project(h, box)]
    # Warping onto black gives the print premultiplied by its coverage; area-downsampling the
    # print and its coverage mask separately is the same linear blend as compositing at 2x, at a
    # quarter of the float work.
    out_size = (fw * ss, fh * ss)
    warped = cv2.warpPerspective(src, h, out_size, flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(
        np.full(src.shape[:2], 255, np.uint8), h, out_size, flags=cv2.INTER_LINEAR
    )
    warped = cv2.resize(warped, frame, interpolation=cv2.INTER_AREA).astype(np.float32)
    alpha = cv2.resize(mask, frame, interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    paper_tint = np.array([rng.uniform(0.9, 1.0), rng.uniform(0.95, 1.0), 1.0], np.float32)
    scene = _background(rng, frame) * (1 - alpha[..., None]) + warped * paper_tint
    scene *= _lighting(rng, frame, light_gradient)[..., None]
    if blur_sigma > 0:
        scene = cv2.GaussianBlur(scene, (0, 0), blur_sigma)
    nrng = np.random.default_rng(rng.getrandbits(64))
    scene += _gaussian(nrng, scene.shape[:2] + (1,), noise)  # luminance noise
    chroma = _gaussian(nrng, (fh // 2, fw // 2, 3), noise / 3)  # chroma noise is coarser
    scene += cv2.resize(chroma, frame, interpolation=cv2.INTER_NEAREST)
    rgb = np.clip(scene, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    )
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes(), landed


def _lighting(rng: random.Random, frame: tuple[int, int], strength: float) -> np.ndarray:
    """Gain field: exposure x (linear ramp in a random direction) x mild vignette."""
    fw, fh = frame
    yy, xx = np.mgrid[0:fh, 0:fw].astype(np.float32)
    a = rng.uniform(0, 2 * math.pi)
    ramp = (xx - fw / 2) * math.cos(a) + (yy - fh / 2) * math.sin(a)
    ramp = (ramp - ramp.min()) / max(1e-6, float(ramp.max() - ramp.min()))
    r2 = ((xx - fw / 2) / fw) ** 2 + ((yy - fh / 2) / fh) ** 2
    exposure = rng.uniform(0.8, 1.1)
    return exposure * (1 - strength * ramp) * (1 - 0.3 * r2)


def _conditions(rng: random.Random, kind: str, reasonable: bool) -> Conditions:
    return Conditions(
        kind=kind,
        rotation_deg=rng.uniform(0, 360),
        tilt_deg=rng.uniform(0, 30),
        blur_sigma=rng.uniform(0, 1.6 if reasonable else 2.5),
        px_per_module=rng.uniform(2.0 if reasonable else 1.5, 4.5),
        light_gradient=rng.uniform(0, 0.6),
        noise=rng.uniform(1, 8),
        jpeg_quality=rng.randint(40, 80),
    )


# Labels are drawn at this many pixels per module, then scaled by the camera.
_LABEL_PPM = 8


def make_frames(
    n: int, seed: int, *, reasonable: bool = False, no_barcode_every: int = 10
) -> list[Frame]:
    """Return ``n`` deterministic frames for ``seed``.

    Every ``no_barcode_every``-th frame (default: 10 %; 0 for none) has no unit code: alternately
    background only, and a product EAN-13 with no unit label. ``reasonable=True`` draws only
    captures with >= 2 px/module and blur sigma < 1.6.
    """
    rng = random.Random(seed)
    frames = []
    for i in range(n):
        empty = no_barcode_every > 0 and i % no_barcode_every == no_barcode_every - 1
        kind = ("background", "gtin")[(i // no_barcode_every) % 2] if empty else "label"
        cond = _conditions(rng, kind, reasonable)
        frames.append(_make_frame(rng, cond))
    return frames


def _make_frame(rng: random.Random, cond: Conditions) -> Frame:
    expected, present = None, ()
    if cond.kind == "label":
        expected = make_code(rng.randrange(1, 10**11))
        present = (expected,)
        image = make_label_image(expected, px_per_module=_LABEL_PPM, rng=rng)
    elif cond.kind == "gtin":
        gtin = random_gtin13(rng)
        present = (gtin,)
        image = make_product_image(gtin, px_per_module=_LABEL_PPM, rng=rng)
    else:  # nothing printed in view: the bare background
        return Frame(jpeg=_background_frame(rng, cond), expected=None, present=(), conditions=cond)
    jpeg, corners = shoot(
        image,
        rng,
        rotation_deg=cond.rotation_deg,
        tilt_deg=cond.tilt_deg,
        blur_sigma=cond.blur_sigma,
        noise=cond.noise,
        light_gradient=cond.light_gradient,
        jpeg_quality=cond.jpeg_quality,
        scale=cond.px_per_module / _LABEL_PPM,
        frame=(1280, 720),
        focus=image.info.get("barcode_box"),
    )
    return Frame(
        jpeg=jpeg, expected=expected, present=present, conditions=cond, corners=tuple(corners)
    )


def _background_frame(rng: random.Random, cond: Conditions, frame=(1280, 720)) -> bytes:
    scene = _background(rng, frame)
    scene *= _lighting(rng, frame, cond.light_gradient)[..., None]
    if cond.blur_sigma > 0:
        scene = cv2.GaussianBlur(scene, (0, 0), cond.blur_sigma)
    nrng = np.random.default_rng(rng.getrandbits(64))
    scene += _gaussian(nrng, scene.shape[:2] + (1,), cond.noise)
    bgr = cv2.cvtColor(np.clip(scene, 0, 255).astype(np.uint8), cv2.COLOR_RGB2BGR)
    return cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, cond.jpeg_quality])[1].tobytes()
