"""The strict reader of simple requests (web/http1.py): what it takes, and everything it leaves to
gunicorn's parser by answering None."""

import pytest

from web.http1 import read_simple

SCAN = (
    b"POST /api/manifests/7/scans HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"
    b"Authorization: Bearer abc\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"code":"U123"}'
)


def test_reads_a_scan_request():
    request = read_simple(SCAN)
    assert (request.method, request.uri, request.path, request.query) == (
        "POST", "/api/manifests/7/scans", "/api/manifests/7/scans", "")
    assert request.headers == [
        ("HOST", "127.0.0.1:8000"),
        ("AUTHORIZATION", "Bearer abc"),
        ("CONTENT-TYPE", "application/json"),
        ("CONTENT-LENGTH", "15"),
    ]
    assert request.body.read() == b'{"code":"U123"}'
    assert request.version == (1, 1) and request.should_close()


def test_query_whitespace_around_values_empty_values_and_repeats():
    request = read_simple(
        b"GET /api/manifests?status=open&x=%20y HTTP/1.1\r\nHost: x\r\n"
        b"Accept:  text/html, */* \t\r\nX-Empty:\r\nAccept: image/png\r\n\r\n"
    )
    assert (request.path, request.query) == ("/api/manifests", "status=open&x=%20y")
    assert request.headers[1:] == [
        ("ACCEPT", "text/html, */*"), ("X-EMPTY", ""), ("ACCEPT", "image/png")]
    assert request.body.read() == b""


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(SCAN[:40], id="head not whole yet"),
        pytest.param(SCAN[:-1], id="body not whole yet"),
        pytest.param(SCAN + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", id="a second request behind"),
        pytest.param(b"POST /a HTTP/1.1\r\nHost: x\r\n\r\nbody", id="body without a length"),
        pytest.param(
            b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            id="chunked",
        ),
        pytest.param(
            b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab",
            id="two lengths",
        ),
        pytest.param(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +2\r\n\r\nab", id="signed"),
        pytest.param(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 0x2\r\n\r\nab", id="hex"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n", id="expect"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n", id="upgrade"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n\r\n", id="xfp"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nForwarded: for=1.2.3.4\r\n\r\n", id="fwd"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nSCRIPT_NAME: /b\r\n\r\n", id="underscore"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", id="folded line"),
        pytest.param("GET /a HTTP/1.1\r\nHost: x\r\nX-A: é\r\n\r\n".encode(), id="not ascii"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n", id="bare CR"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost : x\r\n\r\n", id="space before colon"),
        pytest.param(b"GET /a HTTP/1.1\r\nX-A: b\r\n\r\n", id="no host"),
        pytest.param(b"GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", id="two hosts"),
        pytest.param(b"GET /a HTTP/1.0\r\nHost: x\r\n\r\n", id="HTTP/1.0"),
        pytest.param(b"GET http://x/a HTTP/1.1\r\nHost: x\r\n\r\n", id="absolute form"),
        pytest.param(b"GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", id="fragment"),
        pytest.param(b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", id="space in target"),
        pytest.param(b"get /a HTTP/1.1\r\nHost: x\r\n\r\n", id="lower-case method"),
        pytest.param(b"PROPFIND /a HTTP/1.1\r\nHost: x\r\n\r\n", id="other method"),
        pytest.param(b"GET /a HTTP/1.1\nHost: x\n\n", id="bare LF line ends"),
    ],
)
def test_leaves_everything_else_to_gunicorn(data):
    assert read_simple(data) is None


def test_leaves_requests_over_gunicorns_limits_to_it():
    many = b"GET /a HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 100 + b"\r\n"
    assert read_simple(many, max_fields=100) is None
    assert read_simple(many, max_fields=101) is not None
    long_line = b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    assert read_simple(long_line, max_line=4094) is None
    long_field = b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: " + b"b" * 9000 + b"\r\n\r\n"
    assert read_simple(long_field, max_field_size=8190) is None
