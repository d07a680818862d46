"""The production server: granian (HTTP in Rust, non-blocking) in front of the Flask app.

A slow or idle client costs no Python thread: granian reads request heads itself and closes a
connection whose head, or whose next request on a kept-alive connection, takes longer than
HEAD_TIMEOUT; web/gateway.py awaits bodies within BODY_TIMEOUT before a thread runs the app.
Scans wait on the worker's event loop for its scan writer (tally.scans), which records the ones
waiting together in one transaction; everything else runs in one of the worker's threads.
"""

import logging
import os

from granian.constants import HTTPModes, Interfaces, Loops
from granian.http import HTTP1Settings
from granian.server import Server

from tally import config as tally_config

# Threads per worker process for everything but scans (which wait on the event loop): few, so
# that the scan writer, holding the write lock, rarely waits for the interpreter lock.
THREADS = 4


def gateway():
    """The RSGI application of one worker process (granian calls this in each worker)."""
    from web import create_app
    from web.gateway import Gateway

    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    app = create_app()
    return Gateway(app.wsgi_app, max_body=int(app.config["MAX_CONTENT_LENGTH"]),
                   body_timeout=float(app.config["BODY_TIMEOUT"]), threads=THREADS)


def workers(config) -> int:
    """WORKERS, or one per core: each has its own interpreter lock (docs/ingestion.md)."""
    return int(config["WORKERS"]) or os.cpu_count() or 1


def server(config) -> Server:
    """granian configured from TALLY_* settings (the same ones the workers' app reads)."""
    head_ms = round(float(config["HEAD_TIMEOUT"]) * 1000)
    if not 1 <= head_ms <= 60_000:  # granian's own bounds
        raise ValueError("TALLY_HEAD_TIMEOUT must be between 0.001 and 60 seconds")
    return Server(
        f"{__name__}:gateway",
        factory=True,
        address=config["HOST"],
        port=int(config["PORT"]),
        interface=Interfaces.RSGI,
        workers=workers(config),
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(header_read_timeout=head_ms, keep_alive=True),
        log_access=bool(config["ACCESS_LOG"]),
        respawn_failed_workers=True,
        # uvloop: a quarter less CPU per scan than asyncio's loop (docs/ingestion.md).
        loop=Loops.uvloop,
    )


def serve(config=None) -> None:
    """Serve until stopped."""
    server(config or tally_config.from_env()).serve()
