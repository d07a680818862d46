"""Job barcodes, box labels, product GTINs and GS1 cartons: what a scanned code is, and the batch
and expiry a unit counted from a carton takes into the reconciliation."""

from datetime import date

import pytest

from tally import codes, gs1, labelling, scans, units
from tally.errors import NotFoundError, ValidationError
from tally.reconcile import load_reconciliation

TODAY = date(2026, 12, 3)
MILK = "9300633603168"  # line 1's GTIN in the test manifest (EAN-13)
# A carton of line 1: GTIN-14 of the EAN, expiry 2027-02-01 (60 days on), batch, serial.
CARTON = "]d2" + "0109300633603168" + "17270201" + "10LOT-A7\x1d" + "21C0042"
FAR_CARTON = "(01)09300633603168(17)291231(10)LOT-B1"


def resolve(db, text, mid=None, warning_days=90):
    return codes.resolve(db, text, manifest_id=mid, today=TODAY, warning_days=warning_days)


def test_job_box_and_unit_codes_carry_a_damm_digit_and_their_own_letter():
    assert units.job_code(7) == "J000000000076"
    assert units.read_code("j000000000076") == ("job", 7)
    assert units.read_code(units.box_code(12)) == ("box", 12)
    assert units.read_code(units.make_code(5)) == ("unit", 5)
    assert units.read_code("J000000000071") is None  # a check digit that fails
    assert units.read_code("X000000000076") is None


def test_a_job_barcode_names_its_consignment(db, mid):
    found = resolve(db, units.job_code(mid))
    assert found["kind"] == "job"
    assert found["manifest"] == {"id": mid, "manifest_no": "MF-TEST-1",
                                 "status": "written_off"}
    with pytest.raises(NotFoundError):
        resolve(db, units.job_code(mid + 1000))


def test_a_box_gets_its_label_when_labels_are_first_issued_to_it(db, mid):
    labelling.issue_labels(db, mid, line_no=1, count=2, box_no="BOX-7", user_id=None)
    labelling.issue_labels(db, mid, line_no=2, count=1, box_no="BOX-7", user_id=None)
    labelling.issue_labels(db, mid, line_no=2, count=1, box_no="BOX-8", user_id=None)
    boxes = labelling.list_boxes(db, mid)
    assert [(b["box_no"], b["labels"]) for b in boxes] == [("BOX-7", 3), ("BOX-8", 1)]
    found = resolve(db, boxes[0]["code"], mid)
    assert found["kind"] == "box" and found["box_no"] == "BOX-7" and found["labels"] == 3
    assert found["manifest"]["id"] == mid
    with pytest.raises(NotFoundError):
        resolve(db, units.box_code(999))


def test_a_product_gtin_shows_its_lines_and_counts_nothing(db, mid):
    [label] = labelling.issue_labels(db, mid, line_no=1, count=1, user_id=None)
    scans.record_scans(db, mid, [scans.Scan("c1", (label["code"],))], user_id=None)
    before = db.execute("SELECT count(*) FROM scans").fetchone()[0]
    found = resolve(db, MILK, mid)
    assert found["kind"] == "product" and found["gtin"] == "0" + MILK
    assert found["lines"] == [{"line_no": 1, "sku": "SKU-MILK", "name": "婴儿奶粉 900g",
                               "declared": 3, "counted": 1, "labels": 1}]
    assert resolve(db, "0" + MILK, mid)["lines"][0]["line_no"] == 1  # as a GTIN-14 too
    assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == before
    assert resolve(db, "5901234123457", mid) == {
        "kind": "product", "code": "5901234123457", "gtin": "05901234123457", "lines": []}
    # a product number with a wrong check digit is no product
    assert resolve(db, "9300633603169", mid)["kind"] == "unknown"


def test_a_gs1_carton_gives_gtin_batch_expiry_and_how_near_it_is(db, mid):
    found = resolve(db, CARTON, mid)
    assert found["kind"] == "carton"
    assert (found["gtin"], found["batch"], found["serial"]) == ("09300633603168", "LOT-A7",
                                                                "C0042")
    assert found["expiry"] == "2027-02-01" and found["days_to_expiry"] == 60
    assert found["expiry_soon"] and not found["expired"]
    assert [line["line_no"] for line in found["lines"]] == [1]
    assert not resolve(db, CARTON, mid, warning_days=30)["expiry_soon"]
    far = resolve(db, FAR_CARTON, mid)
    assert far["expiry"] == "2029-12-31" and not far["expiry_soon"]
    with pytest.raises(ValidationError):
        resolve(db, "(01)09300633603168(17)271340", mid)  # month 13


@pytest.mark.parametrize("text", [
    CARTON, CARTON[3:], "(01)09300633603168(17)270201(10)LOT-A7(21)C0042"])
def test_carton_barcodes_read_with_or_without_symbology_identifier(text):
    carton = gs1.parse_carton(text)
    assert carton == gs1.Carton("09300633603168", "LOT-A7", date(2027, 2, 1), "C0042")


def test_units_counted_from_a_carton_take_its_batch_and_expiry(db, mid):
    milk = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=3, user_id=None)]
    [diaper] = [x["code"] for x in labelling.issue_labels(db, mid, line_no=2, count=1,
                                                        user_id=None)]
    carton = gs1.parse_carton(CARTON)
    far = gs1.parse_carton(FAR_CARTON)

    def scan(cid, code, box=None):
        return scans.record_scans(db, mid, [scans.Scan(cid, (code,), carton=box)],
                                  user_id=None)[0]

    first = scan("c1", milk[0], carton)
    assert first["outcome"] == "counted"
    assert first["lot"] == {"batch": "LOT-A7", "expiry": "2027-02-01"}
    assert scan("c2", milk[1], carton)["lot"]["batch"] == "LOT-A7"
    assert scan("c3", milk[2], far)["lot"] == {"batch": "LOT-B1", "expiry": "2029-12-31"}
    # the milk carton's GTIN is not the diapers' line: counted, but no lot recorded
    wrong = scan("c4", diaper, carton)
    assert wrong["outcome"] == "counted" and wrong["lot"] is None
    # a retry gets the first answer and records nothing new
    assert scan("c1", milk[0], far) == first

    report = load_reconciliation(db, mid, expiry=(TODAY, 90))
    lines = {line["line_no"]: line for line in report["lines"]}
    assert [(lot["batch"], lot["expiry"], lot["counted"], lot["expiry_soon"])
            for lot in lines[1]["lots"]] == [("LOT-A7", "2027-02-01", 2, True),
                                             ("LOT-B1", "2029-12-31", 1, False)]
    assert lines[2]["lots"] == [] and lines[3]["lots"] == []
    assert report["totals"]["expiry_soon"] == 2
    assert report["expiry_warning_days"] == 90


def test_before_any_count_lines_show_not_counted_not_short(db, mid):
    report = load_reconciliation(db, mid)
    assert not report["counting_begun"]
    assert {line["shown"] for line in report["lines"]} == {"not_counted"}
    assert {line["status"] for line in report["lines"]} == {"short"}
