"""PDF output: unit and box labels one to a page or in a grid on A4 sheets (``render_pdf``), and
the small streaming writer of 1-bit image pages behind them and the A4 sheets (``PdfWriter``).

Why not Pillow's PDF plugin: Pillow encodes each page through libtiff as CCITT G4 and needs every
page in memory first; Flate-compressed 1-bit images are faster to produce, keep memory flat for any
batch size, and let a sheet place each label at its exact mm position (docs/benchmarks.md).
"""

import io
import zlib
from collections.abc import Iterable

import numpy as np
from PIL import Image

from labels.render import MM_PER_INCH, BoxLabel, Label, LabelSize, render_image

PT_PER_INCH = 72.0

SHEETS_MM = {"a4": (210.0, 297.0)}
SHEET_MARGIN_MM = 5.0  # office printers cannot print the outer ~4.2 mm of a sheet


class PdfWriter:
    """Just enough PDF 1.4 to place 1-bit images on pages, streamed as they come.

    Also the A4 sheets' writer (labels/sheets.py, labels/report_sheet.py).
    """

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        self._offsets: list[int] = [0, 0, 0]  # objects 1 (catalog), 2 (pages) come last
        self._pages: list[int] = []

    def _object(self, body: bytes, stream: bytes | None = None, number: int = 0) -> int:
        if not number:
            number = len(self._offsets)
            self._offsets.append(0)
        self._offsets[number] = self._out.tell()
        self._out.write(b"%d 0 obj\n" % number + body)
        if stream is not None:
            self._out.write(b"\nstream\n" + stream + b"\nendstream")
        self._out.write(b"\nendobj\n")
        return number

    def image(self, image: Image.Image) -> int:
        """Add a mode-"1" image; PDF's 1-bit DeviceGray, like Pillow's "1", has 1 = white."""
        packed = np.packbits(np.asarray(image), axis=1).tobytes()
        # Level 3: much faster than the default 6 on label bitmaps, a little larger.
        data = zlib.compress(packed, 3)
        header = (
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 1 /Filter /FlateDecode /Length %d >>"
        )
        return self._object(header % (image.width, image.height, len(data)), data)

    def content(self, placements: list[tuple[int, float, float, float, float]]) -> int:
        """Add a content stream drawing each (image, x, y, w, h) placement.

        Points from the bottom left; the page must name the images /L0, /L1, ... in this order.
        """
        stream = b"\n".join(
            b"q %.4f 0 0 %.4f %.4f %.4f cm /L%d Do Q" % (w, h, x, y, index)
            for index, (_, x, y, w, h) in enumerate(placements)
        )
        return self._object(b"<< /Length %d >>" % len(stream), stream)

    def page(self, width_pt: float, height_pt: float, content: int, images: list[int]) -> None:
        """Add a page showing images as /L0, /L1, ... in the given content stream."""
        xobjects = b" ".join(b"/L%d %d 0 R" % pair for pair in enumerate(images))
        self._pages.append(
            self._object(
                b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.4f %.4f] /Contents %d 0 R"
                b" /Resources << /XObject << %s >> >> >>" % (width_pt, height_pt, content, xobjects)
            )
        )

    def finish(self) -> bytes:
        """Write the page tree, catalog, xref and trailer; return the file."""
        kids = b" ".join(b"%d 0 R" % number for number in self._pages)
        self._object(b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, len(self._pages)), None, 2)
        self._object(b"<< /Type /Catalog /Pages 2 0 R >>", None, 1)
        xref = self._out.tell()
        self._out.write(b"xref\n0 %d\n0000000000 65535 f \n" % len(self._offsets))
        self._out.writelines(b"%010d 00000 n \n" % offset for offset in self._offsets[1:])
        self._out.write(
            b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self._offsets), xref)
        )
        return self._out.getvalue()


def _pt(mm: float) -> float:
    return mm * PT_PER_INCH / MM_PER_INCH


def sheet_grid(sheet: str, size: LabelSize) -> tuple[int, int, float, float]:
    """(columns, rows, left mm, top mm) of ``size`` labels centred on a ``sheet`` page."""
    if sheet.lower() not in SHEETS_MM:
        raise ValueError(f"unknown sheet {sheet!r}; known: {', '.join(SHEETS_MM)}")
    page_w, page_h = SHEETS_MM[sheet.lower()]
    columns = int((page_w - 2 * SHEET_MARGIN_MM) // size.width_mm)
    rows = int((page_h - 2 * SHEET_MARGIN_MM) // size.height_mm)
    if not columns or not rows:
        raise ValueError(f"{size} labels do not fit a {sheet} sheet inside its margins")
    return (
        columns,
        rows,
        (page_w - columns * size.width_mm) / 2,
        (page_h - rows * size.height_mm) / 2,
    )


def render_pdf(
    labels: Iterable[Label | BoxLabel],
    *,
    size: LabelSize | None = LabelSize(),
    sheet: str | None = None,
    dpi: int = 300,
) -> bytes:
    """Render labels (units' and boxes', in the order given) to a PDF of 1-bit pages at ``dpi``.

    ``sheet=None``: one label per page, the page exactly the label size. ``sheet="a4"``: A4 pages
    with a grid of labels centred inside 5 mm margins (4 x 9 of 50 x 30 mm, 2 x 7 of 70 x 37 mm).
    ``size=None`` means the default 50 x 30 mm. ValueError for no labels or a label that does not
    fit.
    """
    if size is None:
        size = LabelSize()
    writer = PdfWriter()
    count = 0
    if sheet is None:
        shared_content = None  # every page draws its one image the same way: one stream for all
        for label in labels:
            image = writer.image(render_image(label, dpi=dpi, size=size))
            if shared_content is None:
                placement = [(image, 0.0, 0.0, _pt(size.width_mm), _pt(size.height_mm))]
                shared_content = writer.content(placement)
            writer.page(_pt(size.width_mm), _pt(size.height_mm), shared_content, [image])
            count += 1
    else:
        columns, rows, left, top = sheet_grid(sheet, size)
        page_w, page_h = SHEETS_MM[sheet.lower()]
        per_page = columns * rows
        placements: list[tuple[int, float, float, float, float]] = []

        def flush() -> None:
            content = writer.content(placements)
            writer.page(_pt(page_w), _pt(page_h), content, [image for image, *_ in placements])
            placements.clear()

        for label in labels:
            row, column = divmod(count % per_page, columns)
            x_mm = left + column * size.width_mm
            y_mm = page_h - top - (row + 1) * size.height_mm  # PDF's origin is bottom left
            image = writer.image(render_image(label, dpi=dpi, size=size))
            placements.append(
                (image, _pt(x_mm), _pt(y_mm), _pt(size.width_mm), _pt(size.height_mm))
            )
            count += 1
            if len(placements) == per_page:
                flush()
        if placements:
            flush()
    if not count:
        raise ValueError("no labels to render")
    return writer.finish()
