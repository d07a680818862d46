"""Unit labels: issue codes, render them (PNG, SVG, PDF, ZPL), reprint and void."""

from flask import Response, current_app, g

from labels.render import Label, LabelSize, render_pdf, render_png, render_svg, render_zpl
from tally import labelling
from tally.db import write
from tally.errors import ConflictError, NotFoundError, ValidationError
from tally.events import record_event
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
        raise ValidationError(str(exc), [{"field": "size", "message": str(exc)}]) from None


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
        raise ValidationError(str(exc)) from None


def _one_label(code: str) -> Label:
    row = labelling.get_label(get_db(), code)
    copy_no = int_arg("copy") or 0
    if copy_no and not 1 <= copy_no <= row["copy_no"]:
        raise NotFoundError(f"copy {copy_no} of {code} was never recorded; POST a reprint first")
    return label_of(row, copy_no)


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
        raise ValidationError("sheet must be a4 or omitted (one label per page)")
    return sheet


def _selected(manifest_id) -> list[Label]:
    rows = labelling.list_labels(
        get_db(), manifest_id, line_no=int_arg("line_no"), box_no=arg("box_no")
    )
    if not rows:
        raise NotFoundError("no issued labels match; issue labels first")
    return [label_of(row) for row in rows]


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
        raise ValidationError("the body must be an object (line_no, box_no, codes, dpi, size)")
    fields = Fields()
    errors = fields.errors
    codes, copy, dpi = body.get("codes"), body.get("copy"), body.get("dpi", 203)
    line_no = fields.integer(body.get("line_no"), "line_no", minimum=1, required=False)
    box_no = fields.text(body.get("box_no"), "box_no", required=False, max_length=32)
    if codes is not None and (
        not isinstance(codes, list)
        or not codes
        or len(codes) > labelling.MAX_LABELS_LISTED
        or not all(isinstance(code, str) and code for code in codes)
    ):
        errors.append({"field": "codes", "message": "a non-empty list of unit codes"})
    if copy is not None and (
        isinstance(copy, bool) or not isinstance(copy, int) or not 1 <= copy <= 999
        or not isinstance(codes, list) or len(codes) != 1
    ):
        errors.append(
            {"field": "copy", "message": "a copy number (1 or more) with exactly one code"}
        )
    if dpi not in (203, 300) or isinstance(dpi, bool):
        errors.append({"field": "dpi", "message": "203 or 300 (the printer's resolution)"})
    size = None
    try:
        size = LabelSize.parse(body.get("size") or "50x30")
    except (TypeError, ValueError) as exc:
        errors.append({"field": "size", "message": str(exc)})
    if errors:
        raise ValidationError("cannot print: the request is invalid", errors)
    return {"line_no": line_no, "box_no": box_no, "codes": codes, "copy": copy or 0,
            "dpi": dpi, "size": size}


@bp.post("/manifests/<int:manifest_id>/labels/print")
@requires("operator")
def print_labels(manifest_id):
    """Render the selected labels as ZPL and send them to the site's network printer."""
    wanted = _print_request(json_body())
    spec = current_app.config.get("PRINTER")
    if not spec:
        raise ConflictError(
            "no label printer is configured: set TALLY_PRINTER=host:port, or download the ZPL",
            [{"field": "printer", "message": "not configured"}],
        )
    db = get_db()
    rows = labelling.list_labels(
        db, manifest_id, line_no=wanted["line_no"], box_no=wanted["box_no"], codes=wanted["codes"]
    )
    if wanted["codes"] is not None:
        by_code = {row["code"]: row for row in rows}
        missing = [code for code in wanted["codes"] if code not in by_code]
        if missing:
            raise ValidationError(
                "some codes are not issued labels of this consignment (or not in the filter)",
                [{"field": "codes", "code": code, "message": f"{code}: not found"}
                 for code in missing],
            )
        rows = [by_code[code] for code in wanted["codes"]]
    if not rows:
        raise NotFoundError("no issued labels match; issue labels first")
    if wanted["copy"] and wanted["copy"] > labelling.get_label(db, rows[0]["code"])["copy_no"]:
        raise NotFoundError(
            f"copy {wanted['copy']} of {rows[0]['code']} was never recorded; POST a reprint first"
        )
    labels = [label_of(row, wanted["copy"]) for row in rows]
    zpl = _render(render_zpl, labels, dpi=wanted["dpi"], size=wanted["size"])
    try:
        printer.send_zpl(
            spec, zpl, timeout=float(current_app.config.get("PRINTER_TIMEOUT", printer.TIMEOUT))
        )
    except ValueError as exc:  # a malformed TALLY_PRINTER: the site's setting, not the request
        raise ConflictError(
            f"the printer setting is malformed: {exc}",
            [{"field": "printer", "message": str(exc)}],
        ) from None
    except printer.PrinterUnavailable as exc:
        return error_response(
            503, str(exc), [{"field": "printer", "message": "not reachable"}], printer=spec
        )
    with write(db):
        record_event(
            db,
            "labels-printed",
            user_id=user_id(),
            manifest_id=manifest_id,
            printer=spec,
            count=len(labels),
            first_code=labels[0].code,
            last_code=labels[-1].code,
            copy_no=wanted["copy"],
            dpi=wanted["dpi"],
            size=str(wanted["size"]),
        )
    return {"sent": len(labels), "printer": spec}
