"""Unit labels: the unit code as Code128 plus SKU, name, line and box, laid out and drawn as PNG
and SVG. Also box labels (``BoxLabel``: the box code, its number, its manifest and how many unit
labels it holds) on the same stock, and a consignment's job barcode (``render_job_*``) for pages
and sheets. PDF output is in labels/pdf.py, ZPL in labels/zpl.py.

One layout (``compose``) places every element in printer dots; each output only paints it.

Why the bars are drawn here rather than by python-barcode's ``ImageWriter``: the writer truncates
fractional pixel positions, so bars come out one dot too wide or narrow and labels misread
(docs/barcodes.md; the ``dots * 25.4 / dpi + 1e-7`` module width is its workaround). We take only
the module string from python-barcode (which does the A/B/C code-set switching, so the 12 digits of
a unit code pack as set C: 123 modules, 143 with quiet zones) and paint each module as a whole
number of dots, so every bar is exact by construction and no float rounding is involved.
"""

import functools
import io
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape, quoteattr

from barcode.codex import Code128
from PIL import Image, ImageDraw, ImageFont

MM_PER_INCH = 25.4

# 0.25 mm is the narrowest module (X dimension) our scanners read reliably; rounded to whole dots:
# 2 dots at 203 dpi, 3 at 300 dpi, 6 at 600 dpi. 1-dot bars at 203 dpi misread (docs/barcodes.md).
MODULE_MM = 0.25
MIN_MODULE_DOTS = 2
QUIET_MODULES = 10  # ISO/IEC 15417 asks for at least 10 X of quiet zone each side.
BAR_MIN_MM = 10.0
BAR_MAX_MM = 12.0
PAD_X_MM = 2.0  # thermal printers drift sideways by ~1 mm; keep text and quiet zones clear
PAD_Y_MM = 1.0
GAP_MM = 0.5  # between the bars and the human-readable code
CODE_TEXT_MM = 2.6
TEXT_MM = 2.4  # 19 dots at 203 dpi: the smallest size that prints Chinese legibly
MIN_DPI, MAX_DPI = 150, 1200
MIN_LABEL_MM, MAX_LABEL_MM = 25.0, 200.0
BOX_TEXT_MM = 4.5  # a box label's number: read from a step away, across the bay
ELLIPSIS = "…"

FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",  # Debian fonts-wqy-microhei: CJK + Latin
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",  # no CJK: Chinese prints as boxes
)
SVG_FONT_FAMILY = "'WenQuanYi Micro Hei', 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Label:
    """What one unit label shows; ``copy_no`` > 0 marks a reprint."""

    code: str
    sku: str
    name: str
    line_no: int
    box_no: str | None = None
    manifest_no: str | None = None
    copy_no: int = 0

    def __post_init__(self) -> None:
        # Printable ASCII keeps the human-readable line equal to the encoded data (no FNC4).
        if not self.code or not all(" " <= ch <= "~" for ch in self.code):
            raise ValueError(f"label code must be printable ASCII: {self.code!r}")
        if self.copy_no < 0:
            raise ValueError(f"copy_no must be >= 0: {self.copy_no}")


@dataclass(frozen=True)
class BoxLabel:
    """What a box label shows: the box code, the box number big, the manifest and the number of
    unit labels (not void) issued to the box. Same stock as the unit labels it is printed with."""

    code: str
    box_no: str
    manifest_no: str | None = None
    labels: int = 0

    def __post_init__(self) -> None:
        if not self.code or not all(" " <= ch <= "~" for ch in self.code):
            raise ValueError(f"label code must be printable ASCII: {self.code!r}")
        if self.labels < 0:
            raise ValueError(f"labels must be >= 0: {self.labels}")


@dataclass(frozen=True)
class LabelSize:
    """Label stock size in millimetres (width x height)."""

    width_mm: float = 50
    height_mm: float = 30

    def __post_init__(self) -> None:
        for value in (self.width_mm, self.height_mm):
            if not MIN_LABEL_MM <= value <= MAX_LABEL_MM:  # also rejects NaN
                raise ValueError(
                    f"label size {self.width_mm:g}x{self.height_mm:g} mm out of range "
                    f"({MIN_LABEL_MM:g}..{MAX_LABEL_MM:g} mm per side)"
                )

    @classmethod
    def parse(cls, text: str) -> "LabelSize":
        """Parse ``"50x30"`` (also ``"50 x 30 mm"``, ``"62.5×30"``); ValueError otherwise."""
        match = re.fullmatch(
            r"\s*([0-9]{1,3}(?:\.[0-9]+)?)\s*[xX×*]\s*([0-9]{1,3}(?:\.[0-9]+)?)\s*(?:mm)?\s*",
            text or "",
        )
        if not match:
            raise ValueError(f"label size must look like 50x30 (mm): {text!r}")
        return cls(float(match[1]), float(match[2]))

    def __str__(self) -> str:
        return f"{self.width_mm:g}x{self.height_mm:g} mm"


# --- fonts, text and bars ---------------------------------------------------------------------


@functools.lru_cache(maxsize=32)
def load_font(px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Return the first available CJK-capable font at ``px`` pixels per em (cached)."""
    for path in FONT_PATHS:
        try:
            # Basic layout: Chinese and Latin need no shaping, and it is faster than Raqm.
            return ImageFont.truetype(path, px, layout_engine=ImageFont.Layout.BASIC)
        except OSError:
            continue
    return ImageFont.load_default(px)


def row_height(px: int) -> int:
    """Dots from the top of a text row at ``px`` to its bottom (ascent + descent)."""
    ascent, descent = load_font(px).getmetrics()
    return ascent + descent


@functools.lru_cache(maxsize=4096)
def text_width(text: str, px: int) -> int:
    """Dots a text takes at ``px``, its bitmap's width (cached)."""
    # Hinted 1-bit glyphs can put ink a dot or two past the advance width and the bounding box
    # ("K" at 19 px lost its arm), so every text image gets that much room at its end.
    font = load_font(px)
    ink = max(font.getlength(text), font.getbbox(text)[2] if text else 0)
    return math.ceil(ink) + max(2, px // 8)


@functools.lru_cache(maxsize=4096)
def _fit(text: str, px: int, max_width: int) -> str:
    """Return text, or its longest prefix + ellipsis that fits in max_width dots."""
    if text_width(text, px) <= max_width:
        return text
    lo, hi = 0, len(text)  # invariant: text[:lo] + ELLIPSIS fits, text[:hi] + ELLIPSIS not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if text_width(text[:mid].rstrip() + ELLIPSIS, px) <= max_width:
            lo = mid
        else:
            hi = mid
    return text[:lo].rstrip() + ELLIPSIS


@functools.lru_cache(maxsize=4096)
def _text_image(text: str, px: int, inverse: bool) -> Image.Image:
    """Text as a 1-bit bitmap, one row high; labels repeat SKUs and names, so this is cached."""
    pad = inverse_pad(px) if inverse else 0
    image = Image.new("1", (text_width(text, px) + 2 * pad, row_height(px)), 0 if inverse else 1)
    draw = ImageDraw.Draw(image)
    draw.fontmode = "1"  # hinted 1-bit glyphs, not thresholded anti-aliasing: crisper on thermal
    draw.text((pad, 0), text, font=load_font(px), fill=1 if inverse else 0)
    return image


def inverse_pad(px: int) -> int:
    """Dots of black around white-on-black text at ``px``."""
    return max(2, px // 5)


@functools.lru_cache(maxsize=4096)
def _modules(code: str) -> str:
    """Code128 module string ("1" = bar) without quiet zones, from python-barcode."""
    return Code128(code).build()[0]


def _bar_runs(modules: str) -> Iterator[tuple[int, int]]:
    """(first module, module count) of each bar."""
    for match in re.finditer("1+", modules):
        yield match.start(), match.end() - match.start()


# --- layout -----------------------------------------------------------------------------------


def _dots(mm: float, dpi: float) -> int:
    return round(mm * dpi / MM_PER_INCH)


def module_dots(dpi: float) -> int:
    """Whole printer dots per Code128 module at dpi (2 at 203 dpi, 3 at 300 dpi)."""
    return max(MIN_MODULE_DOTS, round(MODULE_MM * dpi / MM_PER_INCH))


@dataclass(frozen=True)
class _Layout:
    width: int
    height: int
    module: int
    pad_x: int
    bar_top: int
    bar_height: int
    code_px: int
    code_top: int
    text_px: int
    row_tops: tuple[int, int, int]  # SKU, name, line/box


@functools.lru_cache(maxsize=64)
def _layout(dpi: float, size: LabelSize) -> _Layout:
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be {MIN_DPI}..{MAX_DPI}: {dpi}")
    width, height = _dots(size.width_mm, dpi), _dots(size.height_mm, dpi)
    code_px, text_px = _dots(CODE_TEXT_MM, dpi), _dots(TEXT_MM, dpi)
    code_h, row_h = row_height(code_px), row_height(text_px)
    pad_y, gap = _dots(PAD_Y_MM, dpi), _dots(GAP_MM, dpi)
    fixed = 2 * pad_y + gap + code_h + 3 * row_h
    bar_height = min(_dots(BAR_MAX_MM, dpi), height - fixed)
    if bar_height < _dots(BAR_MIN_MM, dpi):
        need = (fixed + _dots(BAR_MIN_MM, dpi)) * MM_PER_INCH / dpi
        raise ValueError(f"label {size} too short: needs {need:.1f} mm of height at {dpi} dpi")
    bar_top = pad_y + (height - fixed - bar_height) // 2  # centre the block vertically
    code_top = bar_top + bar_height + gap
    first_row = code_top + code_h
    return _Layout(
        width=width,
        height=height,
        module=module_dots(dpi),
        pad_x=_dots(PAD_X_MM, dpi),
        bar_top=bar_top,
        bar_height=bar_height,
        code_px=code_px,
        code_top=code_top,
        text_px=text_px,
        row_tops=(first_row, first_row + row_h, first_row + 2 * row_h),
    )


@dataclass(frozen=True)
class _Text:
    text: str
    x: int
    y: int  # top of the row; the baseline is y + font ascent
    px: int
    inverse: bool = False  # white on black (the reprint mark)


@dataclass(frozen=True)
class _Placed:
    """A label laid out in dots: bars from ``bar_x`` and the text fields."""

    layout: _Layout
    modules: str
    bar_x: int
    texts: tuple[_Text, ...]


def _clean(text: str) -> str:
    return _CONTROL_CHARS.sub(" ", text).strip()


def copy_mark(copy_no: int) -> str:
    """The reprint mark printed on copy ``copy_no`` (empty for the original)."""
    return f"COPY {copy_no} / 副本" if copy_no > 0 else ""


def _bars_and_code(code: str, layout: _Layout, size: LabelSize, dpi: float) -> tuple[str, int]:
    """The code's modules and where its bars start, refusing a code that does not fit."""
    modules = _modules(code)
    usable = layout.width - 2 * layout.pad_x
    symbol = len(modules) * layout.module
    if symbol + 2 * QUIET_MODULES * layout.module > usable:
        need = (symbol + 2 * (QUIET_MODULES * layout.module + layout.pad_x)) * MM_PER_INCH / dpi
        raise ValueError(
            f"code {code!r} needs a label {need:.1f} mm wide at {dpi} dpi "
            f"(bars, quiet zones and margins); {size} is too narrow"
        )
    if text_width(code, layout.code_px) > usable:
        raise ValueError(f"code text {code!r} does not fit a {size} label")
    return modules, (layout.width - symbol) // 2


def _code_text(code: str, layout: _Layout) -> _Text:
    """The human-readable code, centred under the bars."""
    x = (layout.width - text_width(code, layout.code_px)) // 2
    return _Text(code, x, layout.code_top, layout.code_px)


def compose(label: Label | BoxLabel, dpi: float, size: LabelSize) -> _Placed:
    """Lay a label (a unit's or a box's) out in dots at ``dpi``; every output paints this."""
    if isinstance(label, BoxLabel):
        return _compose_box(label, dpi, size)
    layout = _layout(dpi, size)
    modules, bar_x = _bars_and_code(label.code, layout, size, dpi)
    usable = layout.width - 2 * layout.pad_x
    px, left = layout.text_px, layout.pad_x
    texts = [_code_text(label.code, layout)]

    def row(top: int, text: str, right: str = "", inverse: bool = False) -> None:
        room, gap = usable, _dots(1.5, dpi)
        if right:
            # The right-hand field gets at least half the row, more when the left one is short.
            right = _fit(right, px, max(usable // 2, usable - gap - text_width(text, px)))
            right_width = text_width(right, px) + (2 * inverse_pad(px) if inverse else 0)
            texts.append(_Text(right, layout.width - layout.pad_x - right_width, top, px, inverse))
            room -= right_width + gap
        if text:
            texts.append(_Text(_fit(text, px, room), left, top, px))

    sku_top, name_top, line_top = layout.row_tops
    manifest = _clean(label.manifest_no or "")
    row(sku_top, f"SKU {_clean(label.sku)}", f"MF {manifest}" if manifest else "")
    row(name_top, _clean(label.name))
    box = _clean(label.box_no or "")
    line = f"Line {label.line_no}" + (f" · Box {box}" if box else "")
    row(line_top, line, copy_mark(label.copy_no), inverse=True)
    return _Placed(layout, modules, bar_x, tuple(texts))


def box_title(box_no: str) -> str:
    """The big line of a box label."""
    return f"箱 Box {_clean(box_no)}"


def _compose_box(label: BoxLabel, dpi: float, size: LabelSize) -> _Placed:
    """A box label: the same bars and code as a unit label, then the box number big where a
    unit label has SKU and name, and the manifest and label count on the last row."""
    layout = _layout(dpi, size)
    modules, bar_x = _bars_and_code(label.code, layout, size, dpi)
    usable = layout.width - 2 * layout.pad_x
    px, row_h = layout.text_px, row_height(layout.text_px)
    texts = [_code_text(label.code, layout)]
    # The big line takes the room of two text rows: the largest size up to BOX_TEXT_MM that
    # fits them, smaller still (down to the text size) when a long box number needs it.
    title = box_title(label.box_no)
    big = _dots(BOX_TEXT_MM, dpi)
    while big > px and (row_height(big) > 2 * row_h or text_width(title, big) > usable):
        big -= 1
    title = _fit(title, big, usable)
    top = layout.row_tops[0] + (2 * row_h - row_height(big)) // 2
    texts.append(_Text(title, (layout.width - text_width(title, big)) // 2, top, big))
    count = f"{label.labels} 张标签 labels"
    count_width = text_width(count, px)
    last = layout.row_tops[2]
    texts.append(_Text(count, layout.width - layout.pad_x - count_width, last, px))
    manifest = _clean(label.manifest_no or "")
    if manifest:
        room = usable - count_width - _dots(1.5, dpi)
        texts.append(_Text(_fit(f"MF {manifest}", px, room), layout.pad_x, last, px))
    return _Placed(layout, modules, bar_x, tuple(texts))


# --- raster -----------------------------------------------------------------------------------


def render_image(
    label: Label | BoxLabel, *, dpi: int = 203, size: LabelSize = LabelSize()
) -> Image.Image:
    """Render one label (a unit's or a box's) as a 1-bit image of exactly ``size`` at ``dpi``.

    ValueError when the bars with their quiet zones, or the text, do not fit the label.
    """
    return _paint(compose(label, dpi, size))


def _paint(placed: _Placed) -> Image.Image:
    layout = placed.layout
    image = Image.new("1", (layout.width, layout.height), 1)
    draw = ImageDraw.Draw(image)
    bottom = layout.bar_top + layout.bar_height - 1
    for start, count in _bar_runs(placed.modules):
        x = placed.bar_x + start * layout.module
        draw.rectangle((x, layout.bar_top, x + count * layout.module - 1, bottom), fill=0)
    for text in placed.texts:
        image.paste(_text_image(text.text, text.px, text.inverse), (text.x, text.y))
    return image


def render_png(
    label: Label | BoxLabel, *, dpi: int = 203, size: LabelSize = LabelSize()
) -> bytes:
    """Render one label (a unit's or a box's) as a 1-bit PNG carrying its dpi."""
    out = io.BytesIO()
    render_image(label, dpi=dpi, size=size).save(out, "PNG", dpi=(dpi, dpi))
    return out.getvalue()


# --- SVG --------------------------------------------------------------------------------------

# 203.2 dpi is 8 dots per mm: 2-dot modules are exactly 0.25 mm and the viewBox stays integral.
_SVG_DPI = 8 * MM_PER_INCH


def render_svg(label: Label | BoxLabel, *, size: LabelSize = LabelSize()) -> bytes:
    """Render one label (a unit's or a box's) as vector SVG (bars as rects, text as text) sized
    in mm."""
    return _svg(compose(label, _SVG_DPI, size), label.code, size.width_mm, size.height_mm)


def _svg(placed: _Placed, title: str, width_mm: float, height_mm: float) -> bytes:
    layout = placed.layout
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width_mm:g}mm" '
        f'height="{height_mm:g}mm" viewBox="0 0 {layout.width} {layout.height}">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{layout.width}" height="{layout.height}" fill="#fff"/>',
        '<g fill="#000" shape-rendering="crispEdges">',
    ]
    for start, count in _bar_runs(placed.modules):
        out.append(
            f'<rect x="{placed.bar_x + start * layout.module}" y="{layout.bar_top}" '
            f'width="{count * layout.module}" height="{layout.bar_height}"/>'
        )
    out.append("</g>")
    out.append(f'<g font-family={quoteattr(SVG_FONT_FAMILY)} fill="#000">')
    for text in placed.texts:
        baseline = text.y + load_font(text.px).getmetrics()[0]
        x, fill = text.x, ""
        if text.inverse:
            pad = inverse_pad(text.px)
            width = text_width(text.text, text.px) + 2 * pad
            out.append(
                f'<rect x="{x}" y="{text.y}" width="{width}" height="{row_height(text.px)}"/>'
            )
            x, fill = x + pad, ' fill="#fff"'
        out.append(
            f'<text x="{x}" y="{baseline}" font-size="{text.px}"{fill}>{escape(text.text)}</text>'
        )
    out.append("</g>")
    out.append("</svg>")
    return ("\n".join(out) + "\n").encode()


# --- job barcode ------------------------------------------------------------------------------

# A consignment's job barcode is printed on pages and A4 sheets, read off paper or a screen by a
# handheld scanner: wider modules than a label's (0.375 mm: 3 dots at 8 dots/mm and at 200 dpi).
JOB_MODULE_MM = 0.375
JOB_BAR_MM = 12.0
JOB_CODE_MM = 3.0
JOB_TEXT_MM = 2.6
JOB_PAD_MM = 1.0


def job_caption(manifest_no: str) -> str:
    """The line under a job barcode's code: what the job is."""
    return f"作业 Job {_clean(manifest_no)}".rstrip()


@functools.lru_cache(maxsize=64)
def _compose_job(code: str, manifest_no: str, dpi: float) -> _Placed:
    if not MIN_DPI <= dpi <= MAX_DPI:
        raise ValueError(f"dpi must be {MIN_DPI}..{MAX_DPI}: {dpi}")
    if not code or not all(" " <= ch <= "~" for ch in code):
        raise ValueError(f"job code must be printable ASCII: {code!r}")
    module = max(MIN_MODULE_DOTS, round(JOB_MODULE_MM * dpi / MM_PER_INCH))
    modules = _modules(code)
    pad = _dots(JOB_PAD_MM, dpi)
    # The width follows the symbol and its quiet zones alone, so the printed size is the same
    # for every consignment; a long manifest number gets a smaller font, then an ellipsis.
    width = (len(modules) + 2 * QUIET_MODULES) * module + 2 * pad
    code_px, text_px = _dots(JOB_CODE_MM, dpi), _dots(JOB_TEXT_MM, dpi)
    bar_top, bar_height = pad, _dots(JOB_BAR_MM, dpi)
    code_top = bar_top + bar_height + _dots(GAP_MM, dpi)
    caption_top = code_top + row_height(code_px)
    height = caption_top + row_height(text_px) + pad
    layout = _Layout(width=width, height=height, module=module, pad_x=pad, bar_top=bar_top,
                     bar_height=bar_height, code_px=code_px, code_top=code_top, text_px=text_px,
                     row_tops=(caption_top, caption_top, caption_top))
    usable = width - 2 * pad
    if text_width(code, code_px) > usable:
        raise ValueError(f"job code text {code!r} is too long")
    caption = job_caption(manifest_no)
    small = max(_dots(TEXT_MM * 0.75, dpi), 8)
    while text_px > small and text_width(caption, text_px) > usable:
        text_px -= 1
    caption = _fit(caption, text_px, usable)
    texts = (
        _code_text(code, layout),
        _Text(caption, (width - text_width(caption, text_px)) // 2, caption_top, text_px),
    )
    return _Placed(layout, modules, (width - len(modules) * module) // 2, texts)


def job_size_mm(code: str, manifest_no: str) -> tuple[float, float]:
    """(width, height) in mm of a job barcode as ``render_job_svg`` draws it."""
    layout = _compose_job(code, manifest_no, _SVG_DPI).layout
    return layout.width * MM_PER_INCH / _SVG_DPI, layout.height * MM_PER_INCH / _SVG_DPI


def render_job_image(code: str, manifest_no: str, *, dpi: float = 203) -> Image.Image:
    """A consignment's job barcode (Code128 of its job code, the code and "作业 Job <manifest
    no>" under it) as a 1-bit image at ``dpi``: for A4 sheets and PNG."""
    return _paint(_compose_job(code, manifest_no, dpi))


def render_job_png(code: str, manifest_no: str, *, dpi: int = 203) -> bytes:
    """The job barcode as a 1-bit PNG carrying its dpi."""
    out = io.BytesIO()
    render_job_image(code, manifest_no, dpi=dpi).save(out, "PNG", dpi=(dpi, dpi))
    return out.getvalue()


def render_job_svg(code: str, manifest_no: str) -> bytes:
    """The job barcode as vector SVG sized in mm (56 x 21 mm): pages show it as an image and
    print it at that size."""
    width_mm, height_mm = job_size_mm(code, manifest_no)
    title = f"{code} · {job_caption(manifest_no)}"
    return _svg(_compose_job(code, manifest_no, _SVG_DPI), title, round(width_mm, 3),
                round(height_mm, 3))
