"""Customs message builders against golden files (regenerate with UPDATE_GOLDEN=1)."""

import pytest

from tally.config import DEFAULTS, site_settings
from tally.customs.codes import UnknownCode
from tally.customs.messages import build_inv101
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


def test_inv101_golden():
    report = compute_reconciliation(LINES, {1: 12, 2: 7}, DISCREPANCIES)
    assert report["balanced"]
    payload = build_inv101(MANIFEST, LINES, report, settings=site_settings(DEFAULTS))
    check_golden("inv101.json", payload)
    assert [line["modfMarkcd"] for line in payload["lines"]] == ["0", "1", "2"]
    assert [line["dclQty"] for line in payload["lines"]] == [12, 7, 0]
    assert payload["lines"][1]["dclTotalAmt"] == "106.40"
    assert payload["lines"][1]["grossWt"] == "10.50000"  # 12 kg declared for 8, 7 counted
    assert payload["head"]["totalDclQty"] == 19
    assert payload["DelcareFlag"] == "1" and payload["head"]["supvModecd"] == "1210"
    assert payload["head"]["trspModecd"] == "4"  # 公路运输, road
    # The manifest's ISO codes (AU, JP, USD) go out as the customs' codes; units were codes.
    assert [line["natcd"] for line in payload["lines"]] == ["601", "116", None]
    assert [line["dclCurrcd"] for line in payload["lines"]] == ["502", "502", None]
    assert [line["dclUnitcd"] for line in payload["lines"]] == ["122", "011", None]


def inv101_with(**changes) -> dict:
    """build_inv101 of LINES with the first line's fields changed."""
    lines = [{**LINES[0], **changes}, *LINES[1:]]
    report = compute_reconciliation(lines, {1: 12, 2: 7}, DISCREPANCIES)
    return build_inv101(MANIFEST, lines, report, settings=site_settings(DEFAULTS))


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
        ("unit", "罐", "dclUnitcd", "122"),
        ("unit", "kg", "dclUnitcd", "035"),
        ("unit", "kg", "lawfUnitcd", "035"),
        ("unit", " ", "dclUnitcd", None),               # left out: stays out
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
        ("unit", "PCS", "manifest line 1 \\(SKU-MILK\\): unknown unit 'PCS'"),
    ],
)
def test_inv101_refuses_codes_customs_does_not_have(field, value, message):
    with pytest.raises(UnknownCode, match=message) as caught:
        inv101_with(**{field: value})
    assert isinstance(caught.value, ValidationError)
    assert caught.value.errors[0]["field"] == field
