"""GET /api/codes and scans naming a carton, through the Flask test client: what the scan page
asks, and the lots the reconciliation's exports then show."""

import csv
import io
import zipfile
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from tally import units
from tests.web.test_api import issue, scan

XLSX_LOTS = "xl/worksheets/sheet3.xml"


def carton(days_to_expiry: int, batch: str = "LOT-A7") -> str:
    """Line 1's carton (GTIN 09300633603168) expiring that many days from the warehouse's
    today, as a 2D scanner sends it: symbology identifier, GS after the batch."""
    expiry = datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=days_to_expiry)
    return f"]d20109300633603168{expiry:17%y%m%d}10{batch}\x1d21C1"


def lookup(as_, code, mid=None):
    query = f"code={quote(code)}" + (f"&manifest={mid}" if mid else "")
    return as_("operator").get(f"/api/codes?{query}")


def test_lookups_answer_what_a_code_is(as_, manifest):
    mid = manifest["id"]
    job = lookup(as_, units.job_code(mid))
    assert job.status_code == 200, job.json
    assert job.json["kind"] == "job" and job.json["manifest"]["manifest_no"] == "MF-TEST-1"
    assert job.json["stage"]["key"] == "not_counted"
    issue(as_, mid, 1, 2, box_no="BOX-1")
    [box] = as_("operator").get(f"/api/manifests/{mid}/labels?box_no=BOX-1").json["labels"][:1]
    assert box["box_no"] == "BOX-1"
    product = lookup(as_, "9300633603168", mid).json
    assert product["kind"] == "product" and product["lines"][0]["labels"] == 2
    soon = lookup(as_, carton(10), mid).json
    assert soon["kind"] == "carton" and soon["expiry_soon"] and soon["days_to_expiry"] == 10
    assert lookup(as_, "hello", mid).json == {"kind": "unknown", "code": "hello"}


def test_bad_lookups_are_refused_in_the_error_shape(as_, manifest):
    for query, status in (("", 422), ("code=", 422), ("code=a&code=b", 422),
                          (f"code={'9' * 129}", 422), ("code=%00", 422),
                          (f"code={units.job_code(999)}", 404),
                          (f"code={units.box_code(999)}", 404),
                          (f"code={quote('(01)09300633603168(17)271340')}", 422),
                          ("code=hello&manifest=x", 422)):
        response = as_("operator").get(f"/api/codes?{query}")
        assert response.status_code == status, (query, response.json)
        assert response.json["ok"] is False and response.json["errors"] is not None
    assert as_("operator").get("/api/codes?code=x", headers={"Authorization": ""}
                               ).status_code == 401


def test_a_scan_naming_a_carton_records_its_lot_and_the_exports_show_it(as_, client, tokens,
                                                                        manifest):
    mid = manifest["id"]
    codes = issue(as_, mid, 1, 3)
    path = f"/api/manifests/{mid}/scans"
    bad = as_("operator").post(path, json={"code": codes[0], "client_scan_id": "k0",
                                           "carton": "(01)09300633603169"})
    assert bad.status_code == 422 and bad.json["errors"][0]["field"] == "carton"
    assert as_("operator").get(path).json["scans"] == []  # nothing recorded
    for i, (code, days) in enumerate(zip(codes, (10, 10, 400), strict=True)):
        answer = as_("operator").post(path, json={"code": code, "client_scan_id": f"k{i + 1}",
                                                  "carton": carton(days, f"LOT-{days}")})
        assert answer.status_code == 200, answer.json
        assert answer.json["results"][0]["lot"]["batch"] == f"LOT-{days}"
    scan(as_, mid, issue(as_, mid, 2, 1)[0], "k9")  # a unit counted from no carton

    report = as_("operator").get(f"/api/manifests/{mid}/reconciliation").json
    lots = report["lines"][0]["lots"]
    assert [(lot["batch"], lot["counted"], lot["expiry_soon"]) for lot in lots] == [
        ("LOT-10", 2, True), ("LOT-400", 1, False)]
    assert report["totals"]["expiry_soon"] == 2 and report["lines"][1]["lots"] == []

    text = as_("operator").get(f"/api/manifests/{mid}/reconciliation?format=csv").data
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert "LOT-10 exp " in rows[0]["lots"] and "临期 expiry soon" in rows[0]["lots"]
    assert rows[0]["units_expiring_soon"] == "2" and rows[1]["lots"] == ""
    book = as_("operator").get(f"/api/manifests/{mid}/reconciliation?format=xlsx").data
    with zipfile.ZipFile(io.BytesIO(book)) as xlsx:
        assert 'name="Lots"' in xlsx.read("xl/workbook.xml").decode()
        assert xlsx.read(XLSX_LOTS).decode().count("<row ") == 3  # header + 2 lots
        assert "LOT-400" in xlsx.read("xl/sharedStrings.xml").decode()
    assert client.post("/login", data={"token": tokens["operator"]}).status_code == 302
    page = client.get(f"/manifests/{mid}/report")
    assert page.status_code == 200
    assert page.data.decode().count('data-testid="lot"') == 2


def test_before_counting_the_csv_says_not_counted(as_, manifest):
    text = as_("operator").get(f"/api/manifests/{manifest['id']}/reconciliation?format=csv")
    rows = list(csv.DictReader(io.StringIO(text.data.decode("utf-8-sig"))))
    assert [row["status"] for row in rows[:3]] == ["not_counted"] * 3
