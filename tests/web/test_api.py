"""The HTTP API through the Flask test client: manifests, labels, scans, reconciliation, confirm."""

import io

import pypdfium2
import pytest
import zxingcpp
from PIL import Image

from tally import units
from tests.conftest import MANIFEST_CSV, auth, count_rows


def issue(as_, mid, line_no, count, box_no=None):
    response = as_("operator").post(
        f"/api/manifests/{mid}/labels", json={"line_no": line_no, "count": count, "box_no": box_no}
    )
    assert response.status_code == 201, response.json
    return [label["code"] for label in response.json["labels"]]


def scan(as_, mid, code, cid):
    response = as_("operator").post(
        f"/api/manifests/{mid}/scans", json={"code": code, "client_scan_id": cid, "device": "HH-01"}
    )
    assert response.status_code == 200, response.json
    return response.json["results"][0]


def test_manifest_import_forms(as_, manifest):
    assert manifest["manifest_no"] == "MF-TEST-1" and len(manifest["lines"]) == 3
    listing = as_("operator").get("/api/manifests").json["manifests"]
    assert listing[0]["line_count"] == 3 and listing[0]["declared_total"] == 6
    multipart = as_("supervisor").post(
        "/api/manifests",
        data={"file": (io.BytesIO(MANIFEST_CSV.replace("MF-TEST-1", "MF-2").encode()), "m.csv")},
    )
    assert multipart.status_code == 201
    as_json = as_("supervisor").post(
        "/api/manifests",
        json={
            "manifest_no": "MF-3",
            "lines": [{"line_no": 1, "sku": "S", "name": "N", "declared_qty": 4}],
        },
    )
    assert as_json.status_code == 201 and as_json.json["lines"][0]["declared_qty"] == 4
    again = as_("supervisor").post(
        "/api/manifests", data=MANIFEST_CSV.encode(), content_type="text/csv"
    )
    assert again.status_code == 409
    assert (
        as_("operator").get(f"/api/manifests/{manifest['id']}").json["lines"][2]["sku"]
        == "SKU-SERUM"
    )


def test_labels_render_and_decode(as_, manifest):
    mid = manifest["id"]
    codes = issue(as_, mid, 1, 3, "BOX-1") + issue(as_, mid, 2, 2, "BOX-2")
    png = as_("operator").get(f"/api/labels/{codes[0]}.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(png.data)))] == [codes[0]]
    svg = as_("operator").get(f"/api/labels/{codes[0]}.svg?size=60x40")
    assert svg.mimetype == "image/svg+xml" and codes[0].encode() in svg.data
    pdf = as_("operator").get(f"/api/manifests/{mid}/labels.pdf?box_no=BOX-2")
    assert pdf.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(pdf.data)
    read = [
        zxingcpp.read_barcodes(page.render(scale=300 / 72).to_pil())[0].text for page in document
    ]
    document.close()
    assert read == [units.box_code(2), *codes[3:]]  # the box's label first
    zpl = as_("operator").get(f"/api/manifests/{mid}/labels.zpl?dpi=300&line_no=1").data.decode()
    assert zpl.count("^XA") == 4 and all(code in zpl for code in [units.box_code(1), *codes[:3]])

    reprint = as_("operator").post(f"/api/labels/{codes[0]}/reprint", json={"reason": "smudged"})
    assert reprint.status_code == 201 and reprint.json["copy_no"] == 1
    copy = as_("operator").get(reprint.json["png"])
    assert copy.status_code == 200 and copy.data != png.data
    assert as_("operator").get(f"/api/labels/{codes[0]}.png?copy=2").status_code == 404
    assert as_("operator").post(f"/api/labels/{codes[0]}/reprint", json={}).status_code == 422
    events = [e["name"] for e in as_("operator").get(f"/api/manifests/{mid}/events").json["events"]]
    assert events == ["manifest-imported", "inspection-recorded", "status-inspected",
                      "status-written-off", "manifest-written-off", "labels-issued",
                      "labels-issued", "label-reprinted"]


def test_scans_single_batch_and_replay(as_, manifest):
    mid = manifest["id"]
    codes = issue(as_, mid, 1, 3)
    assert scan(as_, mid, codes[0], "s-1")["outcome"] == "counted"
    assert scan(as_, mid, codes[0], "s-1")["counted"] == 1
    batch = {"scans": [{"code": c, "client_scan_id": f"b-{i}"} for i, c in enumerate(codes * 2)]}
    first = as_("operator").post(f"/api/manifests/{mid}/scans", json=batch)
    assert [r["outcome"] for r in first.json["results"]] == [
        "duplicate",
        "counted",
        "counted",
        "duplicate",
        "duplicate",
        "duplicate",
    ]
    assert as_("operator").post(f"/api/manifests/{mid}/scans", json=batch).json == first.json
    ledger = as_("operator").get(f"/api/manifests/{mid}/scans").json["scans"]
    assert len(ledger) == 7 and ledger[0]["device"] == "HH-01"
    assert ledger[0]["user"] == "operator-user"


def test_reconcile_discrepancy_confirm(as_, manifest):
    mid = manifest["id"]
    for i, code in enumerate(issue(as_, mid, 1, 3) + issue(as_, mid, 2, 1) + issue(as_, mid, 3, 1)):
        scan(as_, mid, code, f"r-{i}")
    report = as_("operator").get(f"/api/manifests/{mid}/reconciliation").json
    assert [(x["line_no"], x["status"], x["difference"]) for x in report["lines"]] == [
        (1, "match", 0),
        (2, "short", -1),
        (3, "match", 0),
    ]
    assert report["totals"]["declared"] == 6 and report["totals"]["counted"] == 5
    refused = as_("supervisor").post(f"/api/manifests/{mid}/tally/confirm")
    assert refused.status_code == 409
    assert [e["line_no"] for e in refused.json["errors"]] == [2]
    assert as_("operator").post(f"/api/manifests/{mid}/tally/confirm").status_code == 403
    recorded = as_("operator").post(
        f"/api/manifests/{mid}/discrepancies",
        json={
            "line_no": 2,
            "kind": "short",
            "qty": 1,
            "note": "box arrived with 1",
            "disposition": "settle on actual received 按实收",
        },
    )
    assert recorded.status_code == 201 and recorded.json["in_force"]
    correction = {
        "corrects": recorded.json["id"],
        "action": "replace",
        "line_no": 2,
        "kind": "short",
        "qty": 1,
        "note": "recounted",
    }
    assert (
        as_("operator").post(f"/api/manifests/{mid}/discrepancies", json=correction).status_code
        == 403
    )
    assert (
        as_("supervisor").post(f"/api/manifests/{mid}/discrepancies", json=correction).status_code
        == 201
    )
    csv_report = as_("operator").get(f"/api/manifests/{mid}/reconciliation?format=csv")
    text = csv_report.data.decode("utf-8-sig")
    assert csv_report.mimetype == "text/csv"
    assert text.splitlines()[2].startswith("2,SKU-DIAPER,纸尿裤 L,2,1,-1,short")
    confirmed = as_("supervisor").post(f"/api/manifests/{mid}/tally/confirm")
    assert confirmed.status_code == 200 and confirmed.json["status"] == "tallied"
    late = as_("operator").post(
        f"/api/manifests/{mid}/scans", json={"code": units.make_code(1), "client_scan_id": "late"}
    )
    assert late.status_code == 409 and late.json["current_status"] == "tallied"
    sync = as_("operator").get(f"/api/manifests/{mid}/sync").json
    assert sync["messages"][0]["kind"] == "INV101"
    assert sync["messages"][0]["status"] == "pending"
    shown = as_("operator").get(f"/api/manifests/{mid}").json
    assert shown["status"] == "tallied"
    assert shown["tally"]["snapshot"]["totals"]["counted"] == 5


def test_users_need_admin(as_, client):
    created = as_("admin").post("/api/users", json={"name": "li.wei", "role": "operator"})
    assert created.status_code == 201
    assert client.get("/api/manifests", headers=auth(created.json["token"])).status_code == 200
    assert (
        as_("supervisor").post("/api/users", json={"name": "x", "role": "admin"}).status_code == 403
    )


@pytest.mark.parametrize("path", ["/api/manifests", "/api/decode"])
def test_tokens(client, path):
    assert client.get("/api/manifests").status_code == 401
    assert client.get("/api/manifests", headers=auth("tly_wrong")).status_code == 401
    assert client.get("/api/manifests", headers={"Authorization": "Basic abc"}).status_code == 401


def test_decode_endpoint_records_nothing(as_, manifest, db):
    code = issue(as_, manifest["id"], 1, 1)[0]
    png = as_("operator").get(f"/api/labels/{code}.png").data
    before = count_rows(db, "scans")
    response = as_("operator").post("/api/decode", data={"image": (io.BytesIO(png), "l.png")})
    assert response.status_code == 200
    [barcode] = response.json["barcodes"]
    assert barcode["format"] == "Code128" and barcode["text"] == code
    assert len(barcode["position"]) == 4
    assert count_rows(db, "scans") == before


SETTINGS_ROLES = [("operator", 403), ("supervisor", 403), ("admin", 200)]


@pytest.mark.parametrize("role, status", SETTINGS_ROLES)
def test_settings_are_the_admins(as_, role, status):
    assert as_(role).get("/api/settings").status_code == status
    assert as_(role).put("/api/settings", json={"sys_id": "Z7"}).status_code == status


def test_settings_checked_saved_and_shown(as_):
    from tally.demo import DEMO_SETTINGS

    shown = as_("admin").get("/api/settings").json
    assert "operating_sccd" in shown["missing"]
    assert {s["key"]: s["source"] for s in shown["settings"]}["customs_code"] == "environment"
    refused = as_("admin").put("/api/settings", json={"operating_sccd": "913302017532977857",
                                                      "sys_id": "Z9", "customs_code": "42"})
    assert refused.status_code == 422
    assert {e["field"]: e["code"] for e in refused.json["errors"]} == {
        "operating_sccd": "setting_credit_code_check", "sys_id": "setting_sys_id_form",
        "customs_code": "setting_customs_code_form"}
    assert refused.json["errors"][0]["message_zh"].startswith("校验码")
    saved = as_("admin").put("/api/settings", json=DEMO_SETTINGS).json
    assert saved["missing"] == [] and saved["changed"] == sorted(DEMO_SETTINGS)
    assert as_("admin").put("/api/settings", json=[]).status_code == 422


def test_an_account_book_of_another_customs_is_refused(as_):
    # T3111W000076 is an account book of customs 3111; the customs code in force is 4230.
    refused = as_("admin").put("/api/settings", json={"putrec_no": "T3111W000076"})
    assert refused.status_code == 422
    [error] = refused.json["errors"]
    assert error["field"] == "putrec_no" and error["code"] == "setting_putrec_no_customs"
    assert "3111" in error["message"] and "4230" in error["message_zh"]
    shown = as_("admin").get("/api/settings").json
    assert {s["key"]: s["value"] for s in shown["settings"]}["putrec_no"] == "T4230W000293"
    saved = as_("admin").put("/api/settings", json={"putrec_no": "T3111W000076",
                                                    "customs_code": "3111"})
    assert saved.status_code == 200 and saved.json["changed"] == ["customs_code", "putrec_no"]


@pytest.mark.parametrize("role, status", [("operator", 403), ("supervisor", 201),
                                          ("admin", 201)])
def test_account_book_import_roles(as_, role, status):
    from tally.demo import DEMO_BOOK

    answer = as_(role).post("/api/account-book", data=DEMO_BOOK.encode(),
                            content_type="text/csv")
    assert answer.status_code == status
    if status == 201:
        assert answer.json["items"] == 4
        assert len(as_(role).get("/api/account-book").json["items"]) == 4
    else:
        assert as_(role).get("/api/account-book").status_code == 403


def test_account_book_refuses_every_bad_row_and_keeps_the_book(as_):
    from tally.demo import DEMO_BOOK

    as_("supervisor").post("/api/account-book", data=DEMO_BOOK.encode(), content_type="text/csv")
    bad = DEMO_BOOK.replace(",101,", ",x,").replace("2106909090", "21069")
    answer = as_("supervisor").post("/api/account-book", data={"file": (io.BytesIO(
        bad.encode()), "book.csv")}, content_type="multipart/form-data")
    assert answer.status_code == 422 and answer.json["code"] == "book_errors"
    assert [(e["row"], e["field"]) for e in answer.json["errors"]] == [
        (2, "putrec_seqno"), (5, "hs_code")]
    assert len(as_("supervisor").get("/api/account-book").json["items"]) == 4


def test_confirm_condition_names_the_sku_missing_from_the_book(as_, manifest):
    from tests.conftest import book_items

    mid = manifest["id"]
    as_("supervisor").post("/api/account-book",
                           json={"items": book_items(manifest["lines"][:2])})
    [action] = as_("operator").get(f"/api/manifests/{mid}/workflow").json["next_actions"]
    missing = [c for c in action["unmet"] if c["code"] == "sku_not_in_book"]
    assert [(c["line_no"], c["sku"]) for c in missing] == [(3, "SKU-SERUM")]
    assert missing[0]["message_zh"].startswith("第 3 行：料号 SKU-SERUM 不在电子账册中")
