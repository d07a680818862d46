"""The one JSON error shape, and the one table mapping domain errors to HTTP statuses.

Every error answers ``{"ok": false, "status": N, "error": "...", "errors": [...]}`` plus any
details the domain error carries (e.g. ``current_status``, ``action``).
"""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from labels.decode import ImageError, ImageTooLarge
from tally import errors as domain
from tally.customs.client import CustomsError, CustomsRejected, CustomsUnavailable

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


def error_body(status: int, message: str, errors=None, **extra) -> dict:
    """The error body in the project's shape."""
    return {"ok": False, "status": status, "error": message, "errors": errors or [], **extra}


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
        return status, error_body(status, str(exc), [{"field": "image", "message": str(exc)}])
    if isinstance(exc, CustomsError):
        status = _status_of(exc)
        return status, error_body(status, f"the customs system answered with an error: {exc}")
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        return status, error_body(status, exc.description or exc.name)
    log.error("unhandled error", exc_info=exc)
    return 500, error_body(500, "internal error: the request was not completed")


def error_response(status: int, message: str, errors=None, **extra):
    """An error response in the project's shape, for views that answer an error themselves."""
    return _response(status, error_body(status, message, errors, **extra))


def _response(status: int, body: dict):
    response = jsonify(body)
    response.status_code = status
    response.headers.extend(error_headers(status))
    return response


def init_app(app: Flask) -> None:
    # Flask hands HTTPExceptions (404, 405, 413...) to this handler too.
    @app.errorhandler(Exception)
    def _any(exc: Exception):
        response = _response(*describe(exc))
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110: say which
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500
