"""The JSON API under /api: one thin blueprint per resource."""

import json

from flask import Blueprint, current_app, request

from tally.catalogue import say
from tally.errors import PayloadTooLarge, ValidationError
from tally.fields import MAX_INTEGER, whole_number
from web.auth import load_user

# Our bodies nest a few levels (a batch's list of scan objects); anything deeper is refused.
MAX_JSON_DEPTH = 8


def api_blueprint(name: str) -> Blueprint:
    """A blueprint under /api whose every request needs a bearer token."""
    bp = Blueprint(name, __name__, url_prefix="/api")
    bp.before_request(load_user)
    return bp


def json_body(max_bytes: int | None = None) -> object:
    """The Flask request's JSON body (see ``read_json``); MAX_JSON_BYTES unless ``max_bytes``."""
    return read_json(request.environ, max_bytes or int(current_app.config["MAX_JSON_BYTES"]))


def read_json(environ: dict, limit: int) -> object:
    """A request's JSON body: 413 over ``limit`` bytes (from its Content-Length, before it is
    read), 422 when it is missing, not JSON or nested deeper than MAX_JSON_DEPTH."""
    mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
    if not (mimetype == "application/json" or mimetype.endswith("+json")):
        raise ValidationError(say("body_not_json"))
    length = environ.get("CONTENT_LENGTH") or "0"
    if not length.isdigit() or int(length) > limit:
        raise PayloadTooLarge(say("body_too_large", limit=limit))
    data = environ["wsgi.input"].read(int(length))
    try:
        body = json.loads(data)
    except RecursionError:  # the parser's own bound on nesting, well past ours
        body = _TOO_DEEP
    except ValueError:
        body = None
    if body is None:
        raise ValidationError(say("body_invalid_json"))
    if body is _TOO_DEEP or _deeper_than(body, MAX_JSON_DEPTH):
        raise ValidationError(say("body_too_deep", depth=MAX_JSON_DEPTH))
    return body


_TOO_DEEP = object()


def _deeper_than(value: object, limit: int) -> bool:
    """Whether lists and objects in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def uploaded_table(parse_csv, parse_xlsx, from_json=lambda body: body):
    """A table uploaded as the request body (CSV, or .xlsx: its first sheet or ?sheet=) or as a
    form's file (told apart by its name or content), read by ``parse_csv(data)`` or
    ``parse_xlsx(data, sheet)``; else ``from_json`` of the JSON body (any size an upload may
    have)."""
    from tally import workbooks

    if request.mimetype == "text/csv":
        return parse_csv(request.get_data())
    if request.mimetype == workbooks.XLSX_MIMETYPE:
        return parse_xlsx(request.get_data(), request.args.get("sheet"))
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise ValidationError(say("manifest_file_required"))
        data = upload.read()
        if (upload.filename or "").lower().endswith(".xlsx") or data.startswith(
                workbooks.ZIP_MAGIC):
            return parse_xlsx(data, request.args.get("sheet") or request.form.get("sheet"))
        return parse_csv(data)
    return from_json(json_body(max_bytes=int(current_app.config["MAX_CONTENT_LENGTH"])))


def arg(name: str, default: str | None = None) -> str | None:
    """An optional query argument of the Flask request as sent; 422 when given more than once
    (which of them was meant cannot be known)."""
    values = request.args.getlist(name)
    if len(values) > 1:
        raise ValidationError(say("parameter_repeated", name=name, count=len(values)),
                              [{"field": name, "message": say("repeated")}])
    return values[0] if values else default


def int_arg(name: str, *, choices=None) -> int | None:
    """An optional whole-number query argument of the Flask request, 422 when malformed."""
    arg(name)  # given once
    return int_arg_of(request.args, name, choices=choices)


def int_arg_of(args, name: str, *, choices=None) -> int | None:
    """An optional whole-number argument from the query ``args``, 422 when malformed."""
    value = args.get(name)
    if value is None:
        return None
    number = whole_number(value)
    if number is None:
        raise ValidationError(
            say("parameter_not_number", name=name, maximum=MAX_INTEGER),
            [{"field": name, "message": say("got_value", value=repr(value[:40]))}],
        )
    if choices is not None and number not in choices:
        raise ValidationError(
            say("parameter_not_choice", name=name, choices=", ".join(map(str, choices))),
            [{"field": name, "message": say("got_value", value=number)}],
        )
    return number
