"""The pages say what keeps a consignment from customs: a SKU missing from the account book on
the consignment and report pages (before confirming), and a message that failed its XML Schema,
with the reason, on the consignment page; the settings page is the admin's."""

import json

from tally import account_book, labelling, manifests, outbox, scans
from tally.customs.client import CustomsClient
from tests.conftest import MANIFEST_CSV, book_items, clear_for_tally


def sign_in(client, token):
    assert client.post("/login", data={"token": token}).status_code == 302


def counted(db, customs):
    mid = manifests.import_manifest(db, manifests.parse_csv(MANIFEST_CSV.encode()),
                                    user_id=None)["id"]
    clear_for_tally(db, mid, CustomsClient(customs.url))
    for line in manifests.list_lines(db, mid):
        for label in labelling.issue_labels(db, mid, line_no=line["line_no"],
                                            count=line["declared_qty"], user_id=None):
            scans.record_scans(db, mid, [scans.Scan(label["code"], (label["code"],))],
                               user_id=None)
    return mid


def test_a_sku_missing_from_the_book_is_shown_before_confirming(app, client, db, customs,
                                                                tokens):
    mid = counted(db, customs)
    account_book.import_book(db, book_items(manifests.list_lines(db, mid)[:2]), user_id=None)
    sign_in(client, tokens["supervisor"])
    page = client.get(f"/manifests/{mid}").get_data(as_text=True)
    assert 'data-code="sku_not_in_book"' in page and "料号 SKU-SERUM 不在电子账册中" in page
    report = client.get(f"/manifests/{mid}/report").get_data(as_text=True)
    assert 'data-testid="confirm-blocked"' in report and "SKU-SERUM" in report


def test_a_message_failing_its_schema_is_shown_with_its_reason(app, client, db, customs,
                                                               tokens):
    mid = counted(db, customs)
    assert client.post(f"/api/manifests/{mid}/tally/confirm", headers={
        "Authorization": f"Bearer {tokens['supervisor']}"}).status_code == 200
    payload = json.loads(db.execute("SELECT payload FROM outbox").fetchone()[0])
    payload["head"]["bizopEtpsSccd"] = "91310115MA1TALLY0"  # 17 characters: one is missing
    db.execute("UPDATE outbox SET payload = ?", [json.dumps(payload, ensure_ascii=False)])
    [message] = outbox.claim_due(db, lease_seconds=5)
    assert outbox.deliver(db, CustomsClient(customs.url), message, base=0,
                          maximum=0) == "rejected"
    assert customs.received()["count"] == 0  # never left
    sign_in(client, tokens["operator"])
    page = client.get(f"/manifests/{mid}").get_data(as_text=True)
    assert 'data-testid="messages"' in page and 'data-status="failed"' in page
    assert "INV101 does not match its schema, not sent" in page and "BizopEtpsSccd" in page


def test_the_settings_page_is_the_admins(client, tokens):
    sign_in(client, tokens["supervisor"])
    assert client.get("/settings").status_code == 403
    assert "设置 Settings" not in client.get("/").get_data(as_text=True)
    sign_in(client, tokens["admin"])
    page = client.get("/settings").get_data(as_text=True)
    assert 'name="operating_sccd"' in page and "T4230W000293" in page


def test_a_message_not_sent_can_be_sent_again_by_a_supervisor(app, client, db, customs,
                                                              tokens):
    mid = counted(db, customs)
    supervisor = {"Authorization": f"Bearer {tokens['supervisor']}"}
    assert client.post(f"/api/manifests/{mid}/tally/confirm", headers=supervisor).status_code \
        == 200
    [message] = outbox.claim_due(db, lease_seconds=5)
    broken = dict(message, payload=json.dumps({"head": {}}))  # fails its schema this once
    assert outbox.deliver(db, CustomsClient(customs.url), broken, base=0,
                          maximum=0) == "rejected"
    sign_in(client, tokens["operator"])
    assert "重新发送 Send again" not in client.get(f"/manifests/{mid}").get_data(as_text=True)
    operator = {"Authorization": f"Bearer {tokens['operator']}"}
    assert client.post(f"/api/outbox/{message['id']}/resend", headers=operator).status_code \
        == 403
    sign_in(client, tokens["supervisor"])
    page = client.get(f"/manifests/{mid}").get_data(as_text=True)
    assert f'class="resend" data-message="{message["id"]}"' in page
    answer = client.post(f"/api/outbox/{message['id']}/resend", headers=supervisor)
    assert answer.status_code == 201
    assert answer.json["status"] == "pending" and answer.json["idempotency_key"].endswith("-2")
    # Only the latest version, and only one not sent: both are refused in both languages.
    for message_id in (message["id"], answer.json["id"]):
        again = client.post(f"/api/outbox/{message_id}/resend", headers=supervisor)
        assert again.status_code == 409 and again.json["code"] == "message_not_resendable"
        assert "只有未发送的报文" in again.json["error_zh"]
    assert client.post("/api/outbox/99999/resend", headers=supervisor).status_code == 404
    log = client.get(f"/api/manifests/{mid}/sync", headers=supervisor).json["messages"]
    assert [(m["status"], m["resendable"]) for m in log] == [("failed", False),
                                                             ("pending", False)]
    assert "customs-message-resent" in [r[0] for r in db.execute("SELECT name FROM events")]
    [queued] = outbox.claim_due(db, lease_seconds=5)  # the stored payload, sent whole
    assert outbox.deliver(db, CustomsClient(customs.url), queued, base=0,
                          maximum=0) == "delivered"
    assert customs.received()["count"] == 1
