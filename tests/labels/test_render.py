"""labels.render, labels.pdf and labels.zpl: every label must scan back to its code, with both
decoders we deploy."""

import io
import random
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pypdfium2
import pytest
import zxingcpp
from PIL import Image
from pyzbar.pyzbar import ZBarSymbol
from pyzbar.pyzbar import decode as zbar_decode

from labels import render
from labels.pdf import render_pdf, sheet_grid
from labels.render import (
    Label,
    LabelSize,
    copy_mark,
    load_font,
    module_dots,
    render_image,
    render_png,
    render_svg,
)
from labels.zpl import render_zpl, zpl_barcode_data
from tally.units import make_code

MM_PER_PT = 25.4 / 72
SVG_NS = "{http://www.w3.org/2000/svg}"


def make_label(serial: int = 17, **changes) -> Label:
    fields = {
        "code": make_code(serial),
        "sku": "SKU-NAN-900",
        "name": "婴儿奶粉 900g",
        "line_no": 3,
        "box_no": "B-12",
        "manifest_no": "MF20241105001",
    }
    return Label(**(fields | changes))


def zbar_codes(image: Image.Image) -> list[str]:
    found = zbar_decode(image.convert("L"), symbols=[ZBarSymbol.CODE128])
    return sorted(result.data.decode("ascii") for result in found)


def zxing_codes(image: Image.Image) -> list[str]:
    found = zxingcpp.read_barcodes(
        image.convert("L"),
        formats=zxingcpp.BarcodeFormat.Code128,
        text_mode=zxingcpp.TextMode.Plain,
    )
    return sorted(result.text for result in found)


def assert_decodes(image: Image.Image, *codes: str) -> None:
    assert zbar_codes(image) == sorted(codes)
    assert zxing_codes(image) == sorted(codes)


def pdf_pages(pdf: bytes, dpi: int) -> list[tuple[tuple[float, float], Image.Image]]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [(page.get_size(), page.render(scale=dpi / 72).to_pil()) for page in document]
    finally:
        document.close()


def bar_row(image: Image.Image) -> np.ndarray:
    """The pixel row through the middle of the bars (True = white)."""
    pixels = np.asarray(image)
    dark_rows = np.flatnonzero((~pixels).sum(axis=1) > image.width // 4)
    return pixels[dark_rows[len(dark_rows) // 2]]


# --- raster -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [203, 300])
@pytest.mark.parametrize(
    "label",
    [
        make_label(),
        make_label(99_999_999_999, name="Face cream 50ml", box_no=None, manifest_no=None),
        make_label(123_456, copy_no=2, name="Aptamil 爱他美 婴儿配方奶粉 1段 800g 特大号装" * 2),
    ],
)
def test_png_decodes_with_both_engines(label, dpi):
    image = Image.open(io.BytesIO(render_png(label, dpi=dpi)))
    assert image.mode == "1"
    assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.01)  # stored per metre
    assert_decodes(image, label.code)


@pytest.mark.parametrize(("dpi", "size"), [(203, (400, 240)), (300, (591, 354))])
def test_image_is_exactly_the_label_size(dpi, size):
    image = render_image(make_label(), dpi=dpi)
    assert image.mode == "1"
    assert image.size == size


@pytest.mark.parametrize(("dpi", "dots"), [(203, 2), (300, 3), (600, 6)])
def test_bars_are_whole_dots_and_unit_codes_pack_digits_as_set_c(dpi, dots):
    assert module_dots(dpi) == dots
    row = bar_row(render_image(make_label(), dpi=dpi))
    dark = np.flatnonzero(~row)
    first, last = dark[0], dark[-1]
    # Code128 set B would need 11 * 13 + 35 = 178 modules; U + 12 digits in set C needs 123.
    assert last - first + 1 == 123 * dots
    assert first >= 10 * dots and len(row) - 1 - last >= 10 * dots  # quiet zones
    edges = np.flatnonzero(np.diff(row[first : last + 1].astype(np.int8))) + 1
    widths = np.diff(np.concatenate(([0], edges, [last - first + 1])))
    assert set(widths % dots) == {0}
    assert set(widths // dots) <= {1, 2, 3, 4}  # Code128 elements are 1 to 4 modules


def test_random_unit_codes_decode_with_both_engines():
    rng = random.Random(20241126)
    failures = []
    for _ in range(200):
        code = make_code(rng.randrange(1, 10**11))
        label = make_label(code=code, copy_no=rng.choice([0, 0, 0, 1, 7]))
        for dpi in (203, 300):
            image = render_image(label, dpi=dpi)
            if zbar_codes(image) != [code] or zxing_codes(image) != [code]:
                failures.append((code, dpi))
    assert failures == []


def test_long_name_is_truncated_with_an_ellipsis():
    label = make_label(name="Aptamil 爱他美 婴儿配方奶粉 1段 800g " * 4)
    names = [text for text in svg_texts(render_svg(label)) if text.startswith("Aptamil")]
    assert len(names) == 1 and names[0].endswith("…") and len(names[0]) < len(label.name)
    assert "婴儿奶粉 900g" in svg_texts(render_svg(make_label()))


def test_copy_mark_is_printed_on_reprints_only():
    original, reprint = make_label(), make_label(copy_no=2)
    assert copy_mark(0) == "" and copy_mark(2) == "COPY 2 / 副本"
    assert render_png(original) != render_png(reprint)
    assert "COPY 2 / 副本" in svg_texts(render_svg(reprint))
    assert not any("COPY" in text for text in svg_texts(render_svg(original)))
    assert "COPY 2 / 副本^FS" in render_zpl([reprint])
    assert "COPY" not in render_zpl([original])
    # Printed white on black: the mark's box holds a solid black area.
    original_ink = (~np.asarray(render_image(original))).sum()
    assert (~np.asarray(render_image(reprint))).sum() > original_ink * 1.1


@pytest.mark.parametrize(
    ("size", "dpi", "message"),
    [
        (LabelSize(30, 30), 203, "too narrow"),
        (LabelSize(40, 30), 300, "too narrow"),
        (LabelSize(50, 30), 100, "dpi"),
    ],
)
def test_label_that_does_not_fit_is_refused(size, dpi, message):
    with pytest.raises(ValueError, match=message):
        render_image(make_label(), dpi=dpi, size=size)


def test_long_code_is_refused_rather_than_squeezed():
    with pytest.raises(ValueError, match="too narrow"):
        render_png(make_label(code="ABCDEFGHIJKLMNOP"))


@pytest.mark.parametrize(
    "changes", [{"code": ""}, {"code": "U00０"}, {"code": "U1\n2"}, {"copy_no": -1}]
)
def test_bad_label_fields_are_refused(changes):
    with pytest.raises(ValueError):
        make_label(**changes)


def test_fonts_are_loaded_once_per_size():
    assert load_font(19) is load_font(19)
    assert load_font(19).getlength("婴儿") > 0


def clear_caches():
    for cached in (load_font, render.text_width, render._fit, render._text_image, render._layout):
        cached.cache_clear()


@pytest.mark.parametrize(
    "paths", [(), ("/nonexistent/font.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
)
def test_labels_still_render_and_scan_without_the_cjk_font(monkeypatch, paths):
    monkeypatch.setattr(render, "FONT_PATHS", paths)
    clear_caches()
    try:
        for dpi in (203, 300):
            label = make_label(copy_no=1)
            assert_decodes(render_image(label, dpi=dpi), label.code)
    finally:
        monkeypatch.undo()
        clear_caches()


# --- SVG --------------------------------------------------------------------------------------


def svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return [element.text or "" for element in root.iter(f"{SVG_NS}text")]


def test_svg_is_well_formed_vector_with_the_code():
    label = make_label(name='A&B <奶粉> "900g"', copy_no=1)
    root = ET.fromstring(render_svg(label))
    assert root.tag == f"{SVG_NS}svg"
    assert (root.get("width"), root.get("height")) == ("50mm", "30mm")
    texts = svg_texts(render_svg(label))
    assert label.code in texts
    assert 'A&B <奶粉> "900g"' in texts
    assert "SKU SKU-NAN-900" in texts
    assert "Line 3 · Box B-12" in texts
    bars = [rect for rect in root.iter(f"{SVG_NS}rect") if rect.get("height") == "96"]
    assert len(bars) == 34  # U + 6 digit pairs: 10 symbols of 3 bars, stop 4 bars


# --- PDF --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [203, 300])
def test_pdf_one_label_per_page_of_label_size(dpi):
    labels = [make_label(1000 + i, copy_no=i % 3) for i in range(30)]
    pages = pdf_pages(render_pdf(labels, dpi=dpi), dpi)
    assert len(pages) == 30
    for (size, image), label in zip(pages, labels, strict=True):
        assert size == pytest.approx((50 / MM_PER_PT, 30 / MM_PER_PT), abs=0.01)
        assert_decodes(image, label.code)


def test_pdf_a4_sheet_holds_every_label():
    labels = [make_label(5000 + i, name=f"婴儿奶粉 {i} 号") for i in range(40)]
    assert sheet_grid("a4", LabelSize()) == (4, 9, 5.0, 13.5)
    pages = pdf_pages(render_pdf(labels, sheet="a4"), 300)
    assert len(pages) == 2
    for size, _ in pages:
        assert size == pytest.approx((210 / MM_PER_PT, 297 / MM_PER_PT), abs=0.01)
    assert_decodes(pages[0][1], *(label.code for label in labels[:36]))
    assert_decodes(pages[1][1], *(label.code for label in labels[36:]))


def test_pdf_a4_sheet_with_other_label_sizes():
    labels = [make_label(7000 + i) for i in range(16)]
    assert sheet_grid("A4", LabelSize(70, 37)) == (2, 7, 35.0, 19.0)
    pages = pdf_pages(render_pdf(labels, sheet="A4", size=LabelSize(70, 37)), 300)
    assert len(pages) == 2
    assert_decodes(pages[0][1], *(label.code for label in labels[:14]))


@pytest.mark.parametrize(
    ("count", "kwargs", "message"),
    [
        (0, {}, "no labels"),
        (0, {"sheet": "a4"}, "no labels"),
        (1, {"sheet": "letter"}, "unknown sheet"),
    ],
)
def test_pdf_errors(count, kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_pdf([make_label()] * count, **kwargs)


def test_pdf_accepts_a_generator_and_size_none():
    pdf = render_pdf((make_label(i) for i in range(1, 4)), size=None)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    assert len(pdf_pages(pdf, 72)) == 3


# --- ZPL --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpi", "width", "height", "module"), [(203, 400, 240, 2), (300, 591, 354, 3)]
)
def test_zpl_structure(dpi, width, height, module):
    labels = [make_label(i, copy_no=i % 2) for i in range(1, 6)]
    zpl = render_zpl(labels, dpi=dpi)
    formats = re.findall(r"\^XA.*?\^XZ", zpl, flags=re.DOTALL)
    assert len(formats) == zpl.count("^XA") == zpl.count("^XZ") == 5
    for text, label in zip(formats, labels, strict=True):
        assert "^CI28" in text
        assert f"^PW{width}\n" in text and f"^LL{height}\n" in text
        assert f"^BY{module}^BCN," in text
        assert f"^FD>:U>5{label.code[1:]}^FS" in text
        assert f"^FD{label.code}^FS" in text  # human-readable line
        assert "^FDSKU SKU-NAN-900^FS" in text
        assert "婴儿奶粉 900g^FS" in text
        assert "^FDLine 3 · Box B-12^FS" in text
        assert ("^FR" in text) == bool(label.copy_no)


@pytest.mark.parametrize(
    ("code", "data"),
    [
        ("U000000001740", ">:U>5000000001740"),
        ("ABC", ">:ABC"),
        ("12345678", ">;12345678"),
        ("12345", ">;1234>65"),
        ("A>B", ">:A><B"),
    ],
)
def test_zpl_barcode_data_uses_invocation_codes(code, data):
    assert zpl_barcode_data(code) == data


def test_zpl_escapes_command_characters_in_text():
    zpl = render_zpl([make_label(sku="A^B~C_D")])
    assert "^FH^FDSKU A_5EB_7EC_5FD^FS" in zpl


@pytest.mark.parametrize("dpi", [200, 600])
def test_zpl_refuses_other_dpi(dpi):
    with pytest.raises(ValueError, match="203 or 300"):
        render_zpl([make_label()], dpi=dpi)


def test_zpl_refuses_no_labels():
    with pytest.raises(ValueError, match="no labels"):
        render_zpl([])


# --- sizes and boundaries ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("50x30", LabelSize(50, 30)),
        ("50X30", LabelSize(50, 30)),
        (" 62.5 x 30 mm ", LabelSize(62.5, 30)),
        ("100×150", LabelSize(100, 150)),
        ("25x25", LabelSize(25, 25)),
        ("200*200", LabelSize(200, 200)),
    ],
)
def test_label_size_parse(text, size):
    assert LabelSize.parse(text) == size


@pytest.mark.parametrize(
    "text", ["", "50", "50x", "x30", "50x30x10", "-50x30", "fiftyx30", "24x30", "50x201", "0x0"]
)
def test_label_size_parse_refuses(text):
    with pytest.raises(ValueError):
        LabelSize.parse(text)


def test_labels_package_needs_no_web_or_database():
    script = (
        "import sys, labels.render, labels.pdf, labels.zpl\n"
        "bad = {'flask', 'tally', 'web', 'sqlite3', 'sqlite_utils'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in bad))\n"
    )
    root = Path(__file__).parents[2]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
