"""tally/db.py: the write transaction, and checkpoints that keep the WAL short under load."""

import multiprocessing
import os
import sqlite3
import time

import pytest

from tally.db import BACKSTOP_CHECKPOINT_PAGES, close_db, open_db, write


def _writer(path: str, seconds: float, ready) -> None:
    db = open_db(path)
    ready.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with write(db):
            db.conn.execute("INSERT INTO t (payload) VALUES (randomblob(500))")
        time.sleep(0.0005)  # a few thousand commits a second between the two, like the scanners
    close_db(db)


def test_wal_stays_short_with_writers_taking_turns(tmp_path):
    # Passive checkpoints alone never complete while other writers keep appending, so the WAL
    # grew to SQLite's 10,000-page backstop; the checkpoint finished under the write lock lets the
    # next writer start it over.
    path = str(tmp_path / "wal.db")
    db = open_db(path)
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")
    close_db(db)
    context = multiprocessing.get_context("spawn")
    ready = context.Event()
    writers = [context.Process(target=_writer, args=(path, 3.0, ready)) for _ in range(2)]
    for process in writers:
        process.start()
    ready.set()
    largest = 0
    while any(process.is_alive() for process in writers):
        try:
            largest = max(largest, os.path.getsize(path + "-wal"))
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    for process in writers:
        process.join()
        assert process.exitcode == 0
    db = open_db(path)
    rows = db.execute("SELECT count(*) FROM t").fetchone()[0]
    close_db(db)
    assert rows > 1000  # the writers did write
    # Between two checkpoints ~0.25 s of writes accumulate (~3 MB at this rate); a WAL that never
    # starts over reaches SQLite's backstop (40 MB) in about two seconds.
    bound = BACKSTOP_CHECKPOINT_PAGES * 4096 / 4
    assert largest < bound, f"the WAL grew to {largest / 2**20:.0f} MB"


def test_a_failed_transaction_leaves_nothing_and_frees_the_lock(tmp_path):
    path = str(tmp_path / "t.db")
    db = open_db(path)
    db.execute("CREATE TABLE t (x INTEGER)")
    with pytest.raises(ValueError), write(db):
        db.execute("INSERT INTO t VALUES (1)")
        raise ValueError("boom")
    other = open_db(path)
    with write(other):  # would block forever if the lock were still held
        other.execute("INSERT INTO t VALUES (2)")
    assert [r[0] for r in db.execute("SELECT x FROM t")] == [2]
    close_db(other)
    close_db(db)


class _CheckpointsFail:
    """A sqlite3 connection whose checkpoints fail, as on a full or failing disk."""

    def __init__(self, conn):
        self.conn = conn

    def __getattr__(self, name):
        return getattr(self.conn, name)

    def execute(self, sql, *args):
        if "wal_checkpoint" in sql:
            raise sqlite3.OperationalError("disk I/O error")
        return self.conn.execute(sql, *args)


def test_a_failed_checkpoint_does_not_fail_the_committed_write(tmp_path, caplog):
    db = open_db(str(tmp_path / "t.db"))
    db.execute("CREATE TABLE t (x INTEGER)")
    real = db.conn
    db.conn = _CheckpointsFail(real)
    db.last_checkpoint = float("-inf")  # due now
    with write(db):
        db.conn.execute("INSERT INTO t VALUES (1)")
    db.conn = real
    assert [r[0] for r in db.execute("SELECT x FROM t")] == [1]
    assert "checkpoint failed" in caplog.text
    close_db(db)
