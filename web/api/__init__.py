"""The JSON API under /api: one thin blueprint per resource."""

from flask import Blueprint, request

from tally.errors import ValidationError
from web.auth import load_user


def api_blueprint(name: str) -> Blueprint:
    """A blueprint under /api whose every request needs a bearer token."""
    bp = Blueprint(name, __name__, url_prefix="/api")
    bp.before_request(load_user)
    return bp


def json_body() -> object:
    """The request's JSON body, or 422 when it is missing or not JSON."""
    if not request.is_json:
        raise ValidationError("the body must be JSON (Content-Type: application/json)")
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationError("the body is not valid JSON")
    return body


def int_arg(name: str, *, choices=None) -> int | None:
    """An optional whole-number query argument, 422 when malformed."""
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise ValidationError(
            f"{name} must be a whole number", [{"field": name, "message": f"got {value!r}"}]
        ) from None
    if choices is not None and number not in choices:
        raise ValidationError(
            f"{name} must be one of {', '.join(map(str, choices))}",
            [{"field": name, "message": f"got {number}"}],
        )
    return number
