"""Customs message builders against golden files (regenerate with UPDATE_GOLDEN=1)."""

import pytest

from tally.config import DEFAULTS, site_settings
from tally.customs.codes import UnknownCode
from tally.customs.messages import build_inv101
from tally.demo import DEMO_SETTINGS
from tally.errors import ValidationError
from tally.reconcile import compute_reconciliation
from tests.tally.goldens import check_golden

MANIFEST = {"id": 7, "manifest_no": "MF-2026-0001", "bill_no": "BL-7788"}
LINES = [
    {
        "id": 1,
        "line_no": 1,
        "sku": "SKU-MILK",
        "name": "婴儿奶粉 900g",
        "declared_qty": 12,
        "hs_code": "1901101000",
        "origin_country": "AU",
        "unit": "122",
        "unit_value": "28.50",
        "currency": "USD",
        "gross_weight_kg": "14.4",
        "net_weight_kg": "10.8",
    },
    {
        "id": 2,
        "line_no": 2,
        "sku": "SKU-DIAPER",
        "name": "纸尿裤 L",
        "declared_qty": 8,
        "hs_code": "9619001100",
        "origin_country": "JP",
        "unit": "011",
        "unit_value": "15.20",
        "currency": "USD",
        "gross_weight_kg": "12",
        "net_weight_kg": None,
    },
    {
        "id": 3,
        "line_no": 3,
        "sku": "SKU-SERUM",
        "name": "Face serum",
        "declared_qty": 2,
        "hs_code": None,
        "origin_country": None,
        "unit": None,
        "unit_value": None,
        "currency": None,
        "gross_weight_kg": None,
        "net_weight_kg": None,
    },
]
DISCREPANCIES = [
    {"line_no": 2, "kind": "short", "qty": 1, "note": "carton torn", "disposition": "按实收"},
    {"line_no": 3, "kind": "short", "qty": 2, "note": None, "disposition": "await supplier"},
    {
        "line_no": None,
        "kind": "wrong_item",
        "qty": 1,
        "note": "toy car, not on manifest",
        "disposition": "return",
    },
]


# The company settings in force (environment defaults under the demo company's) and the account
# book of the three SKUs: milk has a legal unit of kg (0.9 per tin), diapers a second one.
SETTINGS = {**site_settings(DEFAULTS), **DEMO_SETTINGS}
BOOK = {item["sku"]: item for item in [
    {"sku": "SKU-MILK", "putrec_seqno": 101, "hs_code": "1901101000", "name": "婴儿配方奶粉",
     "dcl_unit": "122", "lawf_unit": "035", "lawf_qty_per_unit": "0.9",
     "secd_lawf_unit": None, "secd_lawf_qty_per_unit": None},
    {"sku": "SKU-DIAPER", "putrec_seqno": 102, "hs_code": "9619001100", "name": "婴儿纸尿裤",
     "dcl_unit": "011", "lawf_unit": "035", "lawf_qty_per_unit": "1.4",
     "secd_lawf_unit": "011", "secd_lawf_qty_per_unit": "1"},
    {"sku": "SKU-SERUM", "putrec_seqno": 103, "hs_code": "3304990099", "name": "护肤精华液",
     "dcl_unit": "142", "lawf_unit": "035", "lawf_qty_per_unit": "0.03",
     "secd_lawf_unit": None, "secd_lawf_qty_per_unit": None},
]}
DAY = "20260301"


def build(lines, report) -> dict:
    return build_inv101(MANIFEST, lines, report, settings=SETTINGS, book=BOOK, declared_on=DAY)


def test_inv101_golden():
    report = compute_reconciliation(LINES, {1: 12, 2: 7}, DISCREPANCIES)
    assert report["balanced"]
    payload = build(LINES, report)
    check_golden("inv101.json", payload)
    # A new list: every line added (3); line 3 has nothing counted and is left out (dclQty > 0).
    assert [line["modfMarkcd"] for line in payload["lines"]] == ["3", "3"]
    assert [line["dclQty"] for line in payload["lines"]] == [12, 7]
    assert payload["manifestLineNos"] == [1, 2]
    assert payload["lines"][1]["dclTotalAmt"] == "106.40"
    assert payload["lines"][1]["grossWt"] == "10.50000"  # 12 kg declared for 8, 7 counted
    assert payload["DelcareFlag"] == "1" and payload["head"]["supvModecd"] == "1210"
    assert payload["head"]["trspModecd"] == "4"  # 公路运输, road
    # The manifest's ISO codes (AU, JP, USD) go out as the customs' codes.
    assert [line["natcd"] for line in payload["lines"]] == ["601", "116"]
    assert [line["dclCurrcd"] for line in payload["lines"]] == ["502", "502"]


def test_inv101_takes_record_numbers_hs_codes_and_legal_units_from_the_account_book():
    payload = build(LINES, compute_reconciliation(LINES, {1: 12, 2: 7}, DISCREPANCIES))
    milk, diapers = payload["lines"]
    assert (milk["putrecSeqno"], diapers["putrecSeqno"]) == (101, 102)  # not manifest lines
    assert milk["gdsNm"] == "婴儿配方奶粉" and milk["gdsSpcfModelDesc"] == "婴儿奶粉 900g"
    assert (milk["dclUnitcd"], milk["lawfUnitcd"], milk["lawfQty"]) == ("122", "035", "10.80000")
    assert (diapers["lawfQty"], diapers["secdLawfUnitcd"], diapers["secdLawfQty"]) == (
        "9.80000", "011", "7.00000")
    assert "secdLawfUnitcd" in milk and milk["secdLawfUnitcd"] is None


def test_inv101_head_carries_the_company_settings_and_the_dates():
    head = build(LINES, compute_reconciliation(LINES, {1: 12, 2: 7}, DISCREPANCIES))["head"]
    assert head["bizopEtpsSccd"] == DEMO_SETTINGS["operating_sccd"]
    assert head["rvsngdEtpsSccd"] == DEMO_SETTINGS["receiving_sccd"]
    assert head["dclEtpsSccd"] == DEMO_SETTINGS["declaring_sccd"]
    assert head["inputCreditCode"] == DEMO_SETTINGS["input_sccd"]
    assert head["icCardNo"] == DEMO_SETTINGS["ic_card_no"]
    assert head["inputTime"] == head["invtDclTime"] == DAY
    assert head["putrecNo"] == DEFAULTS["PUTREC_NO"] and head["listStat"] == ""
    for gone in ("billNo", "manifestNo", "totalDclQty", "totalDclTotalAmt"):
        assert gone not in head


def test_inv101_refuses_a_sku_the_account_book_lacks():
    lines = [{**LINES[0], "sku": "SKU-UNKNOWN"}, *LINES[1:]]
    with pytest.raises(ValueError, match="SKU-UNKNOWN.*not in the account book"):
        build(lines, compute_reconciliation(lines, {1: 12, 2: 7}, DISCREPANCIES))


def inv101_with(**changes) -> dict:
    """build_inv101 of LINES with the first line's fields changed."""
    lines = [{**LINES[0], **changes}, *LINES[1:]]
    report = compute_reconciliation(lines, {1: 12, 2: 7}, DISCREPANCIES)
    return build(lines, report)


@pytest.mark.parametrize(
    "field, value, key, expected",
    [
        ("origin_country", "AUS", "natcd", "601"),     # ISO 3166 alpha-3
        ("origin_country", "601", "natcd", "601"),     # already the customs' code
        ("origin_country", "澳大利亚", "natcd", "601"),  # the customs' Chinese name
        ("origin_country", "nz", "natcd", "609"),
        ("currency", "CNY", "dclCurrcd", "142"),
        ("currency", "142", "dclCurrcd", "142"),
        ("currency", "AUD", "dclCurrcd", "601"),
    ],
)
def test_inv101_line_codes_are_the_customs(field, value, key, expected):
    assert inv101_with(**{field: value})["lines"][0][key] == expected


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("origin_country", "XX", "manifest line 1 \\(SKU-MILK\\): unknown country 'XX'"),
        ("origin_country", "036", "unknown country '036'"),
        ("currency", "INR", "manifest line 1 \\(SKU-MILK\\): unknown currency 'INR'"),
    ],
)
def test_inv101_refuses_codes_customs_does_not_have(field, value, message):
    with pytest.raises(UnknownCode, match=message) as caught:
        inv101_with(**{field: value})
    assert isinstance(caught.value, ValidationError)
    assert caught.value.errors[0]["field"] == field
