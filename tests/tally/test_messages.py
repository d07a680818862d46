"""Customs message builders against golden files (regenerate with UPDATE_GOLDEN=1)."""

from tally.config import DEFAULTS, site_settings
from tally.customs.messages import build_inv101
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
