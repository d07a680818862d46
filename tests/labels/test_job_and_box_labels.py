"""labels.render, labels.pdf and labels.zpl: a consignment's job barcode and box labels scan back
to their codes, from the PNG, the SVG's geometry, label PDFs and the inspection record sheet's PDF.
"""

import io
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

from labels.decode import decode_image
from labels.pdf import render_pdf
from labels.render import (
    BoxLabel,
    LabelSize,
    box_title,
    job_size_mm,
    render_image,
    render_job_image,
    render_job_png,
    render_job_svg,
    render_png,
    render_svg,
)
from labels.sheet_layout import LEFT, RIGHT, TOP, line_height
from labels.sheets import compose_record_sheet, render_record_sheet, render_record_sheet_pages
from labels.zpl import render_zpl, zpl_barcode_data
from tally.units import box_code, job_code, read_code
from tests.labels.test_render import assert_decodes, bar_row, make_label, pdf_pages, zbar_codes
from tests.labels.test_sheets import make_record, rasterize

SVG_NS = "{http://www.w3.org/2000/svg}"


def decoded(image: Image.Image) -> list[str]:
    """What labels.decode (the service's own decoder) reads in the image."""
    out = io.BytesIO()
    image.convert("L").save(out, "PNG")
    return sorted(barcode.text for barcode in decode_image(out.getvalue(), formats=["Code128"]))


def svg_texts(svg: bytes) -> list[str]:
    return [element.text or "" for element in ET.fromstring(svg).iter(f"{SVG_NS}text")]


def make_box(serial: int = 17, **changes) -> BoxLabel:
    fields = {"code": box_code(serial), "box_no": "BOX-7", "manifest_no": "MF20241105001",
              "labels": 24}
    return BoxLabel(**(fields | changes))


# --- the job barcode --------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [200, 203, 300])
@pytest.mark.parametrize("manifest_id", [1, 4711, 10**11 - 1])
def test_job_barcode_png_decodes_to_the_job_code(manifest_id, dpi):
    code = job_code(manifest_id)
    image = Image.open(io.BytesIO(render_job_png(code, "MF-2024-001", dpi=dpi)))
    assert image.mode == "1"
    assert_decodes(image, code)
    assert decoded(image) == [code]
    assert read_code(code) == ("job", manifest_id)


@pytest.mark.parametrize(("dpi", "module"), [(200, 3), (203, 3), (300, 4)])
def test_job_barcode_modules_are_whole_dots_with_quiet_zones(dpi, module):
    image = render_job_image(job_code(12), "MF-1", dpi=dpi)
    row = bar_row(image)
    dark = np.flatnonzero(~row)
    first, last = dark[0], dark[-1]
    assert last - first + 1 == 123 * module  # J + 12 digits in code set C, as a unit code
    assert first >= 10 * module and len(row) - 1 - last >= 10 * module


def test_job_barcode_is_the_same_size_whatever_the_manifest_number():
    code = job_code(3)
    short = render_job_image(code, "MF-1", dpi=203)
    long = render_job_image(code, "MF-" + "9" * 61, dpi=203)
    assert short.size == long.size == (445, 170)
    assert job_size_mm(code, "MF-1") == job_size_mm(code, "X" * 64) == (55.625, 21.25)
    assert_decodes(long, code)


def test_job_svg_is_vector_sized_in_mm_with_the_code_and_the_manifest_number():
    code = job_code(42)
    svg = render_job_svg(code, "MF-2024-001 <&>")
    root = ET.fromstring(svg)
    assert (root.get("width"), root.get("height")) == ("55.625mm", "21.25mm")
    assert root.get("viewBox") == "0 0 445 170"
    assert root.find(f"{SVG_NS}title").text == f"{code} · 作业 Job MF-2024-001 <&>"
    assert svg_texts(svg) == [code, "作业 Job MF-2024-001 <&>"]
    bars = [rect for rect in root.iter(f"{SVG_NS}rect") if rect.get("height") == "96"]
    assert len(bars) == 34  # J + 6 digit pairs: 10 symbols of 3 bars, stop 4 bars
    assert {int(rect.get("width")) % 3 for rect in bars} == {0}  # whole 3-dot modules


def test_job_barcode_refuses_what_code128_text_cannot_carry():
    with pytest.raises(ValueError, match="printable ASCII"):
        render_job_image("J作业", "MF-1")
    with pytest.raises(ValueError, match="dpi"):
        render_job_image(job_code(1), "MF-1", dpi=100)


# --- box labels -------------------------------------------------------------------------------


@pytest.mark.parametrize("dpi", [203, 300])
@pytest.mark.parametrize("box", [make_box(), make_box(10**11 - 1, box_no="托盘 A-箱 12",
                                                       manifest_no=None, labels=0)])
def test_box_label_png_decodes_to_the_box_code(box, dpi):
    image = Image.open(io.BytesIO(render_png(box, dpi=dpi)))
    assert image.mode == "1" and image.size == render_image(make_label(), dpi=dpi).size
    assert_decodes(image, box.code)
    assert decoded(image) == [box.code]
    assert read_code(box.code)[0] == "box"


def test_box_label_says_box_number_big_manifest_and_label_count():
    svg = render_svg(make_box())
    texts = svg_texts(svg)
    assert texts[:2] == [box_code(17), "箱 Box BOX-7"]
    assert set(texts[2:]) == {"24 张标签 labels", "MF MF20241105001"}
    sizes = {element.text: int(element.get("font-size"))
             for element in ET.fromstring(svg).iter(f"{SVG_NS}text")}
    assert sizes["箱 Box BOX-7"] > sizes[box_code(17)] > sizes["24 张标签 labels"]
    assert box_title(" B\x07-1 ") == "箱 Box B -1"


def test_long_box_number_shrinks_then_ends_with_an_ellipsis():
    texts = svg_texts(render_svg(make_box(box_no="X" * 32, manifest_no="M" * 64)))
    assert texts[1].startswith("箱 Box XXXX") and texts[1].endswith("…")
    assert any(text.startswith("MF MMM") and text.endswith("…") for text in texts)
    assert_decodes(render_image(make_box(box_no="X" * 32)), box_code(17))


@pytest.mark.parametrize("size", [LabelSize(50, 30), LabelSize(60, 40), LabelSize(100, 50)])
def test_box_labels_fit_every_unit_label_size(size):
    for dpi in (203, 300):
        image = render_image(make_box(), dpi=dpi, size=size)
        assert_decodes(image, box_code(17))


def test_pdf_of_boxes_and_units_decodes_page_by_page_in_order():
    job = [make_box(1, box_no="A"), make_label(11), make_label(12),
           make_box(2, box_no="B"), make_label(13)]
    pages = pdf_pages(render_pdf(job, dpi=300), 300)
    assert [zbar_codes(image) for _, image in pages] == [[label.code] for label in job]
    assert decoded(pages[0][1]) == [box_code(1)]
    sheet = pdf_pages(render_pdf(job, sheet="a4"), 300)
    assert len(sheet) == 1
    assert_decodes(sheet[0][1], *(label.code for label in job))


def test_box_label_zpl_carries_the_box_code_and_the_chinese_title():
    zpl = render_zpl([make_box(), make_label(11)], dpi=300)
    first, second = zpl.split("^XZ\n")[:2]
    assert f"^FD{zpl_barcode_data(box_code(17))}^FS" in first
    assert "E:ANMDS.TTF^FH^FD箱 Box BOX-7^FS" in first  # Chinese in the printer's CJK font
    assert "^FH^FD24 张标签 labels^FS" in first
    assert make_label(11).code in second


@pytest.mark.parametrize("changes", [{"code": "B作业"}, {"code": ""}, {"labels": -1}])
def test_bad_box_label_fields_are_refused(changes):
    with pytest.raises(ValueError):
        make_box(**changes)


# --- the inspection record sheet's head --------------------------------------------------------


def test_record_sheet_pdf_carries_the_job_barcode_in_its_head():
    code = job_code(4711)
    record = make_record() | {"job_code": code}
    (page,) = compose_record_sheet(record)
    [(barcode, (x, y))] = page.images
    assert y == TOP and x + barcode.width == RIGHT  # top right, inside the margins
    title = next(text for text in page.texts if text.text.startswith("查验记录单"))
    assert LEFT <= title.x and title.x + 1 < x  # the title left of it, not under it
    assert min(text.y for text in page.texts if text.y > y) >= y + barcode.height  # grid below
    ((_, raster),) = rasterize(render_record_sheet(record))
    head = raster.crop((0, 0, raster.width, y + barcode.height + line_height(20)))
    assert decoded(head) == [code]
    assert zbar_codes(raster) == [code]
    (image,) = render_record_sheet_pages(record)
    assert zbar_codes(image) == [code]


def test_record_sheet_without_a_job_code_has_no_barcode():
    (page,) = compose_record_sheet(make_record())
    assert page.images == []
    ((_, raster),) = rasterize(render_record_sheet(make_record()))
    assert zbar_codes(raster) == []
