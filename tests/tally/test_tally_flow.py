"""Labels, scans, reconciliation, discrepancies and confirmation at the domain level (no Flask)."""

import json

import pytest

from tally import labelling, manifests, outbox, scans, units
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally
from tally.db import IntegrityError
from tally.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from tally.reconcile import load_reconciliation, record_discrepancy
from tests.conftest import clear_for_tally, count_rows

SETTINGS = site_settings(DEFAULTS)


def wedge(db, mid, code, cid):
    return scans.record_scans(db, mid, [scans.Scan(cid, (code,))], user_id=None)[0]


def test_issue_labels_gives_unique_valid_codes(db, mid):
    first = labelling.issue_labels(db, mid, line_no=1, count=3, box_no="B1", user_id=None)
    second = labelling.issue_labels(db, mid, line_no=2, count=2, user_id=None)
    codes = [label["code"] for label in first + second]
    assert len(set(codes)) == 5 and all(units.is_valid_code(c) for c in codes)
    assert first[0] == {"code": codes[0], "line_no": 1, "box_no": "B1"}
    assert [r["code"] for r in labelling.list_labels(db, mid, box_no="B1")] == codes[:3]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"line_no": 9, "count": 1},
        {"line_no": 1, "count": 0},
        {"line_no": 1, "count": -1},
        {"line_no": 1, "count": 1.5},
        {"line_no": "1", "count": 1},
        {"line_no": 1, "count": 10_001},
        {"line_no": 1, "count": 1, "box_no": 7},
    ],
)
def test_bad_label_requests_change_nothing(db, mid, kwargs):
    with pytest.raises(ValidationError):
        labelling.issue_labels(db, mid, user_id=None, **kwargs)
    assert count_rows(db, "units") == 0


def test_scan_outcomes_and_idempotency(db, mid, customs_client):
    codes = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=2, user_id=None)]
    other = manifests.import_manifest(
        db,
        {
            "manifest_no": "MF-OTHER",
            "lines": [{"line_no": 1, "sku": "S", "name": "N", "declared_qty": 1}],
        },
        user_id=None,
    )["id"]
    clear_for_tally(db, other, customs_client)
    foreign = labelling.issue_labels(db, other, line_no=1, count=1, user_id=None)[0]["code"]
    corrupted = codes[0][:-1] + str((int(codes[0][-1]) + 1) % 10)

    first = wedge(db, mid, codes[0], "c1")
    assert first == {
        "client_scan_id": "c1",
        "code": codes[0],
        "outcome": "counted",
        "line_no": 1,
        "counted": 1,
        "declared": 3,
        "box_no": None,
    }
    assert wedge(db, mid, codes[0], "c1") == first  # retry: same answer, nothing counted
    assert wedge(db, mid, codes[0], "c2")["outcome"] == "duplicate"
    assert wedge(db, mid, codes[1], "c3")["counted"] == 2
    assert wedge(db, mid, corrupted, "c4")["outcome"] == "invalid"
    assert wedge(db, mid, units.make_code(999_999), "c5")["outcome"] == "unknown"
    assert wedge(db, mid, "9300633603168", "c6")["outcome"] == "unknown"
    assert wedge(db, mid, foreign, "c7")["outcome"] == "other_manifest"
    assert wedge(db, mid, " " + codes[1].lower() + "\n", "c8")["outcome"] == "duplicate"
    with pytest.raises(ConflictError):  # the same client id for another code is a client bug
        wedge(db, mid, codes[1], "c1")
    report = load_reconciliation(db, mid)
    assert report["lines"][0]["counted"] == 2
    assert report["scans"] == {
        "counted": 2,
        "duplicate": 2,
        "invalid": 1,
        "unknown": 2,
        "other_manifest": 1,
    }


def test_ledger_keeps_each_answer_as_json_writes_it(db, mid):
    codes = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=2, user_id=None)]
    reads = [codes[0], codes[0], codes[1][:-1] + "X", 'QUOTE"BACK\\SLASH', "货物-Ünit\t\x01"]
    answers = scans.record_scans(
        db, mid, [scans.Scan(f"j{i}", (code,)) for i, code in enumerate(reads)], user_id=None
    )
    assert [a["outcome"] for a in answers] == [
        "counted", "duplicate", "unknown", "unknown", "unknown"]
    stored = [r[0] for r in db.execute("SELECT result FROM scans ORDER BY id")]
    assert stored == [json.dumps(answer) for answer in answers]


def test_void_unit(db, mid):
    code = labelling.issue_labels(db, mid, line_no=1, count=1, user_id=None)[0]["code"]
    labelling.void_unit(db, code, reason="label torn", user_id=None)
    assert wedge(db, mid, code, "v1")["outcome"] == "void"
    with pytest.raises(ConflictError):
        labelling.void_unit(db, code, reason="again", user_id=None)


def test_ledger_is_append_only_and_double_count_impossible(db, mid):
    code = labelling.issue_labels(db, mid, line_no=1, count=1, user_id=None)[0]["code"]
    wedge(db, mid, code, "a1")
    with pytest.raises(IntegrityError):
        db.execute("UPDATE scans SET outcome = 'duplicate'")
    with pytest.raises(IntegrityError):
        db.execute("DELETE FROM scans")
    row = db.execute("SELECT unit_id, line_id FROM scans").fetchone()
    with pytest.raises(IntegrityError):
        db.execute(
            "INSERT INTO scans (client_scan_id, manifest_id, code, source, outcome, unit_id,"
            " line_id, result, created_at) VALUES ('x', ?, ?, 'wedge', 'counted', ?, ?, '{}',"
            " 'now')",
            [mid, code, row[0], row[1]],
        )


def test_batch_is_one_transaction(db, mid):
    codes = [x["code"] for x in labelling.issue_labels(db, mid, line_no=2, count=2, user_id=None)]
    batch = [scans.Scan(f"b{i}", (c,)) for i, c in enumerate(codes + codes)]
    results = scans.record_scans(db, mid, batch, user_id=None)
    assert [r["outcome"] for r in results] == ["counted", "counted", "duplicate", "duplicate"]
    assert scans.record_scans(db, mid, batch, user_id=None) == results
    assert count_rows(db, "scans") == 4


def test_requests_recorded_together_answer_as_one_after_another(db, mid):
    """How the server records the scan requests that arrive together: each its own answer or
    error, as if sent one after the other, and a failed one records nothing."""
    codes = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=2, user_id=None)]
    not_cleared = manifests.import_manifest(
        db, {"manifest_no": "MF-LATER", "lines": [{"line_no": 1, "sku": "S", "name": "N",
                                                   "declared_qty": 1}]}, user_id=None)["id"]

    def request(manifest_id, *reads):
        return scans.Request(manifest_id, [scans.Scan(cid, (code,)) for cid, code in reads], None)

    outcomes = scans.record_requests(db, [
        request(mid, ("g1", codes[0])),
        request(mid, ("g2", codes[0])),
        request(not_cleared, ("g3", codes[1])),
        request(999_999, ("g3", codes[1])),
        request(mid, ("g1", codes[0])),  # a retry racing its first try
        request(mid, ("g1", codes[1])),  # the same client id for another code
        request(mid, ("g4", codes[1]), ("g5", codes[1])),
    ])
    first, duplicate, closed, unknown, retry, reused, batch = outcomes
    assert [(a["outcome"], a["counted"]) for a in first + duplicate] == [
        ("counted", 1), ("duplicate", 1)]
    assert isinstance(closed, ConflictError) and "not open yet" in closed.message
    assert closed.extra == {"current_status": "arrived", "tally": "not_open_yet"}
    assert isinstance(unknown, NotFoundError)
    assert retry == first
    assert isinstance(reused, ConflictError) and "already used" in reused.message
    assert [(a["outcome"], a["counted"]) for a in batch] == [("counted", 2), ("duplicate", 2)]
    assert [r[0] for r in db.execute("SELECT client_scan_id FROM scans ORDER BY id")] == [
        "g1", "g2", "g4", "g5"]
    assert load_reconciliation(db, mid)["lines"][0]["counted"] == 2
    # What was stored is what was answered: each sent again alone gets the same answer.
    for answers in (first, duplicate, batch):
        again = [scans.Scan(a["client_scan_id"], (a["code"],)) for a in answers]
        assert scans.record_scans(db, mid, again, user_id=None) == answers
    assert count_rows(db, "scans") == 4


def test_parse_batch_reports_every_bad_item():
    with pytest.raises(ValidationError) as info:
        scans.parse_batch(
            {
                "scans": [
                    {"code": "U1", "client_scan_id": "a"},
                    {"code": ""},
                    {"code": "U2", "client_scan_id": "a"},
                    5,
                ]
            }
        )
    assert sorted((e["index"], e.get("field")) for e in info.value.errors) == [
        (1, "client_scan_id"),
        (1, "code"),
        (2, "client_scan_id"),
        (3, None),
    ]
    with pytest.raises(ValidationError):
        scans.parse_batch({"scans": [{"code": "U", "client_scan_id": str(i)} for i in range(1001)]})


def test_discrepancies_explain_differences_and_corrections_supersede(db, mid):
    line1 = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=3, user_id=None)]
    line2 = [x["code"] for x in labelling.issue_labels(db, mid, line_no=2, count=3, user_id=None)]
    line3 = [x["code"] for x in labelling.issue_labels(db, mid, line_no=3, count=1, user_id=None)]
    for i, code in enumerate(line1[:2] + line2 + line3):
        wedge(db, mid, code, f"s{i}")
    report = load_reconciliation(db, mid)
    assert [(x["status"], x["difference"]) for x in report["lines"]] == [
        ("short", -1),
        ("over", 1),
        ("match", 0),
    ]
    assert not report["balanced"]
    with pytest.raises(ConflictError) as info:
        confirm_tally(db, mid, user_id=None, settings=SETTINGS)
    assert [e["line_no"] for e in info.value.errors] == [1, 2]

    short = record_discrepancy(
        db,
        mid,
        {"line_no": 1, "kind": "short", "qty": 2, "note": "typo"},
        user_id=None,
        may_correct=False,
    )
    with pytest.raises(PermissionDenied):
        record_discrepancy(
            db,
            mid,
            {"corrects": short["id"], "action": "replace", "line_no": 1, "kind": "short", "qty": 1},
            user_id=None,
            may_correct=False,
        )
    fixed = record_discrepancy(
        db,
        mid,
        {
            "corrects": short["id"],
            "action": "replace",
            "line_no": 1,
            "kind": "short",
            "qty": 1,
            "disposition": "按实收",
        },
        user_id=None,
        may_correct=True,
    )
    assert fixed["supersedes_id"] == short["id"]
    with pytest.raises(ConflictError):  # a record is corrected once
        record_discrepancy(
            db, mid, {"corrects": short["id"], "action": "reverse"}, user_id=None, may_correct=True
        )
    over = record_discrepancy(
        db, mid, {"line_no": 2, "kind": "over", "qty": 1}, user_id=None, may_correct=False
    )
    record_discrepancy(
        db,
        mid,
        {"line_no": 3, "kind": "damaged", "qty": 1, "note": "dented"},
        user_id=None,
        may_correct=False,
    )
    report = load_reconciliation(db, mid)
    assert report["balanced"]
    assert [len(line["discrepancies"]) for line in report["lines"]] == [1, 1, 1]
    reversed_ = record_discrepancy(
        db,
        mid,
        {"corrects": over["id"], "action": "reverse", "note": "was line 1"},
        user_id=None,
        may_correct=True,
    )
    assert reversed_["in_force"] is False
    assert not load_reconciliation(db, mid)["balanced"]
    record_discrepancy(
        db, mid, {"line_no": 2, "kind": "over", "qty": 1}, user_id=None, may_correct=False
    )

    confirmed = confirm_tally(db, mid, user_id=None, settings=SETTINGS)
    assert confirmed["status"] == "tallied"
    with pytest.raises(ConflictError):
        wedge(db, mid, line1[2], "late")
    with pytest.raises(ConflictError):
        record_discrepancy(
            db, mid, {"line_no": 1, "kind": "short", "qty": 1}, user_id=None, may_correct=True
        )
    with pytest.raises(ConflictError):
        confirm_tally(db, mid, user_id=None, settings=SETTINGS)
    [message] = list(db.query("SELECT * FROM outbox"))
    assert message["kind"] == "INV101" and message["status"] == "pending"
    assert outbox.sync_status(db, mid)["messages"][0]["id"] == message["id"]


@pytest.mark.parametrize(
    "body",
    [
        {"line_no": 1, "kind": "lost", "qty": 1},
        {"line_no": 1, "kind": "short", "qty": 0},
        {"line_no": 1, "kind": "short", "qty": 1.5},
        {"kind": "short", "qty": 1},
        {"line_no": 99, "kind": "short", "qty": 1},
        {"line_no": 1, "kind": "short", "qty": 1, "note": 5},
        {"corrects": 1, "kind": "short", "qty": 1},
        {"action": "reverse"},
        [],
    ],
)
def test_bad_discrepancies_change_nothing(db, mid, body):
    with pytest.raises(ValidationError):
        record_discrepancy(db, mid, body, user_id=None, may_correct=True)
    assert count_rows(db, "discrepancies") == 0


def test_line_counts_kept_by_the_database_match_the_ledger(db, mid):
    codes = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=3, user_id=None)]
    codes += [x["code"] for x in labelling.issue_labels(db, mid, line_no=2, count=2, user_id=None)]
    batch = [scans.Scan(f"k{i}", (c,)) for i, c in enumerate(codes + codes[:2] + ["U000000099990"])]
    results = scans.record_scans(db, mid, batch, user_id=None)
    assert [r["counted"] for r in results[:5]] == [1, 2, 3, 1, 2]
    kept = dict(db.execute("SELECT line_id, counted FROM line_counts").fetchall())
    ledger = dict(db.execute("SELECT line_id, count(*) FROM scans WHERE outcome = 'counted'"
                             " GROUP BY line_id").fetchall())
    assert kept == ledger and sum(kept.values()) == 5
