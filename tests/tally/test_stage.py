"""Where a consignment stands for the tally (workflow.tally_stage): the one text every page shows,
and the confirmation that says counting has not started rather than a difference per line."""

import pytest

from tally import labelling, manifests, scans, workflow
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally
from tally.errors import ConflictError
from tally.reconcile import record_discrepancy
from tally.workflow import TRANSITIONS, Status, tally_stage
from tests.conftest import MANIFEST_CSV, clear_for_tally

BEFORE = (Status.ARRIVED, Status.INSPECTED)
CLOSED = [s for s in Status if s not in BEFORE and s != Status.WRITTEN_OFF]
NOT_COUNTED = ("理货未开始计数，0 / 36：先发放标签，再扫描 Counting not started, 0 / 36: "
               "issue labels, then scan")
CONFIRMED = "理货已确认 The tally is confirmed: nothing more can be recorded"


def test_before_the_tally_opens_the_stage_says_what_is_pending():
    arrived = tally_stage(Status.ARRIVED, 0, 36)
    assert (arrived.key, arrived.tally) == ("not_open_yet", "not_open_yet")
    assert arrived.pending == ("pass_inspection", "write_off")
    assert arrived.text == ("理货未开始：查验、核销待完成 The tally opens after inspection and "
                            "write-off")
    inspected = tally_stage(Status.INSPECTED, 0, 36)
    assert inspected.pending == ("write_off",)
    assert inspected.text == "理货未开始：核销待完成 The tally opens after write-off"
    assert not arrived.counting_begun and not inspected.counting_begun


def test_an_open_tally_says_whether_counting_has_begun():
    fresh = tally_stage(Status.WRITTEN_OFF, 0, 36)
    assert (fresh.key, fresh.tally, fresh.counting_begun) == ("not_counted", "open", False)
    assert fresh.text == NOT_COUNTED
    assert fresh.pending[:2] == ("issue_labels", "scan")
    begun = tally_stage(Status.WRITTEN_OFF, 12, 36)
    assert (begun.key, begun.tally, begun.counting_begun) == ("counting", "open", True)
    assert begun.text == "理货中，已点 12 / 36 Counting: 12 / 36 counted"
    assert begun.pending == ("scan", "confirm_tally")


@pytest.mark.parametrize("status", CLOSED, ids=str)
def test_once_confirmed_the_tally_is_closed(status):
    for counted in (0, 36):  # its counts are final, a count of 0 too
        stage = tally_stage(status, counted, 36)
        assert (stage.key, stage.tally, stage.pending) == ("closed", "closed", ())
        assert stage.text == CONFIRMED and stage.counting_begun


@pytest.mark.parametrize("status", list(Status), ids=str)
def test_the_stage_follows_the_one_tally_rule(status):
    stage = tally_stage(status)
    assert (stage.tally == "open") == workflow.is_tally_open(status)
    assert (stage.tally == "not_open_yet") == (not workflow.has_tally_opened(status))
    # What is pending before the tally opens is the transition table's way to it, in order.
    if stage.tally == "not_open_yet":
        for action in stage.pending:
            [transition] = [t for t in TRANSITIONS if t.source == status]
            assert transition.action == action
            status = transition.target
        assert workflow.is_tally_open(status)


def test_a_stored_consignment_stage_counts_its_units(db, customs_client):
    mid = manifests.import_manifest(db, manifests.parse_csv(MANIFEST_CSV.encode()),
                                    user_id=None)["id"]
    stage = workflow.consignment_stage(db, mid)
    assert (stage.key, stage.counted, stage.declared) == ("not_open_yet", 0, 6)
    clear_for_tally(db, mid, customs_client)
    stage = workflow.consignment_stage(db, mid)
    assert (stage.key, stage.counted, stage.declared) == ("not_counted", 0, 6)
    assert stage.text.startswith("理货未开始计数，0 / 6")
    code = labelling.issue_labels(db, mid, line_no=1, count=1, user_id=None)[0]["code"]
    scans.record_scans(db, mid, [scans.Scan("c1", (code,))], user_id=None)
    stage = workflow.consignment_stage(db, mid)
    assert (stage.key, stage.counted, stage.declared) == ("counting", 1, 6)


def test_confirming_before_any_count_says_counting_has_not_started(db, mid):
    [action] = workflow.next_actions(db, mid)
    assert action["unmet"] == [{"condition": "counting", "counted": 0, "declared": 6,
                                "message": NOT_COUNTED.replace("36", "6")}]
    with pytest.raises(ConflictError) as info:
        confirm_tally(db, mid, user_id=None, settings=site_settings(DEFAULTS))
    assert [e["condition"] for e in info.value.errors] == ["counting"]
    # Once a unit is counted, the differences are named line by line.
    code = labelling.issue_labels(db, mid, line_no=1, count=1, user_id=None)[0]["code"]
    scans.record_scans(db, mid, [scans.Scan("c1", (code,))], user_id=None)
    [action] = workflow.next_actions(db, mid)
    assert [(c["line_no"], c["message"]) for c in action["unmet"]] == [
        (1, "line 1: difference -2 is not explained by recorded discrepancies"),
        (2, "line 2: difference -2 is not explained by recorded discrepancies"),
        (3, "line 3: difference -1 is not explained by recorded discrepancies")]


def test_nothing_counted_and_every_line_explained_short_may_be_confirmed(db, mid):
    """A consignment that never came: every unit recorded short, none counted."""
    for line_no, qty in ((1, 3), (2, 2), (3, 1)):
        record_discrepancy(db, mid, {"line_no": line_no, "kind": "short", "qty": qty},
                           user_id=None, may_correct=False)
    [action] = workflow.next_actions(db, mid)
    assert action["unmet"] == []
