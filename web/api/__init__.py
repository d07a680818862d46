"""The JSON API under /api: one thin blueprint per resource."""

import json

from flask import Blueprint, current_app, request

from tally.errors import PayloadTooLarge, ValidationError
from web.auth import load_user

# Our bodies nest a few levels (a batch's list of scan objects); anything deeper is refused.
MAX_JSON_DEPTH = 8


def api_blueprint(name: str) -> Blueprint:
    """A blueprint under /api whose every request needs a bearer token."""
    bp = Blueprint(name, __name__, url_prefix="/api")
    bp.before_request(load_user)
    return bp


def json_body(max_bytes: int | None = None) -> object:
    """The request's JSON body: 413 over ``max_bytes`` (MAX_JSON_BYTES by default) before it is
    read, 422 when it is missing, not JSON or nested deeper than MAX_JSON_DEPTH."""
    if not request.is_json:
        raise ValidationError("the body must be JSON (Content-Type: application/json)")
    limit = max_bytes or int(current_app.config["MAX_JSON_BYTES"])
    if (request.content_length or 0) > limit:
        raise PayloadTooLarge(f"a JSON body holds at most {limit} bytes")
    data = request.get_data(cache=False)
    if len(data) > limit:  # no Content-Length (chunked): measured once read
        raise PayloadTooLarge(f"a JSON body holds at most {limit} bytes")
    try:
        body = json.loads(data)
    except RecursionError:  # the parser's own bound on nesting, well past ours
        body = _TOO_DEEP
    except ValueError:
        body = None
    if body is None:
        raise ValidationError("the body is not valid JSON")
    if body is _TOO_DEEP or _deeper_than(body, MAX_JSON_DEPTH):
        raise ValidationError(f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels")
    return body


_TOO_DEEP = object()


def _deeper_than(value: object, limit: int) -> bool:
    """Whether lists and objects in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return False


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
