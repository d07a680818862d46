"""Moving an installation (issue 14, item 5): a SQLite database copied into an empty PostgreSQL
one, verified, and usable there (tally/copy.py, `tally db copy`)."""

import hashlib
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

import customs_sim
from customs_sim.fake import FakeCustomsClient
from tally import copy, labelling, manifests, outbox, reconcile, scans, users
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally
from tally.db import close_db, migrate, open_db
from tests.conftest import MANIFEST_CSV, clear_for_tally, count_rows, dump

ROOT = Path(__file__).resolve().parents[2]
# Not valid UTF-8, with a NUL: a BLOB must arrive as the same bytes (BYTEA).
FRAME = b"\x89PNG\r\n\x1a\n\x00\xff\xfe" + bytes(range(256))


def build_installation(path: str) -> dict:
    """A SQLite installation with a whole consignment tallied and confirmed (a short line
    explained by a discrepancy, a camera frame, duplicate and unknown reads), its INV101
    delivered to the customs and the receipts read, a second consignment being tallied, users
    with a token and a session. What the tests need to know about it."""
    db = open_db(path)
    migrate(db)
    client = FakeCustomsClient(customs_sim.Customs())
    token = users.create_user_token(db, "li-supervisor", "supervisor")
    user = users.authenticate(db, token)
    users.set_password(db, "li-supervisor", "a long enough password")
    users.start_session(db, user, lifetime=timedelta(hours=1), address="10.0.0.7")
    first = manifests.import_manifest(db, manifests.parse_csv(MANIFEST_CSV.encode()),
                                      user_id=user["id"])["id"]
    clear_for_tally(db, first, client)
    for line_no, count, counted in ((1, 3, 2), (2, 2, 2), (3, 1, 1)):
        labels = labelling.issue_labels(db, first, line_no=line_no, count=count,
                                        user_id=user["id"])
        for label in labels[:counted]:
            scans.record_scans(db, first, [scans.Scan(label["code"], (label["code"],))],
                               user_id=user["id"])
    code = labels[0]["code"]
    scans.record_scans(db, first, [scans.Scan("again-1", (code,))], user_id=user["id"])
    sha = hashlib.sha256(FRAME).hexdigest()
    scans.record_scans(db, first, [scans.Scan("frame-1", ("NOT-A-LABEL",), source="image",
                                              image_sha256=sha)],
                       user_id=user["id"], image=(FRAME, "image/png"))
    reconcile.record_discrepancy(db, first, {"line_no": 1, "kind": "short", "qty": 1,
                                             "note": "one tin missing 缺一罐"},
                                 user_id=user["id"], may_correct=False)
    confirm_tally(db, first, user_id=user["id"], settings=site_settings(DEFAULTS))
    delivered = [outbox.deliver(db, client, message, base=0, maximum=0)
                 for message in outbox.claim_due(db, lease_seconds=5)]
    assert delivered == ["delivered"]
    outbox.pull_receipts(db, client, first)
    second = manifests.import_manifest(
        db, manifests.parse_csv(MANIFEST_CSV.replace("MF-TEST-1", "MF-TEST-2").encode()),
        user_id=None)["id"]
    clear_for_tally(db, second, client)
    label = labelling.issue_labels(db, second, line_no=1, count=1, user_id=None)[0]
    scans.record_scans(db, second, [scans.Scan("second-1", (label["code"],))], user_id=None)
    facts = {"token": token, "first": first, "second": second,
             "reconciliations": {m: reconcile.load_reconciliation(db, m)
                                 for m in (first, second)},
             "counts": {t: count_rows(db, t) for t in copy.application_tables(db)},
             "largest": {t: db.execute(f"SELECT max(id) FROM {t}").fetchone()[0]
                         for t in ("units", "scans", "events")},
             "line_counts": dump_table(db, "line_counts")}
    close_db(db)
    return facts


def dump_table(db, table: str) -> list[tuple]:
    return [tuple(row) for row in db.execute(f"SELECT * FROM {table} ORDER BY 1")]


@pytest.fixture
def source(tmp_path):
    path = str(tmp_path / "tally.db")
    return path, build_installation(path)


@pytest.fixture
def target(pg_url):
    db = open_db(pg_url)
    yield db
    close_db(db)


def test_copy_keeps_everything_and_the_target_goes_on(source, target):
    path, facts = source
    db = open_db(path)
    report = copy.copy_database(db, target, batch_size=2)  # several batches a table
    assert report.consignments == 2
    assert report.derived == {"line_counts": 3 + 1}
    order = list(report.copied)
    assert order.index("users") < order.index("manifests") < order.index("scans")
    assert order.index("outbox") < order.index("outbox_attempts")
    assert order.index("outbox") < order.index("customs_receipts")
    assert set(report.copied) | set(report.derived) == set(facts["counts"])
    for table, rows in facts["counts"].items():
        assert count_rows(target, table) == rows, table
        if table not in copy.DERIVED:
            assert report.copied[table] == rows, table
    for table in ("outbox", "outbox_attempts", "customs_receipts", "events", "tokens",
                  "sessions", "settings", "account_book", "scan_images", "inspections"):
        assert facts["counts"][table] > 0, table  # the installation has them all
    # The values round-trip: bytes (BLOB -> BYTEA), floats, text; line_counts rebuilt equal.
    for table in ("scan_images", "inspections", "outbox_attempts", "account_book", "settings"):
        assert dump_table(target, table) == dump_table(db, table), table
    [(content,)] = target.execute("SELECT content FROM scan_images").fetchall()
    assert bytes(content) == FRAME
    assert dump_table(target, "line_counts") == facts["line_counts"]
    for manifest_id, report_before in facts["reconciliations"].items():
        assert reconcile.load_reconciliation(target, manifest_id) == report_before
    assert [r[0] for r in target.execute(
        "SELECT status FROM outbox")] == ["delivered"]
    # The token still signs in, to the same user.
    assert users.authenticate(target, facts["token"])["name"] == "li-supervisor"
    assert users.authenticate_password(target, "li-supervisor",
                                       "a long enough password")["role"] == "supervisor"
    # New rows get fresh ids after the copied ones.
    second = facts["second"]
    label = labelling.issue_labels(target, second, line_no=2, count=1, user_id=None)[0]
    [result] = scans.record_scans(target, second, [scans.Scan("after-1", (label["code"],))],
                                  user_id=None)
    assert result["outcome"] == "counted"
    largest = {t: target.execute(f"SELECT max(id) FROM {t}").fetchone()[0]
               for t in facts["largest"]}
    assert all(largest[t] > facts["largest"][t] for t in largest), (largest, facts["largest"])
    counted = dict(target.execute("SELECT line_id, counted FROM line_counts").fetchall())
    line_id = manifests.find_line(target, second, 2)["id"]
    assert counted[line_id] == 1
    close_db(db)


def test_a_target_with_rows_is_refused_and_left_as_it_was(source, target):
    path, facts = source
    users.create_user_token(target, "already-here", "admin")
    before = dump(target)
    db = open_db(path)
    with pytest.raises(copy.CopyError) as refused:
        copy.copy_database(db, target)
    close_db(db)
    assert "not empty" in refused.value.message
    assert "users: 1 rows" in refused.value.details
    assert dump(target) == before


def test_a_difference_found_by_the_check_rolls_the_copy_back(source, target, monkeypatch):
    path, _ = source
    db = open_db(path)
    real = copy._copy_table

    def losing_a_row(source_db, target_db, table, batch_size):
        copied = real(source_db, target_db, table, batch_size)
        if table == "events":  # the audit trail loses one event on the way
            target_db.execute("DELETE FROM events WHERE id = (SELECT max(id) FROM events)")
        return copied

    monkeypatch.setattr(copy, "_copy_table", losing_a_row)
    with pytest.raises(copy.CopyError) as failed:
        copy.copy_database(db, target)
    close_db(db)
    assert "does not match" in failed.value.message
    assert any(d.startswith("events: ") for d in failed.value.details)
    assert all(count_rows(target, t) == 0 for t in copy.application_tables(target))


def test_the_check_compares_values_not_only_counts(source, target, monkeypatch):
    path, _ = source
    db = open_db(path)
    real = copy._copy_table

    def changing_a_value(source_db, target_db, table, batch_size):
        copied = real(source_db, target_db, table, batch_size)
        if table == "account_book":
            target_db.execute("UPDATE account_book SET lawf_qty_per_unit = '0.50'"
                              " WHERE id = (SELECT min(id) FROM account_book)")
        return copied

    monkeypatch.setattr(copy, "_copy_table", changing_a_value)
    with pytest.raises(copy.CopyError) as failed:
        copy.copy_database(db, target)
    close_db(db)
    assert any("account_book: row id=" in d and "lawf_qty_per_unit" in d
               for d in failed.value.details), failed.value.details


def run_cli(path: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TALLY_DATABASE": path}
    return subprocess.run([sys.executable, "-m", "web.cli", "db", "copy", *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)


def test_the_command_copies_then_refuses_a_second_time(source, pg_url):
    path, facts = source
    done = run_cli(path, "--to", pg_url)
    assert done.returncode == 0, done.stderr
    assert f"  scans: {facts['counts']['scans']}\n" in done.stdout
    assert f"  users: {facts['counts']['users']}\n" in done.stdout
    assert "line_counts: 4 (rebuilt from the ledger, not copied)" in done.stdout
    assert "verified:" in done.stdout and "2 consignments are equal" in done.stdout
    target = open_db(pg_url)
    assert reconcile.load_reconciliation(target, facts["first"]) == \
        facts["reconciliations"][facts["first"]]
    close_db(target)
    again = run_cli(path, "--to", pg_url)
    assert again.returncode == 1
    assert "is not empty; nothing was copied" in again.stderr


def test_the_command_says_when_it_cannot_connect(source):
    path, _ = source
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    failed = run_cli(path, "--to", f"postgresql://tally:secret@127.0.0.1:{port}/tally")
    assert failed.returncode == 1
    assert "cannot connect to postgresql://tally:***@127.0.0.1" in failed.stderr
    assert "secret" not in failed.stderr + failed.stdout


def test_the_command_needs_a_sqlite_source_and_a_postgresql_target(tmp_path, pg_url):
    missing = run_cli(str(tmp_path / "none.db"), "--to", pg_url)
    assert missing.returncode == 1 and "no database at" in missing.stderr
    not_url = run_cli(str(tmp_path / "none.db"), "--to", str(tmp_path / "other.db"))
    assert not_url.returncode == 2 and "postgresql:// URL" in not_url.stderr


def test_values_of_every_storage_class_round_trip(tmp_path, target):
    # SQLite stores by affinity: an integer given as text in an INTEGER column is an integer,
    # an integer in a REAL column a float, a number in a TEXT column text; all compare equal
    # after the copy, as do NULLs, non-ASCII text and bytes that are not UTF-8.
    db = open_db(str(tmp_path / "odd.db"))
    migrate(db)
    db.execute("INSERT INTO users (id, name, role, created_at) VALUES (41, '王芳 👩‍🔧', 'admin',"
               " '2026-01-02T03:04:05.678Z')")
    db.execute("INSERT INTO account_book (sku, putrec_seqno, hs_code, name, dcl_unit, lawf_unit,"
               " lawf_qty_per_unit, imported_at) VALUES ('SKU-1', '0207', 1901101000, 'n', '007',"
               " '035', 0.5, 'now')")
    db.execute("INSERT INTO outbox (id, kind, idempotency_key, payload, next_attempt_at,"
               " created_at) VALUES (9, 'INV101', 'k', '{}', 'now', 'now')")
    db.execute("INSERT INTO outbox_attempts (outbox_id, started_at, duration_ms, http_status,"
               " outcome) VALUES (9, 'now', 12, '503', 'retry')")
    db.execute("INSERT INTO inspections (manifest_id, signature_png, created_at) VALUES"
               " (?, ?, 'now')", [_manifest(db), FRAME])
    kinds = dict(db.execute("SELECT 'seqno', typeof(putrec_seqno) FROM account_book UNION ALL"
                            " SELECT 'hs', typeof(hs_code) FROM account_book UNION ALL"
                            " SELECT 'ms', typeof(duration_ms) FROM outbox_attempts"
                            ).fetchall())
    assert kinds == {"seqno": "integer", "hs": "text", "ms": "real"}
    copy.copy_database(db, target)
    for table in ("users", "account_book", "outbox", "outbox_attempts", "inspections"):
        assert dump_table(target, table) == dump_table(db, table), table
    assert target.execute("SELECT putrec_seqno, hs_code, lawf_qty_per_unit FROM account_book"
                          ).fetchone() == (207, "1901101000", "0.5")
    assert target.execute("SELECT duration_ms, http_status FROM outbox_attempts").fetchone() \
        == (12.0, 503)
    # Ids went past the largest copied: the next user is 42.
    assert users.create_user_token(target, "next", "operator")
    assert target.execute("SELECT max(id) FROM users").fetchone()[0] == 42
    close_db(db)


def _manifest(db) -> int:
    return manifests.import_manifest(db, manifests.parse_csv(MANIFEST_CSV.encode()),
                                     user_id=None)["id"]
