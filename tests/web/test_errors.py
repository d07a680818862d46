"""The error contract: every error path answers the one JSON shape and changes nothing."""

import io
import struct
import zlib

import pytest
from PIL import Image

from tests.conftest import MANIFEST_CSV, app_config, auth, clear_over_http, dump


class _As:
    """The test client with one role's token (clear_over_http's ``as_``)."""

    def __init__(self, client, token):
        self.client, self.headers = client, auth(token)

    def __getattr__(self, method):
        def call(path, **kwargs):
            return getattr(self.client, method)(path, headers=self.headers, **kwargs)

        return call


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height (a decompression bomb's calling card)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = b"IDAT" + zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr))
        + chunk
        + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat) - 4)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
        + b"\0\0\0\0IEND\xaeB`\x82"
    )


def blank_jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("L", (640, 480), 200).save(out, "JPEG")
    return out.getvalue()


JPEG = blank_jpeg()
CSV_HEADER = "manifest_no,line_no,sku,name,declared_qty\n"

# (role, method, path, request kwargs, status, words in the error message)
CASES = [
    (None, "get", "/api/manifests", {}, 401, "bearer token"),
    ("bad", "get", "/api/manifests", {}, 401, "unknown or revoked"),
    (
        "operator",
        "post",
        "/api/manifests",
        {"data": MANIFEST_CSV, "content_type": "text/csv"},
        403,
        "supervisor",
    ),
    ("operator", "post", "/api/manifests/{mid}/tally/confirm", {}, 403, "supervisor"),
    ("supervisor", "post", "/api/users", {"json": {"name": "x", "role": "admin"}}, 403, "admin"),
    ("operator", "post", "/api/labels/{code}/void", {"json": {"reason": "x"}}, 403, "supervisor"),
    ("operator", "get", "/api/manifests/999", {}, 404, "no manifest"),
    ("operator", "get", "/api/manifests/999/reconciliation", {}, 404, "no manifest"),
    ("operator", "get", "/api/labels/U000000009999.png", {}, 404, "no unit"),
    ("operator", "get", "/api/manifests/{mid}/labels.pdf?line_no=3", {}, 404, "no issued labels"),
    ("operator", "get", "/api/nowhere", {}, 404, "not found"),
    ("operator", "get", "/api/manifests/{mid}/tally/confirm", {}, 405, "not allowed"),
    (
        "supervisor",
        "post",
        "/api/manifests",
        {"data": MANIFEST_CSV, "content_type": "text/csv"},
        409,
        "already exists",
    ),
    ("supervisor", "post", "/api/manifests/{mid}/tally/confirm", {}, 409, "condition"),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"json": {"code": "U000000000001", "client_scan_id": "used"}},
        409,
        "already used",
    ),
    (
        "supervisor",
        "post",
        "/api/manifests",
        {"data": "", "content_type": "text/csv"},
        422,
        "empty",
    ),
    (
        "supervisor",
        "post",
        "/api/manifests",
        {"data": "\x00\x01garbage\xff", "content_type": "text/csv"},
        422,
        "not text",
    ),
    (
        "supervisor",
        "post",
        "/api/manifests",
        {"data": CSV_HEADER + "M,1,S,N,-3\nM,1,S,N,1.5\n", "content_type": "text/csv"},
        422,
        "error",
    ),
    (
        "supervisor",
        "post",
        "/api/manifests",
        {
            "json": {
                "manifest_no": "M",
                "lines": [{"line_no": "one", "sku": 5, "name": "N", "declared_qty": "x"}],
            }
        },
        422,
        "error",
    ),
    (
        "supervisor",
        "post",
        "/api/manifests",
        {"data": "{not json", "content_type": "application/json"},
        422,
        "not valid JSON",
    ),
    (
        "supervisor",
        "post",
        "/api/manifests",
        {"data": {"note": "x"}, "content_type": "multipart/form-data"},
        422,
        "file",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/labels",
        {"json": {"line_no": 1, "count": 0}},
        422,
        "cannot issue",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/labels",
        {"json": {"line_no": 42, "count": 1}},
        422,
        "no line 42",
    ),
    ("operator", "post", "/api/manifests/{mid}/labels", {"json": [1, 2]}, 422, "object"),
    ("operator", "get", "/api/labels/{code}.png?size=10x10", {}, 422, "mm"),
    ("operator", "get", "/api/labels/{code}.png?dpi=600", {}, 422, "dpi"),
    ("operator", "get", "/api/manifests/{mid}/labels.pdf?sheet=letter", {}, 422, "sheet"),
    ("operator", "post", "/api/manifests/{mid}/scans", {"json": {"code": "U1"}}, 422, "invalid"),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"json": {"scans": [{"code": "U1", "client_scan_id": str(i)} for i in range(1001)]}},
        422,
        "at most 1000",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"data": {"image": (io.BytesIO(b"this is not an image"), "x.jpg"), "client_scan_id": "i1"}},
        422,
        "image",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"data": {"image": (io.BytesIO(JPEG[: len(JPEG) // 2]), "x.jpg"), "client_scan_id": "i2"}},
        422,
        "image",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"data": {"image": (io.BytesIO(JPEG), "x.jpg"), "client_scan_id": "i3"}},
        422,
        "no unit label",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"data": {"image": (io.BytesIO(JPEG), "x.jpg")}},
        422,
        "invalid",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"data": {"image": (io.BytesIO(b""), "x.jpg"), "client_scan_id": "i4"}},
        422,
        "empty",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {
            "data": {
                "image": (io.BytesIO(png_header_only(30000, 30000)), "bomb.png"),
                "client_scan_id": "i5",
            }
        },
        413,
        "pixels",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/scans",
        {"data": {"image": (io.BytesIO(b"\xff" * 300_000), "big.jpg"), "client_scan_id": "i6"}},
        413,
        "MB",
    ),
    (
        "operator",
        "post",
        "/api/decode",
        {"data": {"image": (io.BytesIO(b"GIF89a..."), "x.gif")}},
        422,
        "image",
    ),
    (
        "operator",
        "post",
        "/api/decode",
        {"data": {"note": "x"}, "content_type": "multipart/form-data"},
        422,
        "image",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/discrepancies",
        {"json": {"line_no": 1, "kind": "lost", "qty": -1}},
        422,
        "invalid",
    ),
    (
        "operator",
        "post",
        "/api/manifests/{mid}/discrepancies",
        {"json": {"corrects": 12345, "action": "reverse"}},
        403,
        "supervisor",
    ),
    (
        "supervisor",
        "post",
        "/api/manifests/{mid}/discrepancies",
        {"json": {"corrects": 12345, "action": "reverse"}},
        404,
        "no discrepancy",
    ),
    ("operator", "post", "/api/labels/{code}/reprint", {"json": {"reason": ""}}, 422, "reason"),
    ("operator", "get", "/api/labels/{code}.png?copy=1", {}, 404, "never recorded"),
    ("supervisor", "post", "/api/manifests/{mid}/write-off", {"json": {}}, 422, "transfer order"),
    ("supervisor", "post", "/api/manifests/{mid}/write-off",
     {"json": {"transfer_order_no": "T", "white_card_no": "W"}}, 409, "cannot write off"),
    ("operator", "post", "/api/manifests/{mid}/inspections", {"json": {"checks": []}}, 422,
     "every manifest line"),
    ("operator", "post", "/api/manifests/{mid}/inspections/1/signature",
     {"json": {"name": "X", "signature": "data:image/png;base64,AAAA"}}, 422, "signature"),
    ("supervisor", "post", "/api/release-orders", {"json": {"bind_type": "2", "manifests": [
        "{mid}"]}}, 422, "manifest ids"),
    ("supervisor", "post", "/api/release-orders", {"json": {"bind_type": "9"}}, 422, "bind_type"),
    ("supervisor", "post", "/api/release-orders/RO-NONE/vehicle",
     {"json": {"plate": "沪A1", "tare_wt": 9000, "frame_wt": 1000}}, 404, "no release order"),
    ("supervisor", "post", "/api/release-orders/RO-NONE/vehicle", {"json": {"plate": ""}}, 422,
     "plate"),
    ("supervisor", "post", "/api/manifests/{mid}/inventory/correction",
     {"json": {"changes": [{"gdsSeqno": 1, "gdecd": "1901101000"}]}}, 404, "no inventory list"),
    ("operator", "post", "/api/gate/passes", {"json": {"direction": "X"}}, 422, "plate"),
    ("admin", "post", "/api/users", {"json": {"name": "x", "role": "king"}}, 422, "role"),
]



@pytest.fixture
def contract_app(db_path, db, customs):
    from web import create_app
    from web.db import close_all

    app = create_app(app_config(db_path, CUSTOMS_URL=customs.url, MAX_IMAGE_BYTES=250_000))
    yield app
    close_all()


# The bytes of every file the cases upload, read before any test sends (and so closes) it.
_UPLOADS = {id(value[0]): value[0].getvalue() for case in CASES
            if isinstance(case[3].get("data"), dict)
            for value in case[3]["data"].values() if isinstance(value, tuple)}


def _fresh(kwargs: dict) -> dict:
    """The case's request arguments with each uploaded file opened anew: a case runs once per
    engine, and the test client closes the files it sends."""
    data = kwargs.get("data")
    if not isinstance(data, dict):
        return kwargs
    return {**kwargs, "data": {
        key: (io.BytesIO(_UPLOADS[id(value[0])]), *value[1:]) if isinstance(value, tuple)
        else value for key, value in data.items()}}


@pytest.mark.parametrize(
    "role, method, path, kwargs, status, words", CASES, ids=[f"{c[4]}-{c[1]}-{c[2]}" for c in CASES]
)
def test_error_contract(contract_app, db, tokens, role, method, path, kwargs, status, words):
    client = contract_app.test_client()
    sup = auth(tokens["supervisor"])
    manifest = client.post(
        "/api/manifests", data=MANIFEST_CSV, content_type="text/csv", headers=sup
    ).json
    mid = manifest["id"]
    clear_over_http(lambda role_name: _As(client, tokens[role_name]), manifest)
    code = client.post(
        f"/api/manifests/{mid}/labels",
        json={"line_no": 1, "count": 1},
        headers=auth(tokens["operator"]),
    ).json["labels"][0]["code"]
    client.post(
        f"/api/manifests/{mid}/scans",
        json={"code": code, "client_scan_id": "used"},
        headers=auth(tokens["operator"]),
    )
    before = dump(db)
    headers = {} if role is None else auth(tokens.get(role, "tly_not_a_token"))
    response = getattr(client, method)(path.format(mid=mid, code=code), headers=headers,
                                       **_fresh(kwargs))
    assert response.status_code == status, response.json
    body = response.json
    assert set(body) >= {"ok", "status", "error", "errors"}
    assert body["ok"] is False and body["status"] == status
    assert isinstance(body["error"], str) and isinstance(body["errors"], list)
    assert words.lower() in (body["error"] + " " + str(body["errors"])).lower()
    assert dump(db) == before


def test_a_database_that_cannot_be_reached_is_a_503_in_the_error_shape(monkeypatch):
    """PostgreSQL down (a restart, a failover): the request is answered 503, try again, in the
    one shape and both languages, not a 500."""
    from bench.servers import free_port
    from tally import pg
    from web import create_app

    monkeypatch.setattr(pg, "CONNECTION_WAIT_S", 0.5)
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/nothing"
    app = create_app(app_config(url))
    try:
        answer = app.test_client().get("/api/manifests", headers=auth("tly_any"))
    finally:
        pg.close_pools(url)
    assert answer.status_code == 503
    assert answer.json["code"] == "database_unavailable"
    assert "请稍后重试" in answer.json["error_zh"]
