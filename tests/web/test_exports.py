"""Reconciliation exports (XLSX, PDF) and printing labels to a network printer, through the
Flask test client."""

import io
import re
import socket
import threading
import zipfile

import pypdfium2
import pytest

from tests.web.test_api import issue, scan

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def short_line_2_with_correction(as_, mid):
    """Lines 1 and 3 counted in full, line 2 one short; the short recorded, then replaced."""
    for i, code in enumerate(issue(as_, mid, 1, 3) + issue(as_, mid, 2, 1) + issue(as_, mid, 3, 1)):
        scan(as_, mid, code, f"x-{i}")
    first = as_("operator").post(f"/api/manifests/{mid}/discrepancies", json={
        "line_no": 2, "kind": "short", "qty": 1, "note": "箱内只有 1 件",
        "disposition": "按实收 settle on actual received"})
    assert first.status_code == 201, first.json
    replaced = as_("supervisor").post(f"/api/manifests/{mid}/discrepancies", json={
        "corrects": first.json["id"], "action": "replace", "line_no": 2, "kind": "short",
        "qty": 1, "note": "复点确认 recounted", "disposition": "按实收 settle on actual received"})
    assert replaced.status_code == 201, replaced.json


def test_reconciliation_xlsx(as_, manifest):
    mid = manifest["id"]
    short_line_2_with_correction(as_, mid)
    response = as_("operator").get(f"/api/manifests/{mid}/reconciliation?format=xlsx")
    assert response.status_code == 200
    assert response.mimetype == XLSX
    assert "reconciliation-MF-TEST-1.xlsx" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.data)) as book:
        assert book.testzip() is None
        names = set(book.namelist())
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml",
                "xl/worksheets/sheet2.xml", "xl/sharedStrings.xml"} <= names
        workbook = book.read("xl/workbook.xml").decode()
        strings = book.read("xl/sharedStrings.xml").decode()
        sheet1 = book.read("xl/worksheets/sheet1.xml").decode()
        sheet2 = book.read("xl/worksheets/sheet2.xml").decode()
    assert 'name="Reconciliation"' in workbook and 'name="Discrepancies"' in workbook
    # Chinese text survives as UTF-8 in the shared strings.
    for text in ("婴儿奶粉 900g", "纸尿裤 L", "箱内只有 1 件", "复点确认 recounted",
                 "按实收 settle on actual received", "MF-TEST-1", "BL-1", "短少 Short"):
        assert text in strings, text
    # Numbers are cells of numeric type: <c r="D12" s="..."><v>3</v></c> (no t="s").
    numbers = {ref: float(value) for ref, value in re.findall(
        r'<c r="([A-Z]+\d+)"(?: s="\d+")?><v>([-\d.]+)</v></c>', sheet1)}
    row_of_line = {int(v): int(ref[1:]) for ref, v in numbers.items() if ref.startswith("A")}
    assert sorted(row_of_line) == [1, 2, 3]
    row = row_of_line[2]
    assert numbers[f"D{row}"] == 2 and numbers[f"E{row}"] == 1 and numbers[f"F{row}"] == -1
    assert numbers[f"H{row}"] == -1 and numbers[f"I{row}"] == 0  # explained, unexplained
    # The totals are formulas with their values cached, so a viewer shows them at once.
    totals = row_of_line[3] + 1
    assert re.search(rf'<c r="D{totals}" s="\d+"><f>SUM\(D\d+:D\d+\)</f><v>6</v></c>', sheet1)
    assert re.search(rf'<c r="E{totals}" s="\d+"><f>SUM\(E\d+:E\d+\)</f><v>5</v></c>', sheet1)
    # The second sheet holds both records: the replaced one no longer in force.
    assert sheet2.count("<row ") == 3  # header + 2 records
    assert "<pane " in sheet1  # frozen header


def test_reconciliation_pdf(as_, manifest):
    mid = manifest["id"]
    short_line_2_with_correction(as_, mid)
    response = as_("operator").get(f"/api/manifests/{mid}/reconciliation?format=pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    document = pypdfium2.PdfDocument(response.data)
    try:
        assert len(document) >= 1
        image = document[0].render(scale=1).to_pil().convert("L")
        assert image.getextrema()[0] < 100  # something is printed on it
    finally:
        document.close()
    unknown = as_("operator").get(f"/api/manifests/{mid}/reconciliation?format=docx")
    assert unknown.status_code == 422 and unknown.json["errors"][0]["field"] == "format"
    assert as_("operator").get(f"/api/manifests/{mid}/reconciliation?format=json").json[
        "totals"]["counted"] == 5


class FakePrinter:
    """A raw-TCP "port 9100" printer on loopback: it keeps every job it receives."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(10)
        self.port = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self.received = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            connection, _ = self.server.accept()
        except OSError:
            return
        with connection:
            connection.settimeout(10)
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        self.jobs.append(b"".join(chunks))
        self.received.set()

    def close(self):
        self.server.close()
        self.thread.join(timeout=10)


@pytest.fixture
def printer(app):
    fake = FakePrinter()
    app.config["PRINTER"] = f"127.0.0.1:{fake.port}"
    yield fake
    fake.close()


def test_print_to_network_printer(as_, manifest, printer):
    mid = manifest["id"]
    codes = issue(as_, mid, 1, 3, "BOX-1") + issue(as_, mid, 2, 2, "BOX-2")
    sent = as_("operator").post(f"/api/manifests/{mid}/labels/print",
                                json={"line_no": 1, "dpi": 300, "size": "60x40"})
    assert sent.status_code == 200, sent.json
    assert sent.json == {"sent": 4, "printer": f"127.0.0.1:{printer.port}", "box_labels": 1}
    assert printer.received.wait(10)
    [job] = printer.jobs
    assert job.count(b"^XA") == 4 and job.count(b"^XZ") == 4  # BOX-1's label, its 3 units
    for code in codes[:3]:
        assert code.encode() in job
    assert codes[3].encode() not in job
    assert "婴儿奶粉 900g".encode() in job  # ^CI28: field data is UTF-8
    events = as_("operator").get(f"/api/manifests/{mid}/events").json["events"]
    printed = [e for e in events if e["name"] == "labels-printed"]
    assert len(printed) == 1 and printed[0]["details"]["count"] == 4
    assert printed[0]["details"]["box_labels"] == 1


def test_print_one_reprinted_copy(as_, manifest, printer):
    mid = manifest["id"]
    code = issue(as_, mid, 3, 1)[0]
    assert as_("operator").post(f"/api/labels/{code}/reprint",
                                json={"reason": "污损 smudged"}).status_code == 201
    sent = as_("operator").post(f"/api/manifests/{mid}/labels/print",
                                json={"codes": [code], "copy": 1})
    assert sent.status_code == 200 and sent.json["sent"] == 1
    assert printer.received.wait(10)
    assert printer.jobs[0].count(b"^XA") == 1 and b"COPY 1" in printer.jobs[0]


def test_print_refusals(app, as_, manifest):
    mid = manifest["id"]
    code = issue(as_, mid, 1, 1)[0]
    app.config["PRINTER"] = None
    unset = as_("operator").post(f"/api/manifests/{mid}/labels/print", json={"dpi": 203})
    assert unset.status_code == 409 and unset.json["errors"][0]["field"] == "printer"
    # A port nothing listens on: bound then closed, so the connection is refused at once.
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    app.config["PRINTER"] = f"127.0.0.1:{port}"
    down = as_("operator").post(f"/api/manifests/{mid}/labels/print", json={})
    assert down.status_code == 503, down.json
    assert down.json["printer"] == f"127.0.0.1:{port}" and "cannot be reached" in down.json["error"]
    bad = as_("operator").post(f"/api/manifests/{mid}/labels/print",
                               json={"dpi": 600, "size": "tiny", "codes": "U1", "copy": 1})
    assert bad.status_code == 422
    assert {e["field"] for e in bad.json["errors"]} == {"dpi", "size", "codes", "copy"}
    unknown = as_("operator").post(f"/api/manifests/{mid}/labels/print",
                                   json={"codes": [code, "U000000000000"]})
    assert unknown.status_code == 422 and unknown.json["errors"][0]["unit"] == "U000000000000"
    never = as_("operator").post(f"/api/manifests/{mid}/labels/print",
                                 json={"codes": [code], "copy": 2})
    assert never.status_code == 404
    nothing = as_("operator").post(f"/api/manifests/{mid}/labels/print", json={"line_no": 3})
    assert nothing.status_code == 404
    app.config["PRINTER"] = "printer.local:http"
    assert as_("operator").post(f"/api/manifests/{mid}/labels/print",
                                json={}).status_code == 409
    assert as_("operator").post(f"/api/manifests/{mid}/labels/print", json=[]).status_code == 422


def test_one_label_pdf_and_its_copy(as_, manifest):
    mid = manifest["id"]
    code = issue(as_, mid, 1, 1)[0]
    original = as_("operator").get(f"/api/labels/{code}.pdf?size=60x40")
    assert original.status_code == 200 and original.mimetype == "application/pdf"
    assert as_("operator").get(f"/api/labels/{code}.pdf?copy=1").status_code == 404
    as_("operator").post(f"/api/labels/{code}/reprint", json={"reason": "torn"})
    copy = as_("operator").get(f"/api/labels/{code}.pdf?copy=1&sheet=a4")
    assert copy.status_code == 200 and f"label-{code}-copy1.pdf" in copy.headers[
        "Content-Disposition"]
    document = pypdfium2.PdfDocument(copy.data)
    try:
        assert len(document) == 1 and round(document[0].get_size()[0]) == 595  # A4 sheet
    finally:
        document.close()
