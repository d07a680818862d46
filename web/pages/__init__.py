"""The pages: server-rendered templates with small plain JavaScript on top of the JSON API.

Each page module has a blueprint; ``signed_in`` sends an anonymous visitor to the sign-in page.
"""

import functools
from urllib.parse import urlencode

from flask import Blueprint, Flask, g, redirect, request, url_for

from tally.fields import whole_number
from tally.users import has_role
from web.auth import session_user

# Manifest lines on one page: every line of a 100,000-line manifest made ~420 MB of HTML.
PAGE_SIZE = 200


def signed_in(view):
    """Page decorator: the signed-in user in ``g.user``, else a redirect to the sign-in page."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        g.user = session_user()
        if g.user is None:
            return redirect(url_for("auth_pages.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)
    return wrapped


# The header's links, shown when the page exists: (endpoint, bilingual label).
NAV = (
    ("scan_pages.scan", "扫描 Scan"),
    ("label_pages.labels", "标签 Labels"),
    ("gate_pages.gate", "卡口 Gate"),
)
PAGE_MODULES = ("auth", "consignments", "scan", "labels", "report", "inspection", "gate")


def register_pages(app: Flask) -> None:
    import importlib
    import importlib.util

    for name in PAGE_MODULES:
        if importlib.util.find_spec(f"web.pages.{name}") is not None:
            app.register_blueprint(importlib.import_module(f"web.pages.{name}").bp)

    @app.context_processor
    def _user():
        user = g.get("user")
        return {
            "user": user,
            "can": lambda role: bool(user) and has_role(user, role),
            "nav_links": lambda: [(e, label) for e, label in NAV if e in app.view_functions],
            "has_page": lambda endpoint: endpoint in app.view_functions,
        }


def page_of_lines(total: int) -> dict:
    """The ``?page=`` of the request over ``total`` lines: ``number`` (from 1), ``pages``,
    ``offset``, ``limit``, ``first`` and ``last`` (1-based line positions shown), and the
    ``query`` a page link starts with (the request's other arguments kept); a missing or
    malformed page is the first, one past the last is the last."""
    pages = max(-(-total // PAGE_SIZE), 1)
    number = min(max(whole_number(request.args.get("page", "")) or 1, 1), pages)
    offset = (number - 1) * PAGE_SIZE
    others = urlencode([(k, v) for k, v in request.args.items(multi=True) if k != "page"])
    return {"number": number, "pages": pages, "offset": offset, "limit": PAGE_SIZE,
            "total": total, "first": min(offset + 1, total),
            "last": min(offset + PAGE_SIZE, total), "query": f"?{others}&" if others else "?"}


def page_blueprint(name: str) -> Blueprint:
    return Blueprint(name, __name__)
