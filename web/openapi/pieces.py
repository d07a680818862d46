"""The pieces the OpenAPI description is built from: schemas of the domain's field readers
(text, integers, decimals, a manifest's cells) with the bounds tally.fields enforces, the one
error shape, and the responses, parameters and request bodies the operations share.
"""

from labels.render import MAX_LABEL_MM, MIN_LABEL_MM
from tally import manifests, scans
from tally.fields import CONTROL, DECIMAL, MAX_INTEGER, SIGNED_DIGITS

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_NO_CONTROL = CONTROL.pattern[1:-1]  # the character class of fields.py, without brackets
# Text as tally.fields reads it: no control characters, not blank (written to match in one pass:
# the leading spaces cannot be taken for the first other character).
TEXT = f"^[^\\S{_NO_CONTROL}]*[^\\s{_NO_CONTROL}][^{_NO_CONTROL}]*$"
OPTIONAL_TEXT = f"^[^{_NO_CONTROL}]*$"
SPACES = f"[^\\S{_NO_CONTROL}]*"  # around a value, stripped by the readers
DECIMAL = f"^{DECIMAL.pattern}$"
LABEL_SIZE = r"^\s*[0-9]{1,3}(\.[0-9]+)?\s*[xX×*]\s*[0-9]{1,3}(\.[0-9]+)?\s*(mm)?\s*$"


# --- schema pieces ----------------------------------------------------------------------------


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def null(schema: dict) -> dict:
    """The schema, or null."""
    if "type" in schema and "enum" not in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        return {**schema, "type": [*kinds, "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def obj(properties: dict, *, optional=(), open_: bool = False, **extra) -> dict:
    """An object with every property required except ``optional``; closed unless ``open_``
    (answers list every field; request bodies may carry fields the service ignores)."""
    schema = {"type": "object", "properties": properties,
              "required": [k for k in properties if k not in optional]}
    if not open_:
        schema["additionalProperties"] = False
    return {**schema, **extra}


def array(items: dict, **extra) -> dict:
    return {"type": "array", "items": items, **extra}


def text(max_length: int = 200, *, required: bool = True, pattern: str | None = None,
         **extra) -> dict:
    """A text field as tally.fields.Fields.text reads it."""
    if pattern is None:
        pattern = TEXT if required else OPTIONAL_TEXT
    schema = {"type": "string", "maxLength": max_length, "pattern": pattern, **extra}
    return schema if required else null(schema)


def integer(minimum: int = 0, maximum: int = MAX_INTEGER, **extra) -> dict:
    return {"type": "integer", "minimum": minimum, "maximum": maximum, **extra}


def decimal(maximum, *, positive: bool = False, **extra) -> dict:
    """An amount or weight: a JSON number or the same written as text (14 + 5 digits)."""
    number = {"type": "number", "maximum": maximum,
              **({"exclusiveMinimum": 0} if positive else {"minimum": 0})}
    return {"anyOf": [number, {"type": "string", "pattern": DECIMAL}],
            "description": "at most 5 decimal places" + (", above zero" if positive else ""),
            **extra}


def binary(media_type: str, **extra) -> dict:
    """A file's bytes (an upload or a download)."""
    return {"type": "string", "format": "binary", "contentMediaType": media_type, **extra}


STRING, INT, BOOL = {"type": "string"}, {"type": "integer"}, {"type": "boolean"}
ANY_OBJECT = {"type": "object"}
TIME = {"type": "string", "description": "ISO 8601, UTC"}
DATE = {"type": "string", "format": "date"}
CLIENT_SCAN_ID = {"type": "string", "pattern": f"^{scans.CLIENT_ID.pattern}$",
                  "description": "the client's id of this scan (e.g. a UUID): the same id sent "
                                 "again gets the first answer back"}


# The one error shape (web/errors.py); errors may add details such as current_status. Codes
# and both languages' texts come from tally/catalogue.py.
CODE = {"type": "string", "pattern": "^[a-z][a-z0-9_]*$",
        "description": "a stable snake_case identifier (tally/catalogue.py) to branch on"}
ERROR = {"ok": {"const": False}, "status": integer(400, 599), "code": CODE,
         "error": {"type": "string", "description": "the message in English"},
         "error_zh": {"type": "string", "description": "the message in Simplified Chinese"},
         "errors": array({"type": "object", "required": ["code", "message", "message_zh"],
                          "properties": {"field": STRING, "code": CODE, "message": STRING,
                                         "message_zh": STRING}},
                         description="every problem found, each with its code and message in"
                                     " English and Chinese, and where: field, row, column,"
                                     " index...")}
AMOUNTS = manifests.AMOUNTS


def manifest_text(field: str, *, required: bool = True) -> dict:
    """A manifest's text field as tally/manifests.py reads a cell: its length and, for codes and
    numbers, its form, with spaces around (stripped), codes in capitals in any case, and a
    number where text is expected taken as its digits (an optional field may be blank)."""
    schema = text(manifests.TEXT_LIMITS.get(field, 64), required=required)
    if field in manifests.PATTERNS:
        pattern, hint = manifests.PATTERNS[field]
        form = pattern.pattern
        if field in manifests.CAPITALS:
            form = form.replace("A-Z", "A-Za-z")
        schema.update(pattern=f"^{SPACES}(?:{form}){'' if required else '?'}{SPACES}$",
                      description=hint)
    return {"anyOf": [schema, INT]}


def written_integer(minimum: int, maximum: int) -> dict:
    """A whole number as tally.fields reads a spreadsheet's: a JSON number, or digits in text."""
    return {"anyOf": [integer(minimum, maximum),
                      {"type": "string", "pattern": f"^\\s*{SIGNED_DIGITS.pattern}\\s*$"}]}


# --- responses and parameters -----------------------------------------------------------------

ERRORS = {
    401: "no valid bearer token or session (WWW-Authenticate: Bearer)",
    403: "the caller's role does not allow this, or a session request that changes something "
         "lacks its X-CSRF-Token header",
    404: "no such record",
    409: "the request conflicts with the current state (current_status and every unmet "
         "condition are in the answer)",
    413: "the body or upload is over its limit, or so would the answer be (e.g. more labels "
         "than one document holds: choose a line or a box)",
    422: "the request is malformed: every problem is listed in errors",
    502: "the customs system answered with an error",
    503: "the customs system (or the label printer) cannot be reached: try again later",
}


def error(status: int, description: str | None = None, schema: dict | None = None) -> dict:
    answer = {"description": description or ERRORS[status],
              "content": {"application/json": {"schema": schema or ref("Error")}}}
    if status == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"const": 'Bearer realm="tally"'}}}
    return answer


def json_answer(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def file_answer(media_type: str, description: str, *, download: bool = False) -> dict:
    answer = {"description": description,
              "content": {media_type: {"schema": binary(media_type)}}}
    if download:
        answer["headers"] = {"Content-Disposition": {"schema": STRING,
                                                     "description": "the file's name"}}
    return answer


def param(name: str, where: str, schema: dict, description: str = "", *,
          required: bool = False) -> dict:
    out = {"name": name, "in": where, "schema": schema, "required": required or where == "path"}
    return {**out, "description": description} if description else out


ID = integer(0)
PARAMS = {
    "manifest_id": param("manifest_id", "path", ID, "the manifest's id"),
    "inspection_id": param("inspection_id", "path", ID),
    "task_id": param("task_id", "path", ID),
    "code": param("code", "path", {"type": "string", "pattern": "^[^/]+$"}, "a unit code"),
    "number": param("number", "path", {"type": "string", "pattern": "^[^/]+$"},
                    "our etpsPreentNo, or the passportNo customs assigned"),
    "message_id": param("message_id", "path", ID, "a customs message's id (the sync log's)"),
    "after": param("after", "query", ID, "only entries after this id (paging)"),
    "line_no": param("line_no", "query", ID, "only this manifest line"),
    "box_no": param("box_no", "query", STRING, "only this box"),
    "size": param("size", "query", {"type": "string", "pattern": LABEL_SIZE,
                                    "default": "50x30"},
                  f"label stock in mm, {MIN_LABEL_MM:g} to {MAX_LABEL_MM:g} per side"),
    "sheet": param("sheet", "query", {"enum": ["a4"]}, "a4: labels on A4 sheets"),
    "dpi203": param("dpi", "query", {"type": "integer", "enum": [203, 300], "default": 203}),
    "dpi300": param("dpi", "query", {"type": "integer", "enum": [203, 300], "default": 300}),
    "copy": param("copy", "query", ID, "a recorded reprint (COPY N); 0: the original"),
    "box_labels": param("box_labels", "query", {"type": "integer", "enum": [0, 1], "default": 1},
                        "1: each box's label before its units' labels; 0: unit labels only"),
}
BOX_CODE = param("box_code", "path", {"type": "string", "pattern": "^[^/]+$"},
                 "a box code (B...) from the box list or a box label")


def parameters(*names: str) -> list[dict]:
    return [PARAMS[name] for name in names]


def body(schema: dict) -> dict:
    """A required JSON request body."""
    return content_body({"application/json": {"schema": schema}})


def content_body(content: dict, description: str = "") -> dict:
    """A required request body in one of several media types."""
    out = {"required": True, "content": content}
    return {**out, "description": description} if description else out
