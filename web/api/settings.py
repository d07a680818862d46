"""Company settings (admin) and the bonded account book (电子账册: admin or supervisor)."""

from flask import current_app

from tally import account_book, company
from tally.config import site_settings
from web.api import api_blueprint, json_body, uploaded_table
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
    items = uploaded_table(account_book.parse_csv, account_book.parse_xlsx,
                           lambda body: body.get("items") if isinstance(body, dict) else None)
    return account_book.import_book(get_db(), items, user_id=user_id()), 201
