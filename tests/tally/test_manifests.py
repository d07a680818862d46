import json

import pytest

from tally import manifests
from tally.errors import ConflictError, ValidationError
from tests.conftest import MANIFEST_CSV, count_rows

HEADER = "manifest_no,line_no,sku,name,declared_qty\n"


def errors_of(csv_text: str) -> list[dict]:
    with pytest.raises(ValidationError) as info:
        manifests.validate(manifests.parse_csv(csv_text.encode()))
    return info.value.errors


def test_parse_and_import(db):
    imported = manifests.import_manifest(
        db, manifests.parse_csv(MANIFEST_CSV.encode()), user_id=None
    )
    assert imported["manifest_no"] == "MF-TEST-1"
    assert imported["bill_no"] == "BL-1"
    assert [line["declared_qty"] for line in imported["lines"]] == [3, 2, 1]
    assert imported["lines"][0]["name"] == "婴儿奶粉 900g"
    assert imported["lines"][0]["unit_value"] == "28.50"
    assert imported["status"] == "arrived"
    events = list(db.query("SELECT name, details FROM events"))
    assert events[0]["name"] == "manifest-imported"
    assert json.loads(events[0]["details"])["lines"] == 3


def test_excel_bom_crlf_and_gb18030():
    text = "\ufeffManifest_No,LINE_NO,sku,name,declared_qty\r\nM1,1,S,奶粉,2\r\n\r\n"
    assert manifests.parse_csv(text.encode("utf-8"))["lines"][0]["name"] == "奶粉"
    gbk = HEADER + "M1,1,S,奶粉,2\n"
    assert manifests.parse_csv(gbk.encode("gb18030"))["lines"][0]["name"] == "奶粉"


def test_every_bad_row_and_column_is_reported_at_once():
    errors = errors_of(HEADER + "M1,1,S1,A,-2\nM1,1,S2,B,1.5\nM1,x,,C,abc\nM1,4,S4,D,0\n")
    assert {(e["row"], e["field"]) for e in errors} == {
        (2, "declared_qty"),
        (3, "declared_qty"),
        (3, "line_no"),
        (4, "line_no"),
        (4, "sku"),
        (4, "declared_qty"),
        (5, "declared_qty"),
    }
    duplicate = next(e for e in errors if e["row"] == 3 and e["field"] == "line_no")
    assert "already appears in row 2" in duplicate["message"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "empty"),
        ("   \n", "empty"),
        (HEADER, "no lines"),
        ("manifest_no,line_no,sku,name\nM,1,S,N\n", "header"),
        ("manifest_no,line_no,sku,name,declared_qty,colour\nM,1,S,N,1,red\n", "header"),
        (HEADER + "M,1,S,N\n", "malformed"),
        (HEADER + "M,1,S,N,1\nOTHER,2,S,N,1\n", "one manifest_no"),
    ],
)
def test_bad_files(text, message):
    with pytest.raises(ValidationError) as info:
        manifests.parse_csv(text.encode())
    assert message in info.value.message


def test_binary_garbage_is_refused():
    with pytest.raises(ValidationError):
        manifests.parse_csv(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))


def test_optional_columns_are_checked():
    errors = errors_of(
        "manifest_no,line_no,sku,name,declared_qty,gtin,hs_code,origin_country,unit_value,currency\n"
        "M,1,S,N,1,9300633603161,19011,Australia,-1,dollars\n"
    )
    assert {e["field"] for e in errors} == {
        "gtin",
        "hs_code",
        "origin_country",
        "unit_value",
        "currency",
    }


def test_json_manifest_types():
    with pytest.raises(ValidationError) as info:
        manifests.validate(
            {
                "manifest_no": "M",
                "lines": [
                    {"line_no": 1, "sku": "S", "name": "N", "declared_qty": 2.5},
                    {"line_no": True, "sku": "S", "name": "N", "declared_qty": "3"},
                    "nonsense",
                    {"line_no": 3, "sku": ["x"], "name": "N", "declared_qty": 1, "extra": 1},
                ],
            }
        )
    fields = {(e.get("row"), e.get("field")) for e in info.value.errors}
    assert fields == {(1, "declared_qty"), (2, "line_no"), (3, None), (4, "sku"), (4, "extra")}
    good = manifests.validate(
        {
            "manifest_no": "M",
            "lines": [{"line_no": 1, "sku": "S", "name": "N", "declared_qty": 2.0}],
        }
    )
    assert good["lines"][0]["declared_qty"] == 2


@pytest.mark.parametrize(
    "body", [None, [], "x", {"manifest_no": "M"}, {"manifest_no": "M", "lines": []}]
)
def test_json_manifest_shape(body):
    with pytest.raises(ValidationError):
        manifests.validate(body)


def test_existing_manifest_no_is_a_conflict_and_nothing_changes(db):
    parsed = manifests.parse_csv(MANIFEST_CSV.encode())
    manifests.import_manifest(db, parsed, user_id=None)
    with pytest.raises(ConflictError):
        manifests.import_manifest(db, parsed, user_id=None)
    assert count_rows(db, "manifest_lines") == 3
    assert count_rows(db, "events") == 1
