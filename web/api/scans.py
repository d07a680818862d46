"""Scans: keyboard-wedge codes (single or a batch) and camera frames, into the scan ledger.

``POST /api/manifests/<id>/scans`` is answered by ``record`` below, a route of the front door
(web/front.py) rather than a Flask view: the request is checked here, recorded by the scan writer
(``tally.scans``), whose group commit the waiting answer shares, and answered in the app's error
shape. The reads (``GET .../scans``) are a Flask view like the rest of the API.

``?blind=1`` is a blind count: the answers leave out the line's counted and declared quantities
so the operator counts what is there, not towards an expected number. The ledger keeps the
complete answer; only what this response shows is cut.
"""

import hashlib
import re
from dataclasses import dataclass
from urllib.parse import parse_qs

from werkzeug.formparser import parse_form_data
from werkzeug.http import parse_options_header

from labels.decode import decode_image
from labels.images import review_copy
from tally import manifests, scans, units
from tally.catalogue import say
from tally.errors import PayloadTooLarge, ValidationError
from tally.fields import WHOLE_NUMBER, Fields
from tally.users import require_role
from web.api import api_blueprint, int_arg, int_arg_of, read_json
from web.auth import USER_KEY
from web.db import db_for, get_db

bp = api_blueprint("scans")
# What a blind count does not show: the quantities the operator would count towards.
BLIND_HIDDEN = frozenset({"counted", "declared"})
PATH = re.compile(f"/api/manifests/({WHOLE_NUMBER})/scans")


@dataclass
class Recording:
    """A scan request checked and ready: what to record, or the answer it already has (a
    camera frame sent again is answered from the ledger without decoding it again)."""

    request: scans.Request | None
    results: list[dict] | None
    blind: bool


def heavy(environ: dict) -> bool:
    """Whether checking this request takes real work (decoding a camera frame): it is then done
    in a thread rather than on a server's event loop."""
    return environ.get("CONTENT_TYPE", "").startswith("multipart/")


def check(environ: dict, manifest_id: int, config) -> Recording:
    """Check a scan request whose caller the front door identified; raises the error to answer."""
    user = environ[USER_KEY]
    require_role(user, "operator")
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    blind = int_arg_of(query, "blind", choices=(0, 1)) == 1
    if heavy(environ):
        return _check_image(environ, manifest_id, user["id"], config, blind)
    batch = scans.parse_request(read_json(environ, int(config["MAX_JSON_BYTES"])))
    return Recording(scans.Request(manifest_id, batch, user["id"]), None, blind)


def answer(recording: Recording, results: list[dict]) -> dict:
    """The JSON answer to a recorded request."""
    if recording.blind:
        results = [{k: v for k, v in r.items() if k not in BLIND_HIDDEN} for r in results]
    return {"results": results}


def record(environ: dict, manifest_id: int, config) -> dict:
    """The whole endpoint for a caller that may wait (a WSGI server, the tests' client)."""
    recording = check(environ, manifest_id, config)
    results = recording.results
    if results is None:
        results = scans.submit(config["DATABASE"], recording.request)
    return answer(recording, results)


def _check_image(environ, manifest_id, user_id, config, blind) -> Recording:
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    if mimetype != "multipart/form-data" or "boundary" not in options:
        raise ValidationError(say("frame_not_multipart"))
    _, form, files = parse_form_data(environ, max_content_length=int(config["MAX_CONTENT_LENGTH"]))
    try:
        return _check_frame(form, files, manifest_id, user_id, config, blind)
    finally:
        for upload in files.values():
            upload.close()


def _check_frame(form, files, manifest_id, user_id, config, blind) -> Recording:
    fields = Fields()
    client_id = scans.read_client_scan_id(fields, form.get("client_scan_id"))
    device = fields.text(form.get("device"), "device", required=False, max_length=64)
    carton = scans.read_carton(fields, form.get("carton"))
    upload = files.get("image")
    if upload is None:
        fields.problem("image", say("image_required"))
    fields.raise_if_any(say("image_scan_invalid"))
    # A retry is answered from the ledger without decoding the frame again.
    earlier = scans.find_recorded(db_for(config["DATABASE"]), client_id)
    if earlier is not None:
        return Recording(None, earlier, blind)
    data = read_image(upload, int(config["MAX_IMAGE_BYTES"]))
    found = decode_image(data, formats=["Code128"])
    # Only what we print counts as a read: other Code128 symbols on the goods are ignored.
    codes = tuple(b.text for b in found if units.looks_like_code(b.text))
    if not codes:
        seen = [f"{b.format} {b.text}" for b in found]
        raise ValidationError(
            say("no_barcode_found"),
            [{"field": "image", "message": say("no_unit_code_seen", seen=", ".join(seen))
              if seen else say("no_unit_code")}],
        )
    scan = scans.Scan(
        client_id, codes, "image", device, hashlib.sha256(data).hexdigest(), carton
    )
    image = review_copy(data, upload.mimetype or "application/octet-stream",
                        max_bytes=int(config["MAX_STORED_IMAGE_BYTES"]))
    return Recording(scans.Request(manifest_id, [scan], user_id, image), None, blind)


def read_image(upload, limit: int) -> bytes:
    """The uploaded file's bytes, refused over ``limit`` bytes."""
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(say("image_too_large", mb=limit // (1024 * 1024)))
    if not data:
        raise ValidationError(say("image_empty"),
                              [{"field": "image", "message": say("empty")}])
    return data


@bp.get("/manifests/<int:manifest_id>/scans")
def ledger(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return {"scans": scans.list_scans(get_db(), manifest_id, after_id=int_arg("after") or 0)}
