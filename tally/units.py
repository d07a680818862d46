"""Unit, job and box codes: the identifiers the tally's own labels carry.

A unit code is ``U`` + an 11-digit serial + a Damm check digit, 13 characters in all, e.g.
``U000000000017``. The letter keeps it apart from GTIN/EAN/UPC numbers printed on the goods; the
digit run lets Code128 switch to code set C (two digits per symbol), so the barcode is 143 modules
wide with quiet zones: 35.75 mm at 0.25 mm modules, which fits a 50 x 30 mm label at 203 dpi.
The Damm digit catches every single-digit error and every adjacent transposition, so a misread is
refused as ``invalid`` instead of being counted as another unit (Code128's own checksum lets
misreads through as other valid codes: docs/barcodes.md, docs/decoding.md).

A consignment's job barcode (``J`` + its manifest id) and a box label (``B`` + the box's id) have
the same shape with their own letter, so one scanner wedge tells the three apart by the letter.
"""

import re

PREFIX = "U"
JOB_PREFIX = "J"
BOX_PREFIX = "B"
KINDS = {PREFIX: "unit", JOB_PREFIX: "job", BOX_PREFIX: "box"}
SERIAL_DIGITS = 11
PATTERN = re.compile(r"U[0-9]{12}")  # ASCII digits: \d would take any script's digits
_ANY = re.compile(r"[UJB][0-9]{12}")

# Damm's quasigroup of order 10 (weakly totally anti-symmetric).
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)


def compute_check_digit(digits: str) -> str:
    """Return the Damm check digit of a string of digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return str(interim)


def make_code(serial: int, prefix: str = PREFIX) -> str:
    """Return the code for a serial number (1 .. 10**11 - 1): a unit's, or with ``JOB_PREFIX``
    a manifest's job barcode, with ``BOX_PREFIX`` a box label's."""
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise ValueError(f"serial out of range: {serial}")
    digits = f"{serial:0{SERIAL_DIGITS}d}"
    return prefix + digits + compute_check_digit(digits)


def job_code(manifest_id: int) -> str:
    """The job barcode of a consignment: scanning it opens the consignment on the scan page."""
    return make_code(manifest_id, JOB_PREFIX)


def box_code(box_id: int) -> str:
    """The code on a box label: scanning it sets the box on the scan page."""
    return make_code(box_id, BOX_PREFIX)


def read_code(text: str) -> tuple[str, int] | None:
    """(kind, serial) of a valid unit, job or box code (kind "unit", "job" or "box"), or None
    when the text is not one or its check digit fails."""
    text = text.strip().upper()
    if not _ANY.fullmatch(text) or compute_check_digit(text[1:]) != "0":
        return None
    return KINDS[text[0]], int(text[1:-1])


def looks_like_code(text: str) -> bool:
    """True when text has the shape of a unit code (whether or not its check digit holds)."""
    return bool(PATTERN.fullmatch(text))


def is_valid_code(text: str) -> bool:
    """True when text has the unit-code shape and its check digit holds."""
    return looks_like_code(text) and compute_check_digit(text[1:]) == "0"


def parse_serial(code: str) -> int:
    """Return the serial of a valid unit code; ValueError otherwise."""
    if not is_valid_code(code):
        raise ValueError(f"not a valid unit code: {code!r}")
    return int(code[1:-1])
