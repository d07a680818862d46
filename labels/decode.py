"""Decode barcodes in uploaded images: scanning unit labels from handheld-camera photos.

Pipeline (docs/decoding.md has the measurements behind each step):

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

import dataclasses
import functools
import io
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from PIL import Image, UnidentifiedImageError
from pyzbar import pyzbar

MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000
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

# Image containers we accept; Pillow only parses their header (never EPS/PSD & co.).
ACCEPTED_CONTAINERS = ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"]  # JPEG covers MPO

# Locator: OpenCV downsamples the frame so its short side is this many pixels. Measured on the
# camera benchmark: 320 reads more frames than the default 512 and is twice as fast.
LOCATOR_SIDE = 320
MAX_BOXES = 24  # boxes tried per frame (a photographed label sheet has many)
MAX_FAILED_BOXES = 3  # stop after this many boxes gave nothing: bounds the cost of clutter
MIN_BOX_SIDE = 40  # px; a 1D symbol shorter than this along its bars' normal is unreadable
PAD = 0.15  # padding across the bars, in box widths: quiet zones
TIGHT_PAD = 0.05  # the "tight" crop's padding
V_PAD = 0.3  # padding along the bars, as a fraction of PAD
ENHANCE_SCALE = 2.0  # enhanced crop: upscale across the bars
SMOOTH_FRACTION = 0.25  # enhanced crop: average along this fraction of the bar height
UNSHARP_SIGMA = 1.6  # enhanced crop: unsharp mask (frame pixels) ...
UNSHARP_AMOUNT = 4.0  # ... and strength, tuned on the camera benchmark
# Retail requests only: the levelled profile deconvolved (Richardson-Lucy) for these Gaussian
# defocus sigmas (frame px), for the blurred product photos the crops above do not read.
DEBLUR_SIGMAS = (1.0, 1.3, 1.6, 2.0, 2.5, 3.0)
DEBLUR_ITERATIONS = 30
DEBLUR_ROWS = 16  # the deconvolved profile is read as a strip this many rows high
NORMALISE_MODULES = 12  # normalised crop: window of the local darkest / lightest level, in modules
WIDE_FACTOR = 1.4  # widened crops: box width x this ...
WIDE_HEIGHT = 0.6  # ... and height at least this fraction of the box width
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


class ImageError(ValueError):
    """The upload is not an image we can decode."""


class NotAnImage(ImageError):
    """Not an image, or a truncated / corrupt one."""


class ImageTooLarge(ImageError):
    """Over MAX_BYTES, or over MAX_PIXELS (a decompression bomb)."""


# --------------------------------------------------------------------------- image loading


def decode_image(data: bytes, *, formats: Iterable[str] | None = None) -> list[Barcode]:
    """Decode the barcodes in an uploaded image file (JPEG, PNG, WebP, ...)."""
    return decode_array(load_gray(data), formats=formats)


def load_gray(data: bytes) -> np.ndarray:
    """Validate an upload and return it as a grayscale uint8 array.

    Raises ImageTooLarge before any pixel is decoded when the bytes or the header's dimensions
    are over the limits, NotAnImage when it is not a complete image of an accepted container.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"expected bytes, got {type(data).__name__}")
    if len(data) > MAX_BYTES:
        raise ImageTooLarge(f"upload is {len(data)} bytes, limit {MAX_BYTES}")
    if not data:
        raise NotAnImage("empty upload")
    container = _check_header(data)
    gray = None
    if container not in ("JPEG", "MPO") or _ends_with_eoi(data):
        gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    # libjpeg pads a truncated JPEG with grey instead of failing and OpenCV lacks some variants
    # (e.g. some TIFF compressions): let Pillow decode strictly in those cases.
    if gray is None or gray.size == 0:
        gray = _pillow_gray(data)
    return gray


def review_copy(data: bytes, content_type: str, *, max_bytes: int,
                max_side: int = 1600) -> tuple[bytes, str]:
    """(bytes, content type) of a frame as kept for later review: the upload itself within
    ``max_bytes``, else a grey JPEG at most ``max_side`` pixels long, which also drops anything
    appended to the image."""
    if len(data) <= max_bytes:
        return data, content_type
    _check_header(data)
    with Image.open(io.BytesIO(data)) as im:
        im = im.convert("L")
        im.thumbnail((max_side, max_side))
        for quality in (80, 60, 40):
            out = io.BytesIO()
            im.save(out, "JPEG", quality=quality)
            if out.tell() <= max_bytes:
                break
    return out.getvalue(), "image/jpeg"


def _check_header(data: bytes) -> str:
    """Return the container format after checking the pixel count from the header only."""
    try:
        with warnings.catch_warnings():
            # We enforce our own, lower limit below; Pillow's bomb warning must not leak.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_CONTAINERS) as im:
                width, height = im.size
                container = im.format or ""
    except Image.DecompressionBombError as exc:
        raise ImageTooLarge(str(exc)) from exc
    except UnidentifiedImageError as exc:  # its text names an internal object: not shown
        raise NotAnImage(f"not an image of an accepted kind ({', '.join(ACCEPTED_CONTAINERS)})"
                         ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImage(f"not a readable image: {exc}") from exc
    if width * height > MAX_PIXELS:
        raise ImageTooLarge(f"{width}x{height} pixels, limit {MAX_PIXELS}")
    if width <= 0 or height <= 0:
        raise NotAnImage("image has no pixels")
    return container


def _ends_with_eoi(data: bytes) -> bool:
    """True if a JPEG ends with its End-Of-Image marker (some encoders pad with zeros)."""
    return bytes(data[-64:]).rstrip(b"\0").endswith(b"\xff\xd9")


def _pillow_gray(data: bytes) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=ACCEPTED_CONTAINERS) as im:
                im.load()  # raises on truncated data (LOAD_TRUNCATED_IMAGES is off)
                return np.asarray(im.convert("L"))
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise NotAnImage(f"corrupt or truncated image: {exc}") from exc


# --------------------------------------------------------------------------- decoding


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


# --------------------------------------------------------------------------- locate and level

_local = threading.local()


def _detector() -> "cv2.barcode.BarcodeDetector":
    """One OpenCV detector per thread (the object is not documented as thread-safe)."""
    det = getattr(_local, "detector", None)
    if det is None:
        det = cv2.barcode.BarcodeDetector()
        det.setDownsamplingThreshold(LOCATOR_SIDE)
        _local.detector = det
    return det


def _locate(gray: np.ndarray) -> list[np.ndarray]:
    """Rotated boxes (4x2 corner arrays) that look like 1D barcodes, largest first."""
    ok, points = _detector().detect(gray)
    if not ok or points is None:
        return []
    boxes = [np.asarray(p, np.float32).reshape(4, 2) for p in points]
    return sorted(boxes, key=lambda b: -cv2.contourArea(b))


def _read_located(
    gray: np.ndarray, formats: list[str], found: _Results, *, retail: bool = False
) -> None:
    """Level each located box and read it; stop after MAX_FAILED_BOXES boxes gave nothing."""
    failed = 0
    for box in _locate(gray)[:MAX_BOXES]:
        center = tuple(float(v) for v in box.mean(axis=0))
        if found.covers(center):
            continue
        if not _read_box(gray, box, formats, found, retail=retail):
            failed += 1
            if failed >= MAX_FAILED_BOXES:
                return


@dataclass(frozen=True)
class _Box:
    """A located symbol: centre, extent across the bars (w) and along them (h), and the angle
    (degrees, OpenCV's convention) that turns its bars vertical."""

    cx: float
    cy: float
    w: float
    h: float
    angle: float


def _read_box(
    gray: np.ndarray, corners: np.ndarray, formats: list[str], found: _Results, *, retail: bool
) -> bool:
    """Read one located box, cheapest crop first; True once a read was accepted."""
    box = _measure_box(gray, corners)
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


def _measure_box(gray: np.ndarray, corners: np.ndarray) -> _Box | None:
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


def _level_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
    """The box as it is, levelled: enough for sharp captures, and the cheapest."""
    return _warp(gray, box, 1.0, 1.0, cv2.INTER_LINEAR)


def _enhanced_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
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


def _tight_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
    """Levelled with little padding: zxing-cpp's row reader sometimes fails a sharp symbol in
    one crop geometry and reads it in another (measured on sharp, unevenly lit frames)."""
    return _warp(gray, box, 1.0, 1.0, cv2.INTER_LINEAR, pad=TIGHT_PAD)


def _deblurred_crop(gray: np.ndarray, box: _Box, sigma: float) -> tuple[np.ndarray, np.ndarray]:
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


def _inverted(make_crop):
    """The crop with its grey levels inverted: reflective or light-printed product codes whose
    bars photograph lighter than their spaces (zxing-cpp tries this only on the full frame)."""

    def make(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
        crop, back = make_crop(gray, box)
        return 255 - crop, back

    return make


def _normalised_crop(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
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


def _widened(make_crop):
    """The crop of a box widened across the bars and made at least WIDE_HEIGHT of its width
    tall: the locator sometimes boxes only the contrasty end of a faint symbol."""

    def make(gray: np.ndarray, box: _Box) -> tuple[np.ndarray, np.ndarray]:
        wide = dataclasses.replace(box, w=box.w * WIDE_FACTOR, h=max(box.h, WIDE_HEIGHT * box.w))
        return make_crop(gray, wide)

    return make


# Crop variants, cheapest and most productive first, with the engines that read each.
_VARIANTS = (
    ("level", _level_crop, (_read_crop_zxing, _read_crop_zbar)),
    ("enhanced", _enhanced_crop, (_read_crop_zxing, _read_crop_zbar)),
    ("tight", _tight_crop, (_read_crop_zxing,)),
)
# Retail requests only, after the crops above: the deconvolved strips (zxing-cpp alone, since ZBar
# read none of them), then the inverted, normalised and widened crops (docs/decoding.md). ZBar does
# not read the normalised crops: on real photos it repeated one misread on two of them (measured).
_DEBLUR_VARIANTS = tuple(
    (f"deblur{sigma}", functools.partial(_deblurred_crop, sigma=sigma), (_read_crop_zxing,))
    for sigma in DEBLUR_SIGMAS
) + (
    ("inverted", _inverted(_level_crop), (_read_crop_zxing, _read_crop_zbar)),
    ("inverted-enhanced", _inverted(_enhanced_crop), (_read_crop_zxing, _read_crop_zbar)),
    ("normalised", _normalised_crop, (_read_crop_zxing,)),
    ("wide", _widened(_level_crop), (_read_crop_zxing, _read_crop_zbar)),
    ("wide-normalised", _widened(_normalised_crop), (_read_crop_zxing,)),
)
