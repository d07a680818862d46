"""Camera frames posted as scans: what is kept of them for review, and when."""

import io

import pytest
from PIL import Image
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart


@pytest.fixture
def codes(as_, manifest):
    response = as_("operator").post(f"/api/manifests/{manifest['id']}/labels",
                                    json={"line_no": 1, "count": 2})
    return [label["code"] for label in response.json["labels"]]


def post_frame(as_, manifest_id, frame: bytes, client_scan_id: str):
    # Encoded here: the test client would spool a large form to a file it never closes.
    boundary, body = encode_multipart(
        {"client_scan_id": client_scan_id, "image": FileStorage(io.BytesIO(frame), "f.png")})
    return as_("operator").post(f"/api/manifests/{manifest_id}/scans", data=body,
                                content_type=f"multipart/form-data; boundary={boundary}")


def test_a_padded_frame_is_kept_small_and_duplicates_not_again(as_, db, manifest, codes):
    png = as_("operator").get(f"/api/labels/{codes[0]}.png").data
    padded = png + b"\0junk" * 600_000  # 3 MB appended after the image's end
    counted = post_frame(as_, manifest["id"], padded, "frame-1")
    assert counted.status_code == 200, counted.json
    assert counted.json["results"][0]["outcome"] == "counted"
    [(content_type, size)] = db.execute(
        "SELECT content_type, length(content) FROM scan_images").fetchall()
    assert content_type == "image/jpeg" and size <= 1024 * 1024
    kept = db.execute("SELECT content FROM scan_images").fetchone()[0]
    assert Image.open(io.BytesIO(kept)).format == "JPEG"
    # The same unit again, in another padded frame: answered, recorded, not stored again.
    again = post_frame(as_, manifest["id"], padded + b"more", "frame-2")
    assert again.json["results"][0]["outcome"] == "duplicate"
    assert db.execute("SELECT count(*) FROM scan_images").fetchone()[0] == 1
    assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 2


def test_a_small_frame_is_kept_as_sent(as_, db, manifest, codes):
    png = as_("operator").get(f"/api/labels/{codes[1]}.png").data
    assert post_frame(as_, manifest["id"], png, "frame-3").json["results"][0]["outcome"] == (
        "counted")
    assert db.execute("SELECT content FROM scan_images").fetchone()[0] == png


def test_a_frame_may_name_the_carton_its_units_came_from(as_, db, manifest, codes):
    png = as_("operator").get(f"/api/labels/{codes[0]}.png").data
    carton = "]d20109300633603168172912311" + "0LOT-F\x1d21X"

    def post(client_scan_id, carton_text):
        boundary, body = encode_multipart({"client_scan_id": client_scan_id, "carton": carton_text,
                                           "image": FileStorage(io.BytesIO(png), "f.png")})
        return as_("operator").post(f"/api/manifests/{manifest['id']}/scans", data=body,
                                    content_type=f"multipart/form-data; boundary={boundary}")

    refused = post("frame-c0", "(01)123")
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "carton"
    counted = post("frame-c1", carton)
    assert counted.status_code == 200, counted.json
    assert counted.json["results"][0]["lot"] == {"batch": "LOT-F", "expiry": "2029-12-31"}
    assert db.execute("SELECT lot_batch, source FROM scans").fetchall() == [("LOT-F", "image")]
