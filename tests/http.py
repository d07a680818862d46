"""A small HTTP client for the end-to-end tests (standard library only)."""

import json
import time
import urllib.error
import urllib.request
import uuid

import pytest


class Api:
    def __init__(self, base: str, token: str):
        self.base, self.token = base, token

    def call(
        self,
        method: str,
        path: str,
        *,
        json_body=None,
        data: bytes | None = None,
        content_type: str | None = None,
    ):
        headers = {"Authorization": f"Bearer {self.token}"}
        if json_body is not None:
            data, content_type = json.dumps(json_body).encode(), "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                status, kind = response.status, response.headers.get_content_type()
        except urllib.error.HTTPError as error:
            body, status, kind = error.read(), error.code, error.headers.get_content_type()
        return status, json.loads(body) if kind == "application/json" else body

    def image_scan(self, mid: int, jpeg: bytes, client_scan_id: str):
        boundary = uuid.uuid4().hex
        body = b"".join(
            [
                f'--{boundary}\r\nContent-Disposition: form-data; name="client_scan_id"\r\n\r\n'
                f"{client_scan_id}\r\n".encode(),
                f'--{boundary}\r\nContent-Disposition: form-data; name="device"\r\n\r\n'
                "phone-7\r\n".encode(),
                f"--{boundary}\r\nContent-Disposition: form-data; "
                'name="image"; filename="f.jpg"\r\n'
                "Content-Type: image/jpeg\r\n\r\n".encode(),
                jpeg,
                f"\r\n--{boundary}--\r\n".encode(),
            ]
        )
        return self.call(
            "POST",
            f"/api/manifests/{mid}/scans",
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
        )


def wait_for(predicate, timeout=60.0, interval=0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    pytest.fail("timed out waiting")


def ready_to_tally(api: Api, manifest_csv: str) -> dict:
    """The manifest imported over HTTP, inspected (passing), written off and its SKUs added to
    the account book: the tally is open. The manifest as imported."""
    from tests.conftest import WRITE_OFF, book_items, passing_inspection

    code, manifest = api.call("POST", "/api/manifests", data=manifest_csv.encode(),
                              content_type="text/csv")
    assert code == 201, manifest
    mid = manifest["id"]
    code, body = api.call("POST", f"/api/manifests/{mid}/inspections", json_body=passing_inspection(
        [line["line_no"] for line in manifest["lines"]]))
    assert code == 201, body
    code, body = api.call("POST", f"/api/manifests/{mid}/write-off", json_body=WRITE_OFF)
    assert code == 200, body
    book = book_items(manifest["lines"])
    book_csv = "\n".join([",".join(book[0]),
                          *(",".join(str(v) for v in item.values()) for item in book)])
    code, body = api.call("POST", "/api/account-book", data=book_csv.encode(),
                          content_type="text/csv")
    assert code == 201, body
    return manifest
