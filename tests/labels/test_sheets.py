"""labels.sheets: the inspection record sheet PDF and the escort's signature image."""

import io
import struct
import zlib
from datetime import datetime
from pathlib import Path

import numpy as np
import pypdfium2
import pytest
from PIL import Image, ImageDraw

from labels import sheets
from labels.render import load_font
from labels.sheet_layout import (
    BOTTOM,
    CELL_PT,
    DPI,
    MAX_CELL_LINES,
    PAGE_H,
    PAGE_W,
    line_height,
    px,
    wrap,
)
from labels.sheets import (
    SIGNATURE_MARGIN,
    SignatureError,
    compose_record_sheet,
    load_signature,
    render_record_sheet,
    render_record_sheet_pages,
)

A4_PT = (595.28, 841.89)
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")


# --- fixtures ---------------------------------------------------------------------------------


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A well-formed PNG whose IHDR claims width x height but whose data is a few bytes."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        sheets.PNG_SIGNATURE
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def pad_canvas(ink: bool = True, size=(600, 200)) -> Image.Image:
    """What canvas.toDataURL() gives: RGBA, transparent background, dark anti-aliased strokes."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    if ink:
        draw = ImageDraw.Draw(image)
        draw.line([(100, 150), (160, 40), (220, 140), (300, 50), (380, 120)], (20, 20, 80), 5)
        draw.line([(120, 170), (420, 160)], (20, 20, 80, 200), 3)
    return image


def make_record(pallets: int = 3, checks: int = 4, signature: Image.Image | None = None) -> dict:
    ok = {"result": "pass", "note": None}
    return {
        "title": "查验记录单 Inspection record sheet",
        "manifest_no": "MF20241105001",
        "bill_no": "SHA-BL-778812",
        "inspection_no": "INS-20241105-0007",
        "inspected_at": datetime(2024, 11, 5, 10, 30),
        "location": "综保区查验场 3号位 Bay 3",
        "ciq_officer": "陈海",
        "customs_officer": "刘洋",
        "result": "pending",
        "pallets": [
            {
                "pallet_no": f"P{n:03d}",
                "material": "wood",
                "mark_text": "CN-000123 KD" if n == 2 else "IPPC\nCN-000123\nHT DB",
                "mark": None
                if n == 2
                else {
                    "country": "CN",
                    "producer": "000123",
                    "treatments": ["HT"],
                    "debarked": True,
                },
                "mark_problems": ["KD (kiln dried) is not an ISPM 15 treatment code"]
                if n == 2
                else [],
                "pests_found": n == 2,
                "pest_note": "天牛幼虫 longhorn beetle larvae" if n == 2 else None,
                "disposition": "fumigate" if n == 2 else "pass",
                "task": {
                    "kind": "fumigate",
                    "done_at": "2024-11-05T16:20:00+08:00",
                    "done_by": "王五",
                    "note": "溴甲烷 24h",
                }
                if n == 2
                else None,
            }
            for n in range(1, pallets + 1)
        ],
        "checks": [
            {
                "line_no": n,
                "sku": f"SKU-{n:04d}",
                "name": "婴儿配方奶粉 900g Infant formula",
                "nature": ok,
                "origin": ok,
                "condition": ok,
                "quantity": {"result": "fail", "note": "实点 118，申报 120"} if n == 3 else ok,
                "value": ok,
            }
            for n in range(1, checks + 1)
        ],
        "escort": {
            "name": "张伟 Zhang Wei",
            "signed_at": "2024-11-05T11:05:00+08:00",
            "signature": signature,
        },
    }


@pytest.fixture(scope="module")
def signature() -> Image.Image:
    return load_signature(png(pad_canvas()))


def texts(page) -> list[str]:
    return [text.text for text in page.texts]


def rasterize(pdf: bytes) -> list[tuple[tuple[float, float], Image.Image]]:
    document = pypdfium2.PdfDocument(pdf)
    try:
        return [
            (page.get_size(), page.render(scale=DPI / 72).to_pil().convert("L"))
            for page in document
        ]
    finally:
        document.close()


def dark(image: Image.Image, box=None) -> int:
    pixels = np.asarray(image.crop(box) if box else image)
    return int((pixels < 128).sum())


# --- load_signature ---------------------------------------------------------------------------


def test_signature_from_pad_is_flattened_on_white_and_cropped_to_ink():
    canvas = pad_canvas()
    image = load_signature(png(canvas))
    assert image.mode == "L"
    left, upper, right, lower = canvas.getchannel("A").getbbox()
    assert image.size == (
        right - left + 2 * SIGNATURE_MARGIN,
        lower - upper + 2 * SIGNATURE_MARGIN,
    )
    pixels = np.asarray(image)
    # The transparent background is white, not the black that a plain convert("L") gives.
    assert pixels[:SIGNATURE_MARGIN].min() == 255 and pixels[:, :SIGNATURE_MARGIN].min() == 255
    assert pixels[-SIGNATURE_MARGIN:].min() == 255 and pixels[:, -SIGNATURE_MARGIN:].min() == 255
    assert (pixels < 100).sum() > 500


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "LA"])
def test_signature_in_other_png_modes(mode):
    canvas = Image.new("RGB", (300, 120), "white")
    ImageDraw.Draw(canvas).line([(40, 90), (150, 20), (260, 100)], "black", 4)
    image = load_signature(png(canvas.convert(mode)))
    left, upper, right, lower = canvas.convert("L").point(lambda v: 255 * (v < 160)).getbbox()
    assert image.mode == "L"
    assert image.size == (right - left + 2 * SIGNATURE_MARGIN, lower - upper + 2 * SIGNATURE_MARGIN)
    assert np.asarray(image)[0].min() == 255


def test_signature_ink_at_the_edge_gets_a_white_margin():
    canvas = Image.new("L", (200, 80), 255)
    ImageDraw.Draw(canvas).rectangle((0, 0, 60, 79), fill=0)
    image = load_signature(png(canvas))
    assert image.size == (61 + 2 * SIGNATURE_MARGIN, 80 + 2 * SIGNATURE_MARGIN)
    assert np.asarray(image)[:, :SIGNATURE_MARGIN].min() == 255  # not black fill from crop()


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (50, 50), "white").save(out, "JPEG")
    return out.getvalue()


def truncated() -> bytes:
    data = png(pad_canvas())
    return data[: len(data) // 2]


def bad_crc() -> bytes:
    data = bytearray(png(pad_canvas()))
    data[45] ^= 0xFF  # inside the first IDAT chunk
    return bytes(data)


def dot() -> bytes:
    canvas = pad_canvas(ink=False)
    ImageDraw.Draw(canvas).point([(300, 100), (301, 100)], (0, 0, 0, 255))
    return png(canvas)


@pytest.mark.parametrize(
    ("data", "kwargs", "code", "message"),
    [
        (lambda: b"", {}, "not-png", "not a PNG image"),
        (jpeg, {}, "not-png", "not a PNG image (it is a JPEG)"),
        (lambda: b"GIF89a" + b"\0" * 64, {}, "not-png", "not a PNG image"),
        (lambda: sheets.PNG_SIGNATURE + b"\0" * 8, {}, "corrupt", "no IHDR header"),
        (truncated, {}, "corrupt", "truncated or corrupt"),
        (bad_crc, {}, "corrupt", "truncated or corrupt"),
        (lambda: png_header_only(0, 100), {}, "corrupt", "declares an empty image"),
        (
            lambda: png_header_only(20000, 20000),
            {},
            "too-many-pixels",
            "20000 x 20000 pixels; the limit is 4000000 pixels",
        ),
        (lambda: png(pad_canvas()), {"max_pixels": 100_000}, "too-many-pixels", "600 x 200"),
        (lambda: png(pad_canvas()), {"max_bytes": 1000}, "too-large", "the limit is 1000"),
        (lambda: png(pad_canvas()) + b"\0" * 512_000, {}, "too-large", "the limit is 512000"),
        (lambda: png(pad_canvas(ink=False)), {}, "blank", "signature is blank"),
        (lambda: png(Image.new("RGB", (400, 150), "white")), {}, "blank", "signature is blank"),
        (lambda: png(Image.new("L", (400, 150), 230)), {}, "blank", "signature is blank"),
        (dot, {}, "blank", "signature is blank"),
    ],
    ids=[
        "empty",
        "jpeg",
        "gif",
        "no-ihdr",
        "truncated",
        "bad-crc",
        "zero-width",
        "bomb-header",
        "max-pixels",
        "max-bytes",
        "default-max-bytes",
        "transparent-canvas",
        "white-canvas",
        "light-gray-canvas",
        "single-dot",
    ],
)
def test_signature_errors(data, kwargs, code, message):
    with pytest.raises(SignatureError) as caught:
        load_signature(data(), **kwargs)
    assert caught.value.code == code
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_bomb_header_is_refused_before_decoding(monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("the image must not be opened")

    monkeypatch.setattr(sheets.Image, "open", never)
    with pytest.raises(SignatureError) as caught:
        load_signature(png_header_only(20000, 20000))
    assert caught.value.code == "too-many-pixels"


# --- layout -----------------------------------------------------------------------------------


def test_one_page_sheet_has_every_section_bilingual(signature):
    (page,) = compose_record_sheet(make_record(signature=signature))
    found = texts(page)
    for expected in [
        "查验记录单 Inspection record sheet",
        "托盘 Pallets · 木质包装 IPPC / ISPM 15",
        "海关查验 Customs checks",
        "押运人签字 Escort signature",
        "检疫官员签字 CIQ officer",
        "海关关员签字 Customs officer",
        "查验结论 Result: 待定 Pending",
        "MF20241105001",
        "2024-11-05 10:30",
        "IPPC / CN-000123 / HT DB",
        "✔ CN · 000123 · HT · DB",
        "熏蒸 Fumigate",
        "✘ 不合格 Fail",
        "押运人 Escort: 张伟 Zhang Wei",
        "签字时间 Signed at: 2024-11-05 11:05+08:00",
        "1/1",
    ]:
        assert expected in found, expected
    assert any(text.startswith("✘ KD (kiln dried)") for text in found)
    bold = {text.text for text in page.texts if text.bold}
    assert "✘ 不合格 Fail" in bold and "✔ 合格 Pass" not in bold
    assert "treatment code" in bold  # a wrapped failure stays bold on its second line
    assert page.signature is not None and page.signature.mode == "L"


def test_many_lines_run_onto_pages_with_repeated_headers_and_page_numbers():
    pages = compose_record_sheet(make_record(pallets=30, checks=150))
    assert len(pages) >= 6
    for page in pages:
        assert f"{page.number}/{len(pages)}" in texts(page)
        assert "查验编号 Inspection no. INS-20241105-0007" in texts(page)
    for page in pages[1:]:
        found = texts(page)
        assert "查验记录单 Inspection record sheet (续 continued)" in found
        # Every continuation page opens a table with its heading and header row again.
        assert any(text.endswith("(续 continued)") and "Pallets" in text for text in found) or (
            "海关查验 Customs checks (续 continued)" in found
        )
        assert "Line" in found or "Pallet" in found
    # No row is lost or printed twice across page breaks.
    skus = [text for page in pages for text in texts(page) if text.startswith("SKU-")]
    assert skus == [f"SKU-{n:04d}" for n in range(1, 151)]
    pallets = [
        text for page in pages for text in texts(page) if text[:1] == "P" and text[1:].isdigit()
    ]
    assert pallets == [f"P{n:03d}" for n in range(1, 31)]
    # The signatures come last, on the last page.
    assert "押运人签字 Escort signature" in texts(pages[-1])


def test_page_count_grows_with_lines():
    counts = [len(compose_record_sheet(make_record(checks=n))) for n in (1, 40, 120)]
    assert counts[0] == 1
    assert counts[0] < counts[1] < counts[2]


def test_everything_stays_inside_the_page():
    pages = compose_record_sheet(make_record(pallets=12, checks=80))
    for page in pages:
        for text in page.texts:
            assert 0 < text.x and text.x + load_font(text.px).getlength(text.text) < PAGE_W, text
        # Below the body only the footer: the inspection number and "page/pages".
        footer = {text.text for text in page.texts if text.y >= BOTTOM}
        assert footer == {
            "查验编号 Inspection no. INS-20241105-0007",
            f"{page.number}/{len(pages)}",
        }
        body = [text for text in page.texts if text.y < BOTTOM]
        assert all(text.y + line_height(text.px) <= BOTTOM for text in body)
        assert all(0 <= rule.box[0] <= rule.box[2] < PAGE_W for rule in page.rules)
        assert all(0 <= rule.box[1] <= rule.box[3] < PAGE_H for rule in page.rules)


def test_long_note_is_cut_to_a_cell_maximum():
    record = make_record(checks=1)
    record["checks"][0]["origin"] = {"result": "fail", "note": "原产地不符 " * 400}
    (page,) = compose_record_sheet(record)
    (fail,) = [text for text in page.texts if text.text == "✘ 不合格 Fail"]
    cell = [text for text in page.texts if text.x == fail.x and text.y >= fail.y]
    assert len(cell) == MAX_CELL_LINES
    assert [text.bold for text in cell] == [True] + [False] * (MAX_CELL_LINES - 1)
    assert cell[-1].text.endswith("…")
    assert "查验结论 Result: 待定 Pending" in texts(page)  # the row did not push the rest off


def test_missing_values_print_as_dash_and_empty_tables_say_so():
    (page,) = compose_record_sheet({})
    found = texts(page)
    assert "查验记录单 Inspection record sheet" in found
    assert "无托盘记录 No pallets recorded" in found
    assert "无查验行 No lines checked" in found
    assert "未签字 Not signed" in found
    assert "押运人 Escort: —" in found
    assert page.signature is None


def test_control_characters_do_not_reach_the_page():
    record = make_record(checks=1)
    record["checks"][0]["name"] = "奶粉\x00\t900g\r\nInfant"
    (page,) = compose_record_sheet(record)
    assert all(ch == " " or ch >= " " for text in page.texts for ch in text.text)
    assert "奶粉 900g" in texts(page) and "Infant" in texts(page)


def test_signature_must_be_an_image():
    record = make_record()
    record["escort"]["signature"] = png(pad_canvas())
    with pytest.raises(TypeError):
        compose_record_sheet(record)


def test_wrap_breaks_chinese_anywhere_and_latin_at_spaces():
    px, width = 21, 200
    lines = wrap("婴儿配方奶粉婴儿配方奶粉婴儿配方奶粉 Infant formula for babies", px, width)
    assert len(lines) > 1
    assert all(load_font(px).getlength(line) <= width for line in lines)
    assert "".join(lines).replace(" ", "") == "婴儿配方奶粉" * 3 + "Infantformulaforbabies"
    assert all(not line.startswith(" ") and not line.endswith(" ") for line in lines)
    assert "formula" in " ".join(lines).split()  # no Latin word split when it fits a line
    long_word = wrap("X" * 200, px, width)
    assert all(load_font(px).getlength(line) <= width for line in long_word)


@pytest.mark.skipif(not CJK_FONT.exists(), reason="fonts-wqy-microhei not installed")
def test_sheet_uses_a_cjk_font():
    assert load_font(px(CELL_PT)).getname()[0] == "WenQuanYi Micro Hei"


# --- painting and PDF -------------------------------------------------------------------------


def test_page_images_are_a4_and_every_text_is_painted(signature):
    record = make_record(pallets=4, checks=30, signature=signature)
    layouts = compose_record_sheet(record)
    images = render_record_sheet_pages(record)
    assert len(images) == len(layouts) >= 2
    for layout, image in zip(layouts, images, strict=True):
        assert image.mode == "L"
        assert image.size == (PAGE_W, PAGE_H) == (1654, 2339)  # A4 at 200 dpi
        for text in layout.texts:
            width = round(load_font(text.px).getlength(text.text))
            box = (text.x, text.y, text.x + width, text.y + line_height(text.px))
            assert dark(image, box) > 0, text


def test_pdf_opens_as_a4_and_matches_the_page_images(signature):
    record = make_record(pallets=4, checks=30, signature=signature)
    pdf = render_record_sheet(record)
    assert pdf.startswith(b"%PDF-1.4") and pdf.rstrip().endswith(b"%%EOF")
    pages = rasterize(pdf)
    images = render_record_sheet_pages(record)
    assert len(pages) == len(images) >= 2
    for (size, raster), image in zip(pages, images, strict=True):
        assert size == pytest.approx(A4_PT, abs=0.01)
        assert raster.size == image.size
        diff = np.abs(np.asarray(raster, dtype=int) - np.asarray(image, dtype=int))
        assert diff.mean() < 1.0


def test_pdf_signature_region_shows_the_signature(signature):
    record = make_record(signature=signature)
    (layout,) = compose_record_sheet(record)
    ((_, raster),) = rasterize(render_record_sheet(record))
    box = layout.signature_box
    assert box is not None
    region = np.asarray(raster.crop(box), dtype=int)
    assert dark(raster, box) > 300  # the strokes, not a blank box
    # Grayscale, not thresholded: the PDF carries the scaled signature as drawn.
    assert np.abs(region - np.asarray(layout.signature, dtype=int)).mean() < 4


def test_unsigned_sheet_leaves_the_box_empty(signature):
    signed_record = make_record(signature=signature)
    box = compose_record_sheet(signed_record)[0].signature_box
    ((_, signed),) = rasterize(render_record_sheet(signed_record))
    ((_, unsigned),) = rasterize(render_record_sheet(make_record()))
    assert "未签字 Not signed" in texts(compose_record_sheet(make_record())[0])
    # Only the small "未签字 Not signed" is in the box where the signature would be.
    assert 0 < dark(unsigned, box) < dark(signed, box) // 3


def test_rgba_signature_passed_directly_is_flattened():
    record = make_record(signature=pad_canvas())
    (layout,) = compose_record_sheet(record)
    (image,) = render_record_sheet_pages(record)
    region = np.asarray(image.crop(layout.signature_box))
    assert np.median(region) == 255  # white background, not black from the transparent pixels
    assert (region < 128).sum() > 300


def test_pdf_stays_small(signature):
    record = make_record(pallets=10, checks=60, signature=signature)
    pdf = render_record_sheet(record)
    pages = len(compose_record_sheet(record))
    assert pages >= 3
    assert len(pdf) < 80_000 * pages  # 1-bit Flate pages are ~40 kB
