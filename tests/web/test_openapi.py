"""The OpenAPI description (web/openapi/): a valid 3.1 document, every route in it and nothing
else, and real answers of a walk through the whole clearance validated against it."""

import io
import re
import socket
import threading

import pytest
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from openapi_core.exceptions import OpenAPIError
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator
from werkzeug.datastructures import FileStorage
from werkzeug.test import EnvironBuilder, encode_multipart

from tally import outbox, units
from tally.customs.client import CustomsClient
from tally.demo import DEMO_SETTINGS
from tests.conftest import MANIFEST_CSV, WRITE_OFF, auth, book_items, signature_data_url
from tests.tally.test_account_book import workbook as sheet
from tests.web.test_manifest_xlsx import workbook
from web.api import scans as scan_endpoint
from web.front import CONTENT_SECURITY_POLICY, PUBLIC_PATHS

# The scan endpoint is answered beside Flask (web/front.py), so it is not in app.url_map.
SCAN = ("POST", "/api/manifests/{manifest_id}/scans")


def described(document: dict) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items()
            for method in item}


def routes(app) -> set[tuple[str, str]]:
    """(method, OpenAPI path) of every route of the app under /api, the scan endpoint too."""
    found = {SCAN}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            found |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


@pytest.fixture
def document(client):
    response = client.get("/api/openapi.json")  # no token: the description is public
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.json


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_route_is_described_and_every_description_is_a_route(app, document):
    assert scan_endpoint.PATH.fullmatch(SCAN[1].replace("{manifest_id}", "12"))
    assert described(document) == routes(app)
    for path in PUBLIC_PATHS:
        assert document["paths"][path]["get"]["security"] == []


def test_a_path_with_an_id_or_a_number_can_answer_404(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if "{" in path:
                assert "404" in operation["responses"], (method, path)


def test_authentication_is_described_per_operation(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer",
                                 "description": "an API token"}
    assert schemes["session"]["in"] == "cookie" and schemes["session"]["name"] == "session"
    assert schemes["csrf"]["in"] == "header" and schemes["csrf"]["name"] == "X-CSRF-Token"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if path in PUBLIC_PATHS:
                continue
            expected = ({"session": []} if method == "get"
                        else {"session": [], "csrf": []})
            assert operation["security"] == [{"bearer": []}, expected], (method, path)
            assert "401" in operation["responses"]


def test_the_docs_page_and_its_files_are_served_by_the_service(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert page.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    sources = re.findall(r'(?:src|href)="(?!data:)([^"]+)"', page.text)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    for source in sources:
        with client.get(source) as asset:
            assert asset.status_code == 200 and asset.data, source
    assert client.get("/vendor/swagger-ui/index.html").status_code == 404
    assert client.get("/vendor/swagger-ui/..%2Fflask_swagger_ui.py").status_code == 404


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def book_workbook(items: list[dict]) -> bytes:
    """The account book as a workbook, header first."""
    return sheet([list(items[0]), *([str(v) for v in item.values()] for item in items)])


class Checked:
    """The test client, with every request and its answer validated against the document.

    ``valid`` says whether the request itself is valid per the document (by default, unless the
    answer is 401 or 422: the document does not allow what those refuse); None skips the check.
    """

    def __init__(self, client, tokens, document):
        self.client, self.tokens = client, tokens
        # Files are bytes; the document says strings of binary format: read them as text.
        as_text = dict.fromkeys(file_types(document), lambda value, **_: value.decode("latin-1"))
        self.api = OpenAPI.from_dict(document, config=Config(
            extra_media_type_deserializers=as_text))
        self.templates = [(re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(p)) + "$"),
                           p) for p in document["paths"]]
        self.exercised: dict[tuple[str, str], set[int]] = {}

    def __call__(self, role, method, path, status, *, valid="unless refused", files=None,
                 **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if role not in (None, "session"):
            headers.update(auth(self.tokens[role]))
        if files is not None:  # encoded once here, so both copies of the request carry it
            boundary, kwargs["data"] = encode_multipart(files)
            kwargs["content_type"] = f"multipart/form-data; boundary={boundary}"
        response = self.client.open(path, method=method, headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.json or response.data)
        if role == "session":  # the client sends its cookie; the copy shows it too
            headers["Cookie"] = f"session={self.client.get_cookie('session').value}"
        request = EnvironBuilder(path, method=method, headers=headers, **kwargs).get_request()
        checked = WerkzeugOpenAPIRequest(request)
        if valid == "unless refused":
            valid = status not in (401, 422)
        if valid:
            self.api.validate_request(checked)
        elif valid is not None:
            with pytest.raises(OpenAPIError):
                self.api.validate_request(checked)
        self.api.validate_response(checked, WerkzeugOpenAPIResponse(response))
        template = next(t for pattern, t in self.templates if pattern.match(request.path))
        self.exercised.setdefault((method, template), set()).add(status)
        return response


def file_types(document: dict) -> set[str]:
    """The media types of files in the document's requests, answers and multipart parts."""
    found = set()

    def visit(node):
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("content", "encoding"):
                    found.update(value if key == "content" else
                                 (v.get("contentType") for v in value.values()))
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    visit(document["paths"])
    return found - {None, "application/json", "multipart/form-data"} | {
        "application/octet-stream"}


@pytest.fixture
def call(client, tokens, document):
    return Checked(client, tokens, document)


def deliver(db, customs_url: str) -> None:
    """What the outbox worker does: send every due message to customs."""
    client = CustomsClient(customs_url, timeout=5)
    for message in outbox.claim_due(db, lease_seconds=5):
        assert outbox.deliver(db, client, message, base=0, maximum=0) == "delivered"


@pytest.fixture
def printer():
    """A label printer on a free loopback port: it takes one job and keeps it."""
    server = socket.create_server(("127.0.0.1", 0))
    received = []

    def take():
        try:
            connection, _ = server.accept()
        except OSError:  # closed: the test ended before printing
            return
        with connection:
            received.append(b"".join(iter(lambda: connection.recv(65536), b"")))

    thread = threading.Thread(target=take, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.getsockname()[1]}", received
    server.close()
    thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Operations the walk cannot reach, and why (none: it reaches every one).
NOT_EXERCISED: set[tuple[str, str]] = set()


def test_real_answers_of_the_whole_clearance_match_the_document(app, db, customs, call,
                                                                 document, printer):
    op, sv, ad = "operator", "supervisor", "admin"
    call(None, "GET", "/api/openapi.json", 200)
    call(None, "GET", "/api/docs", 200)
    call(None, "GET", "/api/manifests", 401)
    call(op, "GET", "/api/manifests", 200)

    # Manifests: every import form, and the refusals.
    csv = MANIFEST_CSV.encode()
    call(op, "POST", "/api/manifests", 403, data=csv, content_type="text/csv")
    manifest = call(sv, "POST", "/api/manifests", 201, data=csv, content_type="text/csv").json
    mid, m = manifest["id"], f"/api/manifests/{manifest['id']}"
    call(sv, "POST", "/api/manifests", 409, data=csv, content_type="text/csv")
    call(sv, "POST", "/api/manifests", 201, data=workbook("MF-OA-XL"),
         content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    call(sv, "POST", "/api/manifests", 201, files={"file": FileStorage(
        io.BytesIO(MANIFEST_CSV.replace("MF-TEST-1", "MF-OA-MP").encode()), "m.csv")})
    call(sv, "POST", "/api/manifests", 201, json={
        "manifest_no": "MF-OA-JS", "lines": [{"line_no": 1, "sku": "S", "name": "N",
                                              "declared_qty": 4, "unit_value": "2.50"}]})
    call(sv, "POST", "/api/manifests", 422, json={"manifest_no": "MF OA", "lines": []})
    call(sv, "POST", "/api/manifests", 413, valid=None,
         json={"manifest_no": "MF-BIG", "pad": "x" * int(app.config["MAX_CONTENT_LENGTH"])})
    call(op, "GET", m, 200)
    call(op, "GET", "/api/manifests/999999", 404)

    # Inspection: an unmarked wooden pallet is fumigated, then the escort signs.
    ok = {"result": "pass"}
    inspection = call(op, "POST", f"{m}/inspections", 201, json={
        "location": "Bay 3", "ciq_officer": "Zhang Wei", "customs_officer": "Li Na",
        "pallets": [{"pallet_no": "P1", "material": "wood", "mark_text": "",
                     "disposition": "fumigate"},
                    {"pallet_no": "P2", "material": "wood", "mark_text": "IPPC CN-000123 HT",
                     "disposition": "pass"}],
        "checks": [{"line_no": n, "nature": ok, "origin": ok, "condition": ok, "quantity": ok,
                    "value": ok} for n in (1, 2, 3)]}).json
    i = f"{m}/inspections/{inspection['id']}"
    task = inspection["pallets"][0]["task"]["id"]
    call(op, "POST", f"{m}/inspections", 422, json={"pallets": [{"material": "stone"}]})
    call(op, "GET", f"{m}/inspections", 200)
    call(op, "GET", i, 200)
    call(op, "GET", f"{m}/inspections/999999", 404)
    call(op, "GET", f"{i}/signature.png", 404)
    call(sv, "POST", f"{m}/write-off", 409, json=WRITE_OFF)
    call(op, "POST", f"{i}/tasks/{task}/done", 200, json={"note": "fumigated (SF, 24 h)"})
    call(op, "POST", f"{i}/tasks/{task}/done", 409, json={})
    call(op, "POST", f"{i}/signature", 422, json={"name": "Wang Fang", "signature": "not base64!"})
    signed = call(op, "POST", f"{i}/signature", 200, json={"name": "Wang Fang",
                                                           "signature": signature_data_url()})
    assert signed.json["result"] == "passed"
    call(op, "POST", f"{i}/signature", 409, json={"name": "Li Si",
                                                  "signature": signature_data_url()})
    call(op, "GET", f"{i}/signature.png", 200)
    call(op, "GET", f"{i}/record.pdf", 200)
    call(op, "POST", f"{m}/inspections", 409, json={"checks": [
        {"line_no": n, "nature": ok, "origin": ok, "condition": ok, "quantity": ok,
         "value": ok} for n in (1, 2, 3)]})

    # Write-off: customs down, then done.
    call(sv, "POST", f"{m}/write-off", 422, json={"white_card_no": "WC-1"})
    customs.set_mode("down", count=1)
    call(sv, "POST", f"{m}/write-off", 503, json=WRITE_OFF)
    call(sv, "POST", f"{m}/write-off", 200, json=WRITE_OFF)
    call(op, "GET", f"{m}/workflow", 200)

    # Company settings (admin) and the account book (supervisor): the inventory list needs both.
    call(sv, "GET", "/api/settings", 403)
    call(ad, "GET", "/api/settings", 200)
    call(sv, "PUT", "/api/settings", 403, json={"sys_id": "Z8"})
    call(ad, "PUT", "/api/settings", 422, valid=True, json={"sys_id": "Z9"})
    call(ad, "PUT", "/api/settings", 200, json=DEMO_SETTINGS)
    book = book_items(manifest["lines"])
    header = ",".join(book[0])
    book_csv = "\n".join([header, *(",".join(str(v) for v in item.values()) for item in book)])
    call(op, "POST", "/api/account-book", 403, data=book_csv.encode(), content_type="text/csv")
    call(sv, "POST", "/api/account-book", 422, valid=True, content_type="text/csv",
         data=(header + "\nS,x,1,N,007,035,0\n").encode())
    call(sv, "POST", "/api/account-book", 201, data=book_workbook(book), content_type=XLSX)
    call(sv, "POST", "/api/account-book", 201, files={"file": FileStorage(
        io.BytesIO(book_csv.encode()), "book.csv")})
    call(sv, "POST", "/api/account-book", 201, json={"items": book})
    call(op, "GET", "/api/account-book", 403)
    assert len(call(sv, "GET", "/api/account-book", 200).json["items"]) == 3

    # Labels: issue, list, render, print, reprint, void.
    codes = {n: [label["code"] for label in call(op, "POST", f"{m}/labels", 201, json={
        "line_no": n, "count": count, "box_no": f"BOX-{n}"}).json["labels"]]
        for n, count in ((1, 3), (2, 2), (3, 1))}
    spoiled = call(op, "POST", f"{m}/labels", 201, json={"line_no": 3, "count": 1}).json
    call(op, "POST", f"{m}/labels", 422, json={"line_no": 1, "count": 0})
    call(op, "POST", f"{m}/labels", 422, valid=True, json={"line_no": 9, "count": 1})
    call(op, "GET", f"{m}/labels?line_no=1", 200)
    call(op, "GET", f"{m}/labels?line_no=one", 422)
    call(op, "GET", f"{m}/labels.pdf?box_no=BOX-1&size=50x30", 200)
    call(op, "GET", f"{m}/labels.pdf?box_no=NONE", 404)
    call(op, "GET", f"{m}/labels.zpl?dpi=300", 200)
    code = codes[1][0]
    png = call(op, "GET", f"/api/labels/{code}.png", 200).data
    call(op, "GET", f"/api/labels/{code}.png?size=5x3", 422, valid=True)
    call(op, "GET", f"/api/labels/{code}.svg?size=60x40", 200)
    call(op, "GET", f"/api/labels/{code}.zpl", 200)
    call(op, "GET", f"/api/labels/{code}.pdf?sheet=a4", 200)
    call(op, "GET", "/api/labels/U000000000000.png", 404)
    call(op, "POST", f"/api/labels/{code}/reprint", 201, json={"reason": "smudged"})
    call(op, "POST", f"/api/labels/{code}/reprint", 422, json={})
    call(op, "GET", f"/api/labels/{code}.png?copy=2", 404)
    call(op, "POST", f"/api/labels/{spoiled['labels'][0]['code']}/void", 403,
         json={"reason": "torn"})
    call(sv, "POST", f"/api/labels/{spoiled['labels'][0]['code']}/void", 200,
         json={"reason": "torn"})
    call(sv, "POST", f"/api/labels/{spoiled['labels'][0]['code']}/void", 409,
         json={"reason": "torn"})
    # The job barcode and the box labels.
    call(op, "GET", f"{m}/job.svg", 200)
    call(op, "GET", f"{m}/job.png?dpi=300", 200)
    call(op, "GET", "/api/manifests/999999/job.svg", 404)
    call(op, "GET", "/api/manifests/999999/job.png", 404)
    call(op, "GET", f"{m}/job.png?dpi=600", 422)
    box = call(op, "GET", f"{m}/boxes", 200).json["boxes"][0]["code"]
    call(op, "GET", "/api/manifests/999999/boxes", 404)
    # What a scanned code is: job, box, unit, product, carton, unknown; refusals.
    for scanned in (units.job_code(mid), box, spoiled["labels"][0]["code"], "9300633603168",
                 "]d20109300633603168172912311" + "0LOT%1D21X", "hello"):
        call(op, "GET", f"/api/codes?code={scanned}&manifest={mid}", 200)
    call(op, "GET", "/api/codes?code=J000000000000", 404)
    call(op, "GET", "/api/codes", 422)
    for ext in ("png", "svg", "zpl", "pdf"):
        call(op, "GET", f"/api/boxes/{box}.{ext}?size=60x40", 200)
        call(op, "GET", f"/api/boxes/B000000000000.{ext}", 404)
        call(op, "GET", f"/api/boxes/{box}.{ext}?size=5x3", 422, valid=True)
    call(op, "GET", f"{m}/labels.pdf?box_no=BOX-1&box_labels=0", 200)
    call(op, "GET", f"{m}/labels.zpl?box_labels=2", 422)
    call(None, "POST", f"/api/boxes/{box}/print", 401, json={})
    call(op, "POST", f"/api/boxes/{box}/print", 409, json={"dpi": 300})
    call(op, "POST", "/api/boxes/B000000000000/print", 404, json={})
    call(op, "POST", f"{m}/labels/print", 409, json={"line_no": 1})
    app.config["PRINTER"] = f"127.0.0.1:{free_port()}"
    call(op, "POST", f"{m}/labels/print", 503, json={"line_no": 1})
    call(op, "POST", f"/api/boxes/{box}/print", 503, json={"size": "60x40"})
    app.config["PRINTER"], received = printer
    call(op, "POST", f"{m}/labels/print", 200, json={"codes": [code], "copy": 1, "dpi": 300})
    call(op, "POST", f"{m}/labels/print", 422, json={"copy": 1})

    # Scans: a wedge read, a batch, a camera frame, a blind count; the ledger.
    s = f"{m}/scans"
    call(op, "POST", s, 200, json={"code": code, "client_scan_id": "w-1", "device": "HH-01"})
    call(op, "POST", s, 409, json={"code": codes[1][1], "client_scan_id": "w-1"})
    call(op, "POST", s, 422, json={"code": "", "client_scan_id": "w-2"})
    call(op, "POST", s, 200, json={"scans": [
        {"code": c, "client_scan_id": f"b-{c}"} for c in [*codes[1][1:], codes[2][0]]]})
    call(op, "POST", s, 200, files={"client_scan_id": "frame-1", "device": "phone-7",
                                    "image": FileStorage(io.BytesIO(png), "f.png")})
    frame = call(op, "GET", f"/api/labels/{codes[3][0]}.png", 200).data
    call(op, "POST", s + "?blind=1", 200, files={
        "client_scan_id": "frame-2", "image": FileStorage(io.BytesIO(frame), "f.png")})
    call(op, "POST", s + "?blind=2", 422, json={"code": code, "client_scan_id": "w-3"})
    call(op, "POST", "/api/manifests/999999/scans", 404,
         json={"code": code, "client_scan_id": "w-4"})
    call(op, "GET", s, 200)
    call(op, "GET", s + "?after=x", 422)
    call(op, "POST", "/api/decode", 200, files={"image": FileStorage(io.BytesIO(png), "l.png")})
    call(op, "POST", "/api/decode", 422, files={"other": FileStorage(io.BytesIO(png), "l.png")})

    # Reconciliation, discrepancies, confirmation.
    r = f"{m}/reconciliation"
    for fmt in ("json", "csv", "xlsx", "pdf"):
        call(op, "GET", f"{r}?format={fmt}", 200)
    call(op, "GET", f"{r}?format=doc", 422)
    call(sv, "POST", f"{m}/tally/confirm", 409)
    call(op, "POST", f"{m}/tally/confirm", 403)
    recorded = call(op, "POST", f"{m}/discrepancies", 201, json={
        "line_no": 2, "kind": "short", "qty": 1, "note": "carton held 1",
        "disposition": "按实收"}).json
    call(op, "POST", f"{m}/discrepancies", 422, json={"line_no": 2, "kind": "lost", "qty": 1})
    correction = {"corrects": recorded["id"], "action": "replace", "line_no": 2,
                  "kind": "short", "qty": 1, "note": "recounted"}
    call(op, "POST", f"{m}/discrepancies", 403, json=correction)
    call(sv, "POST", f"{m}/discrepancies", 201, json=correction)
    call(op, "GET", f"{m}/discrepancies", 200)
    call(op, "GET", f"{m}/inventory", 404)
    call(sv, "POST", f"{m}/tally/confirm", 200)
    call(op, "POST", f"{m}/labels", 409, json={"line_no": 1, "count": 1})
    call(op, "GET", f"{m}/sync", 200)
    queued = db.execute("SELECT id FROM outbox").fetchone()[0]
    call(op, "POST", f"/api/outbox/{queued}/resend", 403)
    call(sv, "POST", f"/api/outbox/{queued}/resend", 409)  # pending: nothing to send again
    call(sv, "POST", "/api/outbox/999999/resend", 404)
    call(op, "GET", f"{m}/events", 200)
    call(op, "GET", f"{m}/events?after=-1", 422)

    # The inventory list: returned by customs, corrected, approved.
    customs.set_mode("returned", count=1)
    deliver(db, customs.url)
    call(sv, "POST", f"{m}/sync", 200)
    call(op, "GET", f"{m}/inventory", 200)
    call(op, "GET", f"{m}/inventory.xml", 200)
    call(sv, "POST", f"{m}/inventory/correction", 422, json={"changes": []})
    change = {"changes": [{"gdsSeqno": 1, "gdecd": "1901109000"}], "note": "HS code"}
    call(sv, "POST", f"{m}/inventory/correction", 201, json=change)
    call(sv, "POST", f"{m}/inventory/correction", 409, json=change)
    deliver(db, customs.url)
    call(sv, "POST", f"{m}/sync", 200)

    # Release order, vehicle, gate.
    call(sv, "POST", "/api/release-orders", 422, json={"bind_type": "any", "manifests": [mid]})
    call(sv, "POST", "/api/release-orders", 404, json={"bind_type": "one_truck_one_ticket",
                                                       "manifests": [999999]})
    order = call(sv, "POST", "/api/release-orders", 201, json={
        "bind_type": "one_truck_one_ticket", "manifests": [mid]}).json
    call(sv, "POST", "/api/release-orders", 409, json={"bind_type": "one_truck_one_ticket",
                                                       "manifests": [mid]})
    call(op, "GET", "/api/release-orders", 200)
    call(op, "GET", "/api/release-orders/NO-SUCH", 404)
    truck = {"plate": "沪A12345", "weighbridge_kg": 5000}
    call(op, "POST", "/api/gate/passes", 409, json=truck)
    call(op, "POST", "/api/gate/passes", 422, json={"weighbridge_kg": 5000})
    # The association declares the release order with its truck; customs then approves it.
    v = f"/api/release-orders/{order['etps_preent_no']}/vehicle"
    call(sv, "POST", v, 422, json={"plate": "沪A12345"})
    call(sv, "POST", "/api/release-orders/NO-SUCH/vehicle", 404,
         json={"plate": "沪A12345", "tare_wt": 4000, "frame_wt": 1000})
    bound = call(sv, "POST", v, 200, json={"plate": "沪A12345", "ic_card": "IC-7001",
                                           "tare_wt": 4000, "frame_wt": "1000.5",
                                           "driver": "Chen Gang", "mileage_km": 42}).json
    deliver(db, customs.url)
    customs.set_mode("down", count=1)
    call(sv, "POST", f"{m}/sync", 503)
    call(sv, "POST", f"{m}/sync", 200)
    number = call(op, "GET", f"/api/release-orders/{order['etps_preent_no']}", 200).json[
        "passport_no"]
    assert call(op, "GET", f"/api/release-orders/{number}", 200).json["status"] == "approved"
    call(op, "POST", "/api/gate/passes", 201,
         json={**truck, "weighbridge_kg": bound["total_wt"], "direction": "I"})
    call(op, "GET", "/api/gate/passes", 200)
    call(op, "GET", f"{m}/workflow", 200)

    # Users, and a signed-in session with its CSRF header.
    call(ad, "POST", "/api/users", 201, json={"name": "li.wei", "role": "operator"})
    call(sv, "POST", "/api/users", 403, json={"name": "x", "role": "admin"})
    call(ad, "POST", "/api/users", 422, json={"name": "x", "role": "boss"})
    call(ad, "POST", "/api/users", 422, json={"name": 5, "role": "operator"})
    assert call.client.post("/login", data={"token": call.tokens[sv]}).status_code == 302
    with call.client.session_transaction() as session:
        csrf = session["csrf"]
    call("session", "GET", f"{m}/discrepancies", 200)
    call("session", "POST", f"{m}/sync", 403, valid=False)
    call("session", "POST", f"{m}/sync", 200, headers={"X-CSRF-Token": csrf})

    assert received[0].count(b"^XA") == 1
    missing = described(document) - set(call.exercised) - NOT_EXERCISED
    assert not missing, f"operations never exercised: {sorted(missing)}"
