"""Blind counting: ``POST .../scans?blind=1`` answers without counted/declared, the ledger
keeps the complete answer."""

import io
import json

import pytest
from PIL import Image

from labels.render import Label, render_image


def issue(as_, mid, line_no, count):
    response = as_("operator").post(f"/api/manifests/{mid}/labels",
                                    json={"line_no": line_no, "count": count})
    assert response.status_code == 201, response.json
    return [label["code"] for label in response.json["labels"]]


def post(as_, mid, body, query="?blind=1", **kwargs):
    return as_("operator").post(f"/api/manifests/{mid}/scans{query}", json=body, **kwargs)


def test_blind_answers_leave_out_the_quantities(as_, manifest):
    mid = manifest["id"]
    codes = issue(as_, mid, 1, 2)
    single = post(as_, mid, {"code": codes[0], "client_scan_id": "blind-1", "device": "HH-9"})
    assert single.status_code == 200, single.json
    assert single.json["results"] == [
        {"client_scan_id": "blind-1", "code": codes[0], "outcome": "counted", "line_no": 1,
         "box_no": None}
    ]
    sent = [codes[0], codes[1], "U000000000018"]  # the last one's check digit is off
    batch = post(as_, mid, {"scans": [{"code": c, "client_scan_id": f"blind-b{i}"}
                                      for i, c in enumerate(sent)]})
    assert [r["outcome"] for r in batch.json["results"]] == ["duplicate", "counted", "invalid"]
    assert all("counted" not in r and "declared" not in r for r in batch.json["results"])
    # The stored answer is complete: the same scan sent again without blind shows the quantities.
    again = post(as_, mid, {"code": codes[0], "client_scan_id": "blind-1"}, query="")
    assert again.json["results"][0]["counted"] == 1
    assert again.json["results"][0]["declared"] == 3
    ledger = as_("operator").get(f"/api/manifests/{mid}/scans").json["scans"]
    assert json.loads(ledger[0]["result"])["declared"] == 3
    report = as_("operator").get(f"/api/manifests/{mid}/reconciliation").json
    assert report["lines"][0]["counted"] == 2
    # blind=0 is the ordinary answer.
    plain = post(as_, mid, {"code": codes[1], "client_scan_id": "blind-2"}, query="?blind=0")
    assert plain.json["results"][0]["outcome"] == "duplicate"
    assert plain.json["results"][0]["counted"] == 2


def test_blind_camera_frame(as_, manifest):
    mid = manifest["id"]
    code = issue(as_, mid, 2, 1)[0]
    label = render_image(Label(code=code, sku="SKU-DIAPER", name="纸尿裤 L", line_no=2,
                               box_no=None, manifest_no="MF-TEST-1"), dpi=300)
    frame = Image.new("RGB", (1280, 720), "white")
    frame.paste(label.convert("RGB"), (300, 150))
    jpeg = io.BytesIO()
    frame.save(jpeg, "JPEG", quality=90)
    response = as_("operator").post(
        f"/api/manifests/{mid}/scans?blind=1",
        data={"image": (io.BytesIO(jpeg.getvalue()), "f.jpg", "image/jpeg"),
              "client_scan_id": "blind-frame"},
        content_type="multipart/form-data")
    assert response.status_code == 200, response.json
    assert response.json["results"] == [
        {"client_scan_id": "blind-frame", "code": code, "outcome": "counted", "line_no": 2,
         "box_no": None}
    ]


@pytest.mark.parametrize("value", ["yes", "2", "-1"])
def test_blind_must_be_0_or_1(as_, manifest, value):
    mid = manifest["id"]
    code = issue(as_, mid, 3, 1)[0]
    refused = post(as_, mid, {"code": code, "client_scan_id": "blind-bad"}, query=f"?blind={value}")
    assert refused.status_code == 422 and refused.json["errors"][0]["field"] == "blind"
    # Nothing was recorded: the scan is counted when it comes with a valid query.
    assert post(as_, mid, {"code": code, "client_scan_id": "blind-bad"}).json["results"][0][
        "outcome"] == "counted"
