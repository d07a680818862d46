"""tally.ippc: ISPM 15 marks as inspectors transcribe them; bad marks list every problem."""

import pytest

from tally.ippc import (
    ISO_3166_ALPHA2,
    MAX_MARK_CHARS,
    TREATMENTS,
    IppcMark,
    MarkError,
    parse_mark,
)

GOOD = [
    # (text, country, producer, treatments, debarked)
    ("IPPC CN-000123 HT", "CN", "000123", ("HT",), False),
    ("CN-000123 HT DB", "CN", "000123", ("HT",), True),
    ("CN 000123 HT", "CN", "000123", ("HT",), False),
    ("DE-NW-49123 HT", "DE", "NW-49123", ("HT",), False),  # German region prefix, kept
    ("DE NW-49123 HT DB", "DE", "NW-49123", ("HT",), True),
    ("US-12345 MB", "US", "12345", ("MB",), False),
    ("CN-000123-HT", "CN", "000123", ("HT",), False),  # the "XX-000-YY" form
    ("CN-000123-HT-DB", "CN", "000123", ("HT",), True),
    ("IPPC\nCN-000123\nHT DB", "CN", "000123", ("HT",), True),  # symbol left, two lines right
    ("CN-000123\r\nHT\r\n", "CN", "000123", ("HT",), False),
    ("ippc cn-000123 ht db", "CN", "000123", ("HT",), True),
    ("  IPPC   CN  -  000123    HT  ", "CN", "000123", ("HT",), False),
    ("(IPPC) AU-0123 DH", "AU", "0123", ("DH",), False),
    ("NZ-4321 SF", "NZ", "4321", ("SF",), False),
    ("CN-000123 HT/DB", "CN", "000123", ("HT",), True),
    ("CN-000123 DB HT", "CN", "000123", ("HT",), True),  # DB order does not change its meaning
    ("PL-02-12-0123 HT", "PL", "02-12-0123", ("HT",), False),
    ("HT-1234 HT", "HT", "1234", ("HT",), False),  # Haiti: the country comes first
    ("ＣＮ－０００１２３ ＨＴ", "CN", "000123", ("HT",), False),  # full-width, from a Chinese IME
    ("CN–000123 HT", "CN", "000123", ("HT",), False),  # en dash from a word processor
    ("GB-123A HT", "GB", "123A", ("HT",), False),
    ("US-12345 HT MB", "US", "12345", ("HT", "MB"), False),
]

BAD = [
    # (text, problems)
    ("", ["mark text is empty"]),
    ("   \n ", ["mark text is empty"]),
    (
        "IPPC",
        [
            "missing country code",
            "missing producer number",
            "missing treatment code (HT, MB, DH or SF)",
        ],
    ),
    ("000123 HT", ["missing country code"]),
    ("CN HT", ["missing producer number"]),
    ("CN-000123", ["missing treatment code (HT, MB, DH or SF)"]),
    ("CN-000123 DB", ["missing treatment code (HT, MB, DH or SF)"]),  # debarked is no treatment
    ("CN-000123 KD", ["KD (kiln dried) is not an ISPM 15 treatment code"]),
    ("CN-000123 KD HT", ["KD (kiln dried) is not an ISPM 15 treatment code"]),
    ("CN-000123 XY", ["unknown treatment code 'XY'"]),
    (
        "XX-000-YY",
        ["unknown country code 'XX' (not ISO 3166-1 alpha-2)", "unknown treatment code 'YY'"],
    ),
    ("UK-1234 HT", ["unknown country code 'UK' (not ISO 3166-1 alpha-2)"]),  # the UK marks GB
    ("CHN-000123 HT", ["country code 'CHN' must be ISO 3166-1 alpha-2 (two letters)"]),
    ("CN000123 HT", ["country code and producer number run together in 'CN000123'"]),
    ("CN-000123 HT HT", ["treatment code 'HT' repeated"]),
    (
        "QQ DB",
        [
            "unknown country code 'QQ' (not ISO 3166-1 alpha-2)",
            "missing producer number",
            "missing treatment code (HT, MB, DH or SF)",
        ],
    ),
    ("CN-" + "1" * MAX_MARK_CHARS + " HT", [f"mark text is over {MAX_MARK_CHARS} characters"]),
]


@pytest.mark.parametrize(("text", "country", "producer", "treatments", "debarked"), GOOD)
def test_good_marks(text, country, producer, treatments, debarked):
    assert parse_mark(text) == IppcMark(country, producer, treatments, debarked, raw=text)


@pytest.mark.parametrize(("text", "problems"), BAD)
def test_bad_marks_list_every_problem(text, problems):
    with pytest.raises(MarkError) as caught:
        parse_mark(text)
    assert caught.value.problems == problems
    assert caught.value.raw == text
    assert str(caught.value) == "; ".join(problems)
    assert isinstance(caught.value, ValueError)


def test_none_is_empty():
    with pytest.raises(MarkError) as caught:
        parse_mark(None)
    assert caught.value.problems == ["mark text is empty"]


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("ippc\ncn 000123\nht db", "CN-000123 HT DB"),
        ("DE-NW-49123 HT", "DE-NW-49123 HT"),
        ("US-12345 MB", "US-12345 MB"),
    ],
)
def test_canonical_text(text, canonical):
    mark = parse_mark(text)
    assert mark.text == canonical
    assert parse_mark(mark.text) == IppcMark(
        mark.country, mark.producer, mark.treatments, mark.debarked, raw=canonical
    )


def test_country_list_is_iso_3166_alpha2():
    # 249 officially assigned codes; reserved ones (UK, EU, EL) are not countries that mark wood.
    assert len(ISO_3166_ALPHA2) == 249
    assert all(len(code) == 2 and code.isalpha() and code.isupper() for code in ISO_3166_ALPHA2)
    assert {"CN", "DE", "US", "GB", "HK", "MO", "TW", "SS", "XK"} - ISO_3166_ALPHA2 == {"XK"}
    assert not {"UK", "EU", "EL", "XX"} & ISO_3166_ALPHA2


def test_treatments_are_ispm15_annex_1():
    assert set(TREATMENTS) == {"HT", "MB", "DH", "SF"}
    assert "DB" not in TREATMENTS and "KD" not in TREATMENTS
