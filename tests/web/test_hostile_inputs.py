"""Rows of the hostile-input table (issue 11) that the field readers now answer with a clear 4xx,
changing nothing."""

import io

import pytest

from tests.conftest import passing_inspection

BIG = 2**63  # one past SQLite's largest integer


@pytest.fixture
def codes(as_, manifest):
    response = as_("operator").post(f"/api/manifests/{manifest['id']}/labels",
                                    json={"line_no": 1, "count": 2})
    return [label["code"] for label in response.json["labels"]]


def counts(db) -> tuple:
    return tuple(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                 for table in ("scans", "units", "discrepancies", "events"))


@pytest.mark.parametrize("path", [
    f"/api/manifests/{BIG}", f"/api/manifests/{BIG}/scans", f"/api/manifests/{'9' * 40}",
    "/api/manifests/١٢", "/api/manifests/１２",
])
def test_numbers_in_paths_beyond_the_database_are_not_found(as_, path):
    answer = as_("operator").get(path)
    assert answer.status_code == 404 and answer.json["status"] == 404


@pytest.mark.parametrize("query", [f"after={BIG}", "after=-1", "after=١", "after=1e3"])
def test_numbers_in_queries_are_ascii_and_bounded(as_, manifest, query):
    answer = as_("operator").get(f"/api/manifests/{manifest['id']}/scans?{query}")
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "after"


@pytest.mark.parametrize("scan, field", [
    ({"code": "U" + "٠" * 12, "client_scan_id": "a-1"}, "code"),
    ({"code": "U" + "０" * 12, "client_scan_id": "a-2"}, "code"),
    ({"code": "U0000000000\x0017", "client_scan_id": "a-3"}, "code"),
    ({"code": "U000000000017", "client_scan_id": "x\n"}, "client_scan_id"),
    ({"code": "U000000000017", "client_scan_id": "a-4", "device": "hh\x00"}, "device"),
])
def test_scans_refuse_what_no_barcode_carries(as_, db, manifest, codes, scan, field):
    before = counts(db)
    answer = as_("operator").post(f"/api/manifests/{manifest['id']}/scans", json=scan)
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == field
    assert counts(db) == before


@pytest.mark.parametrize("path, body, field", [
    ("labels", {"line_no": BIG, "count": 1}, "line_no"),
    ("labels", {"line_no": 1, "count": 1, "box_no": "B\x00X"}, "box_no"),
    ("discrepancies", {"line_no": 1, "kind": "short", "qty": BIG}, "qty"),
    ("discrepancies", {"line_no": BIG, "kind": "short", "qty": 1}, "line_no"),
    ("discrepancies", {"line_no": 1, "kind": "short", "qty": 1, "corrects": BIG,
                       "action": "reverse"}, "corrects"),
    ("labels/print", {"line_no": BIG}, "line_no"),
])
def test_numbers_in_bodies_beyond_the_database_are_refused(as_, db, manifest, codes, path,
                                                           body, field):
    before = counts(db)
    answer = as_("supervisor").post(f"/api/manifests/{manifest['id']}/{path}", json=body)
    assert answer.status_code == 422, answer.json
    assert field in [e.get("field") for e in answer.json["errors"]]
    assert counts(db) == before


def test_release_order_ids_beyond_the_database_are_refused(as_, db, manifest):
    before = counts(db)
    answer = as_("supervisor").post("/api/release-orders", json={
        "bind_type": "one_truck_one_ticket", "manifests": [BIG]})
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "manifests"
    assert counts(db) == before


def test_a_non_image_is_refused_without_internal_details(as_, manifest):
    answer = as_("operator").post(
        f"/api/manifests/{manifest['id']}/scans", content_type="multipart/form-data",
        data={"client_scan_id": "f-1", "image": (io.BytesIO(b"not an image"), "f.png")})
    assert answer.status_code == 422
    assert "object at 0x" not in answer.get_data(as_text=True)
    assert "JPEG, PNG" in answer.json["error"]


def manifest_body(**changes) -> dict:
    line = {"line_no": 1, "sku": "SKU-1", "name": "Item", "declared_qty": 2,
            "unit_value": "12.50", "gross_weight_kg": "1.2"}
    head = {"manifest_no": "MF-H-1", "bill_no": "BL-1"}
    for key, value in changes.items():
        (head if key in head else line)[key] = value
    return {**head, "lines": [line]}


@pytest.mark.parametrize("changes, field", [
    ({"unit_value": "1E+30"}, "unit_value"),
    ({"unit_value": "1E+999999"}, "unit_value"),
    ({"unit_value": 1e30}, "unit_value"),
    ({"gross_weight_kg": "9E+999999999"}, "gross_weight_kg"),
    ({"unit_value": "-3"}, "unit_value"),
    ({"declared_qty": "٥"}, "declared_qty"),
    ({"declared_qty": BIG}, "declared_qty"),
    ({"declared_qty": "1" * 5000}, "declared_qty"),  # past int()'s digit limit: was a 500
    ({"line_no": "9" * 20}, "line_no"),
    ({"declared_qty": "１２"}, "declared_qty"),
    ({"declared_qty": 1e300}, "declared_qty"),
    ({"manifest_no": 'MF"; filename="x'}, "manifest_no"),
    ({"manifest_no": "MF\r\nX-Injected: 1"}, "manifest_no"),
    ({"manifest_no": "MF-📦"}, "manifest_no"),
    ({"bill_no": "=HYPERLINK(1)"}, "bill_no"),
    ({"name": "Item\x00"}, "name"),
])
def test_manifests_refuse_what_the_domain_does_not_mean(as_, db, changes, field):
    answer = as_("supervisor").post("/api/manifests", json=manifest_body(**changes))
    assert answer.status_code == 422, answer.json
    assert field in [e.get("field") for e in answer.json["errors"]]
    assert db.execute("SELECT count(*) FROM manifests").fetchone() == (0,)


def test_a_csv_quantity_of_thousands_of_digits_is_a_row_error(as_, db):
    body = f"manifest_no,line_no,sku,name,declared_qty\nMF-H-2,1,S,N,{'7' * 5000}\n"
    answer = as_("supervisor").post("/api/manifests", data=body.encode(), content_type="text/csv")
    assert answer.status_code == 422, answer.json
    [error] = answer.json["errors"]
    assert error["row"] == 2 and error["field"] == "declared_qty"
    assert error["message"].startswith("a whole number from 1 to 10000000, got '777")
    assert len(error["message"]) < 100
    assert db.execute("SELECT count(*) FROM manifests").fetchone() == (0,)


@pytest.mark.parametrize("value, number", [(12, 12), ("12", 12), (" +12 ", 12), (12.0, 12),
                                           ("0012", 12)])
def test_manifest_quantities_are_read_as_before(as_, value, number):
    answer = as_("supervisor").post("/api/manifests", json=manifest_body(declared_qty=value))
    assert answer.status_code == 201, answer.json
    assert answer.json["lines"][0]["declared_qty"] == number


@pytest.mark.parametrize("reading", ["1E+30", 1e30, "9E+999999999", -5, "٥"])
def test_gate_readings_are_plain_bounded_numbers(as_, reading):
    answer = as_("supervisor").post("/api/gate/passes", json={
        "plate": "沪A12345", "direction": "I", "weighbridge_kg": reading})
    assert answer.status_code == 422
    assert answer.json["errors"][0]["field"] == "weighbridge_kg"


def test_a_csv_of_blank_lines_is_refused_before_it_is_read_through(as_, db):
    body = b"manifest_no,line_no,sku,name,declared_qty\n" + b"\n" * 14_000_000
    answer = as_("supervisor").post("/api/manifests", data=body, content_type="text/csv")
    assert answer.status_code == 422 and "rows" in answer.json["error"]
    assert answer.json["errors"] == [{"row": 110_002, "message": "too many rows",
                                      "code": "too_many_rows", "message_zh": "行数过多"}]
    assert db.execute("SELECT count(*) FROM manifests").fetchone() == (0,)


def test_a_reconciliation_pdf_is_bounded_in_lines(as_):
    lines = [{"line_no": n, "sku": f"S{n}", "name": "Item", "declared_qty": 1}
             for n in range(1, 2_002)]
    created = as_("supervisor").post("/api/manifests", json={"manifest_no": "MF-BIG",
                                                             "lines": lines})
    assert created.status_code == 201
    path = f"/api/manifests/{created.json['id']}/reconciliation"
    refused = as_("operator").get(path + "?format=pdf")
    assert refused.status_code == 413 and "format=xlsx" in refused.json["error"]
    assert as_("operator").get(path + "?format=xlsx").status_code == 200


@pytest.mark.parametrize("path, body, field", [
    ("discrepancies", {"line_no": 1, "kind": ["short"], "qty": 1}, "kind"),
    ("discrepancies", {"line_no": 1, "kind": "SHORT", "qty": 1}, "kind"),
    ("discrepancies", {"line_no": 1, "kind": "short", "qty": 1, "corrects": 1,
                       "action": "undo"}, "action"),
])
def test_choices_are_read_by_the_one_reader(as_, db, manifest, path, body, field):
    before = counts(db)
    answer = as_("supervisor").post(f"/api/manifests/{manifest['id']}/{path}", json=body)
    assert answer.status_code == 422, answer.json
    [error] = [e for e in answer.json["errors"] if e["field"] == field]
    assert error["message"].startswith("one of ") and ", got " in error["message"]
    assert counts(db) == before


def test_an_inspection_names_its_pallet_choices(as_, imported):
    body = passing_inspection([1, 2, 3])
    body["pallets"][0].update(material="WOOD", disposition=None)
    answer = as_("operator").post(f"/api/manifests/{imported['id']}/inspections", json=body)
    assert answer.status_code == 422
    assert {(e["field"], e["message"]) for e in answer.json["errors"]} == {
        ("material", "one of wood, plastic, metal, paper, none, got 'WOOD'"),
        ("disposition", "one of pass, fumigate, destroy, return is required")}


# What the fuzzer (tests/web/test_fuzz.py) found, each kept as a test of its own.

@pytest.mark.parametrize("method, path", [
    ("GET", f"/api/manifests/{BIG}/inspections"), ("POST", f"/api/manifests/{BIG}/sync"),
    ("POST", f"/api/manifests/{10**18}/scans"), ("POST", f"/api/manifests/{BIG}/scans"),
])
def test_a_number_beyond_the_database_is_not_found_whatever_the_method(as_, method, path):
    scan = {"code": "U000000000017", "client_scan_id": "big-1"}
    answer = as_("admin").open(path, method=method, json=scan)
    assert answer.status_code == 404


@pytest.mark.parametrize("path, allowed", [
    ("/api/release-orders", {"GET", "POST"}), ("/api/manifests/1/scans", {"GET", "POST"}),
])
def test_a_method_not_allowed_says_which_are(as_, path, allowed):
    answer = as_("admin").open(path, method="TRACE")
    assert answer.status_code == 405 and answer.json["status"] == 405
    assert allowed <= {m.strip() for m in answer.headers["Allow"].split(",")}


@pytest.mark.parametrize("query, field", [
    ("format=csv&format=pdf", "format"), ("format=", "format"), ("after=", "after"),
])
def test_a_query_argument_given_twice_or_empty_is_refused(as_, manifest, query, field):
    mid = manifest["id"]
    path = "scans" if field == "after" else "reconciliation"
    answer = as_("operator").get(f"/api/manifests/{mid}/{path}?{query}")
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == field


def test_a_length_limit_counts_the_spaces_sent_around_the_text(as_, db):
    line = {"line_no": 1, "sku": " " + "S" * 64, "name": "x", "declared_qty": 1}
    before = counts(db)
    answer = as_("supervisor").post("/api/manifests", json={"manifest_no": "MF-LEN",
                                                            "lines": [line]})
    assert answer.status_code == 422 and answer.json["errors"][0]["field"] == "sku"
    assert counts(db) == before


def test_labels_documents_are_bounded_and_say_how_to_choose_fewer(as_, manifest, monkeypatch):
    from tally import labelling

    monkeypatch.setattr(labelling, "MAX_LABELS_LISTED", 3)
    mid = manifest["id"]
    as_("supervisor").post(f"/api/manifests/{mid}/labels", json={"line_no": 1, "count": 4})
    for path in ("labels", "labels.pdf", "labels.zpl"):
        answer = as_("operator").get(f"/api/manifests/{mid}/{path}")
        assert answer.status_code == 413, path
        assert "choose a line" in answer.json["error"]
    answer = as_("operator").get(f"/api/manifests/{mid}/labels?line_no=2")
    assert answer.status_code == 200 and answer.json["labels"] == []  # a line: within bounds


@pytest.mark.parametrize("line_no", [[1], {"a": 1}, True, "1"])
def test_an_inspection_check_names_its_line_by_number(as_, db, imported, line_no):
    body = passing_inspection([1, 2, 3])
    body["checks"][0]["line_no"] = line_no
    before = counts(db)
    answer = as_("operator").post(f"/api/manifests/{imported['id']}/inspections", json=body)
    assert answer.status_code == 422
    assert answer.json["errors"][0]["field"] == "line_no"
    assert counts(db) == before


@pytest.mark.parametrize("query", ["size=", "size=٥٠x٣٠", "dpi=204"])
def test_a_label_document_checks_its_own_arguments_first(as_, manifest, monkeypatch, query):
    from tally import labelling

    monkeypatch.setattr(labelling, "MAX_LABELS_LISTED", 0)  # listing would be a 413
    for kind in ("pdf", "zpl"):
        answer = as_("operator").get(f"/api/manifests/{manifest['id']}/labels.{kind}?{query}")
        assert answer.status_code == 422, kind


def test_an_amount_stored_by_an_earlier_version_is_a_clear_conflict_at_confirm(as_, db, manifest):
    from tests.web.test_api import issue, scan

    mid = manifest["id"]
    for i, code in enumerate(issue(as_, mid, 1, 3) + issue(as_, mid, 2, 2) + issue(as_, mid, 3, 1)):
        scan(as_, mid, code, f"legacy-{i}")
    # What the readers of earlier builds let through (issue 11: confirm then failed forever).
    db.execute("UPDATE manifest_lines SET unit_value = '1E+30' WHERE manifest_id = ? AND"
               " line_no = 2", [mid])
    db.conn.commit()
    before = as_("operator").get(f"/api/manifests/{mid}").json["status"]
    refused = as_("supervisor").post(f"/api/manifests/{mid}/tally/confirm")
    assert refused.status_code == 409
    assert refused.json["errors"][0]["line_no"] == 2
    assert refused.json["errors"][0]["field"] == "unit_value"
    # Nothing changed: the tally stays open to be confirmed once the value is corrected.
    assert as_("operator").get(f"/api/manifests/{mid}").json["status"] == before
