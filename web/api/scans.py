"""Scans: keyboard-wedge codes (single or a batch) and camera frames, into the scan ledger.

``?blind=1`` is a blind count: the answers leave out the line's counted and declared quantities
so the operator counts what is there, not towards an expected number. The ledger keeps the
complete answer; only what this response shows is cut.
"""

import hashlib

from flask import current_app, request

from labels.decode import decode_image
from tally import manifests, scans, units
from tally.errors import PayloadTooLarge, ValidationError
from web.api import api_blueprint, int_arg, json_body
from web.auth import requires, user_id
from web.db import get_db

bp = api_blueprint("scans")
# What a blind count does not show: the quantities the operator would count towards.
BLIND_HIDDEN = frozenset({"counted", "declared"})


@bp.post("/manifests/<int:manifest_id>/scans")
@requires("operator")
def record(manifest_id):
    blind = int_arg("blind", choices=(0, 1)) == 1
    if request.mimetype == "multipart/form-data":
        results = _record_image(manifest_id)
    else:
        batch = scans.parse_request(json_body())
        results = scans.submit(_database(), scans.Request(manifest_id, batch, user_id()))
    if blind:
        results = [{k: v for k, v in r.items() if k not in BLIND_HIDDEN} for r in results]
    return {"results": results}


def _record_image(manifest_id) -> list[dict]:
    client_id = request.form.get("client_scan_id")
    errors = scans.check_client_scan_id(client_id)
    upload = request.files.get("image")
    if upload is None:
        errors.append({"field": "image", "message": "a multipart 'image' file is required"})
    if errors:
        raise ValidationError("the image scan is invalid", errors)
    db = get_db()
    # A retry is answered from the ledger without decoding the frame again.
    earlier = scans.find_recorded(db, client_id)
    if earlier is not None:
        return earlier
    data = read_image(upload)
    found = decode_image(data, formats=["Code128"])
    # Only what we print counts as a read: other Code128 symbols on the goods are ignored.
    codes = tuple(b.text for b in found if units.looks_like_code(b.text))
    if not codes:
        seen = [f"{b.format} {b.text}" for b in found]
        raise ValidationError(
            "no unit label barcode was found in the image",
            [
                {
                    "field": "image",
                    "message": "no unit code found"
                    + (f"; other barcodes seen: {', '.join(seen)}" if seen else ""),
                }
            ],
        )
    scan = scans.Scan(
        client_id, codes, "image", request.form.get("device"), hashlib.sha256(data).hexdigest()
    )
    image = (data, upload.mimetype or "application/octet-stream")
    return scans.submit(_database(), scans.Request(manifest_id, [scan], user_id(), image))


def _database() -> str:
    return current_app.config["DATABASE"]


def read_image(upload) -> bytes:
    """The uploaded file's bytes, refused over the configured size."""
    limit = int(current_app.config["MAX_IMAGE_BYTES"])
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the image is over {limit // (1024 * 1024)} MB")
    if not data:
        raise ValidationError("the image file is empty", [{"field": "image", "message": "empty"}])
    return data


@bp.get("/manifests/<int:manifest_id>/scans")
def ledger(manifest_id):
    manifests.load_head(get_db(), manifest_id)
    return {"scans": scans.list_scans(get_db(), manifest_id, after_id=int_arg("after") or 0)}
