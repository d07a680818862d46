"""A strict reader for the simple HTTP/1.1 requests that make up nearly all of the traffic.

gunicorn's request parser is general (chunked bodies, obsolete line folding, proxy headers,
trusted-forwarder rules, h2c upgrades) and costs ~34 µs per request in Python, a fifth of a wedge
scan's server time with the environ and the answer around it. A scanner's request is plain: one
request line, a few ordinary headers, a body whose length is given and which arrived with them.

``read_simple`` accepts exactly such a request, already whole in the bytes first read from the
connection, and answers None for anything else, which then goes to gunicorn's parser unchanged
(web/server.py). None is the safe answer: it never rejects a request, it only declines to
shortcut it, so what it accepts must be a strict subset of what gunicorn would accept with the
same meaning.
"""

import io
import re

# origin-form only ("/path?query"): RFC 3986 path and query characters, no fragment, no spaces.
_REQUEST_LINE = re.compile(
    rb"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/[A-Za-z0-9\-._~!$&'()*+,;=:@/%?]*) HTTP/1\.1"
)
# field-name ":" OWS field-value OWS (RFC 9110 5.1, 5.5), visible ASCII only. No underscore in
# names: gunicorn drops or refuses such headers, since HTTP_X_Y could not tell them apart.
_HEADER = re.compile(
    rb"([!#$%&'*+\-.^`|~0-9A-Za-z]+):[ \t]*((?:[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?)?)[ \t]*"
)
# Headers with a meaning beyond their value: framing, protocol switches, and what a trusted proxy
# may say about the client (gunicorn's forwarded_allow_ips rules decide on those).
_NOT_SIMPLE = {"TRANSFER-ENCODING", "EXPECT", "UPGRADE", "HTTP2-SETTINGS", "TE", "FORWARDED"}


class SimpleRequest:
    """A whole, simple request, with the attributes gunicorn's Response and access log read."""

    version = (1, 1)
    scheme = "http"
    proxy_protocol_info = None

    __slots__ = ("method", "uri", "path", "query", "headers", "body")

    def __init__(self, method: str, uri: str, headers: list[tuple[str, str]], body: bytes):
        self.method = method
        self.uri = uri
        self.path, _, self.query = uri.partition("?")
        self.headers = headers  # (NAME in upper case, value), in order, as gunicorn gives them
        self.body = io.BytesIO(body)

    def should_close(self) -> bool:
        return True  # our sync workers answer one request per connection


def read_simple(
    data: bytes, *, max_line: int = 4094, max_fields: int = 100, max_field_size: int = 8190
) -> SimpleRequest | None:
    """The request in ``data`` if it is simple and whole, else None.

    Simple: an origin-form HTTP/1.1 request line; at most ``max_fields`` headers of visible ASCII
    within gunicorn's size limits; exactly one Host; a Content-Length of digits at most once; no
    framing, upgrade, expectation or forwarding header. Whole: the body is exactly what follows
    the headers in ``data``.
    """
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].split(b"\r\n")
    if len(lines[0]) > max_line or len(lines) - 1 > max_fields:
        return None
    request_line = _REQUEST_LINE.fullmatch(lines[0])
    if request_line is None:
        return None
    headers, length, hosts = [], None, 0
    for line in lines[1:]:
        field = _HEADER.fullmatch(line) if len(line) <= max_field_size else None
        if field is None:
            return None
        name = field.group(1).decode().upper()
        value = field.group(2).decode()
        if name in _NOT_SIMPLE or name.startswith("X-FORWARDED-"):
            return None
        if name == "CONTENT-LENGTH":
            if length is not None or not value.isdigit() or len(value) > 18:
                return None
            length = int(value)
        elif name == "HOST":
            hosts += 1
        headers.append((name, value))
    body = data[end + 4:]
    if hosts != 1 or len(body) != (length or 0):
        return None
    method, uri = request_line.groups()
    return SimpleRequest(method.decode(), uri.decode(), headers, body)
