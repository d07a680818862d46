"""Uploaded images: size and header checks before any pixel is decoded, the grayscale array
decoding reads (``load_gray``), the copy of a frame kept for review (``review_copy``), and the
errors an upload that is not an acceptable image raises.
"""

import io
import warnings

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

MAX_BYTES = 15 * 1024 * 1024
MAX_PIXELS = 40_000_000

# Image containers we accept; Pillow only parses their header (never EPS/PSD & co.).
ACCEPTED_CONTAINERS = ["JPEG", "PNG", "WEBP", "BMP", "GIF", "TIFF"]  # JPEG covers MPO


class ImageError(ValueError):
    """The upload is not an image we can decode."""


class NotAnImage(ImageError):
    """Not an image, or a truncated / corrupt one."""


class ImageTooLarge(ImageError):
    """Over MAX_BYTES, or over MAX_PIXELS (a decompression bomb)."""


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
