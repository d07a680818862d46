"""A release order names each goods line by its gdsSeqno on the inventory list as sent (a line
with nothing counted is not on the list), relates several lists with a backslash and writes no
rltNo on a line; one truck with two tickets goes through the simulated customs."""

import json

from tally import (
    declaration,
    labelling,
    manifests,
    outbox,
    reconcile,
    release_orders,
    scans,
    workflow,
)
from tally.config import DEFAULTS, site_settings
from tally.confirmation import confirm_tally
from tests.conftest import MANIFEST_CSV, clear_for_tally, confirm_counted

SETTINGS = site_settings(DEFAULTS)


def sync(db, client) -> None:
    for message in outbox.claim_due(db, lease_seconds=5):
        assert outbox.deliver(db, client, message, base=0, maximum=0) == "delivered"
    outbox.pull_receipts(db, client)


def second_manifest(db, client, *, without_line_2: bool) -> int:
    mid = manifests.import_manifest(db, manifests.parse_csv(
        MANIFEST_CSV.replace("MF-TEST-1", "MF-TEST-2").encode()), user_id=None)["id"]
    clear_for_tally(db, mid, client)
    for line_no, count in ((1, 3), (2, 0 if without_line_2 else 2), (3, 1)):
        for label in labelling.issue_labels(db, mid, line_no=line_no, count=count,
                                            user_id=None) if count else []:
            scans.record_scans(db, mid, [scans.Scan(label["code"], (label["code"],))],
                               user_id=None)
    if without_line_2:
        reconcile.record_discrepancy(db, mid, {"line_no": 2, "kind": "short", "qty": 2,
                                               "note": "not shipped", "disposition": "按实收"},
                                     user_id=None, may_correct=True)
    confirm_tally(db, mid, user_id=None, settings=SETTINGS)
    return mid


def test_one_truck_two_tickets_with_a_line_left_off_the_list(db, mid, customs_client):
    confirm_counted(db, mid)
    other = second_manifest(db, customs_client, without_line_2=True)
    sync(db, customs_client)
    assert workflow.current_status(db, mid).value == "declared"
    assert workflow.current_status(db, other).value == "declared"
    listed = declaration.latest_list(db, other)["payload"]
    assert listed["manifestLineNos"] == [1, 3]  # line 2: nothing counted, not declared

    order = release_orders.create_release_order(
        db, {"bind_type": "1", "manifests": [mid, other]}, user_id=None, settings=SETTINGS)
    assert db.execute("SELECT count(*) FROM outbox WHERE kind = 'SAS121'").fetchone()[0] == 0
    # Declared with its truck (车单关联): one truck carries both tickets.
    release_orders.associate_vehicle(db, order["etps_preent_no"], {
        "plate": "沪A12345", "tare_wt": 8000, "frame_wt": 1500}, user_id=None, settings=SETTINGS)
    payload = json.loads(db.execute(
        "SELECT payload FROM outbox WHERE kind = 'SAS121'").fetchone()[0])
    numbers = [declaration.bond_invt_no(db, m) for m in (mid, other)]
    assert payload["head"]["rltNo"] == "\\".join(numbers)
    assert all("rltNo" not in line for line in payload["lines"])
    assert payload["lineLists"] == [numbers[0]] * 3 + [numbers[1]] * 2
    # Manifest line 3 of the second list is its gdsSeqno 2.
    assert [line["rltGdsSeqno"] for line in payload["lines"]] == [1, 2, 3, 1, 2]
    assert outbox.schema_problems_of("SAS121", payload, "SAS121-test") == []
    sync(db, customs_client)
    assert release_orders.get_release_order(db, order["etps_preent_no"])["status"] == "approved"
