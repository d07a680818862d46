"""labels.decode (with labels.images and labels.crops): labels at any angle, camera frames,
formats, and hostile uploads."""

import io
import random
import struct
import time
import zlib

import cv2
import numpy as np
import pytest
import zxingcpp
from PIL import Image

from bench.camera import (
    make_frames,
    make_label_image,
    make_product_image,
    photograph,
    random_gtin13,
)
from bench.carton import element_strings, photographed_carton
from labels.decode import Barcode, _Results, decode_array, decode_image
from labels.images import MAX_BYTES, ImageTooLarge, NotAnImage
from tally.units import is_valid_code, make_code

CODE = make_code(174)


def png_bytes(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(image: Image.Image, quality: int = 85) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def label(code: str = CODE, ppm: int = 3) -> Image.Image:
    return make_label_image(code, px_per_module=ppm, rng=random.Random(1))


def centre(points: list[tuple[int, int]]) -> tuple[float, float]:
    return tuple(float(v) for v in np.mean(np.array(points, np.float64), axis=0))


def test_clean_label_png():
    image = label()
    found = decode_image(png_bytes(image), formats=["Code128"])
    assert [(b.format, b.text) for b in found] == [("Code128", CODE)]
    x0, y0, x1, y1 = image.info["barcode_box"]
    cx, cy = centre(found[0].position)
    assert x0 < cx < x1 and y0 < cy < y1  # positions are in the image's own pixels
    assert found[0].engine in ("zxing", "zbar")


@pytest.mark.parametrize("angle", [90, 45, 180, 137, 20])
def test_rotated_label(angle):
    original = label()
    image = original.rotate(angle, expand=True, fillcolor=255, resample=Image.Resampling.BICUBIC)
    found = decode_image(jpeg_bytes(image), formats=["Code128"])
    assert [b.text for b in found] == [CODE]
    # where the barcode's centre went (PIL rotates counter-clockwise about the centre)
    x0, y0, x1, y1 = original.info["barcode_box"]
    dx, dy = (x0 + x1) / 2 - original.width / 2, (y0 + y1) / 2 - original.height / 2
    a = np.radians(angle)
    moved = (
        image.width / 2 + dx * np.cos(a) + dy * np.sin(a),
        image.height / 2 - dx * np.sin(a) + dy * np.cos(a),
    )
    quad = np.array(found[0].position, np.float32)
    assert cv2.pointPolygonTest(quad, moved, True) > -3  # inside, give or take rounding


def test_camera_frames_reasonable_captures():
    frames = make_frames(30, seed=7, reasonable=True, no_barcode_every=0)
    read = wrong = 0
    for frame in frames:
        found = decode_image(frame.jpeg, formats=["Code128"])
        texts = {b.text for b in found if is_valid_code(b.text)}
        read += frame.expected in texts
        wrong += len(texts - {frame.expected})
        for b in found:
            quad = np.array(frame.corners, np.float32)
            assert cv2.pointPolygonTest(quad, centre(b.position), False) >= 0
    assert wrong == 0
    assert read >= 27, f"read {read}/30"


def test_frames_without_unit_code():
    frames = make_frames(20, seed=11)
    background, product = frames[9], frames[19]
    assert background.conditions.kind == "background" and product.conditions.kind == "gtin"
    assert decode_image(background.jpeg) == []
    assert decode_image(product.jpeg, formats=["Code128"]) == []


def test_formats_filter():
    gtin = random_gtin13(random.Random(3))
    data = png_bytes(make_product_image(gtin, px_per_module=3, rng=random.Random(3)))
    assert decode_image(data, formats=["Code128"]) == []
    assert [(b.format, b.text) for b in decode_image(data, formats=["EAN13"])] == [("EAN13", gtin)]
    assert [(b.format, b.text) for b in decode_image(data)] == [("EAN13", gtin)]


def test_unknown_format_name():
    with pytest.raises(ValueError, match="unsupported"):
        decode_image(png_bytes(label()), formats=["Code128", "Aztec"])


def _zxing_symbol(text: str, fmt: zxingcpp.BarcodeFormat, scale: int = 4) -> np.ndarray:
    image = np.array(
        zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=scale)
    )
    return cv2.copyMakeBorder(image, 40, 40, 40, 40, cv2.BORDER_CONSTANT, value=255)


def test_qr_code_with_default_formats():
    text = "https://tally.example/u/U000000000174?lot=7"
    symbol = _zxing_symbol(text, zxingcpp.BarcodeFormat.QRCode)
    rotated = Image.fromarray(symbol).rotate(30, expand=True, fillcolor=255)
    found = decode_image(png_bytes(rotated))
    assert [(b.format, b.text, b.engine) for b in found] == [("QRCode", text, "zxing")]
    assert decode_image(png_bytes(rotated), formats=["Code128"]) == []


def test_control_characters_are_kept():
    symbol = _zxing_symbol("AB\x1dCD", zxingcpp.BarcodeFormat.Code128, scale=3)
    assert [b.text for b in decode_array(symbol, formats=["Code128"])] == ["AB\x1dCD"]


def test_decode_array_accepts_bgr():
    bgr = cv2.cvtColor(np.asarray(label()), cv2.COLOR_GRAY2BGR)
    assert [b.text for b in decode_array(bgr, formats=["Code128"])] == [CODE]
    with pytest.raises(ValueError):
        decode_array(np.zeros((10, 10), np.float32))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, not an image",
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
        b"\xff\xd8\xff\xe0" + b"\0" * 100,
    ],
)
def test_not_an_image(data):
    with pytest.raises(NotAnImage):
        decode_image(data)


def test_truncated_images():
    frame = make_frames(1, seed=5)[0]
    with pytest.raises(NotAnImage):
        decode_image(frame.jpeg[: len(frame.jpeg) // 2])
    png = png_bytes(label())
    with pytest.raises(NotAnImage):
        decode_image(png[: len(png) // 2])


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def _bilevel_png(width: int, height: int, *, pixels: bool) -> bytes:
    """A 1-bit PNG: with ``pixels`` a real, complete image (all black, so tiny once
    compressed), else only a header that declares the size."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    body = b""
    if pixels:
        row = b"\0" * (1 + (width + 7) // 8)  # filter byte + packed bits
        body = _png_chunk(b"IDAT", zlib.compress(row * height, 9))
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + body + _png_chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        _bilevel_png(30000, 30000, pixels=False),  # past Pillow's own bomb limit
        _bilevel_png(8000, 6000, pixels=False),  # 48 Mpx: under Pillow's limit, over ours
        _bilevel_png(8000, 6000, pixels=True),  # a real 48 Mpx image in a few KB
    ],
)
def test_too_many_pixels_is_refused_before_decoding(data):
    assert len(data) < 100_000
    start = time.perf_counter()
    with pytest.raises(ImageTooLarge):
        decode_image(data)
    assert time.perf_counter() - start < 0.2


def test_too_many_bytes():
    with pytest.raises(ImageTooLarge):
        decode_image(b"\xff" * (MAX_BYTES + 1))


def test_zbar_and_weak_reads_wait_for_a_second_source():
    results = _Results()
    zbar = Barcode("Code128", CODE, [(0, 0)] * 4, "zbar")
    assert not results.offer(zbar, "level")
    assert not results.offer(zbar, "level")  # the same engine on the same crop: not independent
    assert results.offer(Barcode("Code128", CODE, [(0, 0)] * 4, "zxing"), "enhanced")
    assert [b.engine for b in results.items] == ["zxing"]
    weak = Barcode("UPCE", "0012345000065", [(0, 0)] * 4, "zxing", "]E0")
    assert not results.offer(weak, "frame")
    assert results.offer(Barcode("UPCE", "0012345000065", [(0, 0)] * 4, "zbar"), "frame")
    assert [b.format for b in results.items] == ["Code128", "UPCE"]
    assert results.items[1].engine == "zxing"  # the answer is zxing-cpp's read when there is one


QUAD = [(10, 10), (210, 10), (210, 90), (10, 90)]


def test_zbar_alone_never_confirms_code128():
    """ZBar drops Code128 FNC4 the same way on every crop: two ZBar reads are not enough."""
    results = _Results()
    assert not results.offer(Barcode("Code128", "ssss1234", QUAD, "zbar"), "frame")
    assert not results.offer(Barcode("Code128", "ssss1234", QUAD, "zbar"), "level")
    assert results.finish() == []


@pytest.mark.parametrize("fmt", ["EAN13", "UPCA", "UPCE", "EAN8"])
def test_product_codes_need_two_sources(fmt):
    results = _Results()
    code = Barcode(fmt, "4006381333931", QUAD, "zxing", "]E0")
    assert not results.offer(code, "frame")
    assert results.finish() == []
    assert results.offer(code, "level")
    assert results.finish() == [code]


def test_contradicting_product_reads_of_one_symbol_answer_nothing():
    """Two EAN-13 texts read on the same symbol: neither is answered unless one outvotes the
    other 2 to 1; the same text elsewhere in the image is another symbol, not a conflict."""
    right = Barcode("EAN13", "8410054010412", QUAD, "zxing", "]E0")
    wrong = Barcode("EAN13", "6412012010412", [(x + 5, y) for x, y in QUAD], "zxing", "]E0")
    elsewhere = Barcode("EAN13", "6412012010412", [(x + 900, y) for x, y in QUAD], "zxing", "]E0")
    results = _Results()
    results.offer(wrong, "frame")
    assert not results.offer(right, "frame") and not results.offer(right, "level")
    assert results.finish() == []  # 2 votes against 1
    assert results.offer(right, "enhanced") and results.offer(right, "tight")
    assert [b.text for b in results.finish()] == [right.text]  # 4 against 1
    apart = _Results()
    for variant in ("frame", "level"):
        apart.offer(right, variant)
        apart.offer(elsewhere, variant)
    assert sorted(b.text for b in apart.finish()) == sorted([right.text, elsewhere.text])


def _product_photo(text: str, fmt: zxingcpp.BarcodeFormat, seed: int, angle: float) -> bytes:
    """A retail symbol (with its add-on when ``text`` has one) photographed by the camera."""
    symbol = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=8)
    image = Image.fromarray(np.array(symbol)).convert("L")
    return photograph(
        image,
        random.Random(seed),
        rotation_deg=angle,
        tilt_deg=12,
        blur_sigma=0.7,
        noise=4,
        light_gradient=0.3,
        jpeg_quality=75,
        scale=3 / 8,
    )


@pytest.mark.parametrize("seed, angle", [(1, 8), (2, 33), (3, 172)])
def test_upca_comes_back_as_its_printed_gtin(seed, angle):
    found = decode_image(_product_photo("03600029145", zxingcpp.BarcodeFormat.UPCA, seed, angle))
    assert [(b.format, b.text, b.symbology_identifier) for b in found] == [
        ("EAN13", "0036000291452", "]E0")
    ]


@pytest.mark.parametrize(
    "text, fmt, expected",
    [
        ("9780735200449 51299", zxingcpp.BarcodeFormat.EAN13, ("EAN13", "9780735200449")),
        ("04965802 12", zxingcpp.BarcodeFormat.UPCE, ("UPCE", "0049000006582")),
        ("01234565 05", zxingcpp.BarcodeFormat.UPCE, ("UPCE", "0012345000065")),
    ],
)
@pytest.mark.parametrize("seed, angle", [(4, 3), (5, 27), (6, 95)])
def test_product_code_with_add_on_is_the_main_symbol(text, fmt, expected, seed, angle):
    """The add-on is not answered and never merges into another EAN/UPC number."""
    found = decode_image(_product_photo(text, fmt, seed, angle))
    assert [(b.format, b.text, b.symbology_identifier) for b in found] == [(*expected, "]E0")]


GTIN = "09501101530003"


@pytest.mark.parametrize("serial", ["S0042", None])
@pytest.mark.parametrize("seed", [1, 2])
def test_gs1_datamatrix_carton_photo_keeps_the_element_string(serial, seed):
    jpeg = photographed_carton(GTIN, "AB-12", "261231", serial, seed=seed)
    found = decode_image(jpeg)
    expected = f"01{GTIN}1726123110AB-12" + ("\x1d21S0042" if serial else "")
    assert element_strings(GTIN, "AB-12", "261231", serial)[1] == expected
    assert [(b.format, b.text, b.symbology_identifier) for b in found] == [
        ("DataMatrix", expected, "]d2")
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_gs1_128_carton_photo_keeps_the_element_string(seed):
    jpeg = photographed_carton(GTIN, "L7/3", "270630", "000123", symbol="gs1-128", seed=seed)
    expected = f"01{GTIN}1727063010L7/3\x1d21000123"
    for formats in (None, ["Code128"]):  # /api/decode, and the scan endpoint's request
        found = decode_image(jpeg, formats=formats)
        assert [(b.format, b.text, b.symbology_identifier) for b in found] == [
            ("Code128", expected, "]C1")
        ]


def test_plain_symbols_carry_their_symbology_identifier():
    found = decode_image(png_bytes(label()), formats=["Code128"])
    assert [b.symbology_identifier for b in found] == ["]C0"]
    qr = _zxing_symbol("hello", zxingcpp.BarcodeFormat.QRCode)
    assert [b.symbology_identifier for b in decode_array(qr)] == ["]Q1"]


def test_decode_endpoint_answers_gs1_text_and_symbology_identifier(client, tokens):
    from tests.conftest import auth

    jpeg = photographed_carton(GTIN, "AB-12", "261231", "S0042", seed=3)
    response = client.post(
        "/api/decode",
        data={"image": (io.BytesIO(jpeg), "carton.jpg")},
        headers=auth(tokens["operator"]),
    )
    assert response.status_code == 200
    [barcode] = response.json["barcodes"]
    assert barcode["format"] == "DataMatrix"
    assert barcode["text"] == f"01{GTIN}1726123110AB-12\x1d21S0042"
    assert barcode["symbology_identifier"] == "]d2"
