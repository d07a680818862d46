"""Unit labels: issue codes, render them (PNG, SVG, PDF, ZPL), reprint and void. Box labels
(printed before their box's unit labels, or alone) and a consignment's job barcode."""

from flask import Response, current_app, g

from labels.pdf import render_pdf
from labels.render import (
    BoxLabel,
    Label,
    LabelSize,
    render_job_png,
    render_job_svg,
    render_png,
    render_svg,
)
from labels.zpl import render_zpl
from tally import labelling, manifests, units
from tally.catalogue import say
from tally.errors import ConflictError, NotFoundError, ValidationError
from tally.fields import Fields
from tally.users import has_role
from web import printer
from web.api import api_blueprint, arg, int_arg, json_body
from web.auth import requires, user_id
from web.db import get_db
from web.downloads import download_headers
from web.errors import error_response

bp = api_blueprint("labels")


@bp.post("/manifests/<int:manifest_id>/labels")
@requires("operator")
def issue(manifest_id):
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationError("the body must be an object with line_no and count")
    issued = labelling.issue_labels(
        get_db(),
        manifest_id,
        line_no=body.get("line_no"),
        count=body.get("count"),
        box_no=body.get("box_no"),
        user_id=user_id(),
        may_exceed=has_role(g.user, "supervisor"),
    )
    return {"labels": issued}, 201


@bp.get("/manifests/<int:manifest_id>/labels")
def index(manifest_id):
    rows = labelling.list_labels(
        get_db(), manifest_id, line_no=int_arg("line_no"), box_no=arg("box_no")
    )
    return {"labels": rows}


def _size() -> LabelSize:
    try:
        return LabelSize.parse(arg("size", "50x30"))
    except ValueError as exc:
        text = say("label_size_invalid", detail=str(exc))
        raise ValidationError(text, [{"field": "size", "message": text}]) from None


def label_of(row: dict, copy_no: int = 0) -> Label:
    """What a label prints, from a row of tally.labelling (list_labels / get_label)."""
    return Label(
        code=row["code"],
        sku=row["sku"],
        name=row["name"],
        line_no=row["line_no"],
        box_no=row["box_no"],
        manifest_no=row["manifest_no"],
        copy_no=copy_no,
    )


def _render(fn, *args, **kwargs):
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:  # e.g. the label does not fit the chosen size
        raise ValidationError(say("label_size_invalid", detail=str(exc))) from None


def _one_label(code: str) -> Label:
    copy_no = int_arg("copy") or 0
    return label_of(labelling.get_label_copy(get_db(), code, copy_no), copy_no)


@bp.get("/labels/<code>.png")
def png(code):
    label = _one_label(code)
    data = _render(render_png, label, dpi=int_arg("dpi", choices=(203, 300)) or 203, size=_size())
    return Response(data, mimetype="image/png")


@bp.get("/labels/<code>.svg")
def svg(code):
    label = _one_label(code)
    return Response(_render(render_svg, label, size=_size()), mimetype="image/svg+xml")


@bp.post("/labels/<code>/reprint")
@requires("operator")
def reprint(code):
    body = json_body()
    reason = body.get("reason") if isinstance(body, dict) else None
    label = labelling.record_reprint(get_db(), code, reason=reason, user_id=user_id())
    copy = label["copy_no"]
    return {
        "code": code,
        "copy_no": copy,
        "png": f"/api/labels/{code}.png?copy={copy}",
        "svg": f"/api/labels/{code}.svg?copy={copy}",
        "zpl": f"/api/labels/{code}.zpl?copy={copy}",
    }, 201


@bp.get("/labels/<code>.zpl")
def zpl_one(code):
    label = _one_label(code)
    data = _render(render_zpl, [label], dpi=int_arg("dpi", choices=(203, 300)) or 203, size=_size())
    return Response(data, mimetype="application/zpl")


@bp.get("/labels/<code>.pdf")
def pdf_one(code):
    """One label (or one reprinted copy, ``?copy=N``) as a PDF, for an office or label printer."""
    label = _one_label(code)
    data = _render(
        render_pdf,
        [label],
        size=_size(),
        sheet=_sheet(),
        dpi=int_arg("dpi", choices=(203, 300)) or 300,
    )
    suffix = f"-copy{label.copy_no}" if label.copy_no else ""
    return Response(
        data,
        mimetype="application/pdf",
        headers=download_headers(f"label-{code}{suffix}.pdf", inline=True),
    )


@bp.post("/labels/<code>/void")
@requires("supervisor")
def void(code):
    body = json_body()
    reason = body.get("reason") if isinstance(body, dict) else None
    return labelling.void_unit(get_db(), code, reason=reason, user_id=user_id())


def _sheet() -> str | None:
    sheet = arg("sheet")
    if sheet not in (None, "a4"):
        raise ValidationError(say("sheet_invalid"))
    return sheet


def box_label_of(box: dict) -> BoxLabel:
    """What a box label prints, from a box of tally.labelling (list_labels_with_boxes /
    find_box_by_code)."""
    return BoxLabel(code=box["code"], box_no=box["box_no"], manifest_no=box["manifest_no"],
                    labels=box["labels"])


def _print_job(db, manifest_id, *, line_no, box_no, box_labels: bool) -> list[Label | BoxLabel]:
    """The selected unit labels, each box's label before its units' unless ``box_labels`` is
    off; 404 when no unit label matches."""
    if box_labels:
        rows = labelling.list_labels_with_boxes(db, manifest_id, line_no=line_no, box_no=box_no)
    else:
        rows = labelling.list_labels(db, manifest_id, line_no=line_no, box_no=box_no)
    if not rows:
        raise NotFoundError(say("labels_none_issued"))
    return [box_label_of(row) if row.get("kind") == "box" else label_of(row) for row in rows]


def _selected(manifest_id) -> list[Label | BoxLabel]:
    return _print_job(get_db(), manifest_id, line_no=int_arg("line_no"), box_no=arg("box_no"),
                      box_labels=int_arg("box_labels", choices=(0, 1)) != 0)


@bp.get("/manifests/<int:manifest_id>/labels.pdf")
def pdf(manifest_id):
    # The request's own arguments first: a bad one is a 422 whatever the labels.
    size, sheet, dpi = _size(), _sheet(), int_arg("dpi", choices=(203, 300)) or 300
    data = _render(render_pdf, _selected(manifest_id), size=size, sheet=sheet, dpi=dpi)
    return Response(
        data,
        mimetype="application/pdf",
        headers=download_headers(f"labels-{manifest_id}.pdf", inline=True),
    )


@bp.get("/manifests/<int:manifest_id>/labels.zpl")
def zpl(manifest_id):
    size, dpi = _size(), int_arg("dpi", choices=(203, 300)) or 203
    data = _render(render_zpl, _selected(manifest_id), dpi=dpi, size=size)
    return Response(
        data,
        mimetype="application/zpl",
        headers=download_headers(f"labels-{manifest_id}.zpl"),
    )


def _print_request(body: object) -> dict:
    """The print body checked: line_no, box_no, codes, copy, dpi and size; 422 listing problems."""
    if not isinstance(body, dict):
        raise ValidationError(say("print_body_invalid"))
    fields = Fields()
    errors = fields.errors
    codes, copy, dpi = body.get("codes"), body.get("copy"), body.get("dpi", 203)
    box_labels = body.get("box_labels", True)
    if not isinstance(box_labels, bool):
        errors.append({"field": "box_labels", "message": "true or false (default true)"})
    line_no = fields.integer(body.get("line_no"), "line_no", minimum=1, required=False)
    box_no = fields.text(body.get("box_no"), "box_no", required=False, max_length=32)
    if codes is not None and (
        not isinstance(codes, list)
        or not codes
        or len(codes) > labelling.MAX_LABELS_LISTED
        or not all(isinstance(code, str) and code for code in codes)
    ):
        errors.append({"field": "codes", "message": say("codes_form")})
    if copy is not None and (
        isinstance(copy, bool) or not isinstance(copy, int) or not 1 <= copy <= 999
        or not isinstance(codes, list) or len(codes) != 1
    ):
        errors.append(
            {"field": "copy", "message": say("copy_form")}
        )
    if dpi not in (203, 300) or isinstance(dpi, bool):
        errors.append({"field": "dpi", "message": say("dpi_form")})
    size = None
    try:
        size = LabelSize.parse(body.get("size") or "50x30")
    except (TypeError, ValueError) as exc:
        errors.append({"field": "size", "message": say("label_size_invalid", detail=str(exc))})
    if errors:
        raise ValidationError(say("print_invalid"), errors)
    return {"line_no": line_no, "box_no": box_no, "codes": codes, "copy": copy or 0,
            "dpi": dpi, "size": size, "box_labels": box_labels}


@bp.post("/manifests/<int:manifest_id>/labels/print")
@requires("operator")
def print_labels(manifest_id):
    """Render the selected labels as ZPL and send them to the site's network printer."""
    wanted = _print_request(json_body())
    spec = current_app.config.get("PRINTER")
    if not spec:
        raise ConflictError(
            say("printer_not_configured"),
            [{"field": "printer", "message": say("not_configured")}],
        )
    db = get_db()
    if wanted["codes"] is None:  # a selection: its boxes' labels go with it
        labels = _print_job(db, manifest_id, line_no=wanted["line_no"], box_no=wanted["box_no"],
                            box_labels=wanted["box_labels"])
        return _send(db, manifest_id, spec, labels, wanted)
    rows = labelling.list_labels(
        db, manifest_id, line_no=wanted["line_no"], box_no=wanted["box_no"], codes=wanted["codes"]
    )
    if wanted["codes"] is not None:
        by_code = {row["code"]: row for row in rows}
        missing = [code for code in wanted["codes"] if code not in by_code]
        if missing:
            raise ValidationError(
                say("codes_not_issued"),
                [{"field": "codes", "unit": code, "message": say("code_not_found", code=code)}
                 for code in missing],
            )
        rows = [by_code[code] for code in wanted["codes"]]
    if not rows:
        raise NotFoundError(say("labels_none_issued"))
    if wanted["copy"]:  # one code (_print_request): its reprint must have been recorded
        labelling.get_label_copy(db, rows[0]["code"], wanted["copy"])
    return _send(db, manifest_id, spec, [label_of(row, wanted["copy"]) for row in rows], wanted)


def _send(db, manifest_id: int, spec: str, labels: list, wanted: dict):
    """Render ``labels`` as ZPL, send them to the printer ``spec`` and record the print."""
    zpl = _render(render_zpl, labels, dpi=wanted["dpi"], size=wanted["size"])
    try:
        printer.send_zpl(
            spec, zpl, timeout=float(current_app.config.get("PRINTER_TIMEOUT", printer.TIMEOUT))
        )
    except ValueError as exc:  # a malformed TALLY_PRINTER: the site's setting, not the request
        raise ConflictError(
            say("printer_malformed", detail=str(exc)),
            [{"field": "printer", "message": say("printer_malformed", detail=str(exc))}],
        ) from None
    except printer.PrinterUnavailable as exc:
        return error_response(
            503, say("printer_unreachable", detail=str(exc)),
            [{"field": "printer", "message": say("not_reachable")}], printer=spec
        )
    boxes = sum(isinstance(label, BoxLabel) for label in labels)
    labelling.record_print(db, manifest_id, printer=spec, codes=[label.code for label in labels],
                           copy_no=wanted["copy"], dpi=wanted["dpi"], size=str(wanted["size"]),
                           box_labels=boxes, user_id=user_id())
    return {"sent": len(labels), "printer": spec, "box_labels": boxes}


# --- job barcodes and box labels ----------------------------------------------------------------


@bp.app_template_global("job_code")
def job_code(manifest_id: int) -> str:
    """The job barcode's code of a consignment, for the pages' image alt text."""
    return units.job_code(manifest_id)


def _job(manifest_id: int) -> tuple[str, str]:
    head = manifests.load_head(get_db(), manifest_id)  # 404 for no such consignment
    return units.job_code(manifest_id), head["manifest_no"]


@bp.get("/manifests/<int:manifest_id>/job.svg")
def job_svg(manifest_id):
    """The consignment's job barcode: scanning it on the scan page opens the consignment."""
    return Response(render_job_svg(*_job(manifest_id)), mimetype="image/svg+xml")


@bp.get("/manifests/<int:manifest_id>/job.png")
def job_png(manifest_id):
    dpi = int_arg("dpi", choices=(203, 300)) or 203
    return Response(render_job_png(*_job(manifest_id), dpi=dpi), mimetype="image/png")


@bp.get("/manifests/<int:manifest_id>/boxes")
def boxes(manifest_id):
    """The consignment's boxes in the order first labelled, with their box codes."""
    db = get_db()
    manifests.load_head(db, manifest_id)
    return {"boxes": [{"box_no": box["box_no"], "code": box["code"], "labels": box["labels"]}
                      for box in labelling.list_boxes(db, manifest_id)]}


def _box_label(code: str) -> BoxLabel:
    return box_label_of(labelling.find_box_by_code(get_db(), code))


@bp.get("/boxes/<box_code>.png")
def box_png(box_code):
    label = _box_label(box_code)
    data = _render(render_png, label, dpi=int_arg("dpi", choices=(203, 300)) or 203, size=_size())
    return Response(data, mimetype="image/png")


@bp.get("/boxes/<box_code>.svg")
def box_svg(box_code):
    label = _box_label(box_code)
    return Response(_render(render_svg, label, size=_size()), mimetype="image/svg+xml")


@bp.get("/boxes/<box_code>.zpl")
def box_zpl(box_code):
    label = _box_label(box_code)
    data = _render(render_zpl, [label], dpi=int_arg("dpi", choices=(203, 300)) or 203,
                   size=_size())
    return Response(data, mimetype="application/zpl",
                    headers=download_headers(f"box-{label.code}.zpl"))


@bp.get("/boxes/<box_code>.pdf")
def box_pdf(box_code):
    """One box's label alone, e.g. for a box relabelled or packed after its units' labels."""
    label = _box_label(box_code)
    data = _render(render_pdf, [label], size=_size(), sheet=_sheet(),
                   dpi=int_arg("dpi", choices=(203, 300)) or 300)
    return Response(data, mimetype="application/pdf",
                    headers=download_headers(f"box-{label.code}.pdf", inline=True))


@bp.post("/boxes/<box_code>/print")
@requires("operator")
def print_box(box_code):
    """Send one box's label to the site's network printer."""
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationError("the body must be an object (dpi, size)")
    # Only the printer's resolution and the stock: the other print fields do not apply.
    wanted = _print_request({key: body[key] for key in ("dpi", "size") if key in body})
    db = get_db()
    box = labelling.find_box_by_code(db, box_code)
    spec = current_app.config.get("PRINTER")
    if not spec:
        raise ConflictError(
            say("printer_not_configured"),
            [{"field": "printer", "message": say("not_configured")}],
        )
    return _send(db, box["manifest_id"], spec, [box_label_of(box)], wanted)
