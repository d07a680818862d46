"""The SQLite database: opening a connection, the write transaction, and the whole schema.

``Migrations("tally")`` below is the only place where tables and indexes are defined.
"""

import contextlib
import fcntl
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime

from sqlite_utils import Database, Migrations

migrations = Migrations("tally")
log = logging.getLogger(__name__)

# Checkpoints (copying the WAL back into the database file) run after a write, outside the write
# lock, at most this often per connection; SQLite's own, which runs inside the committing
# transaction and so holds every other writer up, is left as a backstop at this many pages.
CHECKPOINT_EVERY_S = 0.25
BACKSTOP_CHECKPOINT_PAGES = 10_000
CACHE_KIB = 8192


def open_db(path: str) -> Database:
    """Open (creating if needed) the database file at path, tuned for many short writers.

    WAL lets readers run beside the one writer; ``synchronous=NORMAL`` survives a killed process,
    not a power cut, at a fraction of FULL's cost (docs/storage.md).
    """
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
    db.last_checkpoint = time.monotonic() if path != ":memory:" else None
    return db


def migrate(db: Database) -> list[str]:
    """Apply pending migrations; return the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending


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
    """Close the connection and its write-lock file."""
    fd = getattr(db, "_write_lock_fd", None)
    if fd is not None:
        os.close(fd)
        db._write_lock_fd = None
    db.close()


@migrations()
def m001_core(db: Database) -> None:
    db.executescript(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL CHECK (role IN ('operator', 'supervisor', 'admin')),
            created_at TEXT NOT NULL
        );
        CREATE TABLE tokens (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            token_hash TEXT NOT NULL UNIQUE,   -- sha256 of the token; the token is never stored
            created_at TEXT NOT NULL,
            revoked_at TEXT
        );
        CREATE TABLE manifests (
            id INTEGER PRIMARY KEY,
            manifest_no TEXT NOT NULL UNIQUE,
            bill_no TEXT,
            status TEXT NOT NULL,               -- written only by tally.workflow
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        );
        CREATE TABLE manifest_lines (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER NOT NULL REFERENCES manifests(id),
            line_no INTEGER NOT NULL,
            sku TEXT NOT NULL,
            name TEXT NOT NULL,
            declared_qty INTEGER NOT NULL CHECK (declared_qty >= 0),
            bill_no TEXT,
            gtin TEXT,
            hs_code TEXT,
            origin_country TEXT,
            unit TEXT,
            unit_value TEXT,                    -- decimal kept as text: money is never a float
            currency TEXT,
            gross_weight_kg TEXT,
            net_weight_kg TEXT,
            UNIQUE (manifest_id, line_no)
        );
        CREATE TABLE units (
            id INTEGER PRIMARY KEY,             -- the serial inside the unit code
            code TEXT NOT NULL UNIQUE,
            manifest_id INTEGER NOT NULL REFERENCES manifests(id),
            line_id INTEGER NOT NULL REFERENCES manifest_lines(id),
            box_no TEXT,
            status TEXT NOT NULL DEFAULT 'issued' CHECK (status IN ('issued', 'void')),
            issued_at TEXT NOT NULL,
            issued_by INTEGER REFERENCES users(id)
        );
        CREATE INDEX units_manifest ON units(manifest_id, line_id, box_no);
        CREATE TABLE label_prints (
            id INTEGER PRIMARY KEY,
            unit_id INTEGER NOT NULL REFERENCES units(id),
            copy_no INTEGER NOT NULL,           -- 1, 2, ... for reprints
            reason TEXT NOT NULL,
            printed_at TEXT NOT NULL,
            printed_by INTEGER REFERENCES users(id),
            UNIQUE (unit_id, copy_no)
        );
        -- The append-only scan ledger: one row per code read (an image may hold several).
        CREATE TABLE scans (
            id INTEGER PRIMARY KEY,
            client_scan_id TEXT NOT NULL,
            seq INTEGER NOT NULL DEFAULT 0,     -- position within one request
            manifest_id INTEGER NOT NULL REFERENCES manifests(id),
            code TEXT NOT NULL,                 -- as read, before validation
            source TEXT NOT NULL CHECK (source IN ('wedge', 'image')),
            device TEXT,
            user_id INTEGER REFERENCES users(id),
            outcome TEXT NOT NULL CHECK (outcome IN
                ('counted', 'duplicate', 'unknown', 'other_manifest', 'void', 'invalid')),
            unit_id INTEGER REFERENCES units(id),
            line_id INTEGER REFERENCES manifest_lines(id),
            result TEXT NOT NULL,               -- the JSON answer given, replayed on a retry
            image_sha256 TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (client_scan_id, seq)
        );
        -- A unit can be counted once, enforced by the database itself.
        CREATE UNIQUE INDEX scans_counted_unit ON scans(unit_id) WHERE outcome = 'counted';
        CREATE INDEX scans_manifest ON scans(manifest_id, outcome);
        CREATE TRIGGER scans_append_only_update BEFORE UPDATE ON scans
            BEGIN SELECT RAISE(ABORT, 'the scan ledger is append-only'); END;
        CREATE TRIGGER scans_append_only_delete BEFORE DELETE ON scans
            BEGIN SELECT RAISE(ABORT, 'the scan ledger is append-only'); END;
        CREATE TABLE scan_images (
            sha256 TEXT PRIMARY KEY,
            content_type TEXT,
            content BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE discrepancies (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER NOT NULL REFERENCES manifests(id),
            line_id INTEGER REFERENCES manifest_lines(id),  -- NULL for goods on no manifest line
            kind TEXT NOT NULL CHECK (kind IN ('short', 'over', 'damaged', 'wrong_item')),
            qty INTEGER NOT NULL CHECK (qty >= 0),
            note TEXT,
            disposition TEXT,
            supersedes_id INTEGER REFERENCES discrepancies(id),  -- a correction of that record
            action TEXT NOT NULL DEFAULT 'record'
                CHECK (action IN ('record', 'replace', 'reverse')),
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        );
        CREATE UNIQUE INDEX discrepancies_superseded_once ON discrepancies(supersedes_id)
            WHERE supersedes_id IS NOT NULL;
        CREATE TABLE tallies (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER NOT NULL UNIQUE REFERENCES manifests(id),
            confirmed_at TEXT NOT NULL,
            confirmed_by INTEGER REFERENCES users(id),
            snapshot TEXT NOT NULL              -- the reconciliation as confirmed (JSON)
        );
        -- The transactional outbox: messages for customs, written with the change that causes them.
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER REFERENCES manifests(id),
            kind TEXT NOT NULL,                 -- INV101, ...
            idempotency_key TEXT NOT NULL UNIQUE,
            payload TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            delivered_at TEXT
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        CREATE TABLE outbox_attempts (
            id INTEGER PRIMARY KEY,
            outbox_id INTEGER NOT NULL REFERENCES outbox(id),
            started_at TEXT NOT NULL,
            duration_ms REAL,
            http_status INTEGER,
            outcome TEXT NOT NULL CHECK (outcome IN ('delivered', 'retry', 'rejected')),
            error TEXT,
            response TEXT
        );
        CREATE TABLE customs_receipts (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER REFERENCES manifests(id),
            outbox_id INTEGER REFERENCES outbox(id),
            type TEXT NOT NULL,                 -- INV200, INV201, ...
            status TEXT NOT NULL,               -- Y / Z / 1 / 2 / 3
            document_no TEXT,                   -- bondInvtNo
            message TEXT,
            raw TEXT NOT NULL,
            received_at TEXT NOT NULL,
            UNIQUE (outbox_id, type, status, document_no)
        );
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER REFERENCES manifests(id),
            user_id INTEGER REFERENCES users(id),
            name TEXT NOT NULL,                 -- kebab-case, e.g. manifest-imported
            details TEXT NOT NULL,              -- JSON
            created_at TEXT NOT NULL
        );
        CREATE INDEX events_manifest ON events(manifest_id, id);
        """
    )


@migrations()
def m002_clearance(db: Database) -> None:
    """Inspection, write-off, inventory-list versions, release orders, vehicles and the gate."""
    db.executescript(
        """
        CREATE TABLE inspections (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER NOT NULL REFERENCES manifests(id),
            location TEXT,
            ciq_officer TEXT,
            customs_officer TEXT,
            escort_name TEXT,
            escort_signed_at TEXT,
            signature_png BLOB,                 -- the escort's signature as drawn on the pad
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        );
        CREATE TABLE inspection_pallets (
            id INTEGER PRIMARY KEY,
            inspection_id INTEGER NOT NULL REFERENCES inspections(id),
            pallet_no TEXT NOT NULL,
            material TEXT NOT NULL,             -- wood, plastic, metal, paper, none
            mark_text TEXT,                     -- the IPPC mark as transcribed
            mark TEXT,                          -- parsed mark (JSON) or NULL
            mark_problems TEXT NOT NULL DEFAULT '[]',
            pests_found INTEGER NOT NULL DEFAULT 0,
            pest_note TEXT,
            disposition TEXT NOT NULL
                CHECK (disposition IN ('pass', 'fumigate', 'destroy', 'return')),
            UNIQUE (inspection_id, pallet_no)
        );
        -- Fumigation (熏蒸), destruction (销毁) or return of a pallet: done before the pass.
        CREATE TABLE inspection_tasks (
            id INTEGER PRIMARY KEY,
            inspection_id INTEGER NOT NULL REFERENCES inspections(id),
            pallet_id INTEGER NOT NULL REFERENCES inspection_pallets(id),
            kind TEXT NOT NULL CHECK (kind IN ('fumigate', 'destroy', 'return')),
            done_at TEXT,
            done_by INTEGER REFERENCES users(id),
            note TEXT
        );
        CREATE TABLE inspection_checks (
            id INTEGER PRIMARY KEY,
            inspection_id INTEGER NOT NULL REFERENCES inspections(id),
            line_id INTEGER NOT NULL REFERENCES manifest_lines(id),
            aspect TEXT NOT NULL
                CHECK (aspect IN ('nature', 'origin', 'condition', 'quantity', 'value')),
            result TEXT NOT NULL CHECK (result IN ('pass', 'fail')),
            note TEXT,
            UNIQUE (inspection_id, line_id, aspect)
        );
        CREATE TABLE write_offs (
            id INTEGER PRIMARY KEY,
            manifest_id INTEGER NOT NULL UNIQUE REFERENCES manifests(id),
            transfer_order_no TEXT NOT NULL,
            white_card_no TEXT NOT NULL,
            vehicle_no TEXT,
            white_card TEXT NOT NULL,           -- customs' answers (JSON)
            write_off TEXT NOT NULL,
            tally_status TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        );
        CREATE TABLE release_orders (
            id INTEGER PRIMARY KEY,
            etps_preent_no TEXT NOT NULL UNIQUE,    -- our number; passportNo comes from customs
            passport_no TEXT UNIQUE,
            bind_typecd TEXT NOT NULL CHECK (bind_typecd IN ('1', '2', '3')),
            passport_typecd TEXT NOT NULL,
            io_typecd TEXT NOT NULL CHECK (io_typecd IN ('I', 'E')),
            status TEXT NOT NULL,                   -- written only by tally.workflow
            vehicle_no TEXT,
            vehicle_ic_no TEXT,
            vehicle_wt TEXT,
            vehicle_frame_wt TEXT,
            container_no TEXT,
            container_wt TEXT,
            driver TEXT,
            mileage_km TEXT,
            total_gross_wt TEXT NOT NULL,
            total_net_wt TEXT NOT NULL,
            total_wt TEXT,
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        );
        CREATE TABLE release_order_lines (
            id INTEGER PRIMARY KEY,
            release_order_id INTEGER NOT NULL REFERENCES release_orders(id),
            manifest_id INTEGER NOT NULL REFERENCES manifests(id),
            line_id INTEGER NOT NULL REFERENCES manifest_lines(id),
            qty INTEGER NOT NULL CHECK (qty > 0),
            gross_wt TEXT,
            net_wt TEXT,
            UNIQUE (release_order_id, line_id)
        );
        CREATE INDEX release_order_lines_manifest ON release_order_lines(manifest_id);
        CREATE TABLE gate_events (
            id INTEGER PRIMARY KEY,
            release_order_id INTEGER REFERENCES release_orders(id),
            plate TEXT,
            ic_card TEXT,
            io_typecd TEXT NOT NULL,
            weighbridge_wt TEXT,
            total_wt TEXT,
            wt_error TEXT,
            outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'refuse')),
            reasons TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            created_by INTEGER REFERENCES users(id)
        );
        ALTER TABLE outbox ADD COLUMN release_order_id INTEGER REFERENCES release_orders(id);
        ALTER TABLE customs_receipts
            ADD COLUMN release_order_id INTEGER REFERENCES release_orders(id);
        ALTER TABLE events ADD COLUMN release_order_id INTEGER REFERENCES release_orders(id);
        """
    )


@migrations()
def m003_passwords(db: Database) -> None:
    """Sign-in with a password on the pages (tokens stay for the API and scanners)."""
    db.execute("ALTER TABLE users ADD COLUMN password_hash TEXT")


@migrations()
def m004_line_counts(db: Database) -> None:
    """Counted units per line, kept by the database from the scan ledger.

    Counting the ledger's rows for every scan grows with the line (docs/ingestion.md); a trigger
    on the append-only ledger keeps the count in the same transaction, and since ledger rows are
    never updated or deleted it cannot drift. Reconciliation still counts the ledger itself.
    """
    db.executescript(
        """
        CREATE TABLE line_counts (
            line_id INTEGER PRIMARY KEY REFERENCES manifest_lines(id),
            counted INTEGER NOT NULL
        );
        INSERT INTO line_counts (line_id, counted)
            SELECT line_id, count(*) FROM scans WHERE outcome = 'counted' GROUP BY line_id;
        CREATE TRIGGER scans_count_line AFTER INSERT ON scans WHEN NEW.outcome = 'counted'
        BEGIN
            INSERT INTO line_counts (line_id, counted) VALUES (NEW.line_id, 1)
                ON CONFLICT (line_id) DO UPDATE SET counted = counted + 1;
        END;
        """
    )


@migrations()
def m005_sessions(db: Database) -> None:
    """Server-side sessions of the pages, and failed sign-ins for throttling.

    The session cookie carries a random session id; only its hash is stored, with the session's
    user and its absolute end. Signing out (or a new password) deletes the row, so a copied
    cookie stops working. ``sign_in_failures`` holds one row per sign-in attempt not known to
    have succeeded, kept for the throttling window (tally/users.py).
    """
    db.executescript(
        """
        CREATE TABLE sessions (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id),
            sid_hash TEXT NOT NULL UNIQUE,     -- sha256 of the session id; the id is not stored
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        CREATE INDEX sessions_expiry ON sessions(expires_at);
        CREATE TABLE sign_in_failures (
            id INTEGER PRIMARY KEY,
            name TEXT,                         -- the user name tried (NULL: an API token)
            address TEXT NOT NULL,             -- the client's address
            created_at TEXT NOT NULL
        );
        CREATE INDEX sign_in_failures_name ON sign_in_failures(name, created_at);
        CREATE INDEX sign_in_failures_address ON sign_in_failures(address, created_at);
        CREATE INDEX sign_in_failures_time ON sign_in_failures(created_at);
        """
    )


@migrations()
def m006_boxes_and_lots(db: Database) -> None:
    """Boxes with their own label, and the carton lot a counted unit came from.

    A box gets an id (its label is ``units.box_code(id)``) the first time labels are issued to
    it. A scan may name the GS1 carton its unit was unpacked from: the carton's GTIN, batch
    (AI 10) and expiry date (AI 17, as YYYY-MM-DD) are kept on that ledger row, so a line's lots
    are read from the rows that counted its units.
    """
    db.executescript(
        """
        CREATE TABLE boxes (
            id INTEGER PRIMARY KEY,             -- the serial inside the box code
            manifest_id INTEGER NOT NULL REFERENCES manifests(id),
            box_no TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (manifest_id, box_no)
        );
        INSERT INTO boxes (manifest_id, box_no, created_at)
            SELECT manifest_id, box_no, min(issued_at) FROM units
            WHERE box_no IS NOT NULL GROUP BY manifest_id, box_no ORDER BY min(id);
        ALTER TABLE scans ADD COLUMN lot_gtin TEXT;
        ALTER TABLE scans ADD COLUMN lot_batch TEXT;
        ALTER TABLE scans ADD COLUMN lot_expiry TEXT;
        """
    )


@migrations()
def m007_settings_and_account_book(db: Database) -> None:
    """The company settings the customs messages need (tally/company.py), one row per key, and
    the bonded account book (电子账册, tally/account_book.py): item no. (料号) -> record no.
    (备案序号), HS code, recorded name, declared and legal units. Legal quantities are the
    legal quantity of one declared unit, kept as decimal text like every amount."""
    db.executescript(
        """
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            updated_by INTEGER REFERENCES users(id)
        );
        CREATE TABLE account_book (
            id INTEGER PRIMARY KEY,
            sku TEXT NOT NULL UNIQUE,                -- 料号, gdsMtno
            putrec_seqno INTEGER NOT NULL UNIQUE,    -- 备案序号, PutrecSeqno
            hs_code TEXT NOT NULL,                   -- 商品编码, 10 digits
            name TEXT NOT NULL,                      -- the recorded goods name
            dcl_unit TEXT NOT NULL,                  -- 申报计量单位, 3-digit customs code
            lawf_unit TEXT NOT NULL,                 -- 法定计量单位
            lawf_qty_per_unit TEXT NOT NULL,         -- legal quantity of one declared unit
            secd_lawf_unit TEXT,                     -- 第二法定计量单位, when the HS code has one
            secd_lawf_qty_per_unit TEXT,
            imported_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m008_receipt_feed(db: Database) -> None:
    """Receipts keyed on the SeqNo customs gives a declaration (docs/customs.md, Receipts).

    ``outbox.seq_no`` is the 18-digit SeqNo of the CommonResponeMessage that answered the
    message (a re-declaration after a return carries the same one). Every receipt read from the
    customs' feed is kept once, by its envelope's ``message_id``, with its feed position, the
    SeqNo it names, its reason (HdeApprResult.rmk) and whether it applied to one of our
    messages (0: unknown SeqNo, recorded and ignored). A release order keeps the passage customs
    recorded at its gate (SAS223 / SAS224).
    """
    db.executescript(
        """
        ALTER TABLE outbox ADD COLUMN seq_no TEXT;
        CREATE INDEX outbox_seq_no ON outbox(seq_no);
        ALTER TABLE customs_receipts ADD COLUMN message_id TEXT;
        ALTER TABLE customs_receipts ADD COLUMN feed_id INTEGER;
        ALTER TABLE customs_receipts ADD COLUMN seq_no TEXT;
        ALTER TABLE customs_receipts ADD COLUMN reason TEXT;
        ALTER TABLE customs_receipts ADD COLUMN applied INTEGER NOT NULL DEFAULT 1;
        CREATE UNIQUE INDEX customs_receipts_message ON customs_receipts(message_id);
        CREATE INDEX customs_receipts_seq_no ON customs_receipts(seq_no);
        ALTER TABLE release_orders ADD COLUMN customs_pass_time TEXT;
        ALTER TABLE release_orders ADD COLUMN customs_pass_id TEXT;
        """
    )
