"""The production server: gunicorn with sync workers, tuned for many small requests.

Sync workers (one request at a time per process, the connection closed after each answer) gave
the best throughput and tail for scans: with the flock-queued writes, threads only add GIL and
lock hand-offs (docs/benchmarks.md). ``SyncWorker`` changes two things measured on the scan path,
which together took a minimal app from ~6,100 to ~9,400 requests/s on this machine:

- gunicorn writes the headers and the body with separate ``sendall`` calls; corking the socket
  sends them as one TCP segment, with the FIN when the connection closes right after.
- gunicorn 27 closes every connection gracefully (RFC 9112 §9.6: shut down writing, then wait for
  the client to close, so that unread request bytes cannot make the kernel reset the connection
  and destroy the answer in flight). When nothing is left to read, a plain close sends a FIN, not
  a reset, and the worker need not wait a round trip for the client; otherwise the graceful
  close runs as before.
"""

import os
import select
import socket

from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.workers.sync import SyncWorker as _GunicornSyncWorker

_graceful_close = getattr(util, "close_graceful", None)


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


class SyncWorker(_GunicornSyncWorker):
    """gunicorn's sync worker, sending each answer in one segment and closing without a wait."""

    def init_process(self):
        if _graceful_close is not None:  # gunicorn >= 27; this worker process only
            util.close_graceful = close_after_answer
        super().init_process()

    def handle(self, listener, client, addr):
        try:
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
        except (AttributeError, OSError):  # not Linux, or not a TCP socket
            pass
        super().handle(listener, client, addr)


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
    fsync, the client), and the spare keeps the cores busy; more measured slower (two cores:
    3 workers ~3,500-3,800 single scans/s, 2 workers ~3,100-3,500, 4-5 workers ~3,600)."""
    return (os.cpu_count() or 1) + 1


def serve(port: int) -> None:
    """Serve until stopped (TALLY_HOST, TALLY_WORKERS and TALLY_ACCESS_LOG override)."""
    Server(
        f"{os.environ.get('TALLY_HOST', '127.0.0.1')}:{port}",
        int(os.environ.get("TALLY_WORKERS") or default_workers()),
        os.environ.get("TALLY_ACCESS_LOG") or None,
    ).run()
