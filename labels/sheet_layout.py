"""The layout both A4 sheets share: page, fonts, wrapping, a flow onto pages, tables, the painter.

Used by the inspection record sheet (``labels.sheets``) and the tally reconciliation report
(``labels.report_sheet``), so both print with the same fonts, rules and margins. A sheet is laid
out once as pages of text runs and rules, in dots at ``DPI``, and then painted, so its PDF and the
page images tests look at cannot disagree.

Why pages are raster and not a PDF with fonts: the only PDF code in the project is labels/pdf.py's
image writer (``PdfWriter``), and embedding a CJK font subset by hand is far more code than it is
worth; reportlab would do it properly but is not a dependency. Text and rules are painted as 1-bit
at 200 dpi, which laser printers reproduce exactly (0.13 mm dots) and Flate packs to 30-50 kB a
page.
"""

import functools
import math
import re
from dataclasses import dataclass, field

from PIL import Image, ImageDraw

from labels.pdf import PT_PER_INCH
from labels.render import MM_PER_INCH, load_font

DPI = 200
PAGE_MM = (210.0, 297.0)  # A4 portrait
MARGIN_X_MM = 15.0  # office printers cannot print the outer ~4.2 mm; 15 mm also leaves a binding
MARGIN_TOP_MM = 12.0
MARGIN_BOTTOM_MM = 14.0
FOOTER_MM = 6.0

TITLE_PT = 16.0
HEADING_PT = 10.5
BODY_PT = 8.0
CELL_PT = 7.5  # 21 dots: Chinese stays legible on a laser print at this size
FOOTER_PT = 7.5  # below 21 dots the hinted Latin of WenQuanYi turns spindly
CELL_PAD_MM = 1.2
MAX_CELL_LINES = 12  # a runaway note must not make a row taller than a page
RULE = 2  # dots: 0.25 mm table borders
HEAVY_RULE = 4  # under table headers and the title

EMPTY = "—"
ELLIPSIS = "…"
PASS_MARK, FAIL_MARK = "✔", "✘"  # a matched heavy pair in WenQuanYi Micro Hei (it lacks ✗)


def dots(mm: float) -> int:
    return round(mm * DPI / MM_PER_INCH)


def px(pt: float) -> int:
    return round(pt * DPI / PT_PER_INCH)


PAGE_W, PAGE_H = dots(PAGE_MM[0]), dots(PAGE_MM[1])
PAGE_W_PT, PAGE_H_PT = (mm * PT_PER_INCH / MM_PER_INCH for mm in PAGE_MM)
LEFT, RIGHT = dots(MARGIN_X_MM), PAGE_W - dots(MARGIN_X_MM)
TOP = dots(MARGIN_TOP_MM)
BOTTOM = PAGE_H - dots(MARGIN_BOTTOM_MM) - dots(FOOTER_MM)  # body stops above the footer


@dataclass(frozen=True)
class SheetText:
    """One line of text; ``y`` is the top of its line box."""

    text: str
    x: int
    y: int
    px: int
    bold: bool = False


@dataclass(frozen=True)
class SheetRule:
    """A filled rectangle (x0, y0, x1, y1) in dots, inclusive: borders and rules."""

    box: tuple[int, int, int, int]


@dataclass
class SheetPage:
    """One laid-out page in dots at ``DPI``; ``signature_box`` is where the image goes."""

    number: int
    texts: list[SheetText] = field(default_factory=list)
    rules: list[SheetRule] = field(default_factory=list)
    signature: Image.Image | None = None  # already scaled to its box, mode "L"
    signature_box: tuple[int, int, int, int] | None = None
    # 1-bit images painted with the text (a job barcode): (image, (left, top)) in dots.
    images: list[tuple[Image.Image, tuple[int, int]]] = field(default_factory=list)


# --- text -------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=8192)
def width(text: str, px: int) -> int:
    return math.ceil(load_font(px).getlength(text))


@functools.lru_cache(maxsize=16)
def line_height(px: int) -> int:
    ascent, descent = load_font(px).getmetrics()
    return ascent + descent


# One token per CJK character (Chinese breaks between any two), Latin words, runs of spaces.
CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
TOKENS = re.compile(rf"[{CJK}]|[^\s{CJK}]+|\s+")
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # all but "\n": fonts draw them as boxes


def wrap(paragraph: str, px: int, max_width: int) -> list[str]:
    """Break one paragraph into lines no wider than ``max_width`` dots."""
    lines: list[str] = []
    line = ""
    for token in TOKENS.findall(paragraph):
        if token.isspace():
            line += " " if line else ""
            continue
        if width(line + token, px) <= max_width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        for char in token:  # a word wider than the cell breaks anywhere
            if line and width(line + char, px) > max_width:
                lines.append(line)
                line = ""
            line += char
    return lines + [line.rstrip()]


def cell_lines(text: str, px: int, max_width: int) -> list[tuple[str, bool]]:
    """A cell's (line, bold) pairs: newlines kept, at most ``MAX_CELL_LINES``."""
    lines = [
        # Failures print bold, every line of them: they are what the reader must not miss.
        (line, paragraph.startswith(FAIL_MARK))
        for paragraph in CONTROL.sub(" ", text).split("\n")
        for line in wrap(paragraph, px, max_width)
    ]
    if len(lines) > MAX_CELL_LINES:
        last, bold = lines[MAX_CELL_LINES - 1]
        lines = lines[: MAX_CELL_LINES - 1] + [(fit(last + ELLIPSIS, px, max_width), bold)]
    return lines


def fit(text: str, px: int, max_width: int) -> str:
    """The text, or its longest prefix plus an ellipsis that fits ``max_width`` dots."""
    if width(text, px) <= max_width:
        return text
    while text and width(text + ELLIPSIS, px) > max_width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def note(value) -> str:
    """Free text from the data, stripped; empty when missing."""
    return "" if value is None else CONTROL.sub(" ", str(value)).strip()


# --- flow -------------------------------------------------------------------------------------


class Flow:
    """Places blocks top to bottom, starting a new page when the next one does not fit.

    Each sheet subclasses it to say what heads its continuation pages (``continuation_header``).
    """

    def __init__(self, record: dict) -> None:
        self.record = record
        self.pages: list[SheetPage] = []
        self.y = 0
        self.new_page()

    @property
    def page(self) -> SheetPage:
        return self.pages[-1]

    def continuation_header(self) -> tuple[str, str]:
        """(sheet title, its number) for the head of every page after the first."""
        raise NotImplementedError

    def new_page(self) -> None:
        self.pages.append(SheetPage(number=len(self.pages) + 1))
        self.y = TOP
        if len(self.pages) > 1:  # continuation pages say which sheet they belong to
            title, number = self.continuation_header()
            size = px(BODY_PT)
            room = RIGHT - LEFT - width(number, size) - dots(5)
            self.text(fit(f"{title} (续 continued)", size, room), LEFT, self.y, size)
            self.text(number, RIGHT - width(number, size), self.y, size)
            self.y += line_height(size) + dots(1)
            self.rule(LEFT, self.y, RIGHT, self.y + RULE - 1)
            self.y += dots(4)

    def fits(self, height: int) -> bool:
        return self.y + height <= BOTTOM

    def ensure(self, height: int) -> None:
        if not self.fits(height):
            self.new_page()

    def text(self, text: str, x: int, y: int, px: int, bold: bool = False) -> None:
        self.page.texts.append(SheetText(text, x, y, px, bold))

    def rule(self, x0: int, y0: int, x1: int, y1: int) -> None:
        self.page.rules.append(SheetRule((x0, y0, x1, y1)))

    def frame(self, x0: int, y0: int, x1: int, y1: int, width: int = RULE) -> None:
        """A rectangle outline whose border lies inside (x0, y0)-(x1, y1)."""
        self.rule(x0, y0, x1, y0 + width - 1)
        self.rule(x0, y1 - width + 1, x1, y1)
        self.rule(x0, y0, x0 + width - 1, y1)
        self.rule(x1 - width + 1, y0, x1, y1)

    def place_title(self, title: str, right: int = RIGHT) -> None:
        """The sheet's title, bold and centred between LEFT and ``right``, wrapped when long."""
        size = px(TITLE_PT)
        for line, _ in cell_lines(title, size, right - LEFT):
            self.text(line, (LEFT + right - width(line, size)) // 2, self.y, size, bold=True)
            self.y += line_height(size)
        self.y += dots(3)

    def place_image(self, image: Image.Image, x: int, y: int) -> None:
        """A 1-bit image (a barcode) on the page at (x, y), painted with the text."""
        self.page.images.append((image, (x, y)))

    @staticmethod
    def heading_height() -> int:
        return line_height(px(HEADING_PT)) + dots(1.5)

    def place_heading(self, text: str) -> None:
        self.text(text, LEFT, self.y, px(HEADING_PT), bold=True)
        self.y += self.heading_height()

    def place_footers(self, number: str, right: str = "") -> None:
        """Every page's footer: ``number``, "page/pages" and ``right``.

        Call it last: the page count is only known once every block is placed.
        """
        size = px(FOOTER_PT)
        y = PAGE_H - dots(MARGIN_BOTTOM_MM) - line_height(size)
        count = len(self.pages)
        for page in self.pages:
            page.rules.append(SheetRule((LEFT, y - dots(1.5), RIGHT, y - dots(1.5) + RULE // 2)))
            page.texts.append(SheetText(number, LEFT, y, size))
            folio = f"{page.number}/{count}"
            page.texts.append(SheetText(folio, (PAGE_W - width(folio, size)) // 2, y, size))
            if right:
                page.texts.append(SheetText(right, RIGHT - width(right, size), y, size))


# --- tables -----------------------------------------------------------------------------------


def columns(widths_mm: list[float]) -> list[int]:
    """Column x positions in dots spanning LEFT..RIGHT; the last column takes the rounding."""
    xs = [LEFT]
    for column_mm in widths_mm[:-1]:
        xs.append(xs[-1] + dots(column_mm))
    return xs + [RIGHT]


def cells(xs: list[int], texts: list[str], px: int) -> tuple[int, list[list[tuple[str, bool]]]]:
    """Wrap a row's cells to their columns; return the row height and the lines."""
    pad = dots(CELL_PAD_MM)
    wrapped = [cell_lines(text, px, xs[i + 1] - xs[i] - 2 * pad) for i, text in enumerate(texts)]
    height = max(len(lines) for lines in wrapped) * line_height(px) + 2 * pad
    return height, wrapped


def place_row(
    flow: Flow, xs: list[int], wrapped: list[list[tuple[str, bool]]], height: int, px: int
) -> None:
    pad, line_h = dots(CELL_PAD_MM), line_height(px)
    for i, lines in enumerate(wrapped):
        flow.frame(xs[i], flow.y, xs[i + 1], flow.y + height)
        for n, (line, bold) in enumerate(lines):
            if line:
                flow.text(line, xs[i] + pad, flow.y + pad + n * line_h, px, bold)
    flow.y += height - RULE + 1  # neighbouring rows share one border


def grid(flow: Flow, widths_mm: list[float], pairs: list[tuple[str, str]]) -> None:
    """(label, value) pairs as a bordered grid, two pairs to a row."""
    xs = columns(widths_mm)
    size = px(BODY_PT)
    for left, right in zip(pairs[::2], pairs[1::2], strict=True):
        height, wrapped = cells(xs, [*left, *right], size)
        place_row(flow, xs, wrapped, height, size)


def table(
    flow: Flow,
    heading: str,
    widths_mm: list[float],
    headers: list[str],
    rows: list[list[str]],
    empty: str,
) -> None:
    """A bordered table under a heading; rows never split, headers repeat on each new page."""
    size = px(CELL_PT)
    xs = columns(widths_mm)
    header_h, header_lines = cells(xs, headers, size)

    def place_header(title: str) -> None:
        flow.place_heading(title)
        place_row(flow, xs, header_lines, header_h, size)
        flow.rule(LEFT, flow.y - HEAVY_RULE + 1, RIGHT, flow.y)  # header/body divider

    if not rows:
        rows, xs_body = [[empty]], [LEFT, RIGHT]
    else:
        xs_body = xs
    sized = [cells(xs_body, row, size) for row in rows]
    # Keep the heading with the header and the first row: no orphaned heading at a page foot.
    flow.ensure(flow.heading_height() + header_h + sized[0][0])
    place_header(heading)
    for height, wrapped in sized:
        if not flow.fits(height):
            flow.new_page()
            place_header(f"{heading} (续 continued)")
        place_row(flow, xs_body, wrapped, height, size)
    flow.y += dots(5)


# --- painting ---------------------------------------------------------------------------------


def paint(page: SheetPage) -> Image.Image:
    """The page's text, rules and images as a 1-bit image (a signature is not on it)."""
    image = Image.new("1", (PAGE_W, PAGE_H), 1)
    for picture, corner in page.images:
        image.paste(picture.convert("1"), corner)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # hinted 1-bit glyphs, crisper than thresholded anti-aliasing
    for rule in page.rules:
        draw.rectangle(rule.box, fill=0)
    for text in page.texts:
        font = load_font(text.px)
        draw.text((text.x, text.y), text.text, font=font, fill=0)
        if text.bold:
            # WenQuanYi Micro Hei has no bold face: overprint one dot to the right (~1/20 em);
            # a 1-dot stroke thickens both sides and clogs small Chinese glyphs.
            for shift in range(1, max(2, text.px // 20)):
                draw.text((text.x + shift, text.y), text.text, font=font, fill=0)
    return image
