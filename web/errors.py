"""The one JSON error shape, the one table mapping domain errors to HTTP statuses, and the HTML
error page a browser gets instead.

Every error answers ``{"ok": false, "status": N, "code": "...", "error": "...", "error_zh":
"...", "errors": [...]}`` plus any details the domain error carries (e.g. ``current_status``,
``action``). ``code`` is the stable identifier of tally/catalogue.py, ``error`` the English and
``error_zh`` the Chinese message; each item of ``errors`` carries its own ``code``, ``message``
and ``message_zh`` beside where it applies (``field``, ``row``, ``line_no``...).

One rule decides between JSON and HTML (``wants_html``): a request outside /api/ whose Accept
header prefers text/html to JSON (a browser following a link) gets the HTML page; everything
else, and every /api/ request, gets JSON.
"""

import logging

from flask import Flask, g, jsonify, make_response, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from labels.images import ImageError, ImageTooLarge
from tally import errors as domain
from tally.catalogue import coded, english_and_chinese, say
from tally.customs.client import CustomsError, CustomsRejected, CustomsUnavailable
from tally.db import Unavailable

log = logging.getLogger(__name__)

STATUS = {
    domain.ValidationError: 422,
    domain.NotFoundError: 404,
    domain.ConflictError: 409,
    domain.AuthenticationError: 401,
    domain.PermissionDenied: 403,
    domain.PayloadTooLarge: 413,
    domain.TooManyRequests: 429,
    ImageTooLarge: 413,
    ImageError: 422,
    CustomsUnavailable: 503,
    CustomsRejected: 502,
}
# The code of an error no raise site has coded (a plain string message), by HTTP status.
STATUS_CODES = {
    400: "bad_request", 401: "authentication_required", 403: "permission_denied",
    404: "route_not_found", 405: "method_not_allowed", 408: "request_timeout", 409: "conflict",
    413: "payload_too_large", 422: "validation_failed", 429: "too_many_requests",
    500: "internal_error", 502: "customs_error", 503: "service_unavailable",
}
# The HTML error page's heading per status: (Chinese, English).
PAGE_TITLES = {
    403: ("无权访问", "Not allowed"),
    404: ("页面不存在", "Page not found"),
    409: ("当前状态不允许此操作", "Not possible now"),
    500: ("系统出错", "Something went wrong"),
}


def error_body(status: int, message, errors=None, **extra) -> dict:
    """The error body in the project's shape; ``message`` a catalogue Text (or plain English,
    which takes the status's generic code)."""
    code, english, chinese = english_and_chinese(message, STATUS_CODES.get(status, "http_error"))
    extra = {k: v for k, v in extra.items() if k not in ("code", "error_zh")}
    return {"ok": False, "status": status, "code": code, "error": english, "error_zh": chinese,
            "errors": [coded(item) for item in errors or []], **extra}


def error_headers(status: int) -> list[tuple[str, str]]:
    """Headers every error with this status carries (a 401 says how to authenticate)."""
    return [("WWW-Authenticate", 'Bearer realm="tally"')] if status == 401 else []


def describe(exc: Exception) -> tuple[int, dict]:
    """The status and body answering an exception: the one mapping from errors to HTTP."""
    if isinstance(exc, domain.TallyError):
        status = _status_of(exc)
        return status, error_body(status, exc.message, exc.errors, **exc.extra)
    if isinstance(exc, ImageError):
        status = _status_of(exc)
        text = say("image_over_limit" if status == 413 else "image_unusable", detail=str(exc))
        return status, error_body(status, text, [{"field": "image", "message": text}])
    if isinstance(exc, CustomsError):
        status = _status_of(exc)
        code = "customs_unavailable" if isinstance(exc, CustomsUnavailable) else "customs_error"
        return status, error_body(status, say(code, detail=str(exc)))
    if isinstance(exc, Unavailable):
        log.warning("database unavailable: %s", exc)
        return 503, error_body(503, say("database_unavailable"))
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return status, error_body(status, _http_text(status, exc.description or exc.name))
    log.error("unhandled error", exc_info=exc)
    return 500, error_body(500, say("internal_error"))


def _http_text(status: int, description: str):
    """werkzeug's own errors (no route, wrong method, too large...) in the catalogue's words; the
    English stays werkzeug's where the catalogue has no code for the status."""
    if status in (404, 405):
        return say(STATUS_CODES[status])
    if status == 413:
        return say("payload_too_large")
    return say("bad_request", detail=description) if status == 400 else description


def error_response(status: int, message, errors=None, **extra):
    """An error response in the project's shape, for views that answer an error themselves."""
    return _response(status, error_body(status, message, errors, **extra))


def _response(status: int, body: dict):
    response = jsonify(body)
    response.status_code = status
    response.headers.extend(error_headers(status))
    return response


def wants_html(path: str, accept) -> bool:
    """The one rule: an HTML error page for a page request from a browser, JSON otherwise."""
    if path == "/api" or path.startswith("/api/"):
        return False
    return accept.best_match(["application/json", "text/html"]) == "text/html"


def error_page(status: int, body: dict):
    """The HTML error page in both languages, in the site's layout, with a way back."""
    if status == 401:  # as the pages do for anyone not signed in: to the sign-in page
        return redirect(url_for("auth_pages.login", next=request.full_path.rstrip("?")))
    from web.auth import session_user  # web.auth imports the database layer: only here

    if "user" not in g:
        try:
            g.user = session_user()
        except Exception:  # the page explains an error: it never fails for the header's sake
            g.user = None
    title = PAGE_TITLES.get(status, PAGE_TITLES[500] if status >= 500 else
                            ("请求无法完成", "The request cannot be completed"))
    back = request.referrer if _same_site(request.referrer) else None
    html = render_template("error.html", status=status, body=body, title=title, back=back)
    return html, status, error_headers(status)


def _same_site(url: str | None) -> bool:
    """A page of this site (the way back never leads elsewhere)."""
    return bool(url) and url.startswith(request.host_url) and url != request.url


def init_app(app: Flask) -> None:
    # Flask hands HTTPExceptions (404, 405, 413...) to this handler too.
    @app.errorhandler(Exception)
    def _any(exc: Exception):
        status, body = describe(exc)
        response = None
        if wants_html(request.path, request.accept_mimetypes):
            try:
                response = make_response(error_page(status, body))
            except Exception:  # a page that cannot render: the JSON answer still says why
                log.error("error page failed", exc_info=True)
        if response is None:
            response = _response(status, body)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110: say which
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500
