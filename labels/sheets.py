"""The inspection record sheet (查验记录单) as an A4 PDF, and the escort's signature image.

Pages are laid out once (``compose_record_sheet``: text runs, rules and the signature's box, in
dots at ``DPI``) and then painted, so the PDF and the page images tests look at cannot disagree.

Why pages are raster and not a PDF with fonts: the only PDF code in the project is render.py's
image writer, and embedding a CJK font subset by hand is far more code than it is worth; reportlab
would do it properly but is not a dependency. Text and rules are painted as 1-bit at 200 dpi, which
laser printers reproduce exactly (0.13 mm dots) and Flate packs to 30-50 kB a page, and the
signature goes on top as its own 8-bit grayscale image, because thresholding a pen-pad signature
breaks its thin anti-aliased strokes.
"""

import functools
import io
import math
import re
import struct
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime

from PIL import Image, ImageDraw

# _PdfWriter is private to render.py; reused rather than copied (a labels/pdf.py would suit both).
from labels.render import MM_PER_INCH, PT_PER_INCH, _PdfWriter, load_font

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

TITLE = "查验记录单 Inspection record sheet"
EMPTY = "—"
ELLIPSIS = "…"
PASS_MARK, FAIL_MARK = "✔", "✘"  # a matched heavy pair in WenQuanYi Micro Hei (it lacks ✗)

MATERIALS = {
    "wood": "木质 Wood",
    "plastic": "塑料 Plastic",
    "metal": "金属 Metal",
    "paper": "纸质 Paper",
    "composite": "复合 Composite",
    "none": "无托盘 None",  # goods on the floor or in cartons only
}
DISPOSITIONS = {
    "pass": "放行 Pass",
    "fumigate": "熏蒸 Fumigate",
    "destroy": "销毁 Destroy",
    "return": "退运 Return",
}
RESULTS = {
    "passed": "通过 Passed",
    "pending": "待定 Pending",
    "failed": "未通过 Failed",
    "superseded": "已被取代 Superseded",  # a later inspection of the same manifest counts
}
CHECK_RESULTS = {"pass": f"{PASS_MARK} 合格 Pass", "fail": f"{FAIL_MARK} 不合格 Fail"}
CHECK_ASPECTS = (
    ("nature", "品名归类\nNature"),
    ("origin", "原产地\nOrigin"),
    ("condition", "状况\nCondition"),
    ("quantity", "数量\nQuantity"),
    ("value", "价值\nValue"),
)

# Signature pad PNGs: canvas.toDataURL() at a few hundred pixels a side is 5-60 kB.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_SIGNATURE_BYTES = 512_000
MAX_SIGNATURE_PIXELS = 4_000_000
INK_LEVEL = 160  # gray below this is ink; anti-aliased edges and paper-like backgrounds are not
MIN_INK_PIXELS = 20  # a tap on the pad is not a signature
SIGNATURE_MARGIN = 8  # pixels of white kept around the ink


# --- signature --------------------------------------------------------------------------------


class SignatureError(ValueError):
    """The signature image is unusable; ``code`` says why (for the API's error list)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code  # too-large, not-png, too-many-pixels, corrupt, blank


def _flatten(image: Image.Image) -> Image.Image:
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
            gray = _flatten(image)
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


# --- layout -----------------------------------------------------------------------------------


def _dots(mm: float) -> int:
    return round(mm * DPI / MM_PER_INCH)


def _px(pt: float) -> int:
    return round(pt * DPI / PT_PER_INCH)


PAGE_W, PAGE_H = _dots(PAGE_MM[0]), _dots(PAGE_MM[1])
LEFT, RIGHT = _dots(MARGIN_X_MM), PAGE_W - _dots(MARGIN_X_MM)
TOP = _dots(MARGIN_TOP_MM)
BOTTOM = PAGE_H - _dots(MARGIN_BOTTOM_MM) - _dots(FOOTER_MM)  # body stops above the footer


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


@functools.lru_cache(maxsize=8192)
def _width(text: str, px: int) -> int:
    return math.ceil(load_font(px).getlength(text))


@functools.lru_cache(maxsize=16)
def _line_height(px: int) -> int:
    ascent, descent = load_font(px).getmetrics()
    return ascent + descent


# One token per CJK character (Chinese breaks between any two), Latin words, runs of spaces.
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_TOKENS = re.compile(rf"[{_CJK}]|[^\s{_CJK}]+|\s+")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # all but "\n": fonts draw them as boxes


def _wrap(paragraph: str, px: int, width: int) -> list[str]:
    """Break one paragraph into lines no wider than ``width`` dots."""
    lines: list[str] = []
    line = ""
    for token in _TOKENS.findall(paragraph):
        if token.isspace():
            line += " " if line else ""
            continue
        if _width(line + token, px) <= width:
            line += token
            continue
        if line.strip():
            lines.append(line.rstrip())
        line = ""
        for char in token:  # a word wider than the cell breaks anywhere
            if line and _width(line + char, px) > width:
                lines.append(line)
                line = ""
            line += char
    return lines + [line.rstrip()]


def _cell_lines(text: str, px: int, width: int) -> list[tuple[str, bool]]:
    """A cell's (line, bold) pairs: newlines kept, at most ``MAX_CELL_LINES``."""
    lines = [
        # Failures print bold, every line of them: they are what the reader must not miss.
        (line, paragraph.startswith(FAIL_MARK))
        for paragraph in _CONTROL.sub(" ", text).split("\n")
        for line in _wrap(paragraph, px, width)
    ]
    if len(lines) > MAX_CELL_LINES:
        last, bold = lines[MAX_CELL_LINES - 1]
        lines = lines[: MAX_CELL_LINES - 1] + [(_fit(last + ELLIPSIS, px, width), bold)]
    return lines


def _fit(text: str, px: int, width: int) -> str:
    """The text, or its longest prefix plus an ellipsis that fits ``width`` dots."""
    if _width(text, px) <= width:
        return text
    while text and _width(text + ELLIPSIS, px) > width:
        text = text[:-1]
    return text.rstrip() + ELLIPSIS


def _note(value) -> str:
    """Free text from the record, stripped; empty when missing."""
    return "" if value is None else _CONTROL.sub(" ", str(value)).strip()


def _text(value) -> str:
    """A record value as printed: dates as ``YYYY-MM-DD HH:MM``, missing as a dash."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value) if re.match(r"\d{4}-\d\d-\d\dT", value) else value
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return _CONTROL.sub(" ", str(value))


def _label(value, names: dict[str, str]) -> str:
    """A code shown bilingually when known ("fumigate" -> "熏蒸 Fumigate"), as given if not."""
    return names.get(value, _text(value)) if isinstance(value, str) else _text(value)


class _Flow:
    """Places blocks top to bottom, starting a new page when the next one does not fit."""

    def __init__(self, record: dict) -> None:
        self.record = record
        self.pages: list[SheetPage] = []
        self.y = 0
        self.new_page()

    @property
    def page(self) -> SheetPage:
        return self.pages[-1]

    def new_page(self) -> None:
        self.pages.append(SheetPage(number=len(self.pages) + 1))
        self.y = TOP
        if len(self.pages) > 1:  # continuation pages say which sheet they belong to
            px = _px(BODY_PT)
            number = f"查验编号 Inspection no. {_text(self.record.get('inspection_no'))}"
            room = RIGHT - LEFT - _width(number, px) - _dots(5)
            title = _fit(f"{_note(self.record.get('title')) or TITLE} (续 continued)", px, room)
            self.text(title, LEFT, self.y, px)
            self.text(number, RIGHT - _width(number, px), self.y, px)
            self.y += _line_height(px) + _dots(1)
            self.rule(LEFT, self.y, RIGHT, self.y + RULE - 1)
            self.y += _dots(4)

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

    @staticmethod
    def heading_height() -> int:
        return _line_height(_px(HEADING_PT)) + _dots(1.5)

    def place_heading(self, text: str) -> None:
        self.text(text, LEFT, self.y, _px(HEADING_PT), bold=True)
        self.y += self.heading_height()


def _columns(widths_mm: list[float]) -> list[int]:
    """Column x positions in dots spanning LEFT..RIGHT; the last column takes the rounding."""
    xs = [LEFT]
    for width in widths_mm[:-1]:
        xs.append(xs[-1] + _dots(width))
    return xs + [RIGHT]


def _cells(xs: list[int], cells: list[str], px: int) -> tuple[int, list[list[tuple[str, bool]]]]:
    """Wrap a row's cells to their columns; return the row height and the lines."""
    pad = _dots(CELL_PAD_MM)
    wrapped = [_cell_lines(cell, px, xs[i + 1] - xs[i] - 2 * pad) for i, cell in enumerate(cells)]
    height = max(len(lines) for lines in wrapped) * _line_height(px) + 2 * pad
    return height, wrapped


def _place_row(
    flow: _Flow, xs: list[int], wrapped: list[list[tuple[str, bool]]], height: int, px: int
) -> None:
    pad, line_h = _dots(CELL_PAD_MM), _line_height(px)
    for i, lines in enumerate(wrapped):
        flow.frame(xs[i], flow.y, xs[i + 1], flow.y + height)
        for n, (line, bold) in enumerate(lines):
            if line:
                flow.text(line, xs[i] + pad, flow.y + pad + n * line_h, px, bold)
    flow.y += height - RULE + 1  # neighbouring rows share one border


def _table(
    flow: _Flow,
    heading: str,
    widths_mm: list[float],
    headers: list[str],
    rows: list[list[str]],
    empty: str,
) -> None:
    """A bordered table under a heading; rows never split, headers repeat on each new page."""
    px = _px(CELL_PT)
    xs = _columns(widths_mm)
    header_h, header_lines = _cells(xs, headers, px)

    def place_header(title: str) -> None:
        flow.place_heading(title)
        _place_row(flow, xs, header_lines, header_h, px)
        flow.rule(LEFT, flow.y - HEAVY_RULE + 1, RIGHT, flow.y)  # header/body divider

    if not rows:
        rows, xs_body = [[empty]], [LEFT, RIGHT]
    else:
        xs_body = xs
    sized = [_cells(xs_body, row, px) for row in rows]
    # Keep the heading with the header and the first row: no orphaned heading at a page foot.
    flow.ensure(flow.heading_height() + header_h + sized[0][0])
    place_header(heading)
    for height, wrapped in sized:
        if not flow.fits(height):
            flow.new_page()
            place_header(f"{heading} (续 continued)")
        _place_row(flow, xs_body, wrapped, height, px)
    flow.y += _dots(5)


def _info(flow: _Flow, record: dict) -> None:
    """The title and the grid of who, what, where and when."""
    px = _px(TITLE_PT)
    for line, _ in _cell_lines(_note(record.get("title")) or TITLE, px, RIGHT - LEFT):
        flow.text(line, (PAGE_W - _width(line, px)) // 2, flow.y, px, bold=True)
        flow.y += _line_height(px)
    flow.y += _dots(3)
    pairs = [
        ("舱单号 Manifest no.", record.get("manifest_no")),
        ("提运单号 Bill no.", record.get("bill_no")),
        ("查验编号 Inspection no.", record.get("inspection_no")),
        ("查验时间 Inspected at", record.get("inspected_at")),
        ("查验地点 Location", record.get("location")),
        ("查验结论 Result", _label(record.get("result"), RESULTS)),
        ("检疫官员 CIQ officer", record.get("ciq_officer")),
        ("海关关员 Customs officer", record.get("customs_officer")),
    ]
    xs = _columns([38, 52, 38, 52])
    px = _px(BODY_PT)
    for left, right in zip(pairs[::2], pairs[1::2], strict=True):
        cells = [left[0], _text(left[1]), right[0], _text(right[1])]
        height, wrapped = _cells(xs, cells, px)
        _place_row(flow, xs, wrapped, height, px)
    flow.y += _dots(5)


def _mark_cell(pallet: dict) -> str:
    lines = []
    # The mark as transcribed, its stamped lines joined with " / " so rows stay short.
    raw = str(pallet.get("mark_text") or "")
    printed = " / ".join(_note(part) for part in raw.splitlines() if _note(part))
    if printed:
        lines.append(printed)
    mark = pallet.get("mark")
    if mark:
        parts = [mark.get("country"), mark.get("producer"), *(mark.get("treatments") or ())]
        if mark.get("debarked"):
            parts.append("DB")
        lines.append(f"{PASS_MARK} " + " · ".join(_text(part) for part in parts))
    lines += [f"{FAIL_MARK} {_note(problem)}" for problem in pallet.get("mark_problems") or ()]
    return "\n".join(lines) or EMPTY


def _pests_cell(pallet: dict) -> str:
    note = _note(pallet.get("pest_note"))
    if pallet.get("pests_found"):
        return f"{FAIL_MARK} 发现 Found" + (f"\n{note}" if note else "")
    return "未发现 None" + (f"\n{note}" if note else "")


def _task_cell(task: dict | None) -> str:
    if not task:
        return EMPTY
    lines = [_label(task.get("kind"), DISPOSITIONS)]
    if task.get("done_at"):
        by = f" {_note(task['done_by'])}" if task.get("done_by") else ""
        lines.append(f"已完成 Done {_text(task['done_at'])}{by}")
    else:
        lines.append("未完成 Open")
    if _note(task.get("note")):
        lines.append(_note(task.get("note")))
    return "\n".join(lines)


def _check_cell(check) -> str:
    if not check:
        return EMPTY
    text = CHECK_RESULTS.get(check.get("result"), _text(check.get("result")))
    note = _note(check.get("note"))
    return text + (f"\n{note}" if note else "")


def _signatures(flow: _Flow, record: dict) -> None:
    """The escort's signature box (with the pad image) and two boxes officers sign by pen."""
    escort = record.get("escort") or {}
    px, small = _px(BODY_PT), _px(CELL_PT)
    box_h = _dots(30)
    caption_h = 2 * _line_height(small) + _dots(1)
    result = f"查验结论 Result: {_label(record.get('result'), RESULTS)}"
    flow.ensure(flow.heading_height() + _line_height(px) + _dots(1) + box_h + caption_h)
    # The result again, from page 1: the signatures below attest to it.
    flow.place_heading(result)
    boxes = [
        ("押运人签字 Escort signature", LEFT, LEFT + _dots(84)),
        ("检疫官员签字 CIQ officer", LEFT + _dots(88), LEFT + _dots(134)),
        ("海关关员签字 Customs officer", LEFT + _dots(138), RIGHT),
    ]
    label_h = _line_height(px) + _dots(1)
    top = flow.y
    for label, x0, x1 in boxes:
        flow.text(label, x0, top, px)
        flow.frame(x0, top + label_h, x1, top + label_h + box_h)
    inner = _dots(2)
    x0, x1 = boxes[0][1], boxes[0][2]
    box = (x0 + inner, top + label_h + inner, x1 - inner, top + label_h + box_h - inner)
    signature = escort.get("signature")
    if signature is not None:
        if not isinstance(signature, Image.Image):
            raise TypeError("escort signature must be a PIL image (see load_signature) or None")
        image = _flatten(signature)
        scale = min((box[2] - box[0]) / image.width, (box[3] - box[1]) / image.height)
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        left = box[0] + (box[2] - box[0] - size[0]) // 2
        upper = box[1] + (box[3] - box[1] - size[1]) // 2
        flow.page.signature = image.resize(size, Image.Resampling.LANCZOS)
        flow.page.signature_box = (left, upper, left + size[0], upper + size[1])
    else:
        unsigned = "未签字 Not signed"
        flow.text(
            unsigned,
            (box[0] + box[2] - _width(unsigned, small)) // 2,
            (box[1] + box[3] - _line_height(small)) // 2,
            small,
        )
    y = top + label_h + box_h + _dots(1)
    flow.text(f"押运人 Escort: {_text(escort.get('name'))}", x0, y, small)
    flow.text(
        f"签字时间 Signed at: {_text(escort.get('signed_at'))}", x0, y + _line_height(small), small
    )
    flow.y = y + caption_h


def compose_record_sheet(record: dict) -> list[SheetPage]:
    """Lay out the sheet as pages of text, rules and the signature (``render_record_sheet``)."""
    flow = _Flow(record)
    _info(flow, record)

    pallets = record.get("pallets") or []
    _table(
        flow,
        "托盘 Pallets · 木质包装 IPPC / ISPM 15",
        [20, 18, 52, 24, 22, 44],
        [
            "托盘号\nPallet",
            "材质\nMaterial",
            "IPPC 标识\nIPPC mark",
            "有害生物\nPests",
            "处置\nDisposition",
            "处置任务\nTreatment task",
        ],
        [
            [
                _text(pallet.get("pallet_no")),
                _label(pallet.get("material"), MATERIALS),
                _mark_cell(pallet),
                _pests_cell(pallet),
                _label(pallet.get("disposition"), DISPOSITIONS),
                _task_cell(pallet.get("task")),
            ]
            for pallet in pallets
        ],
        "无托盘记录 No pallets recorded",
    )

    checks = record.get("checks") or []
    _table(
        flow,
        "海关查验 Customs checks",
        [10, 40] + [26] * len(CHECK_ASPECTS),
        ["行\nLine", "SKU / 品名 Name"] + [heading for _, heading in CHECK_ASPECTS],
        [
            [
                _text(check.get("line_no")),
                f"{_text(check.get('sku'))}\n{_text(check.get('name'))}",
                *(_check_cell(check.get(aspect)) for aspect, _ in CHECK_ASPECTS),
            ]
            for check in checks
        ],
        "无查验行 No lines checked",
    )
    _signatures(flow, record)

    # Footers last: the page count is only known now.
    px = _px(FOOTER_PT)
    y = PAGE_H - _dots(MARGIN_BOTTOM_MM) - _line_height(px)
    count = len(flow.pages)
    number = f"查验编号 Inspection no. {_text(record.get('inspection_no'))}"
    for page in flow.pages:
        page.rules.append(SheetRule((LEFT, y - _dots(1.5), RIGHT, y - _dots(1.5) + RULE // 2)))
        page.texts.append(SheetText(number, LEFT, y, px))
        folio = f"{page.number}/{count}"
        page.texts.append(SheetText(folio, (PAGE_W - _width(folio, px)) // 2, y, px))
    return flow.pages


# --- painting ---------------------------------------------------------------------------------


def _paint(page: SheetPage) -> Image.Image:
    """The page's text and rules as a 1-bit image (the signature is not on it)."""
    image = Image.new("1", (PAGE_W, PAGE_H), 1)
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


def render_record_sheet_pages(record: dict) -> list[Image.Image]:
    """The record sheet's pages as mode "L" images at ``DPI``, exactly as the PDF shows them."""
    pages = []
    for page in compose_record_sheet(record):
        image = _paint(page).convert("L")
        if page.signature is not None:
            image.paste(page.signature, page.signature_box[:2])
        pages.append(image)
    return pages


class _SheetPdf(_PdfWriter):
    """render.py's PDF writer plus 8-bit grayscale images, for the signature."""

    def gray_image(self, image: Image.Image) -> int:
        data = zlib.compress(image.tobytes(), 6)
        header = (
            b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
            b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>"
        )
        return self._object(header % (image.width, image.height, len(data)), data)


def render_record_sheet(record: dict) -> bytes:
    """Render the inspection record sheet (查验记录单) as an A4 portrait PDF.

    ``record`` (the caller maps database rows to it; missing values print as "—")::

        {
          "title": "查验记录单 Inspection record sheet",     # optional
          "manifest_no": str, "bill_no": str, "inspection_no": str,
          "inspected_at": datetime | ISO str, "location": str,
          "ciq_officer": str, "customs_officer": str,
          "result": "passed" | "pending" | "failed" | "superseded",
          "pallets": [{
              "pallet_no": str,
              "material": "wood" | "plastic" | "metal" | "paper" | "none" | other str,
              "mark_text": str | None,                      # as transcribed, may hold newlines
              "mark": {"country", "producer", "treatments": [str], "debarked": bool} | None,
              "mark_problems": [str],                       # MarkError.problems
              "pests_found": bool, "pest_note": str | None,
              "disposition": "pass" | "fumigate" | "destroy" | "return",
              "task": {"kind": str, "done_at": datetime | str | None,
                       "done_by": str | None, "note": str | None} | None,
          }],
          "checks": [{
              "line_no": int, "sku": str, "name": str,
              # each aspect: {"result": "pass" | "fail", "note": str | None} or None (unchecked)
              "nature": {...}, "origin": {...}, "condition": {...},
              "quantity": {...}, "value": {...},
          }],
          "escort": {"name": str, "signed_at": datetime | str,
                     "signature": PIL image (from load_signature) | None},
        }

    Tables run onto further pages as needed, repeating their headers; every page carries the
    inspection number and "page/pages".
    """
    writer = _SheetPdf()
    page_w_pt, page_h_pt = (mm * PT_PER_INCH / MM_PER_INCH for mm in PAGE_MM)
    # The page image is whole dots, a fraction of a dot off A4: scale each axis on its own.
    x_pt, y_pt = page_w_pt / PAGE_W, page_h_pt / PAGE_H
    for page in compose_record_sheet(record):
        images = [writer.image(_paint(page))]
        placements = [(images[0], 0.0, 0.0, page_w_pt, page_h_pt)]
        if page.signature is not None:
            left, upper, right, lower = page.signature_box
            images.append(writer.gray_image(page.signature))
            placements.append(
                (
                    images[1],
                    left * x_pt,
                    page_h_pt - lower * y_pt,  # PDF's origin is bottom left
                    (right - left) * x_pt,
                    (lower - upper) * y_pt,
                )
            )
        writer.page(page_w_pt, page_h_pt, writer.content(placements), images)
    return writer.finish()
