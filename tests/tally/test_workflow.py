"""The whole transition tables: every allowed pair works when its guards hold and is refused with
its unmet conditions when they do not; every forbidden pair is refused; a refusal changes nothing.
Statuses are set directly in the database here: that is test set-up, not a path the product has."""

import pytest

from tally import labelling, manifests, reconcile, scans, workflow
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally
from tally.errors import ConflictError
from tally.workflow import RELEASE_TRANSITIONS, TRANSITIONS, ReleaseStatus, Status
from tests.conftest import MANIFEST_CSV, clear_for_tally, dump

NORMAL = {"tally_status": {"normal": True, "text": "接受申报_正常理货"}}
ALLOWED = {(t.action, t.source) for t in TRANSITIONS}
FORBIDDEN = [(a, s) for a in sorted({t.action for t in TRANSITIONS}) for s in Status
             if (a, s) not in ALLOWED]
RELEASE_ALLOWED = {(t.action, t.source) for t in RELEASE_TRANSITIONS}
RELEASE_FORBIDDEN = [(a, s) for a in sorted({t.action for t in RELEASE_TRANSITIONS})
                     for s in ReleaseStatus if (a, s) not in RELEASE_ALLOWED]



def new_manifest(db, manifest_no="MF-TEST-1") -> int:
    parsed = manifests.parse_csv(MANIFEST_CSV.replace("MF-TEST-1", manifest_no).encode())
    return manifests.import_manifest(db, parsed, user_id=None)["id"]


def force(db, manifest_id: int, status: Status) -> None:
    db.execute("UPDATE manifests SET status = ? WHERE id = ?", [status.value, manifest_id])


@pytest.fixture
def complete(db, customs_client):
    """A consignment whose every guard holds: inspected, written off, every unit counted,
    tally confirmed, and a release order carrying all of it through the gate."""
    mid = new_manifest(db)
    clear_for_tally(db, mid, customs_client)
    for line in manifests.list_lines(db, mid):
        for label in labelling.issue_labels(db, mid, line_no=line["line_no"],
                                            count=line["declared_qty"], user_id=None):
            scans.record_scans(db, mid, [scans.Scan(label["code"], (label["code"],))],
                               user_id=None)
    confirm_tally(db, mid, user_id=None, settings=site_settings(DEFAULTS))
    db.execute("INSERT INTO release_orders (id, etps_preent_no, bind_typecd, passport_typecd,"
               " io_typecd, status, total_gross_wt, total_net_wt, created_at)"
               " VALUES (1, 'RO-T-1', '2', '1', 'I', 'passed', '6.8', '5.6', 'now')")
    for line in manifests.list_lines(db, mid):
        db.execute("INSERT INTO release_order_lines (release_order_id, manifest_id, line_id, qty)"
                   " VALUES (1, ?, ?, ?)", [mid, line["id"], line["declared_qty"]])
    return mid


@pytest.mark.parametrize("transition", TRANSITIONS, ids=lambda t: f"{t.action}-{t.source}")
def test_allowed_pair_works_when_guards_hold(db, complete, transition):
    force(db, complete, transition.source)
    if transition.action == "return_release":  # customs returned its release order (SAS221 3)
        db.execute("UPDATE release_orders SET status = 'returned'")
    assert workflow.apply(db, complete, transition.action, user_id=None,
                          context=NORMAL) == transition.target
    assert workflow.current_status(db, complete) == transition.target
    last = db.execute("SELECT name FROM events ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert last == f"status-{transition.target.value.replace('_', '-')}"


@pytest.mark.parametrize("transition", [t for t in TRANSITIONS if t.guards],
                         ids=lambda t: f"{t.action}-{t.source}")
def test_allowed_pair_is_refused_with_every_unmet_condition(db, transition):
    mid = new_manifest(db)  # nothing done: no inspection, no counts, no release order
    force(db, mid, transition.source)
    before = dump(db)
    with pytest.raises(ConflictError) as info:
        workflow.apply(db, mid, transition.action, user_id=None,
                       context={"tally_status": {"normal": False, "text": "接受申报_非正常理货"}})
    assert info.value.extra == {"current_status": transition.source.value,
                                "action": transition.action}
    assert info.value.errors and all("message" in e for e in info.value.errors)
    assert dump(db) == before


@pytest.mark.parametrize("action, status", FORBIDDEN, ids=[f"{a}-{s}" for a, s in FORBIDDEN])
def test_forbidden_pair_is_refused(db, action, status):
    mid = new_manifest(db)
    force(db, mid, status)
    before = dump(db)
    with pytest.raises(ConflictError) as info:
        workflow.apply(db, mid, action, user_id=None, context=NORMAL)
    assert info.value.extra == {"current_status": status.value, "action": action}
    assert f"not possible from {status.value}" in info.value.errors[0]["message"]
    assert dump(db) == before


def new_release_order(db, status: ReleaseStatus) -> int:
    db.execute("INSERT INTO release_orders (etps_preent_no, bind_typecd, passport_typecd,"
               " io_typecd, status, total_gross_wt, total_net_wt, created_at)"
               " VALUES ('RO-X', '2', '1', 'I', ?, '1', '1', 'now')", [status.value])
    return db.execute("SELECT max(id) FROM release_orders").fetchone()[0]


@pytest.mark.parametrize("transition", RELEASE_TRANSITIONS, ids=lambda t: f"{t.action}-{t.source}")
def test_release_order_allowed_pairs(db, transition):
    order = new_release_order(db, transition.source)
    assert workflow.apply_release(db, order, transition.action, user_id=None) == transition.target
    assert workflow.release_status(db, order) == transition.target


@pytest.mark.parametrize("action, status", RELEASE_FORBIDDEN,
                         ids=[f"{a}-{s}" for a, s in RELEASE_FORBIDDEN])
def test_release_order_forbidden_pairs(db, action, status):
    order = new_release_order(db, status)
    before = dump(db)
    with pytest.raises(ConflictError):
        workflow.apply_release(db, order, action, user_id=None)
    assert dump(db) == before


def test_next_actions_say_what_blocks(db):
    mid = new_manifest(db)
    [action] = workflow.next_actions(db, mid)
    assert action["action"] == "pass_inspection" and action["target"] == "inspected"
    assert action["unmet"] == [{"condition": "inspection",
                                "message": "no inspection is recorded"}]


# Why each status refuses labels, scans and discrepancies (the one rule in tally.workflow).
WHY = {
    Status.ARRIVED: ("not open yet", "inspection"),
    Status.INSPECTED: ("not open yet", "write-off"),
}


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_labels_scans_and_discrepancies_ask_one_tally_rule(db, status):
    mid = new_manifest(db)
    force(db, mid, status)
    attempts = {
        "labels": lambda: labelling.issue_labels(db, mid, line_no=1, count=1, user_id=None),
        "discrepancies": lambda: reconcile.record_discrepancy(
            db, mid, {"line_no": 1, "kind": "short", "qty": 1}, user_id=None, may_correct=False),
        "scans": lambda: scans.record_requests(db, [scans.Request(mid, [scans.Scan("t1", ("X",))],
                                                                  None)]),
    }
    if workflow.is_tally_open(status):
        for attempt in attempts.values():
            attempt()  # accepted
        return
    before = dump(db)
    for what, attempt in attempts.items():
        try:
            answer = attempt()
        except ConflictError as exc:
            answer = [exc]
        [refusal] = answer
        assert isinstance(refusal, ConflictError), what
        assert refusal.extra == {
            "current_status": status.value,
            "tally": "closed" if workflow.has_tally_opened(status) else "not_open_yet"}
        assert refusal.message.startswith(workflow.why_tally_not_open(status) + "; ")
        for phrase in WHY.get(status, ("closed", "confirmed")):
            assert phrase in refusal.message, (what, refusal.message)
    assert dump(db) == before
    assert workflow.has_tally_opened(status) == (status not in WHY)
