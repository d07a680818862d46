"""The hot path: a scanner's JSON scans with a bearer token, answered below Flask.

Handhelds and integrations post one request per wedge scan, thousands a second at the busiest
docks. In the profile Flask's per-request machinery (request context, routing, session, before-
request hooks, response object) took ~200 µs of the ~390 µs such a request costs in-process, more
than the database work. This WSGI middleware answers exactly ``POST /api/manifests/<id>/scans``
with a JSON body, a bearer token and no query string, through the same domain calls as the Flask
view (``tally.users``, ``tally.scans``) and the same error mapping (``web.errors.describe``).
Everything else (camera frames, signed-in pages, ``?blind=1``, anything unusual about the request)
goes on to Flask unchanged; tests/web/test_fast_scans.py checks that both answer alike.
"""

import json
import re
from http import HTTPStatus

from tally import scans
from tally.errors import ValidationError
from tally.users import authenticate, require_role
from web.db import db_for
from web.errors import describe, error_headers

_PATH = re.compile(r"/api/manifests/([0-9]{1,18})/scans")


class FastScans:
    """WSGI middleware in front of the Flask app (``app.wsgi_app``)."""

    def __init__(self, app, flask_app):
        self.app = app
        self.database = flask_app.config["DATABASE"]
        self.max_body = int(flask_app.config["MAX_CONTENT_LENGTH"])

    def __call__(self, environ, start_response):
        match = self._match(environ)
        if match is None:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        status, answer, headers = self._answer(environ, int(match.group(1)), body)
        # Compact and unescaped, as Flask's JSON provider is configured in create_app.
        data = (json.dumps(answer, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        start_response(
            f"{status} {HTTPStatus(status).phrase.upper()}",
            [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers],
        )
        return [data]

    def _match(self, environ):
        """The path match when this request is one the hot path answers, else None."""
        if (
            environ["REQUEST_METHOD"] != "POST"
            or environ.get("QUERY_STRING")
            or not environ.get("HTTP_AUTHORIZATION", "").startswith("Bearer ")
            or environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
            != "application/json"
        ):
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not length.isdigit() or int(length) > self.max_body:
            return None  # chunked or too large: Flask's answer
        return _PATH.fullmatch(environ.get("PATH_INFO", ""))

    def _answer(self, environ, manifest_id: int, body: bytes) -> tuple[int, dict, list]:
        db = db_for(self.database)
        try:
            user = authenticate(db, environ["HTTP_AUTHORIZATION"][7:].strip())
            require_role(user, "operator")
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if payload is None:  # as web.api.json_body words it
                raise ValidationError("the body is not valid JSON")
            batch = scans.parse_request(payload)
            return 200, {"results": scans.record_scans(db, manifest_id, batch,
                                                       user_id=user["id"])}, []
        except Exception as exc:  # noqa: BLE001 - every error answers in the one shape
            status, answer = describe(exc)
            return status, answer, error_headers(status)
        finally:
            if db.conn.in_transaction:  # as web.db's teardown does for Flask requests
                db.conn.execute("ROLLBACK")
