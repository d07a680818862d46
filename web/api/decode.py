"""Decoding a camera frame without recording anything."""

from flask import current_app, request

from labels.decode import decode_image
from tally.catalogue import say
from tally.errors import ValidationError
from web.api import api_blueprint
from web.api.scans import read_image

bp = api_blueprint("decode")


@bp.post("/decode")
def decode():
    upload = request.files.get("image")
    if upload is None:
        raise ValidationError(
            say("image_required"), [{"field": "image", "message": say("missing")}]
        )
    found = decode_image(read_image(upload, int(current_app.config["MAX_IMAGE_BYTES"])))
    return {
        "barcodes": [
            {
                "format": b.format,
                "text": b.text,
                "position": [list(p) for p in b.position],
                "symbology_identifier": b.symbology_identifier,
            }
            for b in found
        ]
    }
