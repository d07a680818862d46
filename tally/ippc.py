"""The IPPC / ISPM 15 mark on wood packaging, as an inspector transcribes it at inspection (查验).

ISPM 15 (Regulation of wood packaging material in international trade), Annex 2, fixes the mark:
the IPPC symbol, then ``XX-000`` (ISO 3166-1 alpha-2 country code, producer or treatment-provider
number issued by the national plant protection organisation) and ``YY`` (the treatment code), with
``DB`` added when the wood is debarked. Stamps differ in spacing, hyphens and line breaks, and
some NPPOs prefix the producer number with a region (Germany: ``DE-NW-49123 HT``), so the parser
accepts those layouts. Anything it cannot read for certain is rejected with every problem listed:
an unmarked or wrongly marked pallet goes to fumigation or destruction, so a guess is never safe.
"""

import re
import unicodedata
from dataclasses import dataclass

# ISPM 15 Annex 1 treatments and their Annex 2 codes.
TREATMENTS = {
    "HT": "heat treatment",
    "MB": "methyl bromide",
    "DH": "dielectric heating",
    "SF": "sulphuryl fluoride",
}
DEBARKED = "DB"  # ISPM 15 Annex 2: "DB" follows the treatment code; it is not a treatment
SYMBOL = "IPPC"  # what inspectors type for the IPPC wheat-ear symbol

# Markings often stamped with the mark that are not ISPM 15 treatments; named in the error so the
# inspector knows why, rather than a bare "unknown code". They are rejected even beside a valid code
# ("KD HT"): ISPM 15 Annex 2 allows no other information inside the border of the mark.
NOT_TREATMENTS = {
    "KD": "KD (kiln dried) is not an ISPM 15 treatment code",
}

MAX_MARK_CHARS = 200  # a mark is a few dozen characters; longer text was pasted by mistake

# ISO 3166-1 alpha-2: the 249 officially assigned codes (checked against Debian's iso-codes).
# Reserved codes are left out on purpose: "UK" and "EU" are not countries that issue ISPM 15
# producer numbers (the United Kingdom marks "GB").
ISO_3166_ALPHA2 = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """.split()
)

# Dashes an inspector's keyboard or IME produces; NFKC already folds the full-width ones.
_DASHES = str.maketrans(dict.fromkeys("‐‑‒–—―−﹣", "-"))
# Whitespace, "/", "," and brackets separate parts the same way ("HT/DB", "(IPPC) CN-000123, HT").
_SEPARATORS = re.compile(r"[\s/,;()\[\]【】]+")
_COUNTRY_AND_NUMBER = re.compile(r"([A-Z]{2})(\d+)")


class MarkError(ValueError):
    """The mark cannot be read as a valid ISPM 15 mark; ``problems`` lists every reason."""

    def __init__(self, problems: list[str], raw: str = "") -> None:
        super().__init__("; ".join(problems))
        self.problems = problems
        self.raw = raw


@dataclass(frozen=True)
class IppcMark:
    """A parsed ISPM 15 mark; ``producer`` is kept as printed (``"NW-49123"``)."""

    country: str
    producer: str
    treatments: tuple[str, ...]
    debarked: bool
    raw: str

    @property
    def text(self) -> str:
        """The mark in its canonical one-line form, e.g. ``"CN-000123 HT DB"``."""
        parts = [f"{self.country}-{self.producer}", *self.treatments]
        return " ".join(parts + [DEBARKED] if self.debarked else parts)


def _tokens(text: str) -> list[tuple[str, bool]]:
    """Split into (token, joined to the previous token by a hyphen) pairs."""
    tokens = []
    for word in _SEPARATORS.split(text):
        for index, piece in enumerate(word.split("-")):
            if piece:
                tokens.append((piece, index > 0 and bool(tokens)))
    return tokens


def _join(tokens: list[tuple[str, bool]]) -> str:
    """Rejoin tokens with the separators they were printed with ("-" or one space)."""
    out = ""
    for index, (token, hyphen) in enumerate(tokens):
        out += token if index == 0 else ("-" if hyphen else " ") + token
    return out


def parse_mark(text: str) -> IppcMark:
    """Parse a transcribed ISPM 15 mark; MarkError lists every problem found.

    Accepts the literal ``IPPC`` for the symbol or none, any case, hyphens or spaces or newlines
    between the parts: ``"IPPC CN-000123 HT"``, ``"CN 000123 HT DB"``, ``"CN-000123-HT"``,
    ``"DE-NW-49123 HT"``, ``"ippc\\nUS-12345\\nMB"``.
    """
    raw = text if isinstance(text, str) else ""
    if not raw.strip():
        raise MarkError(["mark text is empty"], raw)
    if len(raw) > MAX_MARK_CHARS:
        raise MarkError([f"mark text is over {MAX_MARK_CHARS} characters"], raw)

    # NFKC folds full-width letters and digits ("ＣＮ－０００１２３"), which Chinese IMEs type.
    normal = unicodedata.normalize("NFKC", raw).translate(_DASHES).upper()
    tokens = [(token, hyphen) for token, hyphen in _tokens(normal) if token != SYMBOL]
    problems: list[str] = []

    # ISPM 15 Annex 2 orders the parts: country code, producer number, treatment code.
    country = ""
    number_in_country = False  # "CN000123": the producer problem is already reported
    first = tokens[0][0] if tokens else ""
    if re.fullmatch(r"[A-Z]{2}", first):
        country = first
        tokens = tokens[1:]
        if country not in ISO_3166_ALPHA2:
            problems.append(f"unknown country code {country!r} (not ISO 3166-1 alpha-2)")
    elif re.fullmatch(r"[A-Z]+", first):
        problems.append(f"country code {first!r} must be ISO 3166-1 alpha-2 (two letters)")
        tokens = tokens[1:]
    elif _COUNTRY_AND_NUMBER.fullmatch(first):
        problems.append(f"country code and producer number run together in {first!r}")
        number_in_country = True
        tokens = tokens[1:]
    else:
        problems.append("missing country code")

    # Producer numbers always contain digits and treatment codes never do: the producer runs to
    # the last token with a digit, so a region prefix ("NW-49123") stays part of it.
    digit_tokens = [index for index, (token, _) in enumerate(tokens) if re.search(r"\d", token)]
    split = digit_tokens[-1] + 1 if digit_tokens else 0
    producer = _join(tokens[:split])
    if not producer and not number_in_country:
        problems.append("missing producer number")

    treatments: list[str] = []
    debarked = False
    unknown = False
    for token, _ in tokens[split:]:
        if token == DEBARKED:
            debarked = True
        elif token in TREATMENTS:
            if token in treatments:
                problems.append(f"treatment code {token!r} repeated")
            else:
                treatments.append(token)
        else:
            problems.append(NOT_TREATMENTS.get(token, f"unknown treatment code {token!r}"))
            unknown = True
    if not treatments and not unknown:  # an unknown code already says why there is none
        problems.append("missing treatment code (HT, MB, DH or SF)")

    if problems:
        raise MarkError(problems, raw)
    return IppcMark(country, producer, tuple(treatments), debarked, raw)
