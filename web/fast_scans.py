"""The hot path: a scanner's JSON scans with a bearer token, answered below Flask.

Handhelds and integrations post one request per wedge scan, thousands a second at the busiest
docks. In the profile Flask's per-request machinery (request context, routing, session, before-
request hooks, response object) took ~200 µs of the ~390 µs such a request costs in-process, more
than the database work. This WSGI middleware answers exactly ``POST /api/manifests/<id>/scans``
with a JSON body, a bearer token and no query string, through the same domain calls as the Flask
view (``tally.users``, ``tally.scans``) and the same error mapping (``web.errors.describe``).
Everything else (camera frames, signed-in pages, ``?blind=1``, anything unusual about the request)
goes on to Flask unchanged; tests/web/test_fast_scans.py checks that both answer alike.

``answer_together`` takes several requests at once, as web/server.py hands over the ones that
arrived together: their scans are recorded in one transaction (``tally.scans.record_requests``),
each answered as if it had come alone, one after the other.
"""

import json
import re
from dataclasses import dataclass
from http import HTTPStatus

from tally import scans
from tally.db import checkpoint_when_due, checkpoints_later
from tally.errors import TallyError, ValidationError
from tally.users import authenticate, require_role
from web.db import db_for
from web.errors import describe, error_headers

_PATH = re.compile(r"/api/manifests/([0-9]{1,18})/scans")


@dataclass
class _Pending:
    """A hot-path request read and parsed, before the database: its scans or what was wrong."""

    manifest_id: int
    token: str
    scans: list | None
    invalid: ValidationError | None
    user_id: int | None = None


class FastScans:
    """WSGI middleware in front of the Flask app (``app.wsgi_app``)."""

    def __init__(self, app, flask_app):
        self.app = app
        self.database = flask_app.config["DATABASE"]
        self.max_body = int(flask_app.config["MAX_CONTENT_LENGTH"])

    def __call__(self, environ, start_response):
        [answer] = self.answer_together([(environ, start_response)])
        return self.app(environ, start_response) if answer is None else answer

    def answer_together(self, calls: list[tuple[dict, object]]) -> list:
        """WSGI for several requests at once: each (environ, start_response) of a hot-path
        request gets its answer's iterable, all after their scans were committed together; any
        other request gets None, for the caller to hand to the app (a slow page must not hold
        up the scans)."""
        answers: list = [None] * len(calls)
        hot, pending = [], []
        for index, (environ, _) in enumerate(calls):
            match = self._match(environ)
            if match is not None:
                hot.append(index)
                pending.append(self._read(environ, int(match.group(1))))
        if not pending:
            return answers
        db = db_for(self.database)
        with checkpoints_later(db):
            done = self._answer(db, pending)
        for index, (status, body, headers) in zip(hot, done, strict=True):
            # Compact and unescaped, as Flask's JSON provider is configured in create_app.
            data = (json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
            calls[index][1](
                f"{status} {HTTPStatus(status).phrase.upper()}",
                [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                 *headers],
            )
            answers[index] = _Body(data, db)
        return answers

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

    @staticmethod
    def _read(environ, manifest_id: int) -> _Pending:
        """Read and check the body; the database is not needed for that."""
        body = environ["wsgi.input"].read(int(environ["CONTENT_LENGTH"]))
        token = environ["HTTP_AUTHORIZATION"][7:].strip()
        try:
            try:
                payload = json.loads(body)
            except ValueError:
                payload = None
            if payload is None:  # as web.api.json_body words it
                raise ValidationError("the body is not valid JSON")
            return _Pending(manifest_id, token, scans.parse_request(payload), None)
        except ValidationError as exc:
            return _Pending(manifest_id, token, None, exc)

    def _answer(self, db, pending: list[_Pending]) -> list[tuple[int, dict, list]]:
        """(status, body, extra headers) per request."""
        try:
            answers, requests, where = self._check(db, pending), [], []
            for index, item in enumerate(pending):
                if answers[index] is None:
                    requests.append(scans.Request(item.manifest_id, item.scans, item.user_id))
                    where.append(index)
            outcomes = scans.record_requests(db, requests) if requests else []
            for index, outcome in zip(where, outcomes, strict=True):
                answers[index] = (_error(outcome) if isinstance(outcome, TallyError)
                                  else (200, {"results": outcome}, []))
            return answers
        except Exception as exc:  # noqa: BLE001 - every error answers in the one shape
            # Nothing was recorded (or if it was, a replay by client scan id answers the same):
            # each request fails or succeeds on its own.
            if len(pending) > 1:
                return [answer for one in pending for answer in self._answer(db, [one])]
            return [_error(exc)]
        finally:
            if db.conn.in_transaction:  # as web.db's teardown does for Flask requests
                db.conn.execute("ROLLBACK")

    @staticmethod
    def _check(db, pending: list[_Pending]) -> list:
        """The error answer of each request that may not record (None for the others), in the
        Flask view's order: who, then may they, then what. Done before the write lock, as the
        Flask view does: the first read after other workers' commits refreshes the connection's
        page cache, better done while nobody waits on the lock."""
        answers: list = [None] * len(pending)
        users: dict[str, dict | TallyError] = {}  # by token: one query per token, not request
        for index, item in enumerate(pending):
            try:
                if item.token not in users:
                    try:
                        users[item.token] = authenticate(db, item.token)
                    except TallyError as exc:
                        users[item.token] = exc
                user = users[item.token]
                if isinstance(user, TallyError):
                    raise user
                require_role(user, "operator")
                if item.invalid is not None:
                    raise item.invalid
                item.user_id = user["id"]
            except TallyError as exc:
                answers[index] = _error(exc)
        return answers


class _Body(list):
    """An answer's body. The server calls ``close`` once the answer is sent (WSGI): then runs
    the checkpoint the write left for later, rather than while the client waits for its answer
    (several clients, when their scans were recorded together)."""

    def __init__(self, data: bytes, db):
        super().__init__([data])
        self.db = db

    def close(self):
        checkpoint_when_due(self.db)


def _error(exc: Exception) -> tuple[int, dict, list]:
    status, body = describe(exc)
    return status, body, error_headers(status)
