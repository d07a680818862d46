"""Decode barcodes in uploaded images: scanning unit labels from handheld-camera photos.

Pipeline (docs/decoding.md has the measurements behind each step). Step 1 is labels/images.py,
the locator and the crops of steps 2 and 4 are labels/crops.py; this module reads them.

1. Validate the upload: size in bytes, then the pixel count from the header *before* decoding
   (decompression bombs), then ``cv2.imdecode(IMREAD_GRAYSCALE)`` (Pillow only for what OpenCV
   cannot decode strictly, e.g. truncated JPEGs).
2. Locate 1D barcodes at any angle with OpenCV's ``BarcodeDetector.detect`` (never its decoder:
   it invents EAN/UPC values). Each box is oriented by its bars (structure tensor), cut out level
   with padding for the quiet zones and read by zxing-cpp and ZBar; then an enhanced crop (2x
   across the bars, averaged along them, strongly sharpened across them) is read by both again.
   At most MAX_FAILED_BOXES boxes may fail, which bounds the cost of clutter.
3. zxing-cpp on the full frame, restricted to the requested formats: first when 2D formats are
   requested (it reads them at any angle), otherwise only as the fallback when the locator read
   nothing (it reads 1D codes only near the image axes).
4. Product-code requests only (EAN/UPC asked for): each box that is still unread is also read
   deconvolved for six defocus strengths, inverted (light bars), contrast-normalised, and widened
   (the locator sometimes boxes only part of a faint symbol); small photos again at 2x.

Accuracy before coverage: a result must be a text printed in the image. zxing-cpp reads of
Code128, QRCode and DataMatrix are accepted as they are. Reads of the other formats (short, or a
weak checksum: Code39, ITF and every EAN/UPC) and every ZBar read need a second, agreeing read
from another engine or crop variant, and an EAN/UPC number contradicted at the same place is not
answered: on the camera benchmark zxing-cpp read
a UPC-E inside an EAN-13 on a slanted scan line, and ZBar read a Code128 unit label as another
code whose Code128 checksum held. ZBar text that is not printable ASCII is dropped (ZBar mangles
Code128 FNC4 Latin-1 and Code39 full ASCII). Callers that expect unit codes must still check
the pattern and check digit (``tally.units.is_valid_code``).

Positions are in the stored pixel grid of the upload: a phone JPEG with an EXIF orientation tag
is decoded as stored, not as displayed (decoding itself does not care about orientation).
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from pyzbar import pyzbar

from labels.crops import (
    deblurred_crop,
    enhanced_crop,
    inverted,
    level_crop,
    locate,
    measure_box,
    normalised_crop,
    tight_crop,
    widened,
)
from labels.images import load_gray

# The server runs one worker process per core: OpenCV's own thread pool would only contend.
CV_THREADS = 1
cv2.setNumThreads(CV_THREADS)

FORMATS_1D = ("Code128", "Code39", "EAN13", "EAN8", "UPCA", "UPCE", "ITF")
FORMATS_2D = ("QRCode", "DataMatrix")
DEFAULT_FORMATS = FORMATS_1D + FORMATS_2D
# Product codes: a misread shows the wrong product, and one check digit is all that guards them.
RETAIL_FORMATS = frozenset({"EAN13", "UPCA", "UPCE", "EAN8"})
# Reads of these need a confirming read from another engine or crop (short, or weak checksum).
WEAK_FORMATS = frozenset({"Code39", "ITF"}) | RETAIL_FORMATS

MAX_BOXES = 24  # boxes tried per frame (a photographed label sheet has many)
MAX_FAILED_BOXES = 3  # stop after this many boxes gave nothing: bounds the cost of clutter
# Retail requests only: the levelled profile deconvolved (Richardson-Lucy) for these Gaussian
# defocus sigmas (frame px), for the blurred product photos the other crops do not read.
DEBLUR_SIGMAS = (1.0, 1.3, 1.6, 2.0, 2.5, 3.0)
UPSCALE_BELOW = 720  # px, short side: a small retail photo with nothing read is read again at 2x

_ZX_FORMAT = {name: getattr(zxingcpp.BarcodeFormat, name) for name in DEFAULT_FORMATS}
_ZBAR_SYMBOL = {
    "Code128": pyzbar.ZBarSymbol.CODE128,
    "Code39": pyzbar.ZBarSymbol.CODE39,
    "EAN13": pyzbar.ZBarSymbol.EAN13,
    "EAN8": pyzbar.ZBarSymbol.EAN8,
    "UPCA": pyzbar.ZBarSymbol.UPCA,
    "UPCE": pyzbar.ZBarSymbol.UPCE,
    "ITF": pyzbar.ZBarSymbol.I25,
}
# ISO/IEC 15424 symbology identifiers of ZBar reads (ZBar does not report them); only EAN/UPC
# reads can be answered from ZBar reads alone, and those carry no add-on here.
_ZBAR_SYMBOLOGY = {"EAN13": "]E0", "UPCA": "]E0", "UPCE": "]E0", "EAN8": "]E4"}


@dataclass(frozen=True)
class Barcode:
    """One decoded symbol."""

    format: str  # e.g. "Code128", "EAN13", "QRCode"
    text: str
    position: list[tuple[int, int]]  # 4 corners in the original image's pixel coordinates
    engine: str  # "zxing" / "zbar": which engine read it, for diagnostics
    # ISO/IEC 15424 symbology identifier: "]E0" EAN-13/UPC, "]C1" GS1-128, "]d2" GS1 DataMatrix ...
    symbology_identifier: str = ""


# --------------------------------------------------------------------------- decoding


def decode_image(data: bytes, *, formats: Iterable[str] | None = None) -> list[Barcode]:
    """Decode the barcodes in an uploaded image file (JPEG, PNG, WebP, ...)."""
    return decode_array(load_gray(data), formats=formats)


def decode_array(gray: np.ndarray, *, formats: Iterable[str] | None = None) -> list[Barcode]:
    """Decode the barcodes in a grayscale uint8 image (BGR is converted), de-duplicated."""
    wanted = _resolve_formats(formats)
    gray = _as_gray(gray)
    found = _Results()
    linear = [f for f in wanted if f in FORMATS_1D]
    matrix = len(linear) < len(wanted)
    retail = any(f in RETAIL_FORMATS for f in wanted)
    if matrix:  # 2D codes are read at any angle by the full-frame pass only
        _read_full_frame(gray, wanted, found)
    if linear and not found.has_linear():
        _read_located(gray, linear, found, retail=retail)
    if not matrix and not found.items:
        # 1D only (the scan endpoint): the locator reads most frames faster than a full-frame
        # pass would; the full frame is the fallback for symbols it did not find.
        _read_full_frame(gray, wanted, found)
    if retail and not found.has_linear() and min(gray.shape) < UPSCALE_BELOW:
        _read_upscaled(gray, linear, found)
    return found.finish()


def _read_upscaled(gray: np.ndarray, linear: list[str], found: "_Results") -> None:
    """Both engines on the frame at 2x: thin EAN/UPC modules of small photos (measured)."""
    up = cv2.resize(gray, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    back = np.array([[0.5, 0, 0], [0, 0.5, 0]])
    for code in _read_zxing(up, linear, full_frame=True, back=back):
        found.offer(code, "up2")
    for code in _read_zbar(up, linear, back):
        found.offer(code, "up2")


def _read_full_frame(gray: np.ndarray, formats: tuple[str, ...], found: "_Results") -> None:
    """zxing-cpp on the whole image; a weak read found only here is checked by ZBar."""
    for code in _read_zxing(gray, formats, full_frame=True):
        found.offer(code, "frame")
    unconfirmed = sorted({fmt for fmt, _ in found.pending("zxing/frame")})
    if unconfirmed:
        for code in _read_zbar(gray, unconfirmed, None):
            found.offer(code, "frame")


def _resolve_formats(formats: Iterable[str] | None) -> tuple[str, ...]:
    if formats is None:
        return DEFAULT_FORMATS
    if isinstance(formats, str):  # a lone name, not an iterable of letters
        formats = [formats]
    wanted = tuple(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in _ZX_FORMAT]
    if unknown:
        raise ValueError(f"unsupported formats {unknown}; supported: {list(DEFAULT_FORMATS)}")
    return wanted


def _as_gray(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = cv2.cvtColor(
            image, cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        )
    if image.ndim != 2 or image.dtype != np.uint8:
        raise ValueError(f"expected a grayscale uint8 image, got {image.dtype} {image.shape}")
    return np.ascontiguousarray(image)


class _Results:
    """Accepted barcodes in order, de-duplicated by (format, text), and reads awaiting a second
    opinion (see _needs_confirmation)."""

    def __init__(self) -> None:
        self.items: list[Barcode] = []
        self._keys: set[tuple[str, str]] = set()
        self._sources: dict[tuple[str, str], set[str]] = {}
        self._reads: dict[tuple[str, str], list[Barcode]] = {}

    def offer(self, code: Barcode, variant: str) -> bool:
        """Accept a read (True), or hold it until a read from another source agrees (False).

        A source is an engine on an image variant ("zxing/frame", "zbar/level", ...): two reads
        of one crop by one engine are not independent, two engines or two variants are. An
        accepted EAN/UPC read that another read of the same place contradicts answers False, so
        that the caller keeps reading; finish() drops it unless it outvotes the other 2 to 1.
        """
        key = (code.format, code.text)
        self._reads.setdefault(key, []).append(code)
        if key in self._keys:
            self._sources.get(key, set()).add(f"{code.engine}/{variant}")
            return not self._contested(key)
        if _needs_confirmation(code):
            sources = self._sources.setdefault(key, set())
            sources.add(f"{code.engine}/{variant}")
            if not _confirmed(code.format, sources):
                return False
            # answer zxing-cpp's read when there is one: its text and symbology identifier
            code = next((r for r in self._reads[key] if r.engine == "zxing"), code)
        self._keys.add(key)
        self.items.append(code)
        return not self._contested(key)

    def finish(self) -> list[Barcode]:
        """The accepted barcodes, less the EAN/UPC reads that a conflicting read contests."""
        return [b for b in self.items if not self._contested((b.format, b.text))]

    def has_linear(self) -> bool:
        """True once an uncontested 1D read was accepted."""
        return any(b.format in FORMATS_1D for b in self.finish())

    def _contested(self, key: tuple[str, str]) -> bool:
        """An EAN/UPC text is contested by another EAN/UPC text read at the same place by at
        least half as many sources: two decodings of one symbol, so neither is trusted."""
        if key[0] not in RETAIL_FORMATS:
            return False
        votes = len(self._sources.get(key, ()))
        return any(
            other != key
            and other[0] in RETAIL_FORMATS
            and 2 * len(self._sources.get(other, ())) >= votes
            and any(_overlap(a, b) for a in self._reads[key] for b in reads)
            for other, reads in self._reads.items()
        )

    def pending(self, source: str) -> list[tuple[str, str]]:
        """(format, text) of unconfirmed reads seen only from ``source``."""
        return [
            key for key, seen in self._sources.items() if key not in self._keys and seen == {source}
        ]

    def covers(self, point: tuple[float, float]) -> bool:
        """True if the point lies inside an accepted 1D symbol (a duplicate locator box)."""
        return any(
            cv2.pointPolygonTest(np.array(b.position, np.float32), point, False) >= 0
            for b in self.finish()
            if b.format in FORMATS_1D
        )


def _needs_confirmation(code: Barcode) -> bool:
    """Weak formats from any engine, and everything ZBar reads (measured false reads of both)."""
    return code.engine == "zbar" or code.format in WEAK_FORMATS


def _confirmed(fmt: str, sources: set[str]) -> bool:
    """Two independent sources; ZBar alone confirms only EAN/UPC digits (it drops Code128
    FNC4 and reads Latin-1 text as other ASCII the same way on every variant: measured)."""
    if len(sources) < 2:
        return False
    return fmt in RETAIL_FORMATS or any(s.startswith("zxing/") for s in sources)


def _overlap(a: Barcode, b: Barcode) -> bool:
    """Two reads lie on one symbol: their centres are closer than half the longer one."""
    pa, pb = np.array(a.position, np.float64), np.array(b.position, np.float64)
    size = max(np.ptp(pa, axis=0).max(), np.ptp(pb, axis=0).max(), 1.0)
    return float(np.linalg.norm(pa.mean(axis=0) - pb.mean(axis=0))) < size / 2


def _read_zxing(
    image: np.ndarray, formats: Iterable[str], *, full_frame: bool, back: np.ndarray | None = None
) -> list[Barcode]:
    """zxing-cpp reads; Plain text mode keeps control characters (GS etc.) as they are.

    A crop is levelled by its bars and is dark-on-light: searching it rotated, inverted or
    downscaled only costs time (inverted 1D symbols are read by the full-frame pass).
    """
    results = zxingcpp.read_barcodes(
        image,
        formats=[_ZX_FORMAT[f] for f in formats],
        text_mode=zxingcpp.TextMode.Plain,
        try_downscale=full_frame,
        try_rotate=full_frame,
        try_invert=full_frame,
    )
    out = []
    for r in results:
        fmt = _zxing_format(r.format.name, formats)
        if fmt is None or not r.valid:
            continue
        p = r.position
        corners = [(c.x, c.y) for c in (p.top_left, p.top_right, p.bottom_right, p.bottom_left)]
        out.append(
            Barcode(fmt, r.text, _map_back(corners, back), "zxing", r.symbology_identifier)
        )
    return out


# zxing-cpp reports some reads by a variant's name: fold them into the format that was asked for.
_ZX_FAMILY = {
    "Code39Std": "Code39",
    "Code39Ext": "Code39",
    "ITF14": "ITF",
    "ISBN": "EAN13",
    "QRCodeModel1": "QRCode",
    "QRCodeModel2": "QRCode",
}


def _zxing_format(name: str, wanted: Iterable[str]) -> str | None:
    """Our name for a zxing-cpp read, None if not asked for.

    zxing-cpp names a UPC-A read "EAN13" (13 digits) when EAN13 is also asked for: kept as is.
    """
    name = _ZX_FAMILY.get(name, name)
    return name if name in wanted else None


def _read_zbar(image: np.ndarray, formats: Iterable[str], back: np.ndarray | None) -> list[Barcode]:
    """ZBar reads, normalised to zxing-cpp's conventions."""
    symbols = sorted({_ZBAR_SYMBOL[f] for f in formats if f in _ZBAR_SYMBOL}, key=int)
    if not symbols:
        return []
    out = []
    for r in pyzbar.decode(image, symbols=symbols):
        norm = _normalise_zbar(r.type, r.data, formats)
        if norm is None:
            continue
        pts = np.array([(p.x, p.y) for p in r.polygon] or [(0, 0)], np.float32)
        corners = cv2.boxPoints(cv2.minAreaRect(pts)).tolist()
        ident = _ZBAR_SYMBOLOGY.get(norm[0], "")
        out.append(Barcode(norm[0], norm[1], _map_back(corners, back), "zbar", ident))
    return out


def _normalise_zbar(kind: str, data: bytes, formats: Iterable[str]) -> tuple[str, str] | None:
    """Map a ZBar (type, data) to (format, text) as zxing-cpp reports it, or None to drop it."""
    if not data or not all(0x20 <= b < 0x7F for b in data):
        return None  # ZBar rewrites non-ASCII and FNC4 content: prefer no answer to a misread
    text = data.decode("ascii")
    if kind == "UPCA":  # zxing-cpp reports UPC-A as 13 digits, named EAN13 if that was asked for
        text = "0" + text
        fmt = "EAN13" if "EAN13" in formats else "UPCA"
    elif kind == "UPCE":
        text, fmt = _upce_to_gtin13(text), "UPCE"
    else:
        fmt = {
            "CODE128": "Code128",
            "CODE39": "Code39",
            "EAN13": "EAN13",
            "EAN8": "EAN8",
            "I25": "ITF",
        }.get(kind)
    if fmt == "ITF" and len(text) < 6:
        return None
    if fmt == "Code39" and any(c in text for c in "+$%/"):
        return None  # full-ASCII shift pairs: ZBar and zxing-cpp may disagree on the meaning
    return (fmt, text) if fmt in formats and text else None


def _upce_to_gtin13(upce: str) -> str:
    """Expand an 8-digit UPC-E (number system, 6 digits, check) to the 13-digit GTIN."""
    if len(upce) != 8 or not upce.isdigit():
        return ""
    ns, d, check = upce[0], upce[1:7], upce[7]
    last = d[5]
    if last in "012":
        body = d[0:2] + last + "0000" + d[2:5]
    elif last == "3":
        body = d[0:3] + "00000" + d[3:5]
    elif last == "4":
        body = d[0:4] + "00000" + d[4]
    else:
        body = d[0:5] + "0000" + last
    return "0" + ns + body + check


def _map_back(corners: list, back: np.ndarray | None) -> list[tuple[int, int]]:
    """Crop coordinates -> original image coordinates (``back`` is the inverse affine)."""
    pts = np.asarray(corners, np.float64).reshape(-1, 2)
    if back is not None:
        pts = pts @ back[:, :2].T + back[:, 2]
    return [(int(round(x)), int(round(y))) for x, y in pts]


# --------------------------------------------------------------------------- located boxes


def _read_located(
    gray: np.ndarray, formats: list[str], found: _Results, *, retail: bool = False
) -> None:
    """Level each located box and read it; stop after MAX_FAILED_BOXES boxes gave nothing."""
    failed = 0
    for box in locate(gray)[:MAX_BOXES]:
        center = tuple(float(v) for v in box.mean(axis=0))
        if found.covers(center):
            continue
        if not _read_box(gray, box, formats, found, retail=retail):
            failed += 1
            if failed >= MAX_FAILED_BOXES:
                return


def _read_box(
    gray: np.ndarray, corners: np.ndarray, formats: list[str], found: _Results, *, retail: bool
) -> bool:
    """Read one located box, cheapest crop first; True once a read was accepted."""
    box = measure_box(gray, corners)
    if box is None:
        return False
    for variant, make_crop, engines in _VARIANTS + (_DEBLUR_VARIANTS if retail else ()):
        crop, back = make_crop(gray, box)
        for engine in engines:
            reads = engine(crop, formats, back)
            # offer every read: a held one may be confirmed by the next engine or variant
            if any([found.offer(code, variant) for code in reads]):
                return True
    return False


def _read_crop_zxing(crop: np.ndarray, formats: list[str], back: np.ndarray) -> list[Barcode]:
    return _read_zxing(crop, formats, full_frame=False, back=back)


def _read_crop_zbar(crop: np.ndarray, formats: list[str], back: np.ndarray) -> list[Barcode]:
    """ZBar on the middle half of the rows: it also scans every column, useless on vertical
    bars, so a thinner image halves its time without losing reads (measured)."""
    top = crop.shape[0] // 4
    shifted = back.copy()
    shifted[:, 2] += back[:, 1] * top  # band row y is crop row y + top
    return _read_zbar(np.ascontiguousarray(crop[top : crop.shape[0] - top]), formats, shifted)


# Crop variants, cheapest and most productive first, with the engines that read each.
_VARIANTS = (
    ("level", level_crop, (_read_crop_zxing, _read_crop_zbar)),
    ("enhanced", enhanced_crop, (_read_crop_zxing, _read_crop_zbar)),
    ("tight", tight_crop, (_read_crop_zxing,)),
)
# Retail requests only, after the crops above: the deconvolved strips (zxing-cpp alone, since ZBar
# read none of them), then the inverted, normalised and widened crops (docs/decoding.md). ZBar does
# not read the normalised crops: on real photos it repeated one misread on two of them (measured).
_DEBLUR_VARIANTS = tuple(
    (f"deblur{sigma}", functools.partial(deblurred_crop, sigma=sigma), (_read_crop_zxing,))
    for sigma in DEBLUR_SIGMAS
) + (
    ("inverted", inverted(level_crop), (_read_crop_zxing, _read_crop_zbar)),
    ("inverted-enhanced", inverted(enhanced_crop), (_read_crop_zxing, _read_crop_zbar)),
    ("normalised", normalised_crop, (_read_crop_zxing,)),
    ("wide", widened(level_crop), (_read_crop_zxing, _read_crop_zbar)),
    ("wide-normalised", widened(normalised_crop), (_read_crop_zxing,)),
)
