"""Moving an installation (issue 14, item 5): copy a SQLite database into an empty PostgreSQL
one, then check that both say the same.

``copy_database(source, target)`` migrates the target, refuses unless every application table
there is empty, and copies every table of the schema in one transaction on the target (all or
nothing): in foreign-key order (read from the source's schema: a table comes after the tables
it refers to), each in batches of ``batch_size`` rows read from a cursor and written with
``executemany``, so a large ledger is never held in memory whole. Ids are kept as they are;
each identity sequence is then set past its table's largest id, so new rows get fresh ids.

Before the transaction commits, the copy is verified: every table's rows, compared value by
value in primary-key order (BLOB -> BYTEA, REAL -> DOUBLE PRECISION must round-trip), its row
count, and every consignment's reconciliation (``load_reconciliation``) equal on both sides. A
mismatch raises ``CopyError`` and rolls the copy back. The source is read in one read
transaction: one snapshot throughout, even if the service is still writing to it.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg

from tally import pg, schema
from tally.db import migrate, write
from tally.reconcile import load_reconciliation

DEFAULT_BATCH_SIZE = 5000

# Tables the target's own triggers fill while others are copied, and the table whose INSERT
# fills them. ``line_counts`` holds the counted units per line, kept by the ``scans_count_line``
# trigger on every INSERT into the ledger (tally/schema.py, m004). Copying both would count
# every unit twice: the trigger's rows first, then the copied ones clash (or, if triggers were
# disabled, the ledger's own guards would go with them). So the ledger is copied with its
# triggers on, which rebuilds ``line_counts`` from the very rows the source counted, and
# ``line_counts`` itself is not copied; it is verified like every other table, row by row
# against the source's, which proves the rebuilt counts equal the ones the source kept.
DERIVED = {"line_counts": "scans"}


class CopyError(Exception):
    """The copy was refused or did not verify; nothing was written to the target."""

    def __init__(self, message: str, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.details = details or []


@dataclass
class CopyReport:
    """What was copied (table: rows, in the order copied) and what was verified."""

    copied: dict[str, int] = field(default_factory=dict)
    derived: dict[str, int] = field(default_factory=dict)  # rebuilt by a trigger, not copied
    sequences: dict[str, int] = field(default_factory=dict)  # table: the id its sequence is at
    consignments: int = 0  # reconciliations compared

    @property
    def tables(self) -> int:
        return len(self.copied) + len(self.derived)


def check_reachable(url: str, timeout: int = 10) -> None:
    """Connect once to ``url``; CopyError saying why when the server cannot be reached (a pool
    would otherwise keep retrying in the background until its timeout)."""
    try:
        psycopg.connect(url, connect_timeout=timeout).close()
    except psycopg.Error as exc:
        raise CopyError(f"cannot connect to {pg.redact(url)}: {str(exc).strip()}") from exc


def copy_database(source, target, *, batch_size: int = DEFAULT_BATCH_SIZE,
                  progress: Callable[[str, int], None] | None = None) -> CopyReport:
    """Copy the SQLite database ``source`` into the empty PostgreSQL database ``target`` (both
    opened with ``tally.db.open_db``), verify it, and return what was done. ``progress(table,
    rows)`` is called as each table is done. CopyError (nothing written) when refused or when
    the verification finds a difference."""
    if source.engine != "sqlite":
        raise CopyError("the source must be a SQLite database (TALLY_DATABASE names "
                        f"{pg.redact(source.path)})")
    if target.engine != pg.ENGINE:
        raise CopyError(f"the target must be a postgresql:// URL, not {target.path}")
    pending = schema.pending(source)
    if pending:
        raise CopyError("the source is not migrated (" + ", ".join(pending)
                        + "): run `tally migrate` on it first")
    migrate(target)
    tables = copy_order(source)
    _check_same_schema(source, target, tables)
    report = CopyReport()
    source.execute("BEGIN")  # one snapshot of the source for the copy and the check
    try:
        with write(target):
            _lock_tables(target, tables)
            full = {t: n for t in tables if (n := _count(target, t))}
            if full:
                raise CopyError(
                    f"the target {pg.redact(target.path)} is not empty; nothing was copied",
                    [f"{t}: {n} rows" for t, n in full.items()])
            for table in tables:
                if table in DERIVED:
                    continue
                report.copied[table] = _copy_table(source, target, table, batch_size)
                if progress:
                    progress(table, report.copied[table])
            for table in DERIVED:
                if table in tables:
                    report.derived[table] = _count(target, table)
                    if progress:
                        progress(table, report.derived[table])
            report.sequences = _advance_sequences(target, tables)
            report.consignments = verify(source, target, tables, batch_size)
        # The planner's statistics of the tables just filled, now rather than at autovacuum's
        # next pass: without them it may read the whole ledger for a few scans' answers.
        target.execute("ANALYZE")
    finally:
        source.execute("ROLLBACK")
    return report


def application_tables(db) -> list[str]:
    """The tables of the schema, by name, without the migrations' own record."""
    if db.engine == "sqlite":
        sql = ("SELECT name FROM sqlite_master WHERE type = 'table'"
               " AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    else:
        sql = ("SELECT table_name FROM information_schema.tables"
               " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
               " ORDER BY table_name")
    return [row[0] for row in db.execute(sql) if row[0] != schema.MIGRATIONS_TABLE]


def copy_order(db) -> list[str]:
    """The SQLite database's tables in foreign-key order: each after the tables it refers to
    (a table's references to itself, such as a discrepancy's correction of an earlier one, are
    satisfied by copying its rows in primary-key order); ties by name."""
    tables = application_tables(db)
    refers = {t: {row[2] for row in db.execute(f"PRAGMA foreign_key_list({_q(t)})")} - {t}
              for t in tables}
    order: list[str] = []
    while len(order) < len(tables):
        ready = [t for t in tables if t not in order and refers[t] <= set(order)]
        if not ready:
            left = sorted(set(tables) - set(order))
            raise CopyError("the tables' foreign keys form a cycle: " + ", ".join(left))
        order.extend(ready)
    return order


def columns(db, table: str) -> list[str]:
    """A table's column names, in the source's order."""
    if db.engine == "sqlite":
        return [row[1] for row in db.execute(f"PRAGMA table_info({_q(table)})")]
    return [row[0] for row in db.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = ? ORDER BY ordinal_position", [table])]


def primary_key(db, table: str) -> list[str]:
    """The SQLite table's primary-key columns (rows are copied and compared in their order)."""
    keyed = sorted((row[5], row[1]) for row in db.execute(f"PRAGMA table_info({_q(table)})")
                   if row[5])
    if not keyed:
        raise CopyError(f"{table} has no primary key: its rows cannot be compared in order")
    return [name for _, name in keyed]


def _check_same_schema(source, target, tables: list[str]) -> None:
    problems = []
    missing = set(tables) ^ set(application_tables(target))
    if missing:
        problems.append("tables on one side only: " + ", ".join(sorted(missing)))
    for table in set(tables) - missing:
        if set(columns(source, table)) != set(columns(target, table)):
            problems.append(f"{table}: columns differ")
    if problems:
        raise CopyError("the source and target schemas differ", problems)


def _lock_tables(target, tables: list[str]) -> None:
    """Keep writers off the target until the copy commits (readers still read). EXCLUSIVE
    mode needs UPDATE, DELETE or TRUNCATE on the table, which the ledger's writers lack (they
    may only append); writing to it needs its consignment's row, locked here, anyway."""
    lockable = [t for t in tables if target.execute(
        "SELECT has_table_privilege(?, 'UPDATE, DELETE, TRUNCATE')", [t]).fetchone()[0]]
    if lockable:
        target.execute("LOCK TABLE " + ", ".join(_q(t) for t in lockable)
                       + " IN EXCLUSIVE MODE")


def _count(db, table: str) -> int:
    return db.execute(f"SELECT count(*) FROM {_q(table)}").fetchone()[0]


def _copy_table(source, target, table: str, batch_size: int) -> int:
    names = columns(source, table)
    listed = ", ".join(_q(c) for c in names)
    order = ", ".join(_q(c) for c in primary_key(source, table))
    insert = (f"INSERT INTO {_q(table)} ({listed})"
              f" VALUES ({', '.join('?' for _ in names)})")
    cursor = source.conn.execute(f"SELECT {listed} FROM {_q(table)} ORDER BY {order}")
    copied = 0
    while batch := cursor.fetchmany(batch_size):
        try:
            target.conn.executemany(insert, batch)
        except psycopg.Error as exc:
            raise CopyError(f"{table}: a row could not be copied: {str(exc).strip()}") from exc
        copied += len(batch)
    return copied


def _advance_sequences(target, tables: list[str]) -> dict[str, int]:
    """Set each identity column's sequence to its table's largest id (the next row gets the
    one after); tables still empty keep theirs at the start."""
    identities = [row[0] for row in target.execute(
        "SELECT table_name FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND column_name = 'id' AND is_identity = 'YES'")]
    done = {}
    for table in sorted(set(identities) & set(tables)):
        largest = target.execute(
            f"SELECT setval(pg_get_serial_sequence(?, 'id'), max(id)) FROM {_q(table)}",
            [table]).fetchone()[0]
        if largest is not None:
            done[table] = largest
    return done


def verify(source, target, tables: list[str], batch_size: int = DEFAULT_BATCH_SIZE) -> int:
    """CopyError unless every table holds the same rows on both sides (compared value by
    value, and counted) and every consignment's reconciliation is equal; the number of
    consignments compared."""
    problems = []
    for table in tables:
        counts = _count(source, table), _count(target, table)
        if counts[0] != counts[1]:
            problems.append(f"{table}: {counts[0]} rows in the source, {counts[1]} copied")
            continue
        difference = _first_difference(source, target, table, batch_size)
        if difference:
            problems.append(f"{table}: {difference}")
    manifest_ids = [row[0] for row in source.execute("SELECT id FROM manifests ORDER BY id")]
    for manifest_id in manifest_ids:
        if load_reconciliation(source, manifest_id) != load_reconciliation(target, manifest_id):
            problems.append(f"consignment {manifest_id}: the reconciliation differs")
    if problems:
        raise CopyError("the copy does not match the source; nothing was copied", problems)
    return len(manifest_ids)


def _first_difference(source, target, table: str, batch_size: int) -> str | None:
    """The first row that differs between the two sides, described; None when all agree."""
    names = columns(source, table)
    key = primary_key(source, table)
    ours = _rows_sqlite(source, table, names, key, batch_size)
    theirs = _rows_pg(target, table, names, key, batch_size)
    for mine, copied in zip(ours, theirs, strict=True):
        if mine != copied:
            changed = [n for n, a, b in zip(names, mine, copied, strict=True) if a != b]
            where = ", ".join(f"{k}={mine[names.index(k)]!r}" for k in key if k in names)
            return f"row {where or '?'} differs in {', '.join(changed)}"
    return None


def _rows_sqlite(db, table, names, key, batch_size) -> Iterator[tuple]:
    listed = ", ".join(_q(c) for c in names)
    cursor = db.conn.execute(
        f"SELECT {listed} FROM {_q(table)} ORDER BY {', '.join(_q(k) for k in key)}")
    while batch := cursor.fetchmany(batch_size):
        yield from (tuple(row) for row in batch)


def _rows_pg(db, table, names, key, batch_size) -> Iterator[tuple]:
    """The table's rows in the order SQLite sorts them (text keys by their bytes: COLLATE
    "C"), a page at a time after the last key seen."""
    listed = ", ".join(_q(c) for c in names)
    keys = ", ".join(f'{_q(k)} COLLATE "C"' if _is_text(db, table, k) else _q(k) for k in key)
    after = None
    while True:
        where = f" WHERE ({keys}) > ({', '.join('?' for _ in key)})" if after else ""
        rows = list(db.execute(
            f"SELECT {listed} FROM {_q(table)}{where} ORDER BY {keys} LIMIT ?",
            [*(after or ()), batch_size]))
        yield from rows
        if len(rows) < batch_size:
            return
        after = tuple(rows[-1][names.index(k)] for k in key)


def _is_text(db, table: str, column: str) -> bool:
    return db.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_schema ="
        " current_schema() AND table_name = ? AND column_name = ?",
        [table, column]).fetchone()[0] in ("text", "character varying")


def _q(name: str) -> str:
    """A table or column name quoted for SQL (the names come from the schema itself)."""
    return '"' + name.replace('"', '""') + '"'
