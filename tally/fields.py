"""Field readers: what each entry point accepts, said once.

A request's fields are read into a ``Fields``, which collects every problem in the one error
shape (``{"field", "message"}`` plus where, e.g. a batch index) so that the caller refuses the
request once, with all of them, before anything is written. Readers accept exactly what the
domain means: whole numbers as JSON integers (or ASCII digits where the request is text) within
bounds the database can hold, text without control characters within a length, and one of a
fixed set of choices exactly as written.
"""

import math
import re
from decimal import Decimal

from tally.catalogue import say
from tally.errors import ValidationError

# SQLite's largest integer: any id or quantity past it cannot be stored or even looked up.
MAX_INTEGER = 2**63 - 1
# C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _numbers_up_to(limit: int) -> str:
    """A regular expression of the numbers 0 to ``limit`` in ASCII digits (leading zeros
    allowed up to its width), so that a router can refuse a larger one by its form."""
    top = str(limit)
    below = [f"{top[:i]}[0-{int(d) - 1}][0-9]{{{len(top) - i - 1}}}"
             for i, d in enumerate(top) if d != "0"]
    return "|".join((f"[0-9]{{1,{len(top) - 1}}}", *below, top))


# A row id in a path or query: what SQLite's integers hold.
WHOLE_NUMBER = f"(?:{_numbers_up_to(MAX_INTEGER)})"
_DIGITS = re.compile(WHOLE_NUMBER)
SIGNED_DIGITS = re.compile(r"[+-]?[0-9]{1,19}")
# Our bound for amounts and weights: 14 digits before the point and 5 after, past any real price
# or weight, and written plainly (no exponent, no sign, ASCII digits only).
DECIMAL = re.compile(r"[0-9]{1,14}(\.[0-9]{1,5})?")


class Fields:
    """The problems found while reading one request (or one item of it, ``where``)."""

    def __init__(self, where: dict | None = None, errors: list[dict] | None = None):
        self.where = where or {}
        self.errors: list[dict] = [] if errors is None else errors  # or a request's own list

    def problem(self, field: str, message: str) -> None:
        """One problem of ``field``; ``message`` a catalogue Text (tally.catalogue.say)."""
        self.errors.append({**self.where, "field": field, "message": message})

    def text(self, value, field: str, *, required: bool = True, max_length: int = 200,
             pattern: re.Pattern | None = None, hint: str = "",
             controls: str = "") -> str | None:
        """Printable text of 1 to ``max_length`` characters, stripped; None when absent and not
        required. ``pattern`` (with ``hint`` saying it in words) must match all of it; the
        control characters in ``controls`` are allowed (a GS1 barcode's group separator)."""
        text = value.strip() if isinstance(value, str) else None
        if not text:
            if required or (value is not None and not isinstance(value, str)):
                self.problem(field, say("text_required", max_length=max_length))
            return None
        if CONTROL.search(value) and (not controls or CONTROL.search(
                value.translate(dict.fromkeys(map(ord, controls))))):
            self.problem(field, say("text_controls"))
            return None
        if len(value) > max_length:  # as sent: a limit that spaces around could pass is none
            self.problem(field, say("text_too_long", max_length=max_length, length=len(value)))
            return None
        if pattern is not None and not pattern.fullmatch(text):
            self.problem(field, hint or say("text_form"))
            return None
        return text

    def integer(self, value, field: str, *, minimum: int = 0, maximum: int = MAX_INTEGER,
                required: bool = True, written: bool = False) -> int | None:
        """A whole number from ``minimum`` to ``maximum`` given as a JSON integer; ``written``
        also takes it as a spreadsheet writes one: ASCII digits in text (``"12"``, ``"+12"``,
        blank for none) or a whole float (``12.0``)."""
        ranged = "_range" if maximum != MAX_INTEGER else ""
        if written:
            value = _written_integer(value)
        if value is None:
            if required:
                self.problem(field, say(f"integer{ranged}_required", minimum=minimum,
                                         maximum=maximum))
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not (
                minimum <= value <= maximum):
            self.problem(field, say(f"integer{ranged}_invalid", minimum=minimum,
                                     maximum=maximum, value=_shown(value)))
            return None
        return value

    def choice(self, value, field: str, choices, *, required: bool = True) -> str | None:
        """One of the texts ``choices``, exactly as written; None when absent and not required."""
        if value is None:
            if required:
                self.problem(field, say("choice_required", choices=", ".join(choices)))
            return None
        if isinstance(value, str) and value in choices:
            return value
        self.problem(field, say("choice_invalid", choices=", ".join(choices),
                                 value=_shown(value)))
        return None

    def decimal(self, value, field: str, *, places: int = 5, maximum: Decimal | int | None = None,
                positive: bool = False, required: bool = True) -> Decimal | None:
        """A number of zero or more (above zero if ``positive``) with at most ``places`` decimal
        places and at most ``maximum``, as a JSON number or as text."""
        if value is None or value == "":
            if required:
                self.problem(field, say("number_required"))
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.problem(field, say("number_invalid"))
            return None
        if isinstance(value, float):  # as JSON wrote it, in plain digits (1e-05: 0.00001)
            text = format(Decimal(repr(value)), "f") if math.isfinite(value) else "nan"
            text = text.removesuffix(".0")
        else:
            text = value.strip() if isinstance(value, str) else str(value)
        match = DECIMAL.fullmatch(text)
        if match is None or len(match.group(1) or ".") - 1 > places:
            self.problem(field, say("number_form", places=places, value=str(value)[:40]))
            return None
        number = Decimal(text)
        if positive and number == 0:
            self.problem(field, say("number_not_positive"))
            return None
        if maximum is not None and number > maximum:
            self.problem(field, say("number_too_large", maximum=maximum, value=text))
            return None
        return number

    def raise_if_any(self, message: str) -> None:
        """Refuse the request with every problem found, if there is one."""
        if self.errors:
            raise ValidationError(message, self.errors)


def _written_integer(value):
    """An integer, or None, from a text or float number; anything else as it came."""
    if isinstance(value, str):
        text = value.strip()
        return None if not text else int(text) if SIGNED_DIGITS.fullmatch(text) else value
    if isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INTEGER:
        return int(value)
    return value


def _shown(value) -> str:
    """A value as a message quotes it: text in quotes, at most 40 characters."""
    return (repr(value) if isinstance(value, str) else str(value))[:40]


def whole_number(text: str) -> int | None:
    """The number written in ``text`` as 1 to 19 ASCII digits within MAX_INTEGER, else None (for
    paths and query strings, where a number arrives as text)."""
    if not isinstance(text, str) or not _DIGITS.fullmatch(text):
        return None
    return int(text)
