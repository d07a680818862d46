"""PostgreSQL behind the part of sqlite-utils' ``Database`` the domain uses, so that one SQL text
serves both engines (docs/deploy.md).

The domain writes SQL once, with ``?`` placeholders and syntax both engines share (``RETURNING``,
``ON CONFLICT``); ``translate`` turns it into psycopg's form once per statement text. A
``PgDatabase`` offers ``execute`` (a cursor: ``fetchone``, ``fetchall``, iteration,
``rowcount``), ``query`` (rows as dicts), ``executescript`` and ``conn`` (``execute``,
``executemany``, ``in_transaction``), in autocommit mode: ``tally.db.write`` issues BEGIN and
COMMIT itself, as it does on SQLite. A round trip costs more than most statements here, so
BEGIN goes with a transaction's first statement, and ``batch`` sends several statements as one
(docs/storage.md, "Round trips").

Connections come from one pool per process and database URL (psycopg-pool). A ``PgDatabase``
holds one while it is used by its thread and gives it back on ``close``; a connection that
broke (the server restarted, a standby was promoted) is given back for the pool to discard,
and the next statement outside a transaction takes a fresh one.
"""

import contextlib
import functools
import os
import re
import threading
from collections.abc import Callable, Iterator

import psycopg
import psycopg_pool
from psycopg import pq
from psycopg.sql import Literal

ENGINE = "postgresql"
# Connections per process at most: each of a server's request threads and its scan writer holds
# one while it works.
DEFAULT_POOL_SIZE = 16
# While the database is unreachable (a primary lost, its standby not yet promoted), the pool
# tries to connect again after 1, 2, 4... seconds; after this many it starts over from a fresh
# try (``_reconnect_again``). psycopg-pool's own backoff goes on doubling for 300 s: after a
# 20 s outage the servers took another 10 s to notice the promoted standby
# (tests/test_failover_postgresql.py); now at most about 2 s.
RECONNECT_S = 5.0
# How long a request waits for a connection before it is answered 503 (the database is down):
# the client retries; a longer wait only holds its thread.
CONNECTION_WAIT_S = 5.0


def is_url(target: str) -> bool:
    """Whether TALLY_DATABASE names a PostgreSQL server rather than a SQLite file."""
    return target.startswith(("postgresql://", "postgres://"))


def redact(url: str) -> str:
    """A database URL fit to print: its password replaced by ``***``."""
    return re.sub(r"^(\w+://[^:/@]*):[^@/]*@", r"\1:***@", url)


# An INSERT of one row of placeholders, which executemany sends as one INSERT of many rows.
_VALUES = re.compile(r"(?is)(INSERT\s+INTO\s+[^;]+?\s+VALUES\s*)(\((?:\s*\?\s*,)*\s*\?\s*\))\s*")
_COPY = re.compile(r"(?is)INSERT\s+INTO\s+(\w+)\s*\(([\w\s,]+)\)\s+VALUES\s*")
# From this many rows on, executemany streams a plain INSERT's rows with COPY: two round trips,
# but no statement of many rows to parse (docs/storage.md).
COPY_FROM_ROWS = 16
# Parameters one statement may carry (the protocol's limit is 65,535).
MAX_PARAMETERS = 30_000
# A string literal, a quoted identifier, a comment, a placeholder or a percent sign.
_TOKENS = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|\?|%""")


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, bool]:
    """The statement in psycopg's form and whether it takes parameters: ``?`` outside literals
    becomes ``%s`` and a literal ``%`` is doubled (only when there are placeholders: psycopg
    reads ``%`` only then)."""
    placeholders = False

    def swap(found: re.Match) -> str:
        nonlocal placeholders
        token = found[0]
        if token == "?":
            placeholders = True
            return "%s"
        if token == "%":
            return "%%"
        return token.replace("%", "%%") if token[0] == "'" else token

    translated = _TOKENS.sub(swap, sql)
    return (translated, True) if placeholders else (sql, False)


class Cursor:
    """What a statement gives back: its rows as tuples, and how many it changed. A statement
    sent in a batch (``PgDatabase.batch``) has them once the batch has gone."""

    def __init__(self, cursor: psycopg.Cursor | None = None):
        self._cursor = cursor
        self._answer: tuple | None = None  # a batched statement's (description, rows, count)

    def _take(self, cursor: psycopg.Cursor) -> None:
        """Keep the answer ``cursor`` is at (a batch's statements share one cursor)."""
        rows = cursor.fetchall() if cursor.description else []
        self._answer = (cursor.description, iter(rows), cursor.rowcount)

    def _answered(self) -> tuple:
        if self._answer is None:
            raise RuntimeError("a batched statement was read before its batch was sent")
        return self._answer

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount if self._cursor is not None else self._answered()[2]

    @property
    def description(self):
        return (self._cursor.description if self._cursor is not None
                else self._answered()[0])

    def fetchone(self):
        if self._cursor is None:
            return next(self._answered()[1], None)
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list:
        if self._cursor is None:
            return list(self._answered()[1])
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())


def _literal(value, conn: psycopg.Connection) -> str:
    """A value as an SQL literal: the common kinds here, anything else by psycopg's adapters
    (a backslash or NUL in a string too: their quoting depends on the server's settings)."""
    if value is None:
        return "NULL"
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str and "\\" not in value and "\x00" not in value:
        return "'" + value.replace("'", "''") + "'"
    return Literal(value).as_string(conn)


class Connection:
    """``db.conn``: the statements and transaction state of the connection in use."""

    def __init__(self, db: "PgDatabase"):
        self._db = db

    @property
    def in_transaction(self) -> bool:
        conn = self._db._conn
        return self._db._begin_pending or (
            conn is not None and conn.info.transaction_status != pq.TransactionStatus.IDLE)

    def execute(self, sql: str, params=None) -> Cursor:
        return self._db.execute(sql, params)

    def executemany(self, sql: str, seq_of_params) -> Cursor:
        """Run a statement for each set of parameters. The rows of a plain ``INSERT INTO t
        (columns) VALUES (?, ...)`` are streamed with COPY (no statement of many rows to parse
        and plan), other INSERTs of one row of placeholders become one statement of many rows:
        a round trip, not one a row as psycopg's executemany makes (docs/storage.md)."""
        rows = [tuple(p) for p in seq_of_params]
        found = _VALUES.fullmatch(sql)
        if found is None or not rows:
            text, takes = translate(sql)
            self._db._send_begin()
            cursor = self._db._connection().cursor()
            cursor.executemany(text, rows if takes else [])
            return Cursor(cursor)
        head, values = found.groups()
        copy = _COPY.fullmatch(head)
        if copy is not None and len(rows) >= COPY_FROM_ROWS:
            # Streamed with COPY: no statement to parse and plan, but two round trips.
            self._db._send_begin()  # COPY cannot be sent with other statements
            cursor = self._db._connection().cursor()
            with cursor.copy(f"COPY {copy[1]} ({copy[2]}) FROM STDIN") as stream:
                for row in rows:
                    stream.write_row(row)
            return Cursor(cursor)
        chunk = max(1, MAX_PARAMETERS // max(1, len(rows[0])))
        cursor = None
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
            if self._db.batching:  # bound here, a row at a time (cheaper than all at once)
                cursor = self._db.execute_rows(head, part)
            else:
                cursor = self.execute(head + ", ".join([values] * len(part)),
                                      [value for row in part for value in row])
        return cursor

    def commit(self) -> None:
        """Commit the open transaction, if any (sqlite3's, in autocommit mode, does nothing)."""
        if self.in_transaction:
            self.execute("COMMIT")

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK" if kind else "COMMIT")


_pools: dict[tuple[int, str], psycopg_pool.ConnectionPool] = {}
_pools_lock = threading.Lock()


def pool_for(url: str, size: int = DEFAULT_POOL_SIZE) -> psycopg_pool.ConnectionPool:
    """This process's pool of connections to ``url`` (made when first needed)."""
    key = (os.getpid(), url)
    with _pools_lock:
        pool = _pools.get(key)
        if pool is None:
            pool = _pools[key] = psycopg_pool.ConnectionPool(
                url, min_size=1, max_size=size, open=True, timeout=CONNECTION_WAIT_S,
                reconnect_timeout=RECONNECT_S, reconnect_failed=_reconnect_again,
                kwargs={"autocommit": True}, check=psycopg_pool.ConnectionPool.check_connection,
                name=f"tally-{os.getpid()}")
        return pool


def _reconnect_again(pool: psycopg_pool.ConnectionPool) -> None:
    """A connection attempt gave up after RECONNECT_S: start a new one (``check`` grows a pool
    left without connections), rather than wait for a request that finds none. Requests still
    waiting for a connection (up to the pool's timeout) get the first one made."""
    if not pool.closed:
        pool.check()


def close_pools(url: str | None = None) -> None:
    """Close this process's pools (of ``url`` only, when given): tests, shutdown."""
    with _pools_lock:
        keys = [key for key in _pools if key[0] == os.getpid() and url in (None, key[1])]
        pools = [_pools.pop(key) for key in keys]
    for pool in pools:
        pool.close()


class Listener:
    """A connection of its own LISTENing on a channel: ``wait`` returns when a notification
    came, or after ``timeout`` seconds; a broken connection is made again at the next wait."""

    def __init__(self, url: str, channel: str):
        self.url, self.channel = url, channel
        self._conn: psycopg.Connection | None = None

    def wait(self, timeout: float) -> bool:
        """True when notified within ``timeout`` seconds."""
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self.url, autocommit=True)
                self._conn.execute(f"LISTEN {self.channel}")
            return any(True for _ in self._conn.notifies(timeout=timeout, stop_after=1))
        except psycopg.OperationalError:
            self.close()
            return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class PgDatabase:
    """A PostgreSQL database as the domain uses a sqlite-utils ``Database``."""

    engine = ENGINE

    def __init__(self, url: str, *, pool_size: int = DEFAULT_POOL_SIZE):
        self.path = url  # what the domain and web layers key connections and writers on
        self._pool = pool_for(url, pool_size)
        self._conn: psycopg.Connection | None = None
        # BEGIN is sent with the transaction's first statement, in one round trip (``begin``).
        self._begin_pending = False
        self._batch: list[tuple[str, Cursor]] | None = None  # statements kept to send together
        self._binder: psycopg.ClientCursor | None = None  # binds a batched statement's values
        self.conn = Connection(self)

    def _connection(self) -> psycopg.Connection:
        if self._conn is not None and self._conn.closed:
            self._give_back()
        if self._conn is None:
            self._conn = self._pool.getconn()
        return self._conn

    def _give_back(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            self._pool.putconn(conn)  # the pool discards one that is broken or mid-transaction

    def execute(self, sql: str, params=None, *, prepare: bool | None = None) -> Cursor:
        """Run one statement (``?`` placeholders); its cursor. psycopg prepares a statement
        run often (its plan is then kept); ``prepare=False`` plans it for these values."""
        text, takes = translate(sql)
        values = tuple(params or ()) if takes else None
        if self._batch is not None:
            return self._queue(text, values)
        if self._begin_pending:
            with self.batch():  # BEGIN goes with this statement
                return self._queue(text, values)
        conn = self._connection()
        try:
            return Cursor(conn.execute(text, values, prepare=prepare))
        except psycopg.OperationalError:
            if conn.closed or conn.broken:
                self._give_back()  # the next statement takes a sound one
            raise

    def begin(self) -> None:
        """Start a transaction: BEGIN is sent with its first statement, in one round trip."""
        self._begin_pending = True

    @contextlib.contextmanager
    def batch(self) -> Iterator[Callable[[], None]]:
        """Within this, statements are kept and sent together, as one simple query, at the
        ``send()`` this yields or at the end: one round trip for several, each statement on
        its own snapshot, so one after a row lock sees what the lock's holder committed. Read a
        statement's rows after its batch has gone. Nested, the outer batch sends. Should the
        batch fail, what it did not send is dropped and its transaction rolled back."""
        if self._batch is not None:
            yield self._send
            return
        self._batch = []
        try:
            yield self._send
            self._send()
        except BaseException:
            self.rollback()
            raise
        finally:
            self._batch = None

    @property
    def batching(self) -> bool:
        """Whether the next statement is kept to be sent with others (``batch``, ``begin``)."""
        return self._batch is not None or self._begin_pending

    def execute_rows(self, head: str, rows: list[tuple]) -> Cursor:
        """While ``batching``: ``head`` (``INSERT INTO t (columns) VALUES``) with the rows'
        values written in as literals."""
        conn = self._connection()
        text = translate(head)[0] + ", ".join(
            "(" + ", ".join([_literal(value, conn) for value in row]) + ")" for row in rows)
        if self._batch is not None:
            return self._queue(text, None)
        with self.batch():
            return self._queue(text, None)

    def _queue(self, text: str, values) -> Cursor:
        cursor = Cursor()
        conn = self._connection()
        if self._binder is None or self._binder.connection is not conn:
            self._binder = psycopg.ClientCursor(conn)
        self._batch.append((self._binder.mogrify(text, values) if values is not None
                            else text, cursor))
        return cursor

    def _send(self) -> None:
        """Send the batch's statements (and a pending BEGIN) now; each cursor gets its rows."""
        batch, self._batch = self._batch, []
        if self._begin_pending:
            if batch and batch[-1][0] in ("COMMIT", "ROLLBACK") and len(batch) == 1:
                batch = []  # a transaction with nothing in it
            else:
                batch.insert(0, ("BEGIN", Cursor()))
            self._begin_pending = False
        if not batch:
            return
        text = ";\n".join(text for text, _ in batch).encode("utf-8")
        # A transaction's first round trip cannot have committed anything: should the
        # connection turn out broken (kept idle across a failover), it goes again on a new one.
        tries = 2 if batch[0][0] == "BEGIN" and not any(
            t in ("COMMIT", "ROLLBACK") for t, _ in batch) else 1
        for attempt in range(tries):
            conn = self._connection()
            cursor = conn.cursor()
            try:
                cursor.execute(text, prepare=False)
                break
            except psycopg.OperationalError:
                if not (conn.closed or conn.broken):
                    raise
                self._give_back()
                if attempt == tries - 1:
                    raise
        for _, target in batch:
            target._take(cursor)
            cursor.nextset()

    def rollback(self) -> None:
        """End a transaction that failed, without taking a connection: what is batched and not
        sent is dropped (a BEGIN not sent began nothing); a transaction begun on the connection
        held is rolled back. With the database down, taking one would wait for the pool again."""
        self._batch, self._begin_pending = None, False
        conn = self._conn
        if conn is not None and not conn.closed and \
                conn.info.transaction_status != pq.TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass

    def _send_begin(self) -> None:
        """Send what is batched and a pending BEGIN now (before COPY, which cannot share a
        round trip)."""
        if self._batch is not None:
            self._send()
        elif self._begin_pending:
            with self.batch():
                pass

    def query(self, sql: str, params=None) -> Iterator[dict]:
        """The rows of a query as dicts."""
        cursor = self.execute(sql, params)
        names = [column.name for column in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(names, row, strict=True))

    def executescript(self, sql: str) -> None:
        """Run several statements (migrations): sent as one simple query."""
        self._send_begin()
        self._connection().execute(sql.encode("utf-8"), prepare=False)

    def close(self) -> None:
        """Give the connection back to the pool (rolled back first if a transaction is open)."""
        self._begin_pending = False
        if self._conn is not None and not self._conn.closed and self.conn.in_transaction:
            try:
                self._conn.rollback()
            except psycopg.Error:
                pass
        self._give_back()
