"""The pages: server-rendered templates with small plain JavaScript on top of the JSON API.

Each page module has a blueprint; ``signed_in`` sends an anonymous visitor to the sign-in page.
"""

import functools
from urllib.parse import urlencode

from flask import Blueprint, Flask, current_app, g, redirect, request, url_for

from tally.config import time_zone
from tally.display import kilograms, local_time
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
# The page of each pending step of a tally stage (tally.workflow.Stage.pending): endpoint, label,
# how it takes the consignment. The write-off has no page: the consignment page's next step says
# what it waits for.
STEP_PAGES = {
    "pass_inspection": ("inspection_pages.inspection", "查验 Inspection", "manifest_id"),
    "write_off": ("consignment_pages.show", "核销 Write-off", "manifest_id"),
    "issue_labels": ("label_pages.labels", "标签 Labels", "manifest"),
    "scan": ("scan_pages.scan", "扫描 Scan", "manifest"),
    "confirm_tally": ("report_pages.report", "对账 Report", "manifest_id"),
}
PAGE_MODULES = ("auth", "consignments", "scan", "labels", "report", "inspection", "gate",
                "settings")


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

    app.add_template_global(step_link)  # a global: templates/stage.html is imported

    # Times in the warehouse's zone with the offset, weights as kg (tally/display.py).
    @app.template_filter("local_time")
    def _local_time(stored, seconds: bool = False) -> str:
        return local_time(stored, time_zone(app.config), seconds=seconds)

    @app.template_filter("kg")
    def _kg(value, as_declared: bool = False) -> str:
        return kilograms(value, as_declared=as_declared)


def step_link(stage, manifest_id: int) -> dict | None:
    """``url`` and ``label`` of the page for the first pending step of a tally stage (None when
    nothing is pending, or that step has no page or is the page shown)."""
    for step in stage.pending[:1]:
        endpoint, label, argument = STEP_PAGES[step]
        if endpoint in current_app.view_functions and endpoint != request.endpoint:
            anchor = {"_anchor": "next-step"} if step == "write_off" else {}
            return {"url": url_for(endpoint, **{argument: manifest_id}, **anchor),
                    "label": label, "step": step}
    return None


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
