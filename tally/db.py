"""The database: opening a connection (a SQLite file, or PostgreSQL through tally/pg.py), the
write transaction, and the few statements the engines spell differently. The schema and its
migrations are in tally/schema.py.
"""

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime

from sqlite_utils import Database

from tally import pg, schema

log = logging.getLogger(__name__)
# What a statement may raise, on either engine: any database error, and a constraint refused.
DatabaseError = (sqlite3.Error, pg.psycopg.Error)
IntegrityError = (sqlite3.IntegrityError, pg.psycopg.IntegrityError)
# The database server cannot answer now (down, restarting, failing over; a deadlock or a
# serialization failure rolled the transaction back): the request may be tried again.
Unavailable = (pg.psycopg.OperationalError,)

# Checkpoints (copying the WAL back into the database file) run after a write, outside the write
# lock, at most this often per connection; SQLite's own, which runs inside the committing
# transaction and so holds every other writer up, is left as a backstop at this many pages.
CHECKPOINT_EVERY_S = 0.25
BACKSTOP_CHECKPOINT_PAGES = 10_000
CACHE_KIB = 8192


def open_db(path: str) -> Database:
    """Open the database: a PostgreSQL URL (tally/pg.py), or (creating if needed) the SQLite
    file at path, tuned for many short writers.

    WAL lets readers run beside the one writer; ``synchronous=NORMAL`` survives a killed process,
    not a power cut, at a fraction of FULL's cost (docs/storage.md).
    """
    if pg.is_url(path):
        return pg.PgDatabase(path)
    if path != ":memory:":
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    # isolation_level=None: we issue BEGIN ourselves (sqlite-utils expects autocommit mode).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
    db = Database(conn)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=10000")
    # Enough for a 1,000-scan batch; a larger cache, once filled, slows every transaction start
    # while several writers share the file (docs/ingestion.md).
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_CHECKPOINT_PAGES}")
    db.path = path
    db.engine = "sqlite"
    db.last_checkpoint = time.monotonic() if path != ":memory:" else None
    return db


def migrate(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied."""
    return schema.migrate(db)


def now() -> str:
    """The current UTC time as ISO 8601 with milliseconds, the format of every stored time."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@contextlib.contextmanager
def write(db: Database) -> Iterator[Database]:
    """One write transaction, queued fairly behind other writers of the same file.

    SQLite's busy handler sleeps between retries, so concurrent writers pile up while the CPU
    idles (docs/storage.md). A blocking ``flock`` on a side file before ``BEGIN IMMEDIATE``
    queues them in order instead. Nested calls become savepoints.
    """
    if db.engine != "sqlite":
        with _pg_transaction(db):
            yield db
        return
    if db.conn.in_transaction:
        with db.atomic():
            yield db
        return
    with _write_lock(db):
        db.conn.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            if db.conn.in_transaction:
                db.conn.execute("ROLLBACK")
            raise
        else:
            db.conn.execute("COMMIT")
    if not getattr(db, "checkpoint_later", False):
        checkpoint_when_due(db)


@contextlib.contextmanager
def _pg_transaction(db) -> Iterator[None]:
    """A PostgreSQL transaction (READ COMMITTED), a savepoint when nested. No global lock:
    writers of one consignment queue on its row (lock_manifest), and unique constraints are
    the backstop of every "check, then insert" (docs/deploy.md)."""
    nested = db.conn.in_transaction
    if nested:
        db.execute("SAVEPOINT tally_nested")
    else:
        db.begin()
    try:
        yield
    except BaseException:
        if not nested:
            db.rollback()
        elif db.conn.in_transaction:
            db.execute("ROLLBACK TO SAVEPOINT tally_nested")
        raise
    db.execute("RELEASE SAVEPOINT tally_nested" if nested else "COMMIT")


def for_update(db) -> str:
    """What a SELECT of a consignment's row ends with inside a write, so that its writers (of
    its status, labels, scans, discrepancies) queue one behind the other: a row lock on
    PostgreSQL (NO KEY: rows referring to it can still be inserted); nothing on SQLite, whose
    writers are queued whole (``write``)."""
    return " FOR NO KEY UPDATE" if db.engine != "sqlite" and db.conn.in_transaction else ""


def skip_locked(db) -> str:
    """What a SELECT of queued work ends with inside a write, so that several workers each take
    rows no other has taken (PostgreSQL); nothing on SQLite, where one writer runs at a time."""
    return " FOR UPDATE SKIP LOCKED" if db.engine != "sqlite" and db.conn.in_transaction else ""


def notify(db, channel: str) -> None:
    """Wake the listeners of ``channel`` when this transaction commits (PostgreSQL's NOTIFY);
    nothing on SQLite, whose workers poll."""
    if db.engine != "sqlite":
        db.execute("SELECT pg_notify(?, '')", [channel])


def lock_manifests(db, manifest_ids) -> None:
    """Within a write, lock several consignments' rows, in id order: two writers locking the
    same ones in another order would wait for each other for ever."""
    if for_update(db):
        for manifest_id in sorted(set(manifest_ids)):
            db.execute("SELECT id FROM manifests WHERE id = ? FOR NO KEY UPDATE", [manifest_id])


# pg_advisory_xact_lock's first key for lock_name: any constant used for nothing else.
NAME_LOCKS = 7_340_002


def lock_name(db, name: str) -> None:
    """Within a write, queue behind the other writers locking the same ``name`` (e.g. a truck's
    plate, which no one row stands for) until the commit: an advisory lock on PostgreSQL;
    nothing on SQLite, whose writers are queued whole."""
    if for_update(db):
        db.execute("SELECT pg_advisory_xact_lock(CAST(? AS integer), hashtext(?))",
                   [NAME_LOCKS, name])


def next_ids(db, table: str, count: int) -> list[int]:
    """The ids the next ``count`` rows of ``table`` will be inserted with (unit and box serials
    are printed on labels, so they are known before the insert): inside a write, from the
    identity's sequence on PostgreSQL, after the largest id on SQLite (whose writer is alone)."""
    if count <= 0:
        return []
    if db.engine == "sqlite":
        start = db.execute(f"SELECT coalesce(max(id), 0) + 1 FROM {table}").fetchone()[0]
        return list(range(start, start + count))
    return [row[0] for row in db.execute(
        "SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)",
        [table, count])]


def any_of(db, sql: str, values: list, chunk: int = 500) -> Iterable[tuple]:
    """The rows of ``sql``, whose one ``IN ({})`` is to take all ``values``: one array
    parameter on PostgreSQL (one statement text whatever the count), a few hundred
    placeholders at a time on SQLite (which has no arrays and caps parameters). Within
    ``pipelined``, read the rows after its ``send``."""
    if not values:
        return []
    if db.engine != "sqlite":
        # Planned for each array: a plan kept from when the ledger was small scanned it whole.
        return db.execute(sql.replace("IN ({})", "= ANY(?)"), [list(values)], prepare=False)
    rows = []
    for i in range(0, len(values), chunk):
        part = values[i:i + chunk]
        rows += db.conn.execute(sql.format(", ".join("?" * len(part))), part).fetchall()
    return rows


@contextlib.contextmanager
def pipelined(db) -> Iterator[Callable[[], None]]:
    """Statements executed within are sent together at the ``send()`` this yields, or at its
    end: one round trip for several on PostgreSQL (``PgDatabase.batch``), so read their rows
    after it. On SQLite each runs as it is executed and ``send`` does nothing."""
    if db.engine == "sqlite":
        yield lambda: None
        return
    with db.batch() as send:
        yield send


def ping(db) -> None:
    """Ask the database something trivial (the health check); raises when it cannot answer."""
    db.execute("SELECT 1").fetchone()


def rollback_leftover(db) -> None:
    """End a transaction a failed request left open, so the connection's next user starts
    clean."""
    if db.conn.in_transaction:
        db.execute("ROLLBACK")


def release(db) -> None:
    """Between requests: give a PostgreSQL connection back to its pool (the handle takes one
    again when next used); a SQLite connection stays open, it costs nothing idle."""
    if db.engine != "sqlite":
        db.close()


@contextlib.contextmanager
def checkpoints_later(db: Database) -> Iterator[Database]:
    """Within this, ``write`` leaves its checkpoint to the caller's ``checkpoint_when_due``: a
    server answers first, so that its clients do not wait for the copying and its fsync."""
    db.checkpoint_later = True
    try:
        yield db
    finally:
        db.checkpoint_later = False


@contextlib.contextmanager
def _write_lock(db: Database) -> Iterator[None]:
    lock_fd = _lock_fd(db)
    if lock_fd is not None:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
    try:
        yield
    finally:
        if lock_fd is not None:
            fcntl.flock(lock_fd, fcntl.LOCK_UN)


def checkpoint_when_due(db: Database) -> None:
    """Copy the WAL back into the database file when this connection's last checkpoint is old.

    SQLite's automatic checkpoint every 1,000 pages runs inside COMMIT, so while one worker
    copied pages every other waited for the write lock. Here the copying is done by a passive
    checkpoint outside the lock, beside the other writers; a second one under the lock then copies
    only what they appended meanwhile, and so completes: the next writer can start the WAL over.
    A WAL whose checkpoints never complete grows, and every page read searches a longer WAL
    index (docs/ingestion.md).
    """
    last = getattr(db, "last_checkpoint", None)  # None: not opened by open_db, or in memory
    started = time.monotonic()
    if last is not None and started - last >= CHECKPOINT_EVERY_S:
        db.last_checkpoint = started
        # The transaction is committed: a failed checkpoint must not turn it into an error (the
        # next one, or SQLite's backstop, copies what this one could not).
        try:
            db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            with _write_lock(db):
                db.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error as exc:
            log.warning("checkpoint failed, left for the next one: %s", exc)


def _lock_fd(db: Database) -> int | None:
    path = getattr(db, "path", ":memory:")
    if path == ":memory:":
        return None
    fd = getattr(db, "_write_lock_fd", None)
    if fd is None:
        fd = os.open(path + ".writelock", os.O_RDWR | os.O_CREAT, 0o644)
        db._write_lock_fd = fd
    return fd


def close_db(db: Database) -> None:
    """Close the connection and its write-lock file (PostgreSQL: give it back to the pool)."""
    if db.engine != "sqlite":
        db.close()
        return
    fd = getattr(db, "_write_lock_fd", None)
    if fd is not None:
        os.close(fd)
        db._write_lock_fd = None
    db.close()


