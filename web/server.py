"""The production server: gunicorn with sync workers, tuned for many small requests.

Sync workers (one request at a time per process, the connection closed after each answer) gave
the best throughput and tail for scans: with the flock-queued writes, threads only add GIL and
lock hand-offs, and keep-alive workers pin each client to one process, so that one busy process
holds up all its clients (docs/ingestion.md). ``SyncWorker`` changes four things measured on the
scan path:

- group commit: the connections already waiting when a worker accepts one are taken with it, up
  to ``GROUP``, and their simple requests handed together to the app's ``answer_together``
  (web/fast_scans.py), which records the scans among them in one transaction. Under load one
  wait for the write lock, one page-cache refresh and one commit then serve eight clients
  instead of one: single scans went from ~3,000 to ~6,500 a second, batches of 100 from ~23,000
  to ~30,000 scans a second. With nothing waiting a request is answered alone, as before.

- a simple request that arrived whole (nearly all of them; web/http1.py says which) is read by
  our strict reader instead of gunicorn's general parser (~6 instead of ~34 µs), and its environ
  built directly; anything else goes to gunicorn's parser with the bytes already read. gunicorn
  still writes the answer, logs it and handles errors.
- gunicorn writes the headers and the body with separate ``sendall`` calls; corking the socket
  sends them as one TCP segment, with the FIN when the connection closes right after.
- gunicorn 27 closes every connection gracefully (RFC 9112 §9.6: shut down writing, then wait for
  the client to close, so that unread request bytes cannot make the kernel reset the connection
  and destroy the answer in flight). When nothing is left to read, a plain close sends a FIN, not
  a reset, and the worker need not wait a round trip for the client; otherwise the graceful
  close runs as before.

The last two took a minimal app from ~6,100 to ~9,400 requests/s on this machine; the last three,
with the smaller savings below (the Date header, the heartbeat, accept), to ~18,000 (server CPU
per request ~183 -> ~55 µs).
"""

import errno
import os
import select
import socket
import sys
import time
from datetime import datetime

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi
from gunicorn.workers.sync import SyncWorker as _GunicornSyncWorker

from web import http1

# The first read from a new connection: a scan request is well under 1 kB, a batch of 100 ~8 kB.
FIRST_READ = 65536
# Connections taken from the listener at once, at most: their scans share one transaction. With
# 32 clients, in one round 4 gave ~7,000 single scans/s (p99 ~12 ms), 8 ~8,200 (p99 ~16 ms) and
# 12 ~7,700; in another 16 gave ~5,700 against 6,500-7,000 with 8. A larger group keeps more
# clients waiting on one worker.
GROUP = 8

_graceful_close = getattr(util, "close_graceful", None)
_http_date = util.http_date
_date_of_second = [-1, ""]


def http_date_cached(timestamp=None) -> str:
    """gunicorn's ``http_date``, formatted once a second rather than for every answer (~3 µs)."""
    if timestamp is not None:
        return _http_date(timestamp)
    now = int(time.time())
    if now != _date_of_second[0]:
        _date_of_second[:] = [now, _http_date(now)]
    return _date_of_second[1]


def close_after_answer(sock: socket.socket, *args, **kwargs) -> None:
    """Close a connection whose answer was written: plainly when no request bytes remain
    unread, else gunicorn's graceful close (which drains them first)."""
    if sock.fileno() < 0:  # already closed (gunicorn closes on some TLS errors first)
        return
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    if poller.poll(0) and _graceful_close is not None:
        _graceful_close(sock, *args, **kwargs)
        return
    util.close(sock)


class _Replay:
    """A client socket whose first ``recv`` gives back the bytes already read from it, so that
    gunicorn's parser sees the request from its first byte."""

    def __init__(self, sock: socket.socket, data: bytes):
        self._sock, self._data = sock, data

    def recv(self, size: int, *flags) -> bytes:
        if not self._data:
            return self._sock.recv(size, *flags)
        data, self._data = self._data[:size], self._data[size:]
        return data

    def __getattr__(self, name):
        return getattr(self._sock, name)


def cork(client: socket.socket) -> None:
    """Hold small writes back until the answer is whole: one TCP segment, FIN included."""
    try:
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
    except (AttributeError, OSError):  # not Linux, or not a TCP socket
        pass


class _Exchange:
    """One simple request on its connection, and what answering it has made so far."""

    __slots__ = ("req", "client", "addr", "started", "resp", "environ")

    def __init__(self, req, client, addr):
        self.req, self.client, self.addr = req, client, addr
        self.started, self.resp, self.environ = None, None, {}


class SyncWorker(_GunicornSyncWorker):
    """gunicorn's sync worker with group commit of the requests waiting together, a fast read
    of simple requests, each answer sent in one segment and closed without a wait."""

    def init_process(self):
        self.prepare()
        super().init_process()

    def prepare(self):
        """What this worker adds to gunicorn's, before it loads the app and starts serving."""
        if _graceful_close is not None:  # gunicorn >= 27; this worker process only
            util.close_graceful = close_after_answer
        util.http_date = http_date_cached
        self.base_environ = wsgi.base_environ(self.cfg)
        self.socknames = {}  # listener -> its address, asked once rather than per request
        # The shortcut builds the environ gunicorn would for a plain TCP request: not for TLS,
        # a SCRIPT_NAME prefix or the PROXY protocol, which gunicorn's own path handles.
        self.read_simple = not (
            self.cfg.is_ssl or os.environ.get("SCRIPT_NAME") or self.cfg.proxy_protocol != "off"
        )
        self.notified = 0.0

    def notify(self):
        """Tell the arbiter we are alive: once a second is plenty (it waits ``timeout`` = 60 s),
        where gunicorn's loop does it for every connection (a ``utime`` call each)."""
        now = time.monotonic()
        if now - self.notified >= 1.0:
            self.notified = now
            super().notify()

    def accept(self, listener):
        # Python's accept() already gives a socket closed on exec (accept4 with SOCK_CLOEXEC),
        # and on Linux a blocking one even from a non-blocking listener (accept(2)): gunicorn's
        # setblocking and close_on_exec would be three system calls more per connection.
        client, addr = listener.accept()
        if sys.platform != "linux":
            client.setblocking(True)
        together = getattr(self.wsgi, "answer_together", None)
        if together is None or not self.read_simple or not isinstance(addr, tuple):
            self.handle(listener, client, addr)
            return
        data = self.first_read(client)  # this client's request, before others are taken
        if data is not None:
            self.handle_together(
                listener, [(client, addr, data), *self.accept_waiting(listener)], together)

    def accept_waiting(self, listener) -> list:
        """The connections already waiting on the listener, up to a group's worth, each with
        the bytes of its request that have arrived (None if none yet)."""
        waiting = []
        while len(waiting) < GROUP - 1:
            try:
                client, addr = listener.accept()
            except OSError:  # none left (EAGAIN), or one gone before it was taken
                break
            if sys.platform != "linux":
                client.setblocking(True)
            cork(client)
            try:
                data = client.recv(FIRST_READ, socket.MSG_DONTWAIT)
            except BlockingIOError:
                data = None  # not here yet: answered on its own after the group
            except OSError:
                util.close(client)
                continue
            waiting.append((client, addr, data))
        return waiting

    def first_read(self, client) -> bytes | None:
        """The first bytes from a new connection (waiting for them), or None if it was reset."""
        cork(client)
        try:
            return client.recv(FIRST_READ)
        except OSError:
            util.close(client)  # reset before a byte arrived: nothing to answer
            return None

    def handle(self, listener, client, addr):
        if not (self.read_simple and isinstance(addr, tuple)):
            cork(client)
            super().handle(listener, client, addr)
            return
        data = self.first_read(client)
        if data is not None:
            self.handle_together(listener, [(client, addr, data)])

    def handle_together(self, listener, connections, together=None):
        """Answer (client, addr, first bytes) connections: their simple requests in one call of
        the app's ``answer_together`` when given (one transaction for their scans), the others
        one by one after."""
        simple, later = [], []
        for client, addr, data in connections:
            request = None if data is None else self.parse_simple(data)
            if request is None:
                later.append((client, addr, data))
            else:
                simple.append(_Exchange(request, client, addr))
        if simple:
            self.answer(listener, simple, together)
        for client, addr, data in later:
            if data is None:
                self.handle(listener, client, addr)
            else:  # not simple: gunicorn's parser, from the first byte
                super().handle(listener, _Replay(client, data), addr)

    def parse_simple(self, data: bytes):
        return http1.read_simple(
            data,
            max_line=self.cfg.limit_request_line or 1 << 30,
            max_fields=self.cfg.limit_request_fields,
            max_field_size=self.cfg.limit_request_field_size or 1 << 30,
        )

    def answer(self, listener, exchanges: list["_Exchange"], together=None):
        """Answer requests read by ``http1.read_simple``, as gunicorn's ``handle_request``
        answers one read by its parser (same Response, hooks, access log and error answers).
        With ``together``, the app's answers to several requests come from one call."""
        started = []
        for x in exchanges:
            try:
                self.cfg.pre_request(self, x.req)
                x.started = datetime.now()
                x.resp = wsgi.Response(x.req, x.client, self.cfg)
                x.resp.force_close()
                server = self.socknames.get(listener)
                if server is None:
                    server = self.socknames[listener] = listener.getsockname()
                x.environ = self.environ(x.req, x.client, x.addr, server)
                self.nr += 1
                if self.nr >= self.max_requests:
                    self.log.info("Autorestarting worker after current request.")
                    self.alive = False
                started.append(x)
            except Exception as exc:
                self.finish(x, exc)
        answers = [None] * len(started)
        if together is not None and len(started) > 1:
            try:
                answers = together([(x.environ, x.resp.start_response) for x in started])
            except Exception as exc:
                for x in started:
                    self.finish(x, exc)
                return
        # The answers given together first; then the app, one by one, for the rest. Their
        # close() (work the app left for after its answer) once every connection is closed:
        # with the socket corked, an answer leaves only when its connection closes.
        sent = [self.send(x, respiter) for x, respiter in zip(started, answers, strict=True)
                if respiter is not None]
        sent += [self.send(x, None) for x, respiter in zip(started, answers, strict=True)
                 if respiter is None]
        for respiter in sent:
            try:
                if hasattr(respiter, "close"):
                    respiter.close()
            except Exception:
                self.log.exception("Error closing the response")

    def send(self, x: "_Exchange", respiter):
        """Write the app's answer (calling the app first when ``respiter`` is None), log it and
        close the connection; return the answer, for the caller to close."""
        try:
            if respiter is None:
                respiter = self.wsgi(x.environ, x.resp.start_response)
            try:
                if isinstance(respiter, x.environ["wsgi.file_wrapper"]):
                    x.resp.write_file(respiter)
                else:
                    for item in respiter:
                        x.resp.write(item)
                x.resp.close()
            finally:
                self.log.access(x.resp, x.req, x.environ, datetime.now() - x.started)
        except Exception as exc:
            self.finish(x, exc)
        else:
            self.finish(x)
        return respiter

    def finish(self, x: "_Exchange", exc: Exception | None = None):
        """Answer an error when one is still possible, run the post-request hook and close."""
        try:
            if isinstance(exc, OSError):
                if exc.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN):
                    self.log.error("Socket error processing request.", exc_info=exc)
            elif exc is not None:
                if x.resp is not None and x.resp.headers_sent:  # too late for an error answer
                    self.log.error("Error handling request", exc_info=exc)
                else:
                    self.handle_error(x.req, x.client, x.addr, exc)
        finally:
            try:
                self.cfg.post_request(self, x.req, x.environ, x.resp)
            except Exception:
                self.log.exception("Exception in post_request hook")
            util.close_graceful(x.client)

    def environ(self, req, client, addr, server) -> dict:
        """The WSGI environ gunicorn's ``wsgi.create`` builds, for a simple request."""
        environ = dict(self.base_environ)
        environ.update({
            "wsgi.input": req.body,
            "wsgi.url_scheme": "http",
            "gunicorn.socket": client,
            "REQUEST_METHOD": req.method,
            "QUERY_STRING": req.query,
            "RAW_URI": req.uri,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": addr[0],
            "REMOTE_PORT": str(addr[1]),
            "SERVER_NAME": server[0],
            "SERVER_PORT": str(server[1]),
            "PATH_INFO": util.unquote_to_wsgi_str(req.path),
            "SCRIPT_NAME": "",
        })
        for name, value in req.headers:
            if name == "CONTENT-TYPE":
                environ["CONTENT_TYPE"] = value
            elif name == "CONTENT-LENGTH":
                environ["CONTENT_LENGTH"] = value
            else:
                key = "HTTP_" + name.replace("-", "_")
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        return environ


class Server(BaseApplication):
    """``tally serve``: the app factory on gunicorn, configured from TALLY_* settings."""

    def __init__(self, bind: str, workers: int, access_log: str | None = None):
        self.settings = {
            "bind": bind,
            "workers": workers,
            "worker_class": f"{__name__}.SyncWorker",
            "timeout": 60,
            "control_socket_disable": True,  # gunicorn 27 would create one under ~/.gunicorn
            "accesslog": access_log,
        }
        super().__init__()

    def load_config(self):
        for key, value in self.settings.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from web import create_app

        return create_app()


def default_workers() -> int:
    """One more worker than cores: a sync worker also waits (for the write lock, a checkpoint's
    fsync, the client), and the spare keeps the cores busy; more measured slower (two cores,
    before group commit: 3 workers ~3,500-3,800 single scans/s, 2 workers ~3,100-3,500, 4-5
    workers ~3,600; with it, 2 and 3 alike, 4 ~20 % slower)."""
    return (os.cpu_count() or 1) + 1


def serve(port: int) -> None:
    """Serve until stopped (TALLY_HOST, TALLY_WORKERS and TALLY_ACCESS_LOG override)."""
    Server(
        f"{os.environ.get('TALLY_HOST', '127.0.0.1')}:{port}",
        int(os.environ.get("TALLY_WORKERS") or default_workers()),
        os.environ.get("TALLY_ACCESS_LOG") or None,
    ).run()
