"""labels.decode's retail extras on synthetic product codes: inverted (reflective or
light-printed) symbols, and no wrong number from a symbol that cannot be read cleanly."""

import barcode
import cv2
import numpy as np
import pytest

import labels.decode as decode
from labels.crops import level_crop
from labels.decode import decode_array

GTIN = "4006381333931"
# The retail variants this test file is about; the ones before them are the deblurred strips.
NEW_VARIANTS = ("inverted", "inverted-enhanced", "normalised", "wide", "wide-normalised")


def symbol_photo(
    text: str,
    *,
    ppm: int = 3,
    bar: float = 40,
    space: float = 200,
    surround: float = 90,
    blur: float = 0.8,
    noise: float = 3.0,
    curve: float = 0.0,
    angle: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A grey EAN-13 (python-barcode's modules) on a label in a plain surround, rotated, blurred
    and noisy. ``bar`` > ``space`` prints light bars on a darker label; ``curve`` (radians) wraps
    the label round a cylinder, so the modules shrink towards its edges."""
    rng = np.random.default_rng(seed)
    mods = np.array([c == "1" for c in barcode.get("ean13", text).build()[0]])
    n = len(mods) + 22  # quiet zones of 11 modules
    width = n * ppm
    x = (np.arange(width * 4) + 0.5) / (width * 4)  # 4x supersampled
    if curve:
        x = 0.5 + np.sin((x - 0.5) * 2 * curve) / (2 * np.sin(curve))
    m = np.floor(x * n).astype(int) - 11
    inside = (m >= 0) & (m < len(mods))
    row = np.where(inside & mods[np.clip(m, 0, len(mods) - 1)], bar, space)
    row = row.reshape(-1, 4).mean(axis=1)
    h = 60 * ppm
    canvas = np.full((h + 160, width + 200), surround, np.float32)
    canvas[80 : 80 + h, 100 : 100 + width] = row
    if angle:
        centre = (canvas.shape[1] / 2, canvas.shape[0] / 2)
        rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
        canvas = cv2.warpAffine(canvas, rot, canvas.shape[::-1], borderMode=cv2.BORDER_REPLICATE)
    if blur:
        canvas = cv2.GaussianBlur(canvas, (0, 0), blur)
    canvas += rng.normal(0, noise, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def without_new_variants(monkeypatch: pytest.MonkeyPatch) -> None:
    kept = tuple(v for v in decode._DEBLUR_VARIANTS if v[0] not in NEW_VARIANTS)
    monkeypatch.setattr(decode, "_DEBLUR_VARIANTS", kept)


def test_the_new_variants_are_there():
    assert {v[0] for v in decode._DEBLUR_VARIANTS} >= set(NEW_VARIANTS)


@pytest.mark.parametrize("angle", [0, 17, 180, 203])
@pytest.mark.parametrize(
    "look",
    [
        dict(bar=200, space=110, surround=60),  # light bars on a grey label
        dict(bar=185, space=150, surround=40, blur=1.0),  # faint, light bars
    ],
)
def test_inverted_product_code_is_read(angle, look, monkeypatch):
    image = symbol_photo(GTIN, angle=angle, **look)
    found = decode_array(image)
    assert [(b.format, b.text, b.symbology_identifier) for b in found] == [("EAN13", GTIN, "]E0")]
    x0, y0 = np.min(found[0].position, axis=0)
    x1, y1 = np.max(found[0].position, axis=0)
    cy, cx = (np.array(image.shape) - 1) / 2
    assert x0 < cx < x1 and y0 < cy < y1  # the symbol is mid-image
    without_new_variants(monkeypatch)
    assert decode_array(image) == []  # it is the new variants that read it


def test_curved_product_code_is_read():
    """A label wrapped round a small bottle: modules shrink towards its edges."""
    for seed, angle in ((1, 0), (2, 9), (3, 184)):
        image = symbol_photo(GTIN, curve=1.2, blur=1.0, angle=angle, seed=seed)
        assert [b.text for b in decode_array(image)] == [GTIN]
        light = symbol_photo(GTIN, curve=1.2, bar=200, space=110, angle=angle, seed=seed)
        assert [b.text for b in decode_array(light)] == [GTIN]


@pytest.mark.parametrize("inverted", [False, True])
def test_unreadable_product_codes_never_answer_a_wrong_number(inverted):
    """Symbols blurred past reading, or with bars scratched out, answer their own number or
    nothing: never another number (EAN/UPC check digits are weak)."""
    look = dict(bar=200, space=110, surround=60) if inverted else {}
    rng = np.random.default_rng(7)
    answered = 0
    for i in range(24):
        text = "".join(str(d) for d in rng.integers(0, 10, 12))
        text += str((10 - sum(int(d) * (3 if k % 2 else 1) for k, d in enumerate(text)) % 10) % 10)
        blur = (1.6, 2.0, 2.4, 2.8)[i % 4]
        image = symbol_photo(
            text, blur=blur, noise=5, angle=float(rng.uniform(0, 360)), seed=i, **look
        )
        if i % 3 == 0:  # a scratch across the bars, over one or two digits
            y = image.shape[0] // 2
            x = int(rng.integers(image.shape[1] // 3, 2 * image.shape[1] // 3))
            cv2.line(image, (x, 0), (x + 8, image.shape[0]), int(look.get("space", 200)), 6)
            cv2.line(image, (0, y), (image.shape[1], y + 4), int(look.get("bar", 40)), 3)
        texts = [b.text for b in decode_array(image)]
        assert texts in ([], [text]), (i, text, texts)
        answered += bool(texts)
    assert answered < 24  # the set does include symbols that cannot be read


def test_code128_requests_never_run_the_retail_variants(monkeypatch):
    """The scan endpoint asks for Code128 only: no product-code step may cost it time."""
    calls = []

    def spy(gray, box):
        calls.append(box)
        return level_crop(gray, box)

    patched = tuple((name, spy, engines) for name, _, engines in decode._DEBLUR_VARIANTS)
    monkeypatch.setattr(decode, "_DEBLUR_VARIANTS", patched)
    image = symbol_photo(GTIN, bar=200, space=110, surround=60)
    assert decode_array(image, formats=["Code128"]) == []
    assert calls == []
    decode_array(image, formats=["EAN13"])
    assert calls  # the same image with a product format asked for does run them
