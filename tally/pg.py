"""PostgreSQL behind the part of sqlite-utils' ``Database`` the domain uses, so that one SQL text
serves both engines (docs/deploy.md).

The domain writes SQL once, with ``?`` placeholders and syntax both engines share (``RETURNING``,
``ON CONFLICT``); ``translate`` turns it into psycopg's form once per statement text. A
``PgDatabase`` offers ``execute`` (a cursor: ``fetchone``, ``fetchall``, iteration,
``rowcount``), ``query`` (rows as dicts), ``executescript`` and ``conn`` (``execute``,
``executemany``, ``in_transaction``), in autocommit mode: ``tally.db.write`` issues BEGIN and
COMMIT itself, as it does on SQLite.

Connections come from one pool per process and database URL (psycopg-pool). A ``PgDatabase``
holds one while it is used by its thread and gives it back on ``close``; a connection that
broke (the server restarted, a standby was promoted) is given back for the pool to discard,
and the next statement outside a transaction takes a fresh one.
"""

import functools
import os
import re
import threading
from collections.abc import Iterator

import psycopg
import psycopg_pool
from psycopg import pq

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
    """What a statement gives back: its rows as tuples, and how many it changed."""

    def __init__(self, cursor: psycopg.Cursor):
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def description(self):
        return self._cursor.description

    def fetchone(self):
        return self._cursor.fetchone() if self._cursor.description else None

    def fetchall(self) -> list:
        return self._cursor.fetchall() if self._cursor.description else []

    def __iter__(self):
        return iter(self.fetchall())


class Connection:
    """``db.conn``: the statements and transaction state of the connection in use."""

    def __init__(self, db: "PgDatabase"):
        self._db = db

    @property
    def in_transaction(self) -> bool:
        conn = self._db._conn
        return conn is not None and \
            conn.info.transaction_status != pq.TransactionStatus.IDLE

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
            cursor = self._db._connection().cursor()
            cursor.executemany(text, rows if takes else [])
            return Cursor(cursor)
        head, values = found.groups()
        copy = _COPY.fullmatch(head)
        if copy is not None:  # rows streamed with COPY: no statement to parse and plan
            cursor = self._db._connection().cursor()
            with cursor.copy(f"COPY {copy[1]} ({copy[2]}) FROM STDIN") as stream:
                for row in rows:
                    stream.write_row(row)
            return Cursor(cursor)
        chunk = max(1, MAX_PARAMETERS // max(1, len(rows[0])))
        cursor = None
        for start in range(0, len(rows), chunk):
            part = rows[start:start + chunk]
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

    def execute(self, sql: str, params=None) -> Cursor:
        """Run one statement (``?`` placeholders); its cursor."""
        text, takes = translate(sql)
        conn = self._connection()
        try:
            return Cursor(conn.execute(text, tuple(params or ()) if takes else None))
        except psycopg.OperationalError:
            if conn.closed or conn.broken:
                self._give_back()  # the next statement takes a sound one
            raise

    def query(self, sql: str, params=None) -> Iterator[dict]:
        """The rows of a query as dicts."""
        cursor = self.execute(sql, params)
        names = [column.name for column in cursor.description or ()]
        for row in cursor.fetchall():
            yield dict(zip(names, row, strict=True))

    def executescript(self, sql: str) -> None:
        """Run several statements (migrations): sent as one simple query."""
        self._connection().execute(sql.encode("utf-8"), prepare=False)

    def close(self) -> None:
        """Give the connection back to the pool (rolled back first if a transaction is open)."""
        if self._conn is not None and not self._conn.closed and self.conn.in_transaction:
            try:
                self._conn.rollback()
            except psycopg.Error:
                pass
        self._give_back()
