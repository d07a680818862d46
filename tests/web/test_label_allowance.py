"""Labels per line: an operator up to the declared quantity plus the surplus allowance, a
supervisor beyond it (issue 11: 10,000 labels could be issued on a line declaring 2)."""

import pytest

from tally.labelling import MAX_LABELS_PER_REQUEST, label_allowance

# The test manifest's line 2 declares 2 units: its allowance is 2 + 5 = 7 labels.
LINE, ALLOWED = 2, 7


def issue(as_, mid, count, role="operator"):
    return as_(role).post(f"/api/manifests/{mid}/labels", json={"line_no": LINE, "count": count})


def units(db) -> int:
    return db.execute("SELECT count(*) FROM units").fetchone()[0]


@pytest.mark.parametrize("declared, allowed", [(1, 6), (2, 7), (50, 55), (51, 57), (100, 110),
                                               (1001, 1102)])
def test_the_allowance_is_ten_percent_rounded_up_and_at_least_five(declared, allowed):
    assert label_allowance(declared) == allowed


def test_an_operator_issues_up_to_the_allowance(as_, db, manifest):
    mid = manifest["id"]
    assert issue(as_, mid, 2).status_code == 201  # the declared quantity
    assert issue(as_, mid, ALLOWED - 2).status_code == 201  # and the surplus
    assert units(db) == ALLOWED


def test_an_operator_beyond_the_allowance_is_refused_and_nothing_is_issued(as_, db, manifest):
    mid = manifest["id"]
    assert issue(as_, mid, 4).status_code == 201
    before = units(db)
    refused = issue(as_, mid, ALLOWED - 4 + 1)
    assert refused.status_code == 409, refused.json
    body = refused.json
    assert body["remaining"] == ALLOWED - 4 and body["required_role"] == "supervisor"
    assert "3 more can be issued" in body["error"] and "supervisor" in body["error"]
    assert body["errors"] == [{"field": "count", "message": "at most 3 on line 2",
                               "code": "allowance_left", "message_zh": "第 2 项最多还可发放 3 张"}]
    assert body["code"] == "label_allowance_exceeded" and "主管可以多发" in body["error_zh"]
    assert units(db) == before
    assert issue(as_, mid, 10_000).status_code == 409
    assert units(db) == before


def test_a_supervisor_issues_beyond_the_allowance_up_to_the_request_bound(as_, db, manifest):
    mid = manifest["id"]
    assert issue(as_, mid, ALLOWED + 20, "supervisor").status_code == 201
    assert units(db) == ALLOWED + 20
    too_many = issue(as_, mid, MAX_LABELS_PER_REQUEST + 1, "supervisor")
    assert too_many.status_code == 422 and too_many.json["errors"][0]["field"] == "count"
    assert units(db) == ALLOWED + 20
    assert issue(as_, mid, 1).status_code == 409  # the operator's allowance is spent


def test_void_labels_do_not_count(as_, db, manifest):
    mid = manifest["id"]
    codes = [label["code"] for label in issue(as_, mid, ALLOWED).json["labels"]]
    assert issue(as_, mid, 1).status_code == 409
    for code in codes[:2]:
        voided = as_("supervisor").post(f"/api/labels/{code}/void", json={"reason": "torn"})
        assert voided.status_code == 200, voided.json
    assert issue(as_, mid, 3).status_code == 409
    assert issue(as_, mid, 2).status_code == 201
    assert units(db) == ALLOWED + 2  # void ones stay on record


def test_reprints_are_copies_not_new_units(as_, db, manifest):
    mid = manifest["id"]
    code = issue(as_, mid, ALLOWED).json["labels"][0]["code"]
    for _ in range(3):
        copy = as_("operator").post(f"/api/labels/{code}/reprint", json={"reason": "smudged"})
        assert copy.status_code == 201
    assert units(db) == ALLOWED
