"""Unit codes: the one identifier a unit label carries.

A unit code is ``U`` + an 11-digit serial + a Damm check digit, 13 characters in all, e.g.
``U000000000017``. The letter keeps it apart from GTIN/EAN/UPC numbers printed on the goods; the
digit run lets Code128 switch to code set C (two digits per symbol), so the barcode is 143 modules
wide with quiet zones: 35.75 mm at 0.25 mm modules, which fits a 50 x 30 mm label at 203 dpi.
The Damm digit catches every single-digit error and every adjacent transposition, so a misread is
refused as ``invalid`` instead of being counted as another unit (Code128's own checksum lets
misreads through as other valid codes: docs/barcodes.md, docs/decoding.md).
"""

import re

PREFIX = "U"
SERIAL_DIGITS = 11
PATTERN = re.compile(r"U[0-9]{12}")  # ASCII digits: \d would take any script's digits

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


def make_code(serial: int) -> str:
    """Return the unit code for a serial number (1 .. 10**11 - 1)."""
    if not 0 < serial < 10**SERIAL_DIGITS:
        raise ValueError(f"serial out of range: {serial}")
    digits = f"{serial:0{SERIAL_DIGITS}d}"
    return PREFIX + digits + compute_check_digit(digits)


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
