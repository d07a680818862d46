"""The API's OpenAPI 3.1 description, written once: GET /api/openapi.json, and /api/docs.

The document is built from small pieces (the one error shape, parameters, the bounds of the
domain's field readers) and takes its limits and enums from the code that enforces them, so a
limit is stated once. tests/web/test_openapi.py checks it against the app's routes and validates
real answers against it. Swagger UI's files come from the flask-swagger-ui package (installed
with the project): served from its directory, never from a CDN.
"""

import functools
import importlib.util
import os
from importlib.metadata import version

from flask import Blueprint, Response, abort, current_app, json, send_from_directory

from labels.render import MAX_LABEL_MM, MIN_LABEL_MM
from tally import (
    account_book,
    company,
    conditions,
    inspections,
    labelling,
    manifests,
    release_orders,
    scans,
)
from tally.customs.messages import EDITABLE_LINE_FIELDS
from tally.fields import CONTROL, DECIMAL, MAX_INTEGER, SIGNED_DIGITS
from tally.signatures import MAX_SIGNATURE_BYTES
from tally.users import ROLES
from tally.workflow import ReleaseStatus, Status
from web.api import MAX_JSON_DEPTH
from web.auth import SAFE_METHODS

bp = Blueprint("openapi", __name__)
# Swagger UI's files that the page loads (from the package's dist directory).
SWAGGER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_NO_CONTROL = CONTROL.pattern[1:-1]  # the character class of fields.py, without brackets
# Text as tally.fields reads it: no control characters, not blank (written to match in one pass:
# the leading spaces cannot be taken for the first other character).
TEXT = f"^[^\\S{_NO_CONTROL}]*[^\\s{_NO_CONTROL}][^{_NO_CONTROL}]*$"
OPTIONAL_TEXT = f"^[^{_NO_CONTROL}]*$"
SPACES = f"[^\\S{_NO_CONTROL}]*"  # around a value, stripped by the readers
DECIMAL = f"^{DECIMAL.pattern}$"
LABEL_SIZE = r"^\s*[0-9]{1,3}(\.[0-9]+)?\s*[xX×*]\s*[0-9]{1,3}(\.[0-9]+)?\s*(mm)?\s*$"


# --- schema pieces ----------------------------------------------------------------------------


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def null(schema: dict) -> dict:
    """The schema, or null."""
    if "type" in schema and "enum" not in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*kinds, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict, *, optional=(), open_: bool = False, **extra) -> dict:
    """An object with every property required except ``optional``; closed unless ``open_``
    (answers list every field; request bodies may carry fields the service ignores)."""
    schema = {"type": "object", "properties": properties,
              "required": [k for k in properties if k not in optional]}
    if not open_:
        schema["additionalProperties"] = False
    return {**schema, **extra}


def array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


def text(max_length: int = 200, *, required: bool = True, pattern: str | None = None,
         **extra) -> dict:
    """A text field as tally.fields.Fields.text reads it."""
    if pattern is None:
        pattern = TEXT if required else OPTIONAL_TEXT
    schema = {"type": "string", "maxLength": max_length, "pattern": pattern, **extra}
    return schema if required else null(schema)


def integer(minimum: int = 0, maximum: int = MAX_INTEGER, **extra) -> dict:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


def decimal(maximum, *, positive: bool = False, **extra) -> dict:
    """An amount or weight: a JSON number or the same written as text (14 + 5 digits)."""
    number = {"type": "number", "maximum": maximum,
              **({"exclusiveMinimum": 0} if positive else {"minimum": 0})}
    return {"anyOf": [number, {"type": "string", "pattern": DECIMAL}],
            "description": "at most 5 decimal places" + (", above zero" if positive else ""),
            **extra}


def binary(media_type: str, **extra) -> dict:
    """A file's bytes (an upload or a download)."""
    return {"type": "string", "format": "binary", "contentMediaType": media_type, **extra}


STRING, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
ANY_OBJECT = {"type": "object"}
TIME = {"type": "string", "description": "ISO 8601, UTC"}
DATE = {"type": "string", "format": "date"}
CLIENT_SCAN_ID = {"type": "string", "pattern": f"^{scans.CLIENT_ID.pattern}$",
                  "description": "the client's id of this scan (e.g. a UUID): the same id sent "
                                 "again gets the first answer back"}


# The one error shape (web/errors.py); errors may add details such as current_status. Codes
# and both languages' texts come from tally/catalogue.py.
CODE = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
        "description": "a stable snake_case identifier (tally/catalogue.py) to branch on"}
ERROR = {"ok": {"const": False}, "status": integer(400, 599), "code": CODE,
         "error": {"type": "string", "description": "the message in English"},
         "error_zh": {"type": "string", "description": "the message in Simplified Chinese"},
         "errors": array({"type": "object", "required": ["code", "message", "message_zh"],
                          "properties": {"field": STRING, "code": CODE, "message": STRING,
                                         "message_zh": STRING}},
                         description="every problem found, each with its code and message in"
                                     " English and Chinese, and where: field, row, column,"
                                     " index...")}
AMOUNTS = manifests.AMOUNTS


def manifest_text(field: str, *, required: bool = True) -> dict:
    """A manifest's text field as tally/manifests.py reads a cell: its length and, for codes and
    numbers, its form, with spaces around (stripped), codes in capitals in any case, and a
    number where text is expected taken as its digits (an optional field may be blank)."""
    schema = text(manifests.TEXT_LIMITS.get(field, 64), required=required)
    if field in manifests.PATTERNS:
        pattern, hint = manifests.PATTERNS[field]
        form = pattern.pattern
        if field in manifests.CAPITALS:
            form = form.replace("A-Z", "A-Za-z")
        schema.update(pattern=f"^{SPACES}(?:{form}){'' if required else '?'}{SPACES}$",
                      description=hint)
    return {"anyOf": [schema, INT]}


def written_integer(minimum: int, maximum: int) -> dict:
    """A whole number as tally.fields reads a spreadsheet's: a JSON number, or digits in text."""
    return {"anyOf": [integer(minimum, maximum),
                      {"type": "string", "pattern": f"^\\s*{SIGNED_DIGITS.pattern}\\s*$"}]}


def schemas() -> dict:
    """components.schemas: requests, answers and the error shape."""
    decision = {"id": INT, "outcome": {"enum": ["pass", "refuse"]}, "reasons": array(STRING),
                "reasons_zh": array(STRING), "release_order": null(STRING),
                "passport_no": null(STRING),
                "total_wt": null(STRING), "weighbridge_wt": STRING, "wt_error": null(STRING),
                "at": TIME}
    discrepancy = obj({
        "id": INT, "line_no": null(INT), "kind": {"enum": list(conditions.KINDS)},
        "qty": INT, "note": null(STRING), "disposition": null(STRING),
        "action": {"enum": ["record", "replace", "reverse"]}, "supersedes_id": null(INT),
        "created_at": TIME, "recorded_by": null(STRING), "superseded_by": null(INT),
        "in_force": BOOL})
    totals = obj({k: INT for k in ("declared", "counted", "lines", "match", "short", "over",
                                   "unexplained_lines", "difference", "expiry_soon")},
                 optional=("expiry_soon",))
    lot = obj({"batch": null(STRING), "expiry": null(DATE), "counted": INT,
               "days_to_expiry": null(INT), "expiry_soon": BOOL, "expired": BOOL},
              optional=("days_to_expiry", "expiry_soon", "expired"))
    head = {"id": INT, "manifest_no": STRING, "bill_no": null(STRING),
            "status": {"enum": [s.value for s in Status]}, "created_at": TIME}
    line = obj({"id": INT, "line_no": INT, "sku": STRING, "name": STRING, "declared_qty": INT,
                **{k: null(STRING) for k in manifests.OPTIONAL}})
    check_result = obj({"result": {"enum": ["pass", "fail"]}, "note": null(STRING)})
    unmet = {"type": "object", "required": ["message"], "properties": {"message": STRING},
             "description": "an unmet condition: what blocks the step, with details"}
    release_summary = {"id": INT, "etps_preent_no": STRING, "passport_no": null(STRING),
                       "bind_typecd": {"enum": list(release_orders.BIND_TYPES)},
                       "io_typecd": {"enum": ["I", "E"]},
                       "status": {"enum": [s.value for s in ReleaseStatus]},
                       "vehicle_no": null(STRING), "total_wt": null(STRING),
                       "created_at": TIME}
    wedge = obj({
        "code": text(128, pattern="^ *[\\x21-\\x7e\\x1d][\\x20-\\x7e\\x1d]*$",
                     description="the barcode's text (printable ASCII; GS in GS1 codes)"),
        "client_scan_id": CLIENT_SCAN_ID,
        "device": text(64, required=False),
        "carton": text(128, required=False,
                       pattern="^ *([\\x21-\\x7e\\x1d][\\x20-\\x7e\\x1d]*)?$",
                       description="the GS1 barcode of the carton the unit was unpacked from: "
                                   "the counted unit takes its batch and expiry")},
        optional=("device", "carton"), open_=True)
    product_line = obj({"line_no": INT, "sku": STRING, "name": STRING, "declared": INT,
                        "counted": INT, "labels": INT})
    manifest_ref = obj({"id": INT, "manifest_no": STRING, "status": STRING})
    return {
        "Error": obj(ERROR, open_=True, description="The one error shape; some errors add "
                     "details such as current_status, action, tally or required_role."),
        # Requests.
        "ManifestImport": obj({
            "manifest_no": manifest_text("manifest_no"),
            "bill_no": manifest_text("bill_no", required=False),
            "lines": array(obj({
                "row": INT, "manifest_no": STRING,
                "line_no": written_integer(1, manifests.MAX_QTY),
                "declared_qty": written_integer(1, manifests.MAX_QTY),
                **{f: manifest_text(f, required=f in manifests.REQUIRED)
                   for f in manifests.LINE_FIELDS if f not in ("line_no", "declared_qty")
                   and f not in AMOUNTS},
                **{f: null(decimal(10**14)) for f in AMOUNTS}},
                optional=("row", "manifest_no", *manifests.OPTIONAL),
                description="numbers may also be written as text, as in a CSV cell"),
                minItems=1, maxItems=manifests.MAX_LINES)}, optional=("bill_no",), open_=True),
        "LabelIssue": obj({"line_no": integer(1),
                           "count": integer(1, labelling.MAX_LABELS_PER_REQUEST),
                           "box_no": text(32, required=False)}, optional=("box_no",),
                          open_=True),
        "LabelPrint": obj({
            "line_no": null(integer(1)), "box_no": text(32, required=False),
            "codes": array({"type": "string", "minLength": 1}, minItems=1,
                           maxItems=labelling.MAX_LABELS_LISTED),
            "copy": integer(1, 999, description="a recorded reprint; with exactly one code"),
            "dpi": {"type": "integer", "enum": [203, 300], "default": 203},
            "size": null({"type": "string", "pattern": LABEL_SIZE, "default": "50x30"}),
            "box_labels": {"type": "boolean", "default": True,
                           "description": "each box's label before its units' (not with codes)"}},
            optional=("line_no", "box_no", "codes", "copy", "dpi", "size", "box_labels"),
            open_=True,
            dependentSchemas={"copy": {"required": ["codes"],
                                       "properties": {"codes": {"maxItems": 1}}}}),
        "BoxPrint": obj({
            "dpi": {"type": "integer", "enum": [203, 300], "default": 203},
            "size": null({"type": "string", "pattern": LABEL_SIZE, "default": "50x30"})},
            optional=("dpi", "size"), open_=True),
        "Box": obj({"box_no": STRING, "code": STRING,
                    "labels": integer(0, description="unit labels (not void) issued to it")},
                   description="a box: it gets its box code the first time labels are issued "
                               "to it with its box_no"),
        "Reason": obj({"reason": {"type": "string", "maxLength": 200, "pattern": "\\S"}},
                      open_=True),
        "WedgeScan": wedge,
        "ScanBatch": obj({"scans": array(wedge, minItems=1, maxItems=scans.MAX_BATCH,
                                         description="client_scan_id unique in the batch")},
                         open_=True),
        "DiscrepancyRecord": obj({
            "line_no": null(integer(1)), "kind": {"enum": list(conditions.KINDS)},
            "qty": integer(1), "note": text(500, required=False),
            "disposition": text(500, required=False),
            "action": {"enum": ["record", "replace"], "default": "record"},
            "corrects": integer(1, description="with action replace: the record replaced")},
            optional=("line_no", "note", "disposition", "action", "corrects"), open_=True,
            description="line_no is required unless kind is wrong_item; a correction "
                        "(corrects + action) needs the supervisor role"),
        "DiscrepancyReversal": obj({
            "corrects": integer(1), "action": {"const": "reverse"},
            "note": text(500, required=False)}, optional=("note",), open_=True),
        "Inspection": obj({
            **{k: text(required=False) for k in ("location", "ciq_officer", "customs_officer")},
            "pallets": array(obj({
                "pallet_no": text(32), "material": {"enum": list(inspections.MATERIALS)},
                "mark_text": text(required=False,
                                  description="the IPPC / ISPM 15 mark as transcribed"),
                "pests_found": {"type": "boolean", "default": False},
                "pest_note": text(500, required=False),
                "disposition": {"enum": list(inspections.DISPOSITIONS)}},
                optional=("mark_text", "pests_found", "pest_note"), open_=True,
                description="wood without a valid IPPC mark, or with pests, cannot pass")),
            "checks": array(obj({
                "line_no": integer(1),
                **{aspect: obj({"result": {"enum": ["pass", "fail"]},
                                "note": text(500, required=False)}, optional=("note",),
                               open_=True, description="a failed check needs a note")
                   for aspect in inspections.ASPECTS}}, open_=True),
                description="one per manifest line, each line once (with other_lines, only "
                            "the lines that failed a check)"),
            "other_lines": {"const": "pass",
                            "description": "every line not in checks passed every check"},
            "escort": null(ref("Signature"))},
            optional=("location", "ciq_officer", "customs_officer", "pallets", "other_lines",
                      "escort"),
            open_=True),
        "Signature": obj({
            "name": text(64),
            "signature": {"type": "string", "pattern": "^(data:[^,]*,)?[A-Za-z0-9+/]*={0,2}$",
                          "maxLength": MAX_SIGNATURE_BYTES * 4 // 3 + 64,
                          "description": "the signature pad's PNG as a data URL or base64"}},
            open_=True),
        "TaskDone": obj({"note": text(500, required=False)}, optional=("note",), open_=True),
        "WriteOffRequest": obj({"transfer_order_no": text(64), "white_card_no": text(64),
                                "vehicle_no": text(64, required=False)},
                               optional=("vehicle_no",), open_=True),
        "InventoryCorrection": obj({
            "changes": array(obj({"gdsSeqno": {"type": ["integer", "string"]},
                                  **{k: {"type": ["string", "number", "null"]}
                                     for k in EDITABLE_LINE_FIELDS}},
                                 optional=EDITABLE_LINE_FIELDS, minProperties=2), minItems=1),
            "note": null({"type": "string", "maxLength": 500})}, optional=("note",),
            open_=True),
        "ReleaseOrderRequest": obj({
            "bind_type": {"enum": [*release_orders.BIND_NAMES, *release_orders.BIND_TYPES,
                                   *map(int, release_orders.BIND_TYPES)]},
            "passport_type": {"enum": ["1", "2", 1, 2], "default": "1"},
            "io_type": {"enum": ["I", "E"], "default": "I"},
            "manifests": array(integer(1), minItems=1, uniqueItems=True),
            "lines": array(obj({"manifest_id": integer(1), "line_no": integer(1),
                                "qty": integer(1)}, open_=True), minItems=1,
                           description="only to split one ticket over trucks")},
            optional=("passport_type", "io_type", "lines"), open_=True),
        "VehicleRequest": obj({
            "plate": {"type": "string", "minLength": 1, "maxLength": 32},
            **{k: null({"type": "string", "maxLength": 32})
               for k in ("ic_card", "container_no", "driver")},
            "tare_wt": decimal(release_orders.MAX_VEHICLE_KG, positive=True),
            "frame_wt": decimal(release_orders.MAX_VEHICLE_KG, positive=True),
            "container_wt": null(decimal(release_orders.MAX_VEHICLE_KG,
                                         description="required with a container_no")),
            "mileage_km": null(decimal(release_orders.MAX_VEHICLE_KG))},
            optional=("ic_card", "container_no", "driver", "container_wt", "mileage_km"),
            open_=True),
        "GatePassRequest": obj({
            "plate": null({"type": "string", "minLength": 1, "maxLength": 32}),
            "ic_card": null({"type": "string", "minLength": 1, "maxLength": 32}),
            "direction": {"enum": ["I", "E"], "default": "I"},
            "weighbridge_kg": decimal(release_orders.MAX_VEHICLE_KG, positive=True)},
            optional=("plate", "ic_card", "direction"), open_=True,
            anyOf=[{"required": ["plate"]}, {"required": ["ic_card"]}],
            description="the truck by its plate or its IC card"),
        "UserRequest": obj({"name": {"type": "string", "pattern": "\\S"},
                            "role": {"enum": list(ROLES)}}, open_=True),
        # Answers.
        "ManifestHead": obj(head),
        "ManifestLine": line,
        "ManifestSummary": obj({**head, "line_count": INT, "declared_total": INT}),
        "Manifest": obj({**head, "lines": array(ref("ManifestLine"))}),
        "ManifestDetail": obj({**head, "lines": array(ref("ManifestLine")),
                               "tally": null(obj({"confirmed_at": TIME,
                                                  "confirmed_by": null(INT),
                                                  "snapshot": ANY_OBJECT}))}),
        "Discrepancy": discrepancy,
        "Reconciliation": obj({
            "lines": array(obj({
                "line_no": INT, "sku": STRING, "name": STRING, "declared": INT, "counted": INT,
                "difference": INT, "status": {"enum": ["match", "short", "over"]},
                "shown": {"enum": ["match", "short", "over", "not_counted"],
                          "description": "status once counting has begun, before: not_counted"},
                "explained": INT, "unexplained": INT,
                "discrepancies": array(ref("Discrepancy")),
                "lots": array(lot, description="units counted per carton batch and expiry")})),
            "totals": totals, "unassigned_discrepancies": array(ref("Discrepancy")),
            "balanced": BOOL, "counting_begun": BOOL, "expiry_warning_days": INT,
            "manifest": ref("ManifestHead"),
            "scans": {"type": "object", "propertyNames": {"enum": list(scans.OUTCOMES)},
                      "additionalProperties": INT, "description": "scans by outcome"}}),
        "TallyConfirmed": obj({"manifest_id": INT, "status": {"const": Status.TALLIED.value},
                               "confirmed_at": TIME, "totals": totals, "outbox_id": INT}),
        "SyncStatus": obj({"manifest_id": INT, "messages": array(obj({
            "id": INT, "kind": {"enum": ["INV101", "SAS121"]},
            "idempotency_key": STRING,
            "seq_no": {**null(STRING), "description": "the SeqNo of customs' answer (18 digits)"},
            "status": {"enum": ["pending", "delivered", "failed"]},
            "attempts": INT, "next_attempt_at": TIME, "last_error": null(STRING),
            "created_at": TIME, "delivered_at": null(TIME),
            "resendable": {"type": "boolean",
                           "description": "not sent, and its latest version: may be sent again"},
            "attempt_log": array(obj({
                "started_at": TIME, "duration_ms": null({"type": "number"}),
                "http_status": null(INT), "outcome": {"enum": ["delivered", "retry", "rejected"]},
                "error": null(STRING)})),
            "receipts": array(obj({"type": STRING, "status": STRING,
                                   "document_no": null(STRING), "message": null(STRING),
                                   "reason": null(STRING), "raw": ANY_OBJECT,
                                   "received_at": TIME}))})),
            "new_receipts": {**INT, "description": "POST: receipts new from this pull"}},
            optional=("new_receipts",)),
        "Event": obj({"id": INT, "name": STRING, "details": ANY_OBJECT, "created_at": TIME,
                      "user": null(STRING)}),
        "IssuedLabel": obj({"code": STRING, "line_no": INT, "box_no": null(STRING)}),
        "Label": obj({"code": STRING, "line_no": INT, "box_no": null(STRING), "sku": STRING,
                      "name": STRING, "manifest_no": STRING, "status": {"const": "issued"}}),
        "Reprint": obj({"code": STRING, "copy_no": integer(1),
                        **{k: {"type": "string", "format": "uri-reference"}
                           for k in ("png", "svg", "zpl")}}),
        "VoidedLabel": obj({"unit_id": INT, "code": STRING, "status": {"const": "void"},
                            "manifest_id": INT, "line_no": INT, "box_no": null(STRING),
                            "sku": STRING, "name": STRING, "manifest_no": STRING,
                            "copy_no": INT}),
        "ScanResult": obj({
            "client_scan_id": STRING, "code": STRING, "outcome": {"enum": list(scans.OUTCOMES)},
            "line_no": null(INT), "counted": null(INT), "declared": null(INT),
            "box_no": null(STRING),
            "lot": null(obj({"batch": null(STRING), "expiry": null(DATE)}))},
            optional=("counted", "declared", "box_no", "lot"),
            description="a blind count (?blind=1) leaves out counted and declared; box_no is "
                        "the box the unit was labelled for; lot (scans naming a carton) the "
                        "batch and expiry recorded, null when the carton's GTIN is not the "
                        "line's"),
        "CodeLookup": {"oneOf": [
            obj({"kind": {"const": "job"}, "code": STRING, "manifest": manifest_ref,
                 "stage": obj({"key": STRING, "text": STRING},
                              description="where the consignment stands for the tally")}),
            obj({"kind": {"const": "box"}, "code": STRING, "manifest": manifest_ref,
                 "box_no": STRING, "labels": INT}),
            obj({"kind": {"const": "unit"}, "code": STRING, "manifest": manifest_ref,
                 "line_no": INT, "box_no": null(STRING), "status": STRING}),
            obj({"kind": {"const": "product"}, "code": STRING, "gtin": STRING,
                 "lines": array(product_line)}),
            obj({"kind": {"const": "carton"}, "code": STRING, "gtin": STRING,
                 "batch": null(STRING), "serial": null(STRING), "expiry": null(DATE),
                 "days_to_expiry": null(INT), "expiry_soon": BOOL, "expired": BOOL,
                 "lines": array(product_line)}),
            obj({"kind": {"const": "unknown"}, "code": STRING})]},
        "LedgerEntry": obj({
            "id": INT, "client_scan_id": STRING, "seq": INT, "code": STRING,
            "source": {"enum": ["wedge", "image"]}, "device": null(STRING),
            "user": null(STRING), "outcome": {"enum": list(scans.OUTCOMES)},
            "result": {"type": "string", "contentMediaType": "application/json",
                       "description": "the answer given, as JSON text"},
            "image_sha256": null(STRING), "created_at": TIME}),
        "InspectionRecord": obj({
            "id": INT, "manifest_id": INT, **{k: null(STRING) for k in (
                "location", "ciq_officer", "customs_officer")},
            "created_at": TIME,
            "pallets": array(obj({
                "pallet_no": STRING, "material": {"enum": list(inspections.MATERIALS)},
                "mark_text": null(STRING),
                "mark": null(obj({"country": STRING, "producer": STRING,
                                  "treatments": array(STRING), "debarked": BOOL})),
                "mark_problems": array(STRING), "pests_found": BOOL, "pest_note": null(STRING),
                "disposition": {"enum": list(inspections.DISPOSITIONS)},
                "task": null(obj({"id": INT, "kind": {"enum": list(inspections.DISPOSITIONS[1:])},
                                  "done_at": null(TIME), "note": null(STRING),
                                  "done_by": null(STRING)}))})),
            "checks": array(obj({"line_no": INT, "sku": STRING, "name": STRING,
                                 **{a: check_result for a in inspections.ASPECTS}})),
            "escort": obj({"name": null(STRING), "signed_at": null(TIME), "signed": BOOL}),
            "result": {"enum": ["pending", "failed", "passed", "superseded"]},
            "unmet": array(unmet)}),
        "WriteOff": obj({
            "id": INT, "manifest_id": INT, "transfer_order_no": STRING,
            "white_card_no": STRING, "vehicle_no": null(STRING),
            "white_card": ANY_OBJECT, "write_off": ANY_OBJECT, "tally_status": ANY_OBJECT,
            "created_at": TIME, "created_by": null(INT)},
            description="with customs' answers to the white card, write-off and tally status"),
        "Workflow": obj({
            "manifest_id": INT, "manifest_no": STRING, "status": head["status"],
            "history": array(obj({"at": TIME, "user": STRING, "action": null(STRING),
                                  "from": null(STRING), "to": null(STRING)})),
            "next_actions": array(obj({"action": STRING, "target": head["status"],
                                       "by": STRING, "unmet": array(unmet)})),
            "inspection": null(ref("InspectionRecord")), "write_off": null(ref("WriteOff")),
            "remaining": {"type": "object", "additionalProperties": INT,
                          "description": "line_no: quantity not yet on a release order"},
            "release_orders": array(ref("ReleaseOrderSummary"))}),
        "InventoryList": obj({"outbox_id": INT, "version": integer(1),
                              "status": {"enum": ["pending", "delivered", "failed"]},
                              "created_at": TIME,
                              "payload": {**ANY_OBJECT, "description": "the INV101 message"}}),
        "ReleaseOrderSummary": obj(release_summary),
        "ReleaseOrder": obj({
            **release_summary, "passport_typecd": STRING,
            **{k: null(STRING) for k in ("vehicle_ic_no", "vehicle_wt", "vehicle_frame_wt",
                                         "container_no", "container_wt", "driver",
                                         "mileage_km")},
            "total_gross_wt": STRING, "total_net_wt": STRING, "created_by": null(INT),
            "customs_pass_time": {**null(STRING), "description": "customs' gate passage (SAS223)"},
            "customs_pass_id": null(STRING), "bind_type": STRING,
            "lines": array(obj({"manifest_id": INT, "manifest_no": STRING, "line_no": INT,
                                "sku": STRING, "name": STRING, "qty": INT,
                                "gross_wt": null(STRING), "net_wt": null(STRING)})),
            "manifests": array(INT),
            "receipts": array(obj({"type": STRING, "status": STRING,
                                   "document_no": null(STRING), "message": null(STRING),
                                   "received_at": TIME}))}),
        "GateDecision": obj(decision),
        "GateRefusal": obj({**decision, **ERROR}, optional=("errors",),
                           description="the error shape with the decision's fields"),
        "GateLogEntry": obj({
            "id": INT, "outcome": {"enum": ["pass", "refuse"]}, "plate": null(STRING),
            "ic_card": null(STRING), "io_typecd": {"enum": ["I", "E"]},
            "weighbridge_wt": null(STRING), "total_wt": null(STRING), "wt_error": null(STRING),
            "reasons": array(STRING), "reasons_zh": array(STRING), "created_at": TIME,
            "etps_preent_no": null(STRING),
            "passport_no": null(STRING)}),
        "Barcode": obj({"format": STRING, "text": STRING,
                        "position": array(array(INT, minItems=2, maxItems=2), minItems=4,
                                          maxItems=4),
                        "symbology_identifier": {
                            "type": "string", "pattern": "^\\][A-Za-z][0-9A-Za-z]$",
                            "description": "ISO/IEC 15424, e.g. ]E0 EAN-13/UPC, ]C1 GS1-128, "
                                           "]d2 GS1 DataMatrix; GS1 text is the element string "
                                           "with GS (0x1D) after variable-length fields"}}),
        "UserToken": obj({"name": STRING, "role": {"enum": list(ROLES)}, "token": STRING}),
        "Setting": obj({
            "key": {"enum": list(company.KEYS)}, "value": null(STRING), "english": STRING,
            "chinese": STRING, "element": {**STRING, "description": "what it fills"},
            "source": {"enum": ["stored", "environment", None]}, "updated_at": null(TIME)}),
        "Settings": obj({"settings": array(ref("Setting")),
                         "missing": array({"enum": list(company.KEYS)})}),
        "SettingsSaved": obj({"settings": array(ref("Setting")),
                              "missing": array({"enum": list(company.KEYS)}),
                              "changed": array({"enum": list(company.KEYS)})}),
        "SettingsUpdate": {
            "type": "object", "minProperties": 1, "propertyNames": {"enum": list(company.KEYS)},
            "additionalProperties": text(company.NAME_LENGTH),
            "description": "KEY: VALUE for any of the settings; each is checked by its rule "
                           "(credit codes: 18 characters with the GB 32100-2015 check character;"
                           " customs_code 4 digits; sys_id Z7 or Z8; ...) and nothing is stored"
                           " if one is wrong."},
        "AccountBookItem": obj({
            "sku": STRING, "putrec_seqno": integer(1), "hs_code": STRING, "name": STRING,
            "dcl_unit": STRING, "lawf_unit": STRING, "lawf_qty_per_unit": STRING,
            "secd_lawf_unit": null(STRING), "secd_lawf_qty_per_unit": null(STRING),
            "imported_at": TIME}),
        "AccountBookImport": obj({"items": array(obj({
            "sku": STRING, "putrec_seqno": {"anyOf": [integer(1), STRING]},
            "hs_code": {"type": "string", "pattern": "^[0-9]{10}$"}, "name": STRING,
            "dcl_unit": STRING, "lawf_unit": STRING, "lawf_qty_per_unit": decimal(
                10**14, positive=True), "secd_lawf_unit": null(STRING),
            "secd_lawf_qty_per_unit": null(decimal(10**14, positive=True))},
            optional=("secd_lawf_unit", "secd_lawf_qty_per_unit")),
            minItems=1, maxItems=account_book.MAX_ITEMS)}),
        "AccountBookImported": obj({"items": integer(1), "replaced": integer(0),
                                    "imported_at": TIME}),
    }


# --- responses and parameters -----------------------------------------------------------------

ERRORS = {
    401: "no valid bearer token or session (WWW-Authenticate: Bearer)",
    403: "the caller's role does not allow this, or a session request that changes something "
         "lacks its X-CSRF-Token header",
    404: "no such record",
    409: "the request conflicts with the current state (current_status and every unmet "
         "condition are in the answer)",
    413: "the body or upload is over its limit, or so would the answer be (e.g. more labels "
         "than one document holds: choose a line or a box)",
    422: "the request is malformed: every problem is listed in errors",
    502: "the customs system answered with an error",
    503: "the customs system (or the label printer) cannot be reached: try again later",
}


def error(status: int, description: str | None = None, schema: dict | None = None) -> dict:
    answer = {"description": description or ERRORS[status],
              "content": {"application/json": {"schema": schema or ref("Error")}}}
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"const": 'Bearer realm="tally"'}}}
    return answer


def json_answer(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def file_answer(media_type: str, description: str, *, download: bool = False) -> dict:
    answer = {"description": description,
              "content": {media_type: {"schema": binary(media_type)}}}
    if download:
        answer["headers"] = {"Content-Disposition": {"schema": STRING,
                                                     "description": "the file's name"}}
    return answer


def param(name: str, where: str, schema: dict, description: str = "", *,
          required: bool = False) -> dict:
    out = {"name": name, "in": where, "schema": schema, "required": required or where == "path"}
    return {**out, "description": description} if description else out


ID = integer(0)
PARAMS = {
    "manifest_id": param("manifest_id", "path", ID, "the manifest's id"),
    "inspection_id": param("inspection_id", "path", ID),
    "task_id": param("task_id", "path", ID),
    "code": param("code", "path", {"type": "string", "pattern": "^[^/]+$"}, "a unit code"),
    "number": param("number", "path", {"type": "string", "pattern": "^[^/]+$"},
                    "our etpsPreentNo, or the passportNo customs assigned"),
    "message_id": param("message_id", "path", ID, "a customs message's id (the sync log's)"),
    "after": param("after", "query", ID, "only entries after this id (paging)"),
    "line_no": param("line_no", "query", ID, "only this manifest line"),
    "box_no": param("box_no", "query", STRING, "only this box"),
    "size": param("size", "query", {"type": "string", "pattern": LABEL_SIZE,
                                    "default": "50x30"},
                  f"label stock in mm, {MIN_LABEL_MM:g} to {MAX_LABEL_MM:g} per side"),
    "sheet": param("sheet", "query", {"enum": ["a4"]}, "a4: labels on A4 sheets"),
    "dpi203": param("dpi", "query", {"type": "integer", "enum": [203, 300], "default": 203}),
    "dpi300": param("dpi", "query", {"type": "integer", "enum": [203, 300], "default": 300}),
    "copy": param("copy", "query", ID, "a recorded reprint (COPY N); 0: the original"),
    "box_labels": param("box_labels", "query", {"type": "integer", "enum": [0, 1], "default": 1},
                        "1: each box's label before its units' labels; 0: unit labels only"),
}
BOX_CODE = param("box_code", "path", {"type": "string", "pattern": "^[^/]+$"},
                 "a box code (B...) from the box list or a box label")


def parameters(*names: str) -> list[dict]:
    return [PARAMS[name] for name in names]


def body(schema: dict) -> dict:
    """A required JSON request body."""
    return content_body({"application/json": {"schema": schema}})


def content_body(content: dict, description: str = "") -> dict:
    """A required request body in one of several media types."""
    out = {"required": True, "content": content}
    return {**out, "description": description} if description else out


# --- operations -------------------------------------------------------------------------------


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
                params=[param("sheet", "query", STRING, "the workbook's sheet (default: the "
                                                        "first)")],
                request=content_body({
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX: {"schema": binary(XLSX)},
                    "multipart/form-data": {"schema": obj({
                        "file": binary("application/octet-stream",
                                       description="CSV or .xlsx"),
                        "sheet": STRING}, optional=("sheet",), open_=True)},
                    "application/json": {"schema": ref("ManifestImport")}},
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
                params=[param("sheet", "query", STRING, "the workbook's sheet (default: the "
                                                        "first)")],
                request=content_body({
                    "text/csv": {"schema": {"type": "string"}},
                    XLSX: {"schema": binary(XLSX)},
                    "multipart/form-data": {"schema": obj({
                        "file": binary("application/octet-stream",
                                       description="CSV or .xlsx"),
                        "sheet": STRING}, optional=("sheet",), open_=True)},
                    "application/json": {"schema": ref("AccountBookImport")}},
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


INFO = f"""The JSON API of the bonded-warehouse tally service.

**Authentication**: a bearer token (`Authorization: Bearer <token>`, from `tally token create`
or `POST /api/users`), or the pages' signed-in session cookie; a session request that changes
something (not GET) must also send the session's `X-CSRF-Token` header.

**Errors** have one shape, `{{"ok": false, "status", "error", "errors": [...]}}` plus details,
and change nothing. Any request may also be answered 400 (unreadable body), 408 (body too slow)
or 413 by the server before it reaches a route.

**Limits**: a JSON body is at most TALLY_MAX_JSON_BYTES (2 MB) and nests at most
{MAX_JSON_DEPTH} levels; an upload at most TALLY_MAX_IMAGE_BYTES (15 MB); ids and quantities
within {MAX_INTEGER}; text has no control characters."""


@functools.cache
def document(cookie: str = "session") -> dict:
    """The OpenAPI document (built once per session cookie name)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "bonded-tally", "version": version("bonded-tally"),
                 "description": INFO},
        "tags": [{"name": n} for n in ("manifests", "inspection", "labels", "scans", "tally",
                                        "customs", "gate", "settings", "users", "docs")],
        "paths": paths(),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": cookie,
                            "description": "the pages' signed-in session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                         "description": "the session's CSRF token (its pages' meta csrf-token)"},
            },
        },
    }


# --- serving ----------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>bonded-tally API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">
  <script src="/vendor/swagger-ui/swagger-ui-bundle.js" defer></script>
  <script src="/static/api-docs.js" defer></script>
</head>
<body>
  <div id="swagger-ui"></div>
</body>
</html>
"""


def swagger_dist() -> str:
    """The directory of Swagger UI's files in the flask-swagger-ui package."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    return os.path.join(spec.submodule_search_locations[0], "dist")


@functools.cache
def document_json(cookie: str) -> str:
    return json.dumps(document(cookie))


@bp.get("/api/openapi.json")
def openapi_json():
    return Response(document_json(current_app.config["SESSION_COOKIE_NAME"]),
                    mimetype="application/json")


@bp.get("/api/docs")
def docs():
    return Response(PAGE, mimetype="text/html")


@bp.get("/vendor/swagger-ui/<name>")
def swagger_file(name):
    if name not in SWAGGER_FILES:
        abort(404)
    return send_from_directory(swagger_dist(), name, max_age=86400)
