"""Unit labels: issue codes, render them (PNG, SVG, PDF, ZPL), reprint and void."""

from flask import Response, request

from labels.render import Label, LabelSize, render_pdf, render_png, render_svg, render_zpl
from tally import labelling
from tally.errors import NotFoundError, ValidationError
from web.api import api_blueprint, int_arg, json_body
from web.auth import requires, user_id
from web.db import get_db

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
    )
    return {"labels": issued}, 201


@bp.get("/manifests/<int:manifest_id>/labels")
def index(manifest_id):
    rows = labelling.list_labels(
        get_db(), manifest_id, line_no=int_arg("line_no"), box_no=request.args.get("box_no")
    )
    return {"labels": rows}


def _size() -> LabelSize:
    try:
        return LabelSize.parse(request.args.get("size", "50x30"))
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


@bp.post("/labels/<code>/void")
@requires("supervisor")
def void(code):
    body = json_body()
    reason = body.get("reason") if isinstance(body, dict) else None
    return labelling.void_unit(get_db(), code, reason=reason, user_id=user_id())


def _selected(manifest_id) -> list[Label]:
    rows = labelling.list_labels(
        get_db(), manifest_id, line_no=int_arg("line_no"), box_no=request.args.get("box_no")
    )
    if not rows:
        raise NotFoundError("no issued labels match; issue labels first")
    return [label_of(row) for row in rows]


@bp.get("/manifests/<int:manifest_id>/labels.pdf")
def pdf(manifest_id):
    selected = _selected(manifest_id)
    sheet = request.args.get("sheet") or None
    if sheet not in (None, "a4"):
        raise ValidationError("sheet must be a4 or omitted (one label per page)")
    data = _render(
        render_pdf,
        selected,
        size=_size(),
        sheet=sheet,
        dpi=int_arg("dpi", choices=(203, 300)) or 300,
    )
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": f'inline; filename="labels-{manifest_id}.pdf"'},
    )


@bp.get("/manifests/<int:manifest_id>/labels.zpl")
def zpl(manifest_id):
    selected = _selected(manifest_id)
    data = _render(
        render_zpl, selected, dpi=int_arg("dpi", choices=(203, 300)) or 203, size=_size()
    )
    return Response(
        data,
        mimetype="application/zpl",
        headers={"Content-Disposition": f'attachment; filename="labels-{manifest_id}.zpl"'},
    )
