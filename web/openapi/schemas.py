"""components.schemas of the OpenAPI description: the request bodies, the answers and the
error shape, each named, with the limits and enums of the code that enforces them.
"""

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
from tally.signatures import MAX_SIGNATURE_BYTES
from tally.users import ROLES
from tally.workflow import ReleaseStatus, Status
from web.openapi.pieces import (
    AMOUNTS,
    ANY_OBJECT,
    BOOL,
    CLIENT_SCAN_ID,
    DATE,
    ERROR,
    INT,
    LABEL_SIZE,
    STRING,
    TIME,
    array,
    decimal,
    integer,
    manifest_text,
    null,
    obj,
    ref,
    text,
    written_integer,
)


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
