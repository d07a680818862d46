"""The one JSON error shape, and the one table mapping domain errors to HTTP statuses.

Every error answers ``{"ok": false, "status": N, "error": "...", "errors": [...]}`` plus any
details the domain error carries (e.g. ``current_status``, ``action``).
"""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

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
    ImageTooLarge: 413,
    ImageError: 422,
    CustomsUnavailable: 503,
    CustomsRejected: 502,
}


def error_response(status: int, message: str, errors=None, **extra):
    """Build the error response in the project's shape."""
    body = {"ok": False, "status": status, "error": message, "errors": errors or [], **extra}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="tally"'
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(domain.TallyError)
    def _domain(exc: domain.TallyError):
        return error_response(_status_of(exc), exc.message, exc.errors, **exc.extra)

    @app.errorhandler(ImageError)
    def _image(exc: ImageError):
        return error_response(_status_of(exc), str(exc), [{"field": "image", "message": str(exc)}])

    @app.errorhandler(CustomsError)
    def _customs(exc: CustomsError):
        return error_response(_status_of(exc), f"the customs system answered with an error: {exc}")

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal error: the request was not completed")


def _status_of(exc: Exception) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500
