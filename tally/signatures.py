"""The escort's signature image: check a signature-pad PNG before it is stored or printed.

Domain code (tally.inspections) refuses an unusable signature with it; labels.sheets paints the
image it returns on the inspection record sheet.
"""

import io
import struct
import zlib

from PIL import Image

# Signature pad PNGs: canvas.toDataURL() at a few hundred pixels a side is 5-60 kB.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 512_000
MAX_SIGNATURE_PIXELS = 4_000_000
INK_LEVEL = 160  # gray below this is ink; anti-aliased edges and paper-like backgrounds are not
MIN_INK_PIXELS = 20  # a tap on the pad is not a signature
SIGNATURE_MARGIN = 8  # pixels of white kept around the ink



class SignatureError(ValueError):
    """The signature image is unusable; ``code`` says why (for the API's error list)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code  # too-large, not-png, too-many-pixels, corrupt, blank


def flatten(image: Image.Image) -> Image.Image:
    """Composite onto white and return mode "L"; transparent pad backgrounds would go black."""
    if "A" not in image.getbands() and "transparency" not in image.info:
        return image if image.mode == "L" else image.convert("L")
    rgba = image.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("L")


def load_signature(
    data: bytes, *, max_bytes: int = MAX_SIGNATURE_BYTES, max_pixels: int = MAX_SIGNATURE_PIXELS
) -> Image.Image:
    """Check a signature-pad PNG and return it on white, mode "L", cropped to the ink.

    Size and pixel count are checked from the bytes and the IHDR header before anything is
    decoded, so a small file declaring a huge image (a decompression bomb) costs nothing.
    SignatureError, with ``code``, when it is too large, not a PNG, truncated or corrupt, or blank.
    """
    data = bytes(data)
    if len(data) > max_bytes:
        raise SignatureError(
            f"signature is {len(data)} bytes; the limit is {max_bytes}", "too-large"
        )
    if not data.startswith(PNG_SIGNATURE):
        kind = " (it is a JPEG)" if data.startswith(b"\xff\xd8\xff") else ""
        raise SignatureError(f"signature is not a PNG image{kind}", "not-png")
    # PNG spec 5.2/11.2.2: IHDR is the first chunk, 13 bytes, width and height as big-endian u32.
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise SignatureError("signature PNG is truncated or has no IHDR header", "corrupt")
    width, height = struct.unpack(">II", data[16:24])
    if not width or not height:
        raise SignatureError("signature PNG declares an empty image", "corrupt")
    if width * height > max_pixels:
        raise SignatureError(
            f"signature is {width} x {height} pixels; the limit is {max_pixels} pixels",
            "too-many-pixels",
        )
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()  # truncated data raises here (ImageFile.LOAD_TRUNCATED_IMAGES is off)
            gray = flatten(image)
    except (OSError, SyntaxError, ValueError, zlib.error, Image.DecompressionBombError) as exc:
        raise SignatureError(f"signature PNG is truncated or corrupt: {exc}", "corrupt") from None

    ink = gray.point(lambda level: 255 if level < INK_LEVEL else 0)
    box = ink.getbbox()
    if box is None or ink.histogram()[255] < MIN_INK_PIXELS:
        raise SignatureError("signature is blank", "blank")
    # Crop, then pad on a fresh white canvas: Image.crop beyond the edge would fill with black.
    cropped = gray.crop(box)
    out = Image.new(
        "L", (cropped.width + 2 * SIGNATURE_MARGIN, cropped.height + 2 * SIGNATURE_MARGIN), 255
    )
    out.paste(cropped, (SIGNATURE_MARGIN, SIGNATURE_MARGIN))
    return out
