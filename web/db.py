"""One database handle per thread and database, reused across requests.

Opening a SQLite connection and setting its pragmas on every request would cost more than a
whole scan, so each of a worker's request threads keeps its own; a PostgreSQL handle takes a
connection from its process's pool when used and gives it back after each request.
"""

import os
import threading

from flask import Flask, current_app
from sqlite_utils import Database

from tally.db import close_db, open_db, release, rollback_leftover

_local = threading.local()


def get_db() -> Database:
    """The calling thread's connection to the app's database."""
    return db_for(current_app.config["DATABASE"])


def db_for(path: str) -> Database:
    """The calling thread's connection to the database file at ``path``."""
    key = (os.getpid(), path)
    conns = _local.__dict__.setdefault("conns", {})
    db = conns.get(key)
    if db is None:
        db = conns[key] = open_db(path)
    return db


def close_all() -> None:
    """Close this thread's connections (tests, shutdown)."""
    for db in _local.__dict__.pop("conns", {}).values():
        close_db(db)


def init_app(app: Flask) -> None:
    @app.teardown_request
    def _rollback_leftover(exc):
        # A request that died inside a transaction must not leave it open for the next one.
        conns = _local.__dict__.get("conns", {})
        db = conns.get((os.getpid(), app.config["DATABASE"]))
        if db is not None:
            rollback_leftover(db)
            release(db)
