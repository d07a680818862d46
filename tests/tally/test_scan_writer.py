"""The scan writer (group commit, ``tally.scans.submit``) with real threads and a real file."""

import threading

import pytest

from tally import labelling, scans
from tally.db import DatabaseError, close_db, open_db
from tally.errors import NotFoundError


def wedge(manifest_id, cid, code, image=None):
    return scans.Request(manifest_id, [scans.Scan(cid, (code,))], None, image)


def test_concurrent_requests_are_each_answered_once_committed(db, db_path, mid):
    codes = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=40,
                                                        user_id=None, may_exceed=True)]
    answers, seen_committed = {}, {}

    def operator(n):
        for i in range(5):
            cid = f"op{n}-{i}"
            answers[cid] = scans.submit(db_path, wedge(mid, cid, codes[n * 5 + i]))
            # Answered means committed: another connection already sees it.
            other = open_db(db_path)
            seen_committed[cid] = other.execute(
                "SELECT outcome FROM scans WHERE client_scan_id = ?", [cid]).fetchone()
            close_db(other)

    threads = [threading.Thread(target=operator, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 40
    assert all(a[0]["outcome"] == "counted" for a in answers.values())
    assert all(tuple(row) == ("counted",) for row in seen_committed.values())
    assert sorted(a[0]["counted"] for a in answers.values()) == list(range(1, 41))
    # Sent again (a handheld replaying its queue), nothing counts twice.
    assert scans.submit(db_path, wedge(mid, "op0-0", codes[0])) == answers["op0-0"]
    assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == 40


def test_a_request_that_fails_fails_alone(db, mid):
    codes = [x["code"] for x in labelling.issue_labels(db, mid, line_no=1, count=3,
                                                        user_id=None)]
    # An image the database cannot store fails the group's transaction; the others are then
    # recorded one by one and only the broken one gets its error.
    broken = wedge(mid, "b-1", codes[2], image=(object(), "image/png"))
    outcomes = scans.record_requests(db, [
        wedge(mid, "ok-1", codes[0]), broken, wedge(999_999, "nf", codes[1]),
        wedge(mid, "ok-2", codes[1]),
    ])
    ok1, failed, not_found, ok2 = outcomes
    assert ok1[0]["outcome"] == "counted" and ok2[0]["outcome"] == "counted"
    assert isinstance(failed, DatabaseError) and isinstance(not_found, NotFoundError)
    assert [r[0] for r in db.execute("SELECT client_scan_id FROM scans ORDER BY id")] == [
        "ok-1", "ok-2"]


def test_submit_raises_the_requests_own_error(db_path, mid):
    with pytest.raises(NotFoundError):
        scans.submit(db_path, wedge(999_999, "x-1", "U000000000017"))


def test_an_idle_writer_retires_and_a_new_one_starts(db, db_path, mid, monkeypatch):
    monkeypatch.setattr(scans, "WRITER_IDLE_S", 0.05)
    [label] = labelling.issue_labels(db, mid, line_no=1, count=1, user_id=None)
    scans.submit(db_path, wedge(mid, "r-1", label["code"]))
    [writer] = [w for w in scans._writers.values() if w.path == db_path]
    writer._thread.join(timeout=5)
    assert not writer._thread.is_alive()
    assert all(w is not writer for w in scans._writers.values())
    assert scans.submit(db_path, wedge(mid, "r-1", label["code"]))[0]["outcome"] == "counted"


def test_a_database_that_cannot_be_opened_is_an_answer_not_a_hang(tmp_path):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(OSError):
        scans.submit(str(blocked / "tally.db"), wedge(1, "o-1", "U000000000017"))
