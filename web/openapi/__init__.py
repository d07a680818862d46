"""The API's OpenAPI 3.1 description, written once: GET /api/openapi.json, and /api/docs.

The document is built from small pieces (pieces.py: the one error shape, parameters, the bounds
of the domain's field readers) into its component schemas (schemas.py) and operations
(paths.py), and takes its limits and enums from the code that enforces them, so a limit is
stated once; this module puts it together and serves it. tests/web/test_openapi.py checks it
against the app's routes and validates real answers against it. Swagger UI's files come from the
flask-swagger-ui package (installed with the project): served from its directory, never from a
CDN.
"""

import functools
import importlib.util
import os
from importlib.metadata import version

from flask import Blueprint, Response, abort, current_app, json, send_from_directory

from tally.fields import MAX_INTEGER
from web.api import MAX_JSON_DEPTH
from web.openapi import paths, schemas

bp = Blueprint("openapi", __name__)
# Swagger UI's files that the page loads (from the package's dist directory).
SWAGGER_FILES = frozenset({"swagger-ui-bundle.js", "swagger-ui.css"})


INFO = f"""The JSON API of the bonded-warehouse tally service.

**Authentication**: a bearer token (`Authorization: Bearer <token>`, from `tally token create`
or `POST /api/users`), or the pages' signed-in session cookie; a session request that changes
something (not GET) must also send the session's `X-CSRF-Token` header.

**Errors** have one shape, `{{"ok": false, "status", "error", "errors": [...]}}` plus details,
and change nothing. Any request may also be answered 400 (unreadable body), 408 (body too slow)
or 413 by the server before it reaches a route.

**Limits**: a JSON body is at most TALLY_MAX_JSON_BYTES (2 MB) and nests at most
{MAX_JSON_DEPTH} levels; an upload at most TALLY_MAX_IMAGE_BYTES (15 MB); ids and quantities
within {MAX_INTEGER}; text has no control characters."""


@functools.cache
def document(cookie: str = "session") -> dict:
    """The OpenAPI document (built once per session cookie name)."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "bonded-tally", "version": version("bonded-tally"),
                 "description": INFO},
        "tags": [{"name": n} for n in ("manifests", "inspection", "labels", "scans", "tally",
                                        "customs", "gate", "settings", "users", "docs")],
        "paths": paths.paths(),
        "components": {
            "schemas": schemas.schemas(),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer",
                           "description": "an API token"},
                "session": {"type": "apiKey", "in": "cookie", "name": cookie,
                            "description": "the pages' signed-in session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
                         "description": "the session's CSRF token (its pages' meta csrf-token)"},
            },
        },
    }


# --- serving ----------------------------------------------------------------------------------

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>bonded-tally API</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/vendor/swagger-ui/swagger-ui.css">
  <script src="/vendor/swagger-ui/swagger-ui-bundle.js" defer></script>
  <script src="/static/api-docs.js" defer></script>
</head>
<body>
  <div id="swagger-ui"></div>
</body>
</html>
"""


def swagger_dist() -> str:
    """The directory of Swagger UI's files in the flask-swagger-ui package."""
    spec = importlib.util.find_spec("flask_swagger_ui")
    return os.path.join(spec.submodule_search_locations[0], "dist")


@functools.cache
def document_json(cookie: str) -> str:
    return json.dumps(document(cookie))


@bp.get("/api/openapi.json")
def openapi_json():
    return Response(document_json(current_app.config["SESSION_COOKIE_NAME"]),
                    mimetype="application/json")


@bp.get("/api/docs")
def docs():
    return Response(PAGE, mimetype="text/html")


@bp.get("/vendor/swagger-ui/<name>")
def swagger_file(name):
    if name not in SWAGGER_FILES:
        abort(404)
    return send_from_directory(swagger_dist(), name, max_age=86400)
