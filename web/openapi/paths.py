"""The operations of the OpenAPI description: ``op`` writes one with the errors its role,
method and body can answer, ``paths`` every /api route.
"""

from tally import manifests, scans
from web.auth import SAFE_METHODS
from web.openapi.pieces import (
    ANY_OBJECT,
    BOX_CODE,
    CLIENT_SCAN_ID,
    ID,
    INT,
    PARAMS,
    STRING,
    XLSX,
    array,
    binary,
    body,
    content_body,
    error,
    file_answer,
    integer,
    json_answer,
    obj,
    param,
    parameters,
    ref,
)


def op(method: str, summary: str, answers: dict, *, role: str | None = "any", tag: str,
       params=(), request: dict | None = None, errors=(), description: str = "") -> dict:
    """One operation: its answers, then the errors every caller-checked call can answer."""
    operation = {"tags": [tag], "summary": summary, "operationId": _operation_id(summary)}
    if description or role:
        operation["description"] = " ".join(
            x for x in (description, f"Role: {role}." if role else "") if x)
    if params:
        operation["parameters"] = list(params)
    if request is not None:
        operation["requestBody"] = request
    statuses = set(errors)
    if role is not None:
        statuses.add(401)
        if method.upper() not in SAFE_METHODS:
            statuses |= {403}
        if request is not None:
            statuses |= {413, 422}
        operation["security"] = ([{"bearer": []}, {"session": []}] if method.upper()
                                 in SAFE_METHODS else [{"bearer": []},
                                                       {"session": [], "csrf": []}])
    else:
        operation["security"] = []
    responses = dict(answers)
    for status in sorted(statuses):
        responses.setdefault(str(status), error(status))
    operation["responses"] = responses
    return operation


SHEET = param("sheet", "query", STRING, "the workbook's sheet (default: the first)")


def table_upload(json_schema: str, description: str) -> dict:
    """The body of a table's import: CSV, .xlsx (as the body or a form's file) or JSON."""
    return content_body({
        "text/csv": {"schema": {"type": "string"}},
        XLSX: {"schema": binary(XLSX)},
        "multipart/form-data": {"schema": obj({
            "file": binary("application/octet-stream", description="CSV or .xlsx"),
            "sheet": STRING}, optional=("sheet",), open_=True)},
        "application/json": {"schema": ref(json_schema)}}, description)


def _operation_id(summary: str) -> str:
    words = "".join(c if c.isalnum() else " " for c in summary).split()
    return words[0].lower() + "".join(w.capitalize() for w in words[1:])


def paths() -> dict:
    m = PARAMS["manifest_id"]
    i = [m, PARAMS["inspection_id"]]
    created, ok = "201", "200"
    pdf = "application/pdf"
    image_upload = {"multipart/form-data": {
        "schema": obj({"image": binary("image/*")},
                      open_=True),
        "encoding": {"image": {"contentType": "image/*"}}}}
    label_one = ("copy", "size")
    return {
        "/api/openapi.json": {"get": op(
            "get", "This document", {ok: json_answer(ANY_OBJECT, "the OpenAPI 3.1 document")},
            role=None, tag="docs")},
        "/api/docs": {"get": op(
            "get", "Read this document", {ok: file_answer("text/html", "Swagger UI")},
            role=None, tag="docs")},
        "/api/manifests": {
            "post": op("post", "Import a manifest", {
                created: json_answer(ref("Manifest"), "imported (status arrived)")},
                role="supervisor", tag="manifests", errors=(409,),
                params=[SHEET],
                request=table_upload("ManifestImport",
                    f"CSV (UTF-8 or GB18030) or .xlsx with English or Chinese headers "
                    f"(required columns {', '.join(manifests.REQUIRED)}), or JSON; at most "
                    f"{manifests.MAX_LINES} lines. 422 lists every bad row and column."),
                description="409 when the manifest_no exists."),
            "get": op("get", "List manifests", {ok: json_answer(obj({
                "manifests": array(ref("ManifestSummary"))}), "newest first")},
                tag="manifests")},
        "/api/manifests/{manifest_id}": {"get": op(
            "get", "Show a manifest", {ok: json_answer(ref("ManifestDetail"),
                                                       "with its lines and confirmed tally")},
            tag="manifests", params=[m], errors=(404,))},
        "/api/manifests/{manifest_id}/reconciliation": {"get": op(
            "get", "Reconcile", {ok: {"description": "declared vs counted per line", "content": {
                "application/json": {"schema": ref("Reconciliation")},
                "text/csv": {"schema": STRING},
                XLSX: {"schema": binary(XLSX)},
                pdf: {"schema": binary(pdf)}},
                "headers": {"Content-Disposition": {"schema": STRING}}}},
            tag="tally", params=[m, param("format", "query", {
                "enum": ["json", "csv", "xlsx", "pdf"], "default": "json"})],
            errors=(404, 413, 422),
            description="413: the PDF holds at most 2000 lines (use xlsx or csv).")},
        "/api/manifests/{manifest_id}/discrepancies": {
            "get": op("get", "List discrepancies", {ok: json_answer(obj({
                "discrepancies": array(ref("Discrepancy"))}))}, tag="tally", params=[m],
                errors=(404,)),
            "post": op("post", "Record a discrepancy", {
                created: json_answer(ref("Discrepancy"), "recorded")},
                role="operator (corrections: supervisor)", tag="tally", params=[m],
                errors=(404, 409), request=body({"anyOf": [ref("DiscrepancyRecord"),
                                                           ref("DiscrepancyReversal")]}),
                description="A correction is a new record replacing or reversing one in "
                            "force; 409 when the tally is not open.")},
        "/api/manifests/{manifest_id}/tally/confirm": {"post": op(
            "post", "Confirm the tally", {ok: json_answer(ref("TallyConfirmed"),
                                                          "tallied: the inventory list queued")},
            role="supervisor", tag="tally", params=[m], errors=(404, 409),
            description="409 lists the lines whose difference is unexplained (before any unit "
                        "is counted: one condition, counting, says counting has not started).")},
        "/api/manifests/{manifest_id}/sync": {
            "get": op("get", "Show the sync log", {ok: json_answer(ref("SyncStatus"))},
                      tag="customs", params=[m], errors=(404,),
                      description="Every message sent to customs, its attempts and receipts."),
            "post": op("post", "Pull receipts now", {ok: json_answer(ref("SyncStatus"))},
                       role="supervisor", tag="customs", params=[m], errors=(404, 409, 502, 503),
                       description="Data synchronization: reads every receipt customs sent "
                                   "since the last pull (each applied once, to the message "
                                   "with its SeqNo) and answers this manifest's messages.")},
        "/api/outbox/{message_id}/resend": {"post": op(
            "post", "Send a message again", {created: json_answer(obj({
                "id": INT, "kind": {"enum": ["INV101", "SAS121"]}, "idempotency_key": STRING,
                "status": {"const": "pending"}}), "the new version, queued")},
            role="supervisor", tag="customs", params=[PARAMS["message_id"]], errors=(404, 409),
            description="A message that was not sent (refused before customs stored it, or "
                        "given up by the Single Window client) queued again as its next "
                        "version, the same payload under a new key; 409 for any other.")},
        "/api/manifests/{manifest_id}/events": {"get": op(
            "get", "List audit events", {ok: json_answer(obj({"events": array(ref("Event"))}),
                                                         "oldest first, 500 at most")},
            tag="manifests", params=[m, PARAMS["after"]], errors=(404, 422))},
        "/api/manifests/{manifest_id}/labels": {
            "post": op("post", "Issue labels", {created: json_answer(obj({
                "labels": array(ref("IssuedLabel"))}), "the new unit codes")},
                role="operator", tag="labels", params=[m], errors=(404, 409),
                request=body(ref("LabelIssue"))),
            "get": op("get", "List labels", {ok: json_answer(obj({
                "labels": array(ref("Label"))}), "issued (not void), in code order")},
                tag="labels", params=[m, *parameters("line_no", "box_no")],
                errors=(404, 413, 422))},
        "/api/manifests/{manifest_id}/labels.pdf": {"get": op(
            "get", "Labels as PDF", {ok: file_answer(pdf, "one label a page, or A4 sheets",
                                                     download=True)},
            tag="labels", params=[m, *parameters("line_no", "box_no", "size", "sheet",
                                                 "dpi300", "box_labels")],
            errors=(404, 413, 422))},
        "/api/manifests/{manifest_id}/labels.zpl": {"get": op(
            "get", "Labels as ZPL", {ok: file_answer("application/zpl", "for a label printer",
                                                     download=True)},
            tag="labels", params=[m, *parameters("line_no", "box_no", "size", "dpi203",
                                                 "box_labels")],
            errors=(404, 413, 422))},
        "/api/manifests/{manifest_id}/labels/print": {"post": op(
            "post", "Print labels", {ok: json_answer(obj({
                "sent": INT, "printer": STRING,
                "box_labels": integer(0, description="of the labels sent, box labels")}))},
            role="operator", tag="labels", params=[m], errors=(404, 409, 413, 503),
            request=body(ref("LabelPrint")),
            description="Sends ZPL to the site's network printer (TALLY_PRINTER); 409 when "
                        "none is configured, 503 when it cannot be reached.")},
        "/api/manifests/{manifest_id}/job.svg": {"get": op(
            "get", "Job barcode as SVG", {ok: file_answer(
                "image/svg+xml", "Code128 of the consignment's job code (J...) with the code "
                                 "and its manifest number, 56 mm wide")},
            tag="labels", params=[m], errors=(404,),
            description="Scanning it on the scan page opens the consignment.")},
        "/api/manifests/{manifest_id}/job.png": {"get": op(
            "get", "Job barcode as PNG", {ok: file_answer("image/png", "the job barcode")},
            tag="labels", params=[m, PARAMS["dpi203"]], errors=(404, 422))},
        "/api/manifests/{manifest_id}/boxes": {"get": op(
            "get", "List boxes", {ok: json_answer(obj({"boxes": array(ref("Box"))}),
                                                  "in the order first labelled")},
            tag="labels", params=[m], errors=(404,))},
        **{f"/api/boxes/{{box_code}}.{ext}": {"get": op(
            "get", f"Box label as {ext.upper()}", {ok: file_answer(
                media, "the box label: box code, box number, manifest, unit labels issued",
                download=ext in ("pdf", "zpl"))},
            tag="labels", params=[BOX_CODE, *parameters(*extra)], errors=(404, 422))}
           for ext, media, extra in (("png", "image/png", ("size", "dpi203")),
                                     ("svg", "image/svg+xml", ("size",)),
                                     ("zpl", "application/zpl", ("size", "dpi203")),
                                     ("pdf", pdf, ("size", "sheet", "dpi300")))},
        "/api/boxes/{box_code}/print": {"post": op(
            "post", "Print a box label", {ok: json_answer(obj({
                "sent": INT, "printer": STRING, "box_labels": INT}))},
            role="operator", tag="labels", params=[BOX_CODE], errors=(404, 409, 503),
            request=body(ref("BoxPrint")),
            description="The box label alone, as ZPL to the site's network printer.")},
        "/api/labels/{code}.png": {"get": op(
            "get", "Label as PNG", {ok: file_answer("image/png", "the label")}, tag="labels",
            params=[PARAMS["code"], *parameters(*label_one, "dpi203")], errors=(404, 422))},
        "/api/labels/{code}.svg": {"get": op(
            "get", "Label as SVG", {ok: file_answer("image/svg+xml", "the label")},
            tag="labels", params=[PARAMS["code"], *parameters(*label_one)], errors=(404, 422))},
        "/api/labels/{code}.zpl": {"get": op(
            "get", "Label as ZPL", {ok: file_answer("application/zpl", "the label")},
            tag="labels", params=[PARAMS["code"], *parameters(*label_one, "dpi203")],
            errors=(404, 422))},
        "/api/labels/{code}.pdf": {"get": op(
            "get", "Label as PDF", {ok: file_answer(pdf, "the label", download=True)},
            tag="labels", params=[PARAMS["code"], *parameters(*label_one, "sheet", "dpi300")],
            errors=(404, 422))},
        "/api/labels/{code}/reprint": {"post": op(
            "post", "Record a reprint", {created: json_answer(ref("Reprint"),
                                                              "the copy's addresses")},
            role="operator", tag="labels", params=[PARAMS["code"]], errors=(404, 409),
            request=body(ref("Reason")))},
        "/api/labels/{code}/void": {"post": op(
            "post", "Void a label", {ok: json_answer(ref("VoidedLabel"))}, role="supervisor",
            tag="labels", params=[PARAMS["code"]], errors=(404, 409),
            request=body(ref("Reason")),
            description="Later scans of the unit answer void; 409 once it is counted.")},
        "/api/manifests/{manifest_id}/scans": {
            "post": op("post", "Scan", {ok: json_answer(obj({
                "results": array(ref("ScanResult"))}), "one result per code, in order")},
                role="operator", tag="scans", errors=(404, 409),
                params=[PARAMS["manifest_id"],
                        param("blind", "query", {"type": "integer", "enum": [0, 1]},
                              "1: a blind count (answers leave out counted and declared)")],
                request=content_body({
                    "application/json": {"schema": {"anyOf": [ref("WedgeScan"),
                                                              ref("ScanBatch")]}},
                    "multipart/form-data": {
                        "schema": obj({"image": binary("image/*"),
                                       "client_scan_id": CLIENT_SCAN_ID,
                                       "device": {"type": "string", "maxLength": 64},
                                       "carton": {"type": "string", "maxLength": 128}},
                                      optional=("device", "carton"), open_=True),
                        "encoding": {"image": {"contentType": "image/*"}}}},
                    f"A keyboard-wedge scan, a batch of at most {scans.MAX_BATCH} (one "
                    "transaction), or a camera frame (multipart image)."),
                description="The same client_scan_id sent again gets the first answer back and "
                            "counts nothing; 409 when it was used for another scan or the "
                            "tally is not open."),
            "get": op("get", "List scans", {ok: json_answer(obj({
                "scans": array(ref("LedgerEntry"))}), "the scan ledger, 500 at most")},
                tag="scans", params=[m, PARAMS["after"]], errors=(404, 422))},
        "/api/codes": {"get": op(
            "get", "Look a code up", {ok: json_answer(ref("CodeLookup"),
                                                      "what the code is; nothing is recorded")},
            tag="scans", errors=(404, 422),
            params=[param("code", "query", {"type": "string", "minLength": 1,
                                            "maxLength": 128}, "the barcode's text",
                          required=True),
                    param("manifest", "query", ID, "the consignment being tallied: its lines "
                                                   "are searched for a product's GTIN")],
            description="A job barcode (J...) names a consignment, a box label (B...) a box, "
                        "a unit label (U...) a unit; a GTIN/EAN/UPC or a GS1 carton barcode "
                        "the consignment's lines with that GTIN, and a carton's batch and "
                        "expiry with how near that date is (TALLY_EXPIRY_WARNING_DAYS).")},
        "/api/decode": {"post": op(
            "post", "Decode a frame", {ok: json_answer(obj({
                "barcodes": array(ref("Barcode"))}), "barcodes found; nothing is recorded")},
            tag="scans", request=content_body(image_upload))},
        "/api/settings": {
            "get": op("get", "Show the company settings", {ok: json_answer(ref("Settings"))},
                      role="admin", tag="settings", errors=(403,),
                      description="Each setting with its value,"
                      " its source (stored, or the environment's default) and the message "
                      "elements it fills; missing lists those without a value."),
            "put": op("put", "Set company settings", {ok: json_answer(ref("SettingsSaved"))},
                      role="admin", tag="settings", request=body(ref("SettingsUpdate")),
                      description="Audited (event settings-changed); 422 lists every wrong "
                                  "field and stores nothing.")},
        "/api/account-book": {
            "get": op("get", "List the account book", {ok: json_answer(obj({
                "items": array(ref("AccountBookItem"))}), "by record number")},
                role="supervisor", tag="settings", errors=(403,)),
            "post": op("post", "Import the account book", {
                created: json_answer(ref("AccountBookImported"), "the book replaced")},
                role="supervisor", tag="settings",
                params=[SHEET],
                request=table_upload("AccountBookImport",
                    "The bonded account book (电子账册): item no. (sku, 料号) -> record no. "
                    "(putrec_seqno, 备案序号), HS code, name, declared unit, legal unit and the "
                    "legal quantity of one declared unit (a second legal unit optional). CSV or "
                    ".xlsx with English or Chinese headers, or JSON. 422 lists every bad row; "
                    "nothing is imported unless all are right."),
                description="Replaces the whole book (event account-book-imported).")},
        "/api/users": {"post": op(
            "post", "Create a user token", {created: json_answer(ref("UserToken"))},
            role="admin", tag="users", request=body(ref("UserRequest")),
            description="Creates the user if new (or sets its role) and issues a token.")},
        "/api/manifests/{manifest_id}/inspections": {
            "post": op("post", "Record an inspection", {created: json_answer(
                ref("InspectionRecord"))}, role="operator", tag="inspection", params=[m],
                errors=(404, 409), request=body(ref("Inspection")),
                description="409 once the inspection has passed."),
            "get": op("get", "List inspections", {ok: json_answer(obj({
                "inspections": array(ref("InspectionRecord"))}))}, tag="inspection",
                params=[m], errors=(404,))},
        "/api/manifests/{manifest_id}/inspections/{inspection_id}": {"get": op(
            "get", "Show an inspection", {ok: json_answer(ref("InspectionRecord"))},
            tag="inspection", params=i, errors=(404,))},
        "/api/manifests/{manifest_id}/inspections/{inspection_id}/tasks/{task_id}/done": {
            "post": op("post", "Record a task done", {ok: json_answer(ref("InspectionRecord"))},
                       role="operator", tag="inspection", params=[*i, PARAMS["task_id"]],
                       errors=(404, 409), request=body(ref("TaskDone")),
                       description="A fumigation, destruction or return is done.")},
        "/api/manifests/{manifest_id}/inspections/{inspection_id}/signature": {"post": op(
            "post", "Sign the record sheet", {ok: json_answer(ref("InspectionRecord"))},
            role="operator", tag="inspection", params=i, errors=(404, 409),
            request=body(ref("Signature")))},
        "/api/manifests/{manifest_id}/inspections/{inspection_id}/signature.png": {"get": op(
            "get", "Show the signature", {ok: file_answer("image/png", "as signed")},
            tag="inspection", params=i, errors=(404,))},
        "/api/manifests/{manifest_id}/inspections/{inspection_id}/record.pdf": {"get": op(
            "get", "Print the record sheet", {ok: file_answer(pdf, "the inspection record "
                                                                   "sheet", download=True)},
            tag="inspection", params=i, errors=(404,))},
        "/api/manifests/{manifest_id}/workflow": {"get": op(
            "get", "Show the workflow", {ok: json_answer(ref("Workflow"))}, tag="customs",
            params=[m], errors=(404,),
            description="Status, history and the next actions with what blocks them.")},
        "/api/manifests/{manifest_id}/write-off": {"post": op(
            "post", "Write off", {ok: json_answer(ref("WriteOff"), "written off: the tally "
                                                                   "may start")},
            role="supervisor", tag="customs", params=[m], errors=(404, 409, 502, 503),
            request=body(ref("WriteOffRequest")),
            description="White card, manifest write-off, then the tally status must be "
                        "正常理货 (else 409).")},
        "/api/manifests/{manifest_id}/inventory": {"get": op(
            "get", "Show the inventory list", {ok: json_answer(ref("InventoryList"),
                                                               "the latest INV101 as sent")},
            tag="customs", params=[m], errors=(404,))},
        "/api/manifests/{manifest_id}/inventory.xml": {"get": op(
            "get", "Inventory list as XML", {ok: file_answer("application/xml",
                                                             "the INV101 message")},
            tag="customs", params=[m], errors=(404,))},
        "/api/manifests/{manifest_id}/inventory/correction": {"post": op(
            "post", "Correct the inventory list", {created: json_answer(
                ref("InventoryList"), "the change declaration, queued")},
            role="supervisor", tag="customs", params=[m], errors=(404, 409),
            request=body(ref("InventoryCorrection")),
            description="After customs returned the list; quantities cannot change.")},
        "/api/release-orders": {
            "post": op("post", "Create a release order", {created: json_answer(
                ref("ReleaseOrder"), "created, its goods held; declared with its truck")},
                role="supervisor",
                tag="gate", errors=(404, 409), request=body(ref("ReleaseOrderRequest"))),
            "get": op("get", "List release orders", {ok: json_answer(obj({
                "release_orders": array(ref("ReleaseOrderSummary"))}), "newest first")},
                tag="gate")},
        "/api/release-orders/{number}": {"get": op(
            "get", "Show a release order", {ok: json_answer(ref("ReleaseOrder"))}, tag="gate",
            params=[PARAMS["number"]], errors=(404,))},
        "/api/release-orders/{number}/vehicle": {"post": op(
            "post", "Associate a vehicle", {ok: json_answer(ref("ReleaseOrder"))},
            role="supervisor", tag="gate", params=[PARAMS["number"]], errors=(404, 409),
            request=body(ref("VehicleRequest")),
            description="Vehicle-order association (车单关联): the truck is written into the "
                        "release order, which is then declared to customs with it (SAS121). "
                        "totalWt = tare + frame + container + the goods' gross weight.")},
        "/api/gate/passes": {
            "post": op("post", "Pass the gate", {
                created: json_answer(ref("GateDecision"), "pass: the barrier lifts"),
                "409": error(409, "refused, with every reason (logged too)",
                             ref("GateRefusal"))},
                role="operator", tag="gate", request=body(ref("GatePassRequest"))),
            "get": op("get", "Show the gate log", {ok: json_answer(obj({
                "passes": array(ref("GateLogEntry"))}), "newest first")}, tag="gate")},
    }
