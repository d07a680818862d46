"""Synthetic GS1 carton labels, printed and photographed, for GS1 decoding tests.

``carton_label`` draws a label with a GS1 DataMatrix (or a GS1-128) made by zxing-cpp's writer and
the human-readable "(01)...(17)...(10)...(21)..." line; ``photographed_carton`` passes it through
the handheld-camera model of bench/camera.py. Everything is generated in memory.
"""

import random

import numpy as np
import zxingcpp
from PIL import Image, ImageDraw

from bench.camera import _font, photograph

GS = "\x1d"  # FNC1 as a separator, after a variable-length element string
SYMBOLS = ("datamatrix", "gs1-128")
_MODULE_PX = 8  # the label is drawn at this many pixels per module, then scaled by the camera


def element_strings(
    gtin: str, batch: str, expiry: str, serial: str | None = None
) -> tuple[str, str]:
    """(human-readable "(01)..(17)..(10)..(21)..", decoded element string with GS separators).

    GTIN (01) and expiry (17, YYMMDD) have fixed lengths; batch (10) is variable, so a GS
    follows it when the serial (21) comes after. There is no leading FNC1 in the decoded text.
    """
    if len(gtin) != 14 or not gtin.isdigit():
        raise ValueError("gtin must be 14 digits (GTIN-14; pad a GTIN-13 with a leading 0)")
    if len(expiry) != 6 or not expiry.isdigit():
        raise ValueError("expiry must be YYMMDD")
    hri = f"(01){gtin}(17){expiry}(10){batch}"
    data = f"01{gtin}17{expiry}10{batch}"
    if serial is not None:
        hri += f"(21){serial}"
        data += f"{GS}21{serial}"
    return hri, data


def carton_label(
    gtin: str,
    batch: str,
    expiry: str,
    serial: str | None = None,
    *,
    symbol: str = "datamatrix",
) -> Image.Image:
    """A printed carton label (greyscale PIL image) with a GS1 DataMatrix or GS1-128 symbol.

    The symbol's box (quiet zones included) is in ``image.info["barcode_box"]``.
    """
    if symbol not in SYMBOLS:
        raise ValueError(f"symbol must be one of {SYMBOLS}")
    hri, _ = element_strings(gtin, batch, expiry, serial)
    if symbol == "datamatrix":  # square: the writer would pick a long DMRE rectangle ("]d8")
        code = zxingcpp.create_barcode(hri, zxingcpp.BarcodeFormat.DataMatrix, gs1=True,
                                       force_square=True)
    else:
        code = zxingcpp.create_barcode(hri, zxingcpp.BarcodeFormat.Code128, gs1=True)
    modules = np.array(zxingcpp.write_barcode_to_image(code, scale=_MODULE_PX))
    sh, sw = modules.shape[:2]
    w = max(sw + 24 * _MODULE_PX, 90 * _MODULE_PX)
    h = sh + 34 * _MODULE_PX
    img = Image.new("L", (w, h), 248)
    draw = ImageDraw.Draw(img)
    draw.text((4 * _MODULE_PX, 3 * _MODULE_PX), "CARTON 24 x 500 ml", fill=0,
              font=_font(4 * _MODULE_PX))
    bx, by = (w - sw) // 2, 10 * _MODULE_PX
    img.paste(Image.fromarray(modules), (bx, by))
    draw.text((w // 2, by + sh + 3 * _MODULE_PX), hri, fill=0, font=_font(3 * _MODULE_PX),
              anchor="ma")
    img.info["barcode_box"] = (bx, by, bx + sw, by + sh)
    return img


def photographed_carton(
    gtin: str,
    batch: str,
    expiry: str,
    serial: str | None = None,
    *,
    symbol: str = "datamatrix",
    seed: int = 0,
) -> bytes:
    """The label photographed by the synthetic camera: a moderate angle, blur and noise (JPEG)."""
    label = carton_label(gtin, batch, expiry, serial, symbol=symbol)
    rng = random.Random(seed)
    px_per_module = 5.0 if symbol == "datamatrix" else 3.0
    return photograph(
        label,
        rng,
        rotation_deg=rng.uniform(15, 40),
        tilt_deg=rng.uniform(10, 20),
        blur_sigma=0.8,
        noise=4.0,
        light_gradient=0.3,
        jpeg_quality=75,
        scale=px_per_module / _MODULE_PX,
        focus=label.info["barcode_box"],
    )
