"""ZPL II output of unit and box labels for Zebra-compatible printers (``render_zpl``): the same
layout as the other outputs, with the bars as ^BC whose code sets match python-barcode's symbol for
symbol (``zpl_barcode_data``).
"""

from collections.abc import Iterable

from barcode.codex import Code128

from labels.render import BoxLabel, Label, LabelSize, compose, inverse_pad, row_height, text_width

# ZPL's built-in font 0 has no Chinese; Zebra's optional Simplified Chinese font is addressed by
# name. Printers with another CJK font need this constant changed.
ZPL_CJK_FONT = "E:ANMDS.TTF"
ZPL_DPIS = (203, 300)

# Code128 symbol values to ZPL invocation codes (ZPL II guide, ^BC, "Code 128 Invocation
# Characters"): start codes, and the code-set switches as they read in the current set.
_ZPL_START = {103: ("A", ">9"), 104: ("B", ">:"), 105: ("C", ">;")}
_ZPL_SWITCH = {
    ("A", 99): ("C", ">5"),
    ("B", 99): ("C", ">5"),
    ("A", 100): ("B", ">6"),
    ("C", 100): ("B", ">6"),
    ("B", 101): ("A", ">7"),
    ("C", 101): ("A", ">7"),
}


def zpl_barcode_data(code: str) -> str:
    """^FD data for ^BC in mode N that reproduces python-barcode's code sets symbol for symbol."""
    if any(ch in "^~" for ch in code):
        raise ValueError(f"code {code!r}: ^ and ~ are ZPL command prefixes")
    symbols = Code128(code).encoded  # symbol values before the check character
    charset, out = _ZPL_START[symbols[0]]
    for value in symbols[1:]:
        if (charset, value) in _ZPL_SWITCH:
            charset, invocation = _ZPL_SWITCH[(charset, value)]
            out += invocation
        elif charset == "C":
            out += f"{value:02d}"
        else:  # printable ASCII only (Label checks), identical in sets A and B
            char = chr(value + 32)
            out += "><" if char == ">" else char
    return out


def _zpl_text(text: str) -> str:
    # ^FH lets "_XX" stand for a byte: escape what ZPL would read as commands, and "_" itself.
    return "".join(f"_{ord(ch):02X}" if ch in "^~_\\" else ch for ch in text)


def _zpl_font(text: str, px: int) -> str:
    if all(ord(ch) < 256 for ch in text):  # font 0 covers Latin-1 under ^CI28
        return f"^A0N,{px},{px}"
    return f"^A@N,{px},{px},{ZPL_CJK_FONT}"


def render_zpl(
    labels: Iterable[Label | BoxLabel], *, dpi: int = 203, size: LabelSize = LabelSize()
) -> str:
    """Render labels as ZPL II, one ^XA ... ^XZ format per label, for a 203 or 300 dpi printer."""
    if dpi not in ZPL_DPIS:
        raise ValueError(f"ZPL dpi must be 203 or 300: {dpi}")
    formats = []
    for label in labels:
        placed = compose(label, dpi, size)
        layout = placed.layout
        fields = [
            "^XA",
            "^CI28",  # field data is UTF-8
            f"^PW{layout.width}",
            f"^LL{layout.height}",
            "^LH0,0",
            f"^FO{placed.bar_x},{layout.bar_top}^BY{layout.module}"
            f"^BCN,{layout.bar_height},N,N,N^FD{zpl_barcode_data(label.code)}^FS",
        ]
        for text in placed.texts:
            font = _zpl_font(text.text, text.px)
            if text.inverse:
                pad, height = inverse_pad(text.px), row_height(text.px)
                width = text_width(text.text, text.px) + 2 * pad
                fields.append(f"^FO{text.x},{text.y}^GB{width},{height},{height}^FS")
                fields.append(f"^FO{text.x + pad},{text.y}{font}^FR^FH^FD{_zpl_text(text.text)}^FS")
            else:
                fields.append(f"^FO{text.x},{text.y}{font}^FH^FD{_zpl_text(text.text)}^FS")
        fields += ["^PQ1", "^XZ"]
        formats.append("\n".join(fields) + "\n")
    if not formats:
        raise ValueError("no labels to render")
    return "".join(formats)
