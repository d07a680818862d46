"""Company settings (admin) and the bonded account book (电子账册: admin or supervisor)."""

from flask import current_app, request

from tally import account_book, company, workbooks
from tally.catalogue import say
from tally.config import site_settings
from tally.errors import ValidationError
from web.api import api_blueprint, json_body
from web.auth import requires, user_id
from web.db import get_db

bp = api_blueprint("settings")


@bp.get("/settings")
@requires("admin")
def show():
    return company.describe(get_db(), site_settings(current_app.config))


@bp.put("/settings")
@requires("admin")
def update():
    db = get_db()
    changed = company.record_settings(db, json_body(), user_id=user_id(),
                                      site=site_settings(current_app.config))
    return {**company.describe(db, site_settings(current_app.config)), "changed": changed}


@bp.get("/account-book")
@requires("supervisor")
def book():
    return {"items": account_book.list_items(get_db())}


@bp.post("/account-book")
@requires("supervisor")
def import_book():
    """Replace the account book: CSV, .xlsx (the first sheet, or ?sheet=), a form's file, or
    JSON ``{"items": [...]}``."""
    if request.mimetype == "text/csv":
        items = account_book.parse_csv(request.get_data())
    elif request.mimetype == workbooks.XLSX_MIMETYPE:
        items = account_book.parse_xlsx(request.get_data(), request.args.get("sheet"))
    elif request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError(say("manifest_file_required"))
        data = upload.read()
        if (upload.filename or "").lower().endswith(".xlsx") or data.startswith(
                workbooks.ZIP_MAGIC):
            items = account_book.parse_xlsx(data, request.args.get("sheet")
                                            or request.form.get("sheet"))
        else:
            items = account_book.parse_csv(data)
    else:
        body = json_body(max_bytes=int(current_app.config["MAX_CONTENT_LENGTH"]))
        items = body.get("items") if isinstance(body, dict) else None
    return account_book.import_book(get_db(), items, user_id=user_id()), 201
