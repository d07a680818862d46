"""The front door: what applies to every request, then the route that answers it.

Every request, whoever serves it (granian through web/gateway.py, any WSGI server, the tests'
client), passes ``Front``. ``before`` identifies the caller of every /api request once, for every
endpoint (a bearer token, or the signed-in session with its CSRF header). Then the request goes
to its route: the scan endpoint (web/api/scans.py), answered beside Flask so that a server can
let scans wait for their group commit without holding a thread, or the Flask app for everything
else. An app-wide concern (a rate limit, maintenance mode, an audit of every request) belongs in
``before``, so that no route can skip it; Flask itself keeps no app-wide hook (tested).
"""

import json
from http import HTTPStatus

from flask import Flask
from werkzeug.wrappers import Request

from tally.db import release
from web.api import scans as scan_endpoint
from web.auth import USER_KEY, identify
from web.db import db_for
from web.errors import describe, error_headers

# Every answer carries these, whoever answers it (a Flask route, the scan endpoint, an error, the
# server's own 408/413 in web/gateway.py). The pages load their scripts and styles from /static
# and take their data from inline <script type="application/json"> blocks (not run, so not
# blocked); no inline script, event handler or style attribute is allowed. data:/blob: images and
# blob: media are allowed for drawn or captured pictures (the camera itself is a MediaStream).
CONTENT_SECURITY_POLICY = "; ".join((
    "default-src 'self'", "img-src 'self' data: blob:", "media-src 'self' blob:",
    "style-src 'self'", "script-src 'self'", "object-src 'none'", "frame-ancestors 'none'",
    "base-uri 'none'", "form-action 'self'",
))
# The /api paths answered without a caller: the API's description and its page (web/openapi/).
PUBLIC_PATHS = frozenset({"/api/openapi.json", "/api/docs"})
SECURITY_HEADERS = (
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
)


class Front:
    """The app's WSGI entry (``app.wsgi_app``), in front of the Flask app's own."""

    def __init__(self, app: Flask):
        self.app, self.flask, self.config = app, app.wsgi_app, app.config

    def before(self, environ: dict) -> tuple | None:
        """What applies to every request: an answer when the request ends here (an error)."""
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/") and path not in PUBLIC_PATHS:
            try:
                environ[USER_KEY] = identify(db_for(self.config["DATABASE"]), environ,
                                             self._session(environ))
            except Exception as exc:  # noqa: BLE001 - every error answers in the one shape
                return error_answer(exc)
        return None

    def before_scan(self, environ: dict) -> tuple | None:
        """``before`` for a scan, which goes on without a thread: a connection the check took
        (for a session, or a token not trusted yet) is given back at once, not kept idle."""
        try:
            return self.before(environ)
        finally:
            release(db_for(self.config["DATABASE"]))

    def scan_manifest(self, environ: dict) -> int | None:
        """The manifest id when the request is for the scan endpoint, else None."""
        if environ["REQUEST_METHOD"] != "POST":
            return None
        match = scan_endpoint.PATH.fullmatch(environ.get("PATH_INFO", ""))
        return int(match.group(1)) if match else None

    def __call__(self, environ, start_response):
        answer = self.before(environ)
        if answer is None:
            manifest_id = self.scan_manifest(environ)
            if manifest_id is None:
                return self.flask(environ, lambda status, headers, exc_info=None: start_response(
                    status, _flask_headers(environ, headers), exc_info))
            try:
                answer = json_answer(200, scan_endpoint.record(environ, manifest_id, self.config))
            except Exception as exc:  # noqa: BLE001 - every error answers in the one shape
                answer = error_answer(exc)
        status, headers, data = answer
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [data]

    def _session(self, environ: dict):
        """The signed-in session of the pages, read-only here (empty without its cookie)."""
        if "HTTP_COOKIE" not in environ:
            return {}
        return self.app.session_interface.open_session(self.app, Request(environ)) or {}


def _flask_headers(environ: dict, headers: list) -> list:
    """The headers of a Flask answer, with the security headers; on the scan path, Flask's
    Allow (405, OPTIONS) names the POST answered here, which Flask does not know."""
    if scan_endpoint.PATH.fullmatch(environ.get("PATH_INFO", "")):
        headers = [(name, f"{value}, POST" if name.lower() == "allow" else value)
                   for name, value in headers]
    return with_security_headers(headers)


def with_security_headers(headers: list) -> list:
    """The headers of an answer, plus each of SECURITY_HEADERS the answer does not set itself."""
    present = {name.lower() for name, _ in headers}
    return [*headers, *((name, value) for name, value in SECURITY_HEADERS
                        if name.lower() not in present)]


def json_answer(status: int, body: dict, headers=()) -> tuple[int, list, bytes]:
    """(status, headers, body) of a JSON answer, written as the Flask app writes its own."""
    data = (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    return status, with_security_headers([("Content-Type", "application/json"),
                                          ("Content-Length", str(len(data))), *headers]), data


def error_answer(exc: Exception) -> tuple[int, list, bytes]:
    """The answer to an error, in the one error shape."""
    status, body = describe(exc)
    return json_answer(status, body, error_headers(status))
