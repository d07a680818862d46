"""The customs' code tables and their lookups (tally/customs/codes).

Expected values are the source's (the customs' unified parameter tables, see
tally/customs/codes/README.md) and those real special-area messages carry.
"""

import re
import tomllib
from pathlib import Path

import pytest

from tally import labelling, manifests, scans, workflow
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally
from tally.customs import codes
from tally.errors import ValidationError
from tests.conftest import MANIFEST_CSV, clear_for_tally, count_rows

ROOT = Path(__file__).resolve().parents[2]

# Whole tables: a row lost or added by an edit shows here (README.md gives the same counts).
TABLES = {
    "countries": (265, re.compile(r"\d{3}")),
    "currencies": (22, re.compile(r"\d{3}")),
    "units": (123, re.compile(r"\d{3}")),
    "transport_modes": (18, re.compile(r"[0-9A-Z]")),
    "supervision_modes": (99, re.compile(r"\d{4}")),
}


@pytest.mark.parametrize("name", TABLES)
def test_each_table_is_whole_and_well_formed(name):
    table = codes.table(name)
    count, form = TABLES[name]
    assert len(table.rows) == count
    assert all(form.fullmatch(row["code"]) for row in table.rows)
    assert all(row["name_zh"] and row["name_zh"] == row["name_zh"].strip() for row in table.rows)
    # Every row answers to its own code and to its Chinese name.
    for row in table.rows:
        assert table.code(row["code"]) == row["code"]
        assert table.code(row["name_zh"]) == row["code"]


def test_tables_are_read_once():
    assert codes.table("countries") is codes.table("countries")


@pytest.mark.parametrize(
    "value, expected",
    [
        # Checked against 05.国别（地区）代码表 (原报关代码) and real messages (601, 142).
        ("AU", "601"), ("AUS", "601"), ("601", "601"), ("澳大利亚", "601"),
        ("JP", "116"), ("jpn", "116"), ("CN", "142"), ("US", "502"), ("FR", "305"),
        ("NZ", "609"), ("DE", "304"), ("GB", "303"), ("KR", "133"), ("HK", "110"),
        ("HKG", "110"), ("MO", "121"), ("TW", "143"), ("VN", "141"), ("IT", "307"),
        ("NL", "309"), ("CH", "331"), ("CA", "501"), ("TH", "136"), ("SG", "132"),
        (" au ", "601"),
        # Territories filed under a region or a neighbour share its code.
        ("GU", "699"), ("ZOC", "699"), ("BV", "326"), ("NO", "326"), ("ZZZ", "701"),
        # The customs' own letter codes, which ISO 3166 does not have.
        ("CAI", "207"), ("ZUN", "702"),
    ],
)
def test_country(value, expected):
    assert codes.country(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        # Checked against 09.货币代码表 (原报关代码) and real messages (502).
        ("USD", "502"), ("usd", "502"), ("502", "502"), ("美元", "502"), ("CNY", "142"),
        ("EUR", "300"), ("JPY", "116"), ("AUD", "601"), ("GBP", "303"), ("HKD", "110"),
        ("NZD", "609"), ("KRW", "133"), ("CAD", "501"), ("CHF", "331"), ("人民币", "142"),
    ],
)
def test_currency(value, expected):
    assert codes.currency(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        # Checked against 11.计量单位代码表 and real messages (035, 006, 011).
        ("035", "035"), ("千克", "035"), ("kg", "035"), ("KG", "035"), ("007", "007"),
        ("个", "007"), ("011", "011"), ("件", "011"), ("006", "006"), ("套", "006"),
        ("122", "122"), ("罐", "122"), ("142", "142"), ("瓶", "142"), ("120", "120"),
        ("箱", "120"), ("g", "036"), ("t", "070"), ("吨", "070"), ("L", "095"), ("ml", "096"),
    ],
)
def test_unit(value, expected):
    assert codes.unit(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        # Checked against 02.运输方式代码表; 2 and 9 are in real INV201/INV211 receipts.
        ("0", "0"), ("非保税区", "0"), ("1", "1"), ("2", "2"), ("水路运输", "2"), ("4", "4"),
        ("公路运输", "4"), ("5", "5"), ("航空运输", "5"), ("7", "7"), ("保税区", "7"), ("8", "8"),
        ("9", "9"), ("W", "W"), ("物流中心", "W"), ("x", "X"), ("Y", "Y"), ("保税港区", "Y"),
        ("Z", "Z"), ("出口加工区", "Z"),
    ],
)
def test_transport_mode(value, expected):
    assert codes.transport_mode(value) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        # Checked against 03.监管方式代码表; 5034 and 5000 are in real receipts.
        ("1210", "1210"), ("保税电商", "1210"), ("9610", "9610"), ("电子商务", "9610"),
        ("1239", "1239"), ("5034", "5034"), ("区内物流货物", "5034"), ("0110", "0110"),
        ("一般贸易", "0110"), ("1233", "1233"), ("保税仓库货物", "1233"), ("5000", "5000"),
        ("6033", "6033"), ("物流中心进出境货物", "6033"),
    ],
)
def test_supervision_mode(value, expected):
    assert codes.supervision_mode(value) == expected


@pytest.mark.parametrize(
    "lookup, value, message",
    [
        (codes.country, "XX", "unknown country 'XX'"),
        (codes.country, "036", "unknown country '036'"),  # ISO numeric of Australia: not read
        (codes.country, "UK", "unknown country 'UK'"),    # not ISO 3166 (GB is)
        (codes.country, "Australia", "unknown country"),
        (codes.country, "", "a country is required"),
        (codes.country, None, "a country is required"),
        (codes.currency, "INR", "unknown currency 'INR'"),  # not in the customs' table
        (codes.currency, "840", "unknown currency '840'"),  # ISO numeric of USD: not read
        (codes.currency, "   ", "a currency is required"),
        (codes.unit, "PCS", "unknown unit 'PCS'"),  # 个 or 件: only the manifest knows
        (codes.unit, "35", "unknown unit '35'"),
        (codes.transport_mode, "A", "unknown transport mode 'A'"),
        (codes.transport_mode, "road", "unknown transport mode"),
        (codes.supervision_mode, "1211", "unknown supervision mode '1211'"),
        (codes.supervision_mode, "210", "unknown supervision mode"),
    ],
)
def test_unknown_values_are_refused(lookup, value, message):
    with pytest.raises(codes.UnknownCode, match=message) as caught:
        lookup(value)
    # A ValidationError (HTTP 422 at the edge) and a ValueError for the message builders.
    assert isinstance(caught.value, ValidationError) and isinstance(caught.value, ValueError)


def test_the_error_says_what_is_accepted():
    with pytest.raises(ValueError) as caught:
        codes.country("XX")
    text = str(caught.value)
    assert "ISO 3166" in text and "601" in text and "countries.csv" in text


def test_unknown_table():
    with pytest.raises(ValueError, match="no code table 'ports'"):
        codes.table("ports")


def test_iso_alpha2_only_where_iso_has_the_alpha3():
    rows = codes.table("countries").rows
    customs_own = {row["alpha3"] for row in rows if not row["iso_alpha2"]}
    assert customs_own == {"ZAS", "ZAO", "ZEU", "ZSA", "ZNA", "ZOC", "ZZZ", "ZUN", "CAI", "CEU",
                           "MEL", "GAM", "MAI", "SOC", "TUA", "TUB"}
    assert all(re.fullmatch(r"[A-Z]{2}", row["iso_alpha2"]) for row in rows
               if row["iso_alpha2"])


def test_the_tables_ship_with_the_package():
    """pyproject's package-data names the CSV files, so an installed tally has them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "customs/codes/*.csv" in config["tool"]["setuptools"]["package-data"]["tally"]
    on_disk = {path.stem for path in (ROOT / "tally/customs/codes").glob("*.csv")}
    assert on_disk == set(TABLES)


def test_a_country_customs_does_not_have_is_refused_at_import(db):
    """A country or currency the customs' tables lack is found when the manifest is imported,
    every such row named, not when customs is sent the inventory list."""
    text = MANIFEST_CSV.replace(",JP,2,011,", ",XX,2,011,").replace("42.00,USD", "42.00,XYZ")
    with pytest.raises(ValidationError) as refused:
        manifests.import_manifest(db, manifests.parse_csv(text.encode()), user_id=None)
    assert [(e["row"], e["field"]) for e in refused.value.errors] == [
        (3, "origin_country"), (4, "currency")]  # the header is row 1
    assert "unknown country 'XX'" in refused.value.errors[0]["message"]
    assert count_rows(db, "manifests") == 0


def test_a_country_customs_does_not_have_refuses_the_tally_and_writes_nothing(db, customs_client):
    """A line stored before the import checked countries (XX): the INV101 refuses it when the
    tally is confirmed, naming the line, and the confirmation leaves nothing behind."""
    mid = manifests.import_manifest(db, manifests.parse_csv(MANIFEST_CSV.encode()),
                                    user_id=None)["id"]
    db.execute("UPDATE manifest_lines SET origin_country = 'XX' WHERE line_no = 2")
    clear_for_tally(db, mid, customs_client)
    for line in manifests.list_lines(db, mid):
        issued = labelling.issue_labels(db, mid, line_no=line["line_no"],
                                        count=line["declared_qty"], user_id=None)
        scans.record_scans(db, mid, [scans.Scan(f"s-{label['code']}", (label["code"],))
                                     for label in issued], user_id=None)
    with pytest.raises(codes.UnknownCode, match=r"manifest line 2 \(SKU-DIAPER\): unknown "
                                                r"country 'XX'"):
        confirm_tally(db, mid, user_id=None, settings=site_settings(DEFAULTS))
    assert workflow.current_status(db, mid) == workflow.Status.WRITTEN_OFF
    assert count_rows(db, "outbox") == 0 and count_rows(db, "tallies") == 0
