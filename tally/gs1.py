"""Product barcodes: GTIN/EAN/UPC numbers and GS1 element strings read from cartons.

Parsing is biip's (the GS1 General Specifications' application identifiers, check digits and
dates); this module keeps what the tally uses: the GTIN as 14 digits, the batch (AI 10), the
expiry date (AI 17) and the serial (AI 21). A carton label is read by a 2D scanner or a camera
as ``]d2`` / ``]C1`` + the element string with GS (0x1D) between variable-length fields; a
scanner set up without symbology identifiers sends the bare string, and a person may type the
human-readable ``(01)...(17)...`` form: all three are accepted.
"""

import re
from dataclasses import dataclass
from datetime import date

import biip
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

from tally.catalogue import say

# What a retail barcode carries: EAN-8, UPC-A, EAN-13 or GTIN-14 digits.
_GTIN = re.compile(r"[0-9]{8}|[0-9]{12,14}")
_SYMBOLOGY = re.compile(r"\][A-Za-z][0-9A-Za-z]")
GS = "\x1d"
_CONFIG = biip.ParseConfig(separator_chars=(GS,))


@dataclass(frozen=True)
class Carton:
    """What a GS1 carton barcode says about the units packed in it."""

    gtin: str  # 14 digits
    batch: str | None
    expiry: date | None
    serial: str | None


def gtin14(text: str) -> str | None:
    """The GTIN of a scanned EAN-8/UPC-A/EAN-13/GTIN-14 as 14 digits, or None when the text is
    not one or its check digit fails (UPC-E is expanded by the scanner or not at all)."""
    text = text.strip()
    if not _GTIN.fullmatch(text):
        return None
    try:
        return Gtin.parse(text).as_gtin_14()
    except biip.ParseError:
        return None


def looks_like_gs1(text: str) -> bool:
    """True when the text is written as a GS1 element string (a symbology identifier of a GS1
    symbol, GS separators, or the human-readable ``(01)`` form), not a bare product number."""
    return (text.startswith(("]d2", "]C1", "]Q3", "]e0", "]J1")) or GS in text
            or text.startswith("(") or (text.startswith("01") and len(text) > 16))


def parse_carton(text: str) -> Carton:
    """The GTIN, batch, expiry and serial of a GS1 carton barcode; ValueError (its argument a
    catalogue message for the operator) when the text is no GS1 element string or has no valid
    GTIN."""
    text = text.strip()
    if _SYMBOLOGY.match(text):
        text = text[3:]
    try:
        message = (GS1Message.parse_hri(text) if text.startswith("(")
                   else GS1Message.parse(text, config=_CONFIG))
    except biip.ParseError as exc:
        raise ValueError(say("gs1_not_element_string", detail=str(exc))) from None
    values = {element.ai.ai: element for element in message.element_strings}
    if "01" not in values or values["01"].gtin is None:
        raise ValueError(say("gs1_no_gtin"))
    if "17" in values and values["17"].date is None:
        raise ValueError(say("gs1_bad_expiry"))
    return Carton(
        gtin=values["01"].gtin.as_gtin_14(),
        batch=values["10"].value if "10" in values else None,
        expiry=values["17"].date if "17" in values else None,
        serial=values["21"].value if "21" in values else None,
    )
