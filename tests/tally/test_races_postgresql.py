"""Races between app servers on PostgreSQL, with real concurrency.

Each "app server" is a thread with its own ``open_db(pg_url)`` handle, so its own connection
(what a request thread or a scan writer of another process holds); a ``threading.Barrier``
starts the racing calls together, and every race is run for several rounds so that a lost race
would show. Each round checks every answer and the database afterwards.

PostgreSQL only, by nature: on SQLite every writer takes the file's write lock (``tally.db.write``)
and the racers simply run one after the other; on PostgreSQL there is no global lock, and what
keeps these races safe is the consignment's row lock (``workflow.current_status`` FOR NO KEY
UPDATE, ``db.lock_manifests``), the identity sequences, FOR UPDATE SKIP LOCKED and the unique
constraints. Scans are recorded with ``scans.record_scans`` directly on each handle: ``submit``
hands a process's scans to its one writer thread, so two servers in one test process would share
it, while two real servers each have their own and race as here.
"""

import itertools
import json
import threading

import psycopg
import pytest

import customs_sim
from customs_sim.fake import FakeCustomsClient
from tally import (
    conditions,
    declaration,
    labelling,
    manifests,
    outbox,
    pg,
    release_orders,
    scans,
    workflow,
)
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally, get_confirmed
from tally.db import IntegrityError, close_db, migrate, open_db, write
from tally.errors import ConflictError
from tests.conftest import MANIFEST_CSV, clear_for_tally, confirm_counted

SETTINGS = site_settings(DEFAULTS)
ROUNDS = 12
# A racer that has not finished by then is stuck (a lock wait PostgreSQL did not break).
JOIN_TIMEOUT_S = 30
_numbers = itertools.count(1)


# --- helpers -----------------------------------------------------------------------------------

class Servers:
    """``n`` app servers, each with its own database handle (its own connection)."""

    def __init__(self, url: str, n: int = 2):
        self.handles = [open_db(url) for _ in range(n)]

    def race(self, *calls):
        """Run ``calls[i](handles[i])`` at once, each on its own thread released by one barrier;
        each one's ("ok", value) or ("error", exception), in order."""
        barrier = threading.Barrier(len(calls))
        outcomes: list = [None] * len(calls)

        def run(index, call):
            db = self.handles[index]
            barrier.wait()
            try:
                outcomes[index] = ("ok", call(db))
            except Exception as exc:  # noqa: BLE001 - every answer is checked by the test
                outcomes[index] = ("error", exc)

        threads = [threading.Thread(target=run, args=(i, call), daemon=True)
                   for i, call in enumerate(calls)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(JOIN_TIMEOUT_S)
        assert not any(thread.is_alive() for thread in threads), "a racer is stuck (deadlock?)"
        for kind, value in outcomes:
            # No database error may escape the domain: it would be a 500.
            assert not (kind == "error" and isinstance(value, psycopg.Error)), value
        return outcomes

    def close(self) -> None:
        for handle in self.handles:
            close_db(handle)


@pytest.fixture
def main(pg_url):
    """The handle tests prepare data and read the outcome with."""
    database = open_db(pg_url)
    yield database
    close_db(database)


@pytest.fixture
def servers(pg_url):
    group = Servers(pg_url)
    yield group
    group.close()


@pytest.fixture
def client():
    return FakeCustomsClient(customs_sim.Customs())


def open_tally(db, client, csv: str = MANIFEST_CSV) -> int:
    """A new consignment (the test manifest under a number of its own), inspected and written
    off: its tally is open."""
    number = f"MF-RACE-{next(_numbers)}"
    manifest_id = manifests.import_manifest(
        db, manifests.parse_csv(csv.replace("MF-TEST-1", number).encode()), user_id=None)["id"]
    clear_for_tally(db, manifest_id, client)
    return manifest_id


def labels(db, manifest_id, line_no=1, count=1) -> list[str]:
    return [label["code"] for label in labelling.issue_labels(
        db, manifest_id, line_no=line_no, count=count, user_id=None, may_exceed=True)]


def scan(manifest_id, code, cid=None):
    """A call scanning ``code`` as one wedge request on the server it runs on."""
    cid = cid or f"c{next(_numbers)}"
    return lambda db: scans.record_scans(db, manifest_id, [scans.Scan(cid, (code,))],
                                         user_id=None)


def ledger(db, code) -> list[str]:
    """The outcomes the ledger holds for ``code``, in order."""
    return [r[0] for r in db.execute("SELECT outcome FROM scans WHERE code = ? ORDER BY id",
                                     [code])]


def line_count(db, manifest_id, line_no) -> int:
    """line_counts (kept by the trigger) of one line, checked against the ledger itself."""
    line_id = manifests.find_line(db, manifest_id, line_no)["id"]
    kept = db.execute("SELECT coalesce(max(counted), 0) FROM line_counts WHERE line_id = ?",
                      [line_id]).fetchone()[0]
    counted = db.execute("SELECT count(*) FROM scans WHERE line_id = ? AND outcome = 'counted'",
                         [line_id]).fetchone()[0]
    assert kept == counted
    return counted


def refused_closed(outcome) -> bool:
    kind, value = outcome
    return kind == "error" and isinstance(value, ConflictError) \
        and value.extra.get("tally") == "closed"


def sync(db, client) -> None:
    """Deliver what the outbox holds and read customs' receipts."""
    for message in outbox.claim_due(db, lease_seconds=30):
        assert outbox.deliver(db, client, message, base=0, maximum=0) == "delivered"
    outbox.pull_receipts(db, client)


# --- scans -------------------------------------------------------------------------------------

def test_one_unit_scanned_on_two_servers_at_once_counts_once(main, servers, client):
    mid = open_tally(main, client)
    for round_no, code in enumerate(labels(main, mid, count=ROUNDS), 1):
        first, second = servers.race(scan(mid, code), scan(mid, code))
        assert first[0] == second[0] == "ok"
        answers = sorted([first[1][0], second[1][0]], key=lambda a: a["outcome"])
        assert [a["outcome"] for a in answers] == ["counted", "duplicate"]
        # Both answers report the line's count with this unit in it, once.
        assert [a["counted"] for a in answers] == [round_no, round_no]
        assert ledger(main, code) == ["counted", "duplicate"]
        assert line_count(main, mid, 1) == round_no


def test_a_retry_through_the_other_server_gets_the_first_answer(main, servers, client):
    mid = open_tally(main, client)
    for round_no, code in enumerate(labels(main, mid, count=ROUNDS), 1):
        cid = f"retry-{round_no}"
        first, second = servers.race(scan(mid, code, cid), scan(mid, code, cid))
        assert first == second
        assert first[0] == "ok" and first[1][0]["outcome"] == "counted"
        assert first[1][0]["client_scan_id"] == cid and first[1][0]["counted"] == round_no
        rows = main.execute("SELECT outcome, result FROM scans WHERE client_scan_id = ?",
                            [cid]).fetchall()
        assert [(r[0], json.loads(r[1])) for r in rows] == [("counted", first[1][0])]
        assert line_count(main, mid, 1) == round_no


@pytest.mark.parametrize("unit", ["last_declared", "surplus"])
def test_confirm_racing_a_scan_never_leaves_a_count_after_the_snapshot(main, servers, client,
                                                                       unit):
    """The racing scan is either the last declared unit (the confirm succeeds only after it) or
    a surplus one (the confirm succeeds only before it). Either the scan counted before the
    confirm and the snapshot has it, or it is refused because the tally closed."""
    seen = set()
    for _ in range(ROUNDS // 2):
        mid = open_tally(main, client)
        counted = [(1, c) for c in labels(main, mid, 1, 3)] + [(2, c) for c in
                                                               labels(main, mid, 2, 2)]
        [last] = labels(main, mid, 3, 1)
        if unit == "surplus":
            counted.append((3, last))
            [racing] = labels(main, mid, 1, 1)
        else:
            racing = last
        for _, code in counted:
            scan(mid, code)(main)
        scanned, confirmed = servers.race(
            scan(mid, racing),
            lambda db, mid=mid: confirm_tally(db, mid, user_id=None, settings=SETTINGS))
        status = workflow.current_status(main, mid)
        tally = get_confirmed(main, mid)
        in_ledger = main.execute("SELECT count(*) FROM scans WHERE manifest_id = ?"
                                 " AND outcome = 'counted'", [mid]).fetchone()[0]
        if scanned[0] == "ok":
            assert scanned[1][0]["outcome"] == "counted"
            assert in_ledger == len(counted) + 1
            if confirmed[0] == "ok":  # the scan went first: the snapshot has it
                assert unit == "last_declared"
                order = "scan, confirm"
                assert tally["snapshot"]["totals"]["counted"] == in_ledger == 6
                assert confirmed[1]["totals"]["counted"] == 6
            else:  # the confirm came first and was refused (line 3 short), or came after
                assert isinstance(confirmed[1], ConflictError)
                order = "confirm refused, scan" if unit == "last_declared" else "scan, refused"
                assert status == workflow.Status.WRITTEN_OFF and tally is None
        else:
            assert refused_closed(scanned), scanned
            assert unit == "surplus" and confirmed[0] == "ok"
            order = "confirm, scan refused"
            assert status == workflow.Status.TALLIED
            assert in_ledger == tally["snapshot"]["totals"]["counted"] == 6
            assert ledger(main, racing) == []
        seen.add(order)
    assert seen  # which orders came up is up to the scheduler


def test_a_void_racing_a_scan_of_the_same_unit(main, servers, client):
    mid = open_tally(main, client)
    void_first = scan_first = 0
    for code in labels(main, mid, count=ROUNDS):
        scanned, voided = servers.race(
            scan(mid, code),
            lambda db, code=code: labelling.void_unit(db, code, reason="spoiled", user_id=None))
        assert scanned[0] == "ok"
        status = main.execute("SELECT status FROM units WHERE code = ?", [code]).fetchone()[0]
        if voided[0] == "ok":  # the void went first: the scan answers void, counts nothing
            void_first += 1
            assert scanned[1][0]["outcome"] == "void"
            assert status == "void" and ledger(main, code) == ["void"]
        else:  # counted first: the void is refused
            scan_first += 1
            assert isinstance(voided[1], ConflictError), voided
            assert scanned[1][0]["outcome"] == "counted"
            assert status == "issued" and ledger(main, code) == ["counted"]
    assert line_count(main, mid, 1) == scan_first
    assert void_first + scan_first == ROUNDS


def test_two_voids_of_one_unit_at_once_void_it_once(main, servers, client):
    mid = open_tally(main, client)
    for code in labels(main, mid, count=ROUNDS):
        def void(db, code=code):
            return labelling.void_unit(db, code, reason="spoiled", user_id=None)

        outcomes = servers.race(void, void)
        assert sorted(kind for kind, _ in outcomes) == ["error", "ok"]
        assert all(isinstance(v, ConflictError) for k, v in outcomes if k == "error")
        events = main.execute("SELECT count(*) FROM events WHERE name = 'label-voided'"
                              " AND details LIKE ?", [f"%{code}%"]).fetchone()[0]
        assert events == 1


# --- labels ------------------------------------------------------------------------------------

def test_two_reprints_of_one_label_are_copies_1_and_2(main, servers, client):
    mid = open_tally(main, client)
    for code in labels(main, mid, count=ROUNDS):
        def reprint(db, code=code):
            return labelling.record_reprint(db, code, reason="torn", user_id=None)

        first, second = servers.race(reprint, reprint)
        assert first[0] == second[0] == "ok", (first, second)
        assert sorted([first[1]["copy_no"], second[1]["copy_no"]]) == [1, 2]
        assert [r[0] for r in main.execute(
            "SELECT p.copy_no FROM label_prints p JOIN units u ON u.id = p.unit_id"
            " WHERE u.code = ? ORDER BY p.copy_no", [code])] == [1, 2]
        assert labelling.get_label(main, code)["copy_no"] == 2


def test_labels_issued_on_two_servers_at_once_are_distinct(main, servers, client):
    mids = [open_tally(main, client), open_tally(main, client)]
    issued = []
    for round_no in range(ROUNDS):
        # Same consignment and line, or two consignments (which do not queue on each other).
        targets = (mids[0], mids[0]) if round_no % 2 else tuple(mids)

        def issue(target):
            return lambda db: labelling.issue_labels(db, target, line_no=1, count=3,
                                                     user_id=None, may_exceed=True)

        outcomes = servers.race(issue(targets[0]), issue(targets[1]))
        assert [kind for kind, _ in outcomes] == ["ok", "ok"], outcomes
        codes = [label["code"] for _, got in outcomes for label in got]
        assert len(set(codes)) == 6
        issued += codes
    assert len(set(issued)) == len(issued) == ROUNDS * 6
    stored = main.execute("SELECT code, id FROM units WHERE manifest_id IN (?, ?)",
                          mids).fetchall()
    assert sorted(code for code, _ in stored) == sorted(issued)
    assert all(code == labelling.units.make_code(serial) for code, serial in stored)


def test_labels_racing_for_a_lines_allowance_never_exceed_it(main, servers, client):
    """Line 1 declares 3: an operator may have 8 labels on it. Two requests for 5 at once: one
    is refused."""
    for _ in range(ROUNDS // 2):
        mid = open_tally(main, client)

        def issue(db, mid=mid):
            return labelling.issue_labels(db, mid, line_no=1, count=5, user_id=None)

        outcomes = servers.race(issue, issue)
        assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], outcomes
        assert all(isinstance(v, ConflictError) for k, v in outcomes if k == "error")
        assert labelling.issued_per_line(main, mid, [1]) == {1: 5}


# --- the outbox --------------------------------------------------------------------------------

def test_two_outbox_workers_deliver_each_message_exactly_once(main, pg_url):
    customs = customs_sim.Customs()
    client = FakeCustomsClient(customs)
    mid = open_tally(main, client)
    confirm_counted(main, mid)
    # More messages: the INV101 again under other numbers and keys (customs takes each as new).
    [original] = main.execute("SELECT payload FROM outbox WHERE manifest_id = ?",
                              [mid]).fetchall()
    payload = json.loads(original[0])
    with write(main):
        for n in range(2, 31):
            copy = json.loads(json.dumps(payload))
            copy["head"]["etpsInnerInvtNo"] = f"{payload['head']['etpsInnerInvtNo']}-{n}"
            outbox.enqueue(main, manifest_id=mid, kind="INV101", payload=copy,
                           key=f"INV101-RACE-{n}-1")
    keys = {r[0] for r in main.execute("SELECT idempotency_key FROM outbox")}
    assert len(keys) == 30

    def worker(db):
        delivered = []
        while True:
            claimed = outbox.claim_due(db, lease_seconds=60, limit=3)
            if not claimed:
                return delivered
            for message in claimed:
                assert outbox.deliver(db, client, message, base=0, maximum=0) == "delivered"
                delivered.append(message["idempotency_key"])

    workers = Servers(pg_url, 3)
    try:
        outcomes = workers.race(worker, worker, worker)
    finally:
        workers.close()
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    delivered = [key for _, keys_ in outcomes for key in keys_]
    assert sorted(delivered) == sorted(keys)  # each once, by one worker
    received = customs.received()
    assert received["attempts"] == received["count"] == 30
    assert sorted(r["idempotencyKey"] for r in received["received"]) == sorted(keys)
    assert main.execute("SELECT count(*) FROM outbox WHERE status = 'delivered'"
                        " AND attempts = 1").fetchone()[0] == 30
    assert main.execute(
        "SELECT o.id, count(a.id) FROM outbox o LEFT JOIN outbox_attempts a"
        " ON a.outbox_id = o.id AND a.outcome = 'delivered' GROUP BY o.id"
        " HAVING count(a.id) != 1").fetchall() == []
    assert main.execute("SELECT count(*) FROM outbox_attempts").fetchone()[0] == 30


# --- release orders ----------------------------------------------------------------------------

BIG_CSV = MANIFEST_CSV.replace(",3,122,28.50,USD,3.6,2.7", ",24,122,28.50,USD,28.8,21.6") \
    .replace(",2,011,15.20,USD,3.0,2.8", ",16,011,15.20,USD,24.0,22.4")


def declared_consignment(db, client) -> int:
    """A consignment counted in full, confirmed and its inventory list approved (declared)."""
    mid = open_tally(db, client, BIG_CSV)
    for line in manifests.list_lines(db, mid):
        codes = labels(db, mid, line["line_no"], line["declared_qty"])
        scans.record_scans(db, mid, [scans.Scan(f"d{next(_numbers)}", (c,)) for c in codes],
                           user_id=None)
    confirm_tally(db, mid, user_id=None, settings=SETTINGS)
    sync(db, client)
    assert workflow.current_status(db, mid) == workflow.Status.DECLARED
    assert declaration.bond_invt_no(db, mid)
    return mid


def test_two_release_orders_at_once_never_hold_more_than_the_quantity(main, servers, client):
    mid = declared_consignment(main, client)
    counted = conditions.counted_quantities(main, mid)
    assert counted == {1: 24, 2: 16, 3: 1}
    rounds = 0
    for line_no in (1, 2):
        while (left := conditions.remaining_quantities(main, mid)[line_no]) > 0:
            # Each asks for more than half of what is left: one fits, both do not.
            qty = left // 2 + 1

            def order(db, line_no=line_no, qty=qty):
                return release_orders.create_release_order(
                    db, {"bind_type": "3", "manifests": [mid],
                         "lines": [{"manifest_id": mid, "line_no": line_no, "qty": qty}]},
                    user_id=None, settings=SETTINGS)

            outcomes = servers.race(order, order)
            rounds += 1
            assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], outcomes
            [refused] = [value for kind, value in outcomes if kind == "error"]
            assert isinstance(refused, ConflictError)
            assert refused.errors[0]["remaining"] == left - qty
            assert conditions.remaining_quantities(main, mid)[line_no] == left - qty
    assert rounds >= 8
    held = dict(main.execute(
        "SELECT ml.line_no, sum(l.qty) FROM release_order_lines l JOIN manifest_lines ml"
        " ON ml.id = l.line_id WHERE l.manifest_id = ? GROUP BY ml.line_no", [mid]).fetchall())
    assert held == {1: 24, 2: 16}
    assert main.execute("SELECT count(*) FROM release_orders").fetchone()[0] == rounds


def test_release_orders_of_two_consignments_in_either_order_do_not_deadlock(main, servers,
                                                                            client):
    """One truck, many tickets: [a, b] on one server and [b, a] on the other at once. The rows
    are locked in id order, so neither waits for the other for ever; one order takes both."""
    for _ in range(3):
        a, b = declared_consignment(main, client), declared_consignment(main, client)

        def order(ids):
            return lambda db: release_orders.create_release_order(
                db, {"bind_type": "1", "manifests": ids}, user_id=None, settings=SETTINGS)

        outcomes = servers.race(order([a, b]), order([b, a]))
        assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], outcomes
        assert all(isinstance(v, ConflictError) for k, v in outcomes if k == "error")
        for mid in (a, b):
            assert set(conditions.remaining_quantities(main, mid).values()) == {0}


def test_one_truck_associated_with_two_release_orders_at_once_goes_on_one(main, servers,
                                                                          client):
    """A plate is refused on a second release order that has not passed the gate: two orders
    given the same truck at once (no row of theirs in common) queue on its plate."""
    a, b = declared_consignment(main, client), declared_consignment(main, client)
    for round_no in range(ROUNDS // 2):
        orders = [release_orders.create_release_order(
            main, {"bind_type": "3", "manifests": [m],
                   "lines": [{"manifest_id": m, "line_no": 1, "qty": 1}]},
            user_id=None, settings=SETTINGS)["etps_preent_no"] for m in (a, b)]
        plate = f"沪A{round_no:05d}"

        def bind(number, plate=plate):
            return lambda db: release_orders.associate_vehicle(
                db, number, {"plate": plate, "tare_wt": 8000, "frame_wt": 1500},
                user_id=None, settings=SETTINGS)

        outcomes = servers.race(*(bind(number) for number in orders))
        assert sorted(kind for kind, _ in outcomes) == ["error", "ok"], outcomes
        assert all(isinstance(v, ConflictError) for k, v in outcomes if k == "error")
        bound = main.execute("SELECT status FROM release_orders WHERE vehicle_no = ?",
                             [plate]).fetchall()
        assert [r[0] for r in bound] == ["applied"]
        assert main.execute("SELECT count(*) FROM outbox o JOIN release_orders r"
                            " ON r.id = o.release_order_id WHERE r.vehicle_no = ?",
                            [plate]).fetchone()[0] == 1


# --- the app's own role ------------------------------------------------------------------------

APP_ROLE = "tally_app"


def test_the_apps_own_role_cannot_change_the_ledger(pg_cluster):
    """Migrated by a role that is no superuser (the app's, owning its database): its INSERTs
    into the ledger work, its UPDATE, DELETE and TRUNCATE are refused."""
    created_role = not pg_cluster.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                          [APP_ROLE])
    if created_role:
        pg_cluster.execute(f"CREATE ROLE {APP_ROLE} LOGIN")
    name = f"tally_app_db_{next(_numbers)}"
    pg_cluster.execute(f"CREATE DATABASE {name} OWNER {APP_ROLE}")
    url = pg_cluster.url(name).replace(f"//{pg_cluster.user}@", f"//{APP_ROLE}@")
    db = open_db(url)
    try:
        assert db.execute("SELECT current_user, rolsuper FROM pg_roles"
                          " WHERE rolname = current_user").fetchone() == (APP_ROLE, False)
        assert migrate(db)
        client = FakeCustomsClient(customs_sim.Customs())
        mid = open_tally(db, client)
        [code] = labels(db, mid)
        assert scan(mid, code)(db)[0]["outcome"] == "counted"
        assert scan(mid, "NOT-A-UNIT")(db)[0]["outcome"] == "unknown"
        assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 2
        for statement in ("UPDATE scans SET outcome = 'duplicate'", "DELETE FROM scans",
                          "TRUNCATE scans"):
            with pytest.raises(psycopg.Error) as refused:
                db.execute(statement)
            assert isinstance(refused.value, (psycopg.errors.InsufficientPrivilege,
                                              *IntegrityError)), refused.value
        assert ledger(db, code) == ["counted"]
        assert line_count(db, mid, 1) == 1
    finally:
        close_db(db)
        pg.close_pools(url)
        pg_cluster.drop_database(name)
        if created_role:
            pg_cluster.execute(f"DROP ROLE {APP_ROLE}")

