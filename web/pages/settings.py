"""The settings page (admin): the company settings the customs messages need, and the bonded
account book (电子账册) with its import. The page only shows; it saves through the JSON API."""

from flask import current_app, g, render_template

from tally import account_book, company
from tally.catalogue import say
from tally.config import site_settings
from tally.errors import PermissionDenied
from tally.users import has_role
from web.db import get_db
from web.pages import page_blueprint, signed_in

bp = page_blueprint("settings_pages")
# Items of the book listed on the page; the API and `tally account-book show` list them all.
SHOWN_ITEMS = 200


@bp.get("/settings")
@signed_in
def settings():
    if not has_role(g.user, "admin"):
        raise PermissionDenied(say("permission_denied"))
    db = get_db()
    items = account_book.list_items(db)
    return render_template(
        "settings.html", described=company.describe(db, site_settings(current_app.config)),
        items=items[:SHOWN_ITEMS], item_count=len(items))
