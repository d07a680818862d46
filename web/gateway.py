"""The app behind granian: a whole request is read without a thread, then answered.

granian reads request heads in Rust and closes a connection whose head (or, kept alive, whose
next request) does not arrive within the head timeout. Its WSGI interface would hand the body to
a Python thread to read, and a client that stops half way through a body would hold that thread
until it left (granian has no body timeout). Through its RSGI interface the body is awaited here
on the worker's event loop instead, bounded in size and time, so a stalled client costs a
coroutine, never a thread. The whole request then goes through the app's front door
(web/front.py): scans on the event loop, waiting for their group commit without a thread (a
camera frame is decoded in one), everything else in one of the worker's threads.
"""

import asyncio
import io
import logging
import sys
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from urllib.parse import unquote_to_bytes

from tally import scans
from web.api import scans as scan_endpoint
from web.auth import identified_at_once
from web.errors import error_body, error_headers
from web.front import Front, error_answer, json_answer

log = logging.getLogger(__name__)
_NO_BODY = b""


class Gateway:
    """An RSGI application serving the app's front door, with a pool of ``threads`` threads."""

    def __init__(self, front: Front, *, max_body: int, body_timeout: float, threads: int):
        self.front = front
        self.max_body, self.body_timeout = max_body, body_timeout
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="request")

    async def __rsgi__(self, scope, proto):
        try:
            async with asyncio.timeout(self.body_timeout):
                body = await self._body(scope, proto)
        except TimeoutError:
            log.info("closed %s: the body of %s %s did not arrive within %g s",
                     scope.client, scope.method, scope.path, self.body_timeout)
            return _refuse(proto, 408, f"the request body did not arrive within "
                                       f"{self.body_timeout:g} s")
        except _TooLarge:
            return _refuse(proto, 413, f"the request body is over {self.max_body} bytes")
        except Exception as exc:  # noqa: BLE001 - the client went away or broke the framing
            log.info("closed %s: the body of %s %s could not be read (%s)",
                     scope.client, scope.method, scope.path, exc)
            return _refuse(proto, 400, "the request body could not be read")
        environ = _environ(scope, body)
        manifest_id = self.front.scan_manifest(environ)
        loop = asyncio.get_running_loop()
        if manifest_id is not None:
            refused = (self.front.before_scan(environ) if identified_at_once(environ) else
                       await loop.run_in_executor(self.pool, self.front.before_scan, environ))
            status, headers, data = refused or await self._scan(environ, manifest_id)
        else:
            status, headers, data = await loop.run_in_executor(self.pool, self._call, environ)
        proto.response_bytes(status, headers, data)

    async def _scan(self, environ: dict, manifest_id: int) -> tuple[int, list, bytes]:
        """The scan endpoint (web/api/scans.py) on the event loop: the request is recorded by
        the scan writer while the loop serves others, so that many wait for one commit."""
        config, loop = self.front.config, asyncio.get_running_loop()
        try:
            if scan_endpoint.heavy(environ):
                recording = await loop.run_in_executor(
                    self.pool, scan_endpoint.check, environ, manifest_id, config)
            else:
                recording = scan_endpoint.check(environ, manifest_id, config)
            results = recording.results
            if results is None:
                committed = loop.create_future()
                scans.submit_then(config["DATABASE"], recording.request,
                                  lambda outcome: loop.call_soon_threadsafe(
                                      _settle, committed, outcome))
                results = await committed
                if isinstance(results, BaseException):
                    raise results
            return json_answer(200, scan_endpoint.answer(recording, results))
        except Exception as exc:  # noqa: BLE001 - every error answers in the one shape
            return error_answer(exc)

    async def _body(self, scope, proto) -> bytes:
        """The whole body, refused as soon as it is known to be over ``max_body``."""
        length = scope.headers.get("content-length")
        if length is not None:  # granian has checked it is a number
            if int(length) > self.max_body:
                raise _TooLarge
            return await proto() if int(length) else _NO_BODY
        if "transfer-encoding" not in scope.headers:
            return _NO_BODY
        chunks, size = [], 0
        async for chunk in proto:
            size += len(chunk)
            if size > self.max_body:
                raise _TooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _call(self, environ: dict) -> tuple[int, list, bytes]:
        """Run the WSGI app on a request: (status, headers, body)."""
        started, written = [], []

        def start_response(status, headers, exc_info=None):
            started[:] = [int(status[:3]), headers]
            return written.append

        try:
            result = self.front(environ, start_response)
            try:
                data = b"".join([*written, *result])
            finally:
                if hasattr(result, "close"):
                    result.close()
        except Exception:  # the app answers its own errors; this is a bug in it
            log.exception("unhandled error answering %s %s", environ["REQUEST_METHOD"],
                          environ["PATH_INFO"])
            return _error(500, "internal error: the request was not completed")
        return started[0], started[1], data


def _settle(future: asyncio.Future, outcome) -> None:
    if not future.cancelled():
        future.set_result(outcome)


class _TooLarge(Exception):
    """The request body is over the limit."""


def _environ(scope, body: bytes) -> dict:
    """The WSGI environ (PEP 3333) of a request read by granian."""
    server, _, server_port = scope.server.rpartition(":")
    client, _, client_port = scope.client.rpartition(":")
    environ = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        # WSGI wants the decoded path as bytes in a latin-1 str; the path is sent encoded.
        "PATH_INFO": unquote_to_bytes(scope.path).decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server,
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": client,
        "REMOTE_PORT": client_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    headers = scope.headers
    for name in set(headers.keys()):
        values = headers.get_all(name)
        value = "; ".join(values) if name == "cookie" else ",".join(values)
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = str(len(body))
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    if "transfer-encoding" in headers:  # the body is whole now: say how long it is
        environ["CONTENT_LENGTH"] = str(len(body))
        del environ["HTTP_TRANSFER_ENCODING"]
    return environ


def _error(status: int, message: str) -> tuple[int, list, bytes]:
    return json_answer(status, error_body(status, message), error_headers(status))


def _refuse(proto, status: int, message: str) -> None:
    """Answer an error before the app saw the request, and close the connection: its unread
    body would otherwise be taken for the next request."""
    status, headers, data = _error(status, f"{message} ({HTTPStatus(status).phrase})")
    proto.response_bytes(status, [*headers, ("Connection", "close")], data)
