"""Customs' refusals (Z, 3, and SAS224 2) on the consignment page, in Chinese and English."""

import pytest

from tally import outbox
from tests.conftest import confirm_counted


def sync(db, client) -> None:
    for message in outbox.claim_due(db, lease_seconds=5):
        outbox.deliver(db, client, message, base=0, maximum=0)
    outbox.pull_receipts(db, client)


@pytest.mark.parametrize(("mode", "reason", "zh", "en"), [
    ("returned", "商品编码与备案不符", "海关退单（核注清单 INV201 3）：商品编码与备案不符",
     "customs returned the inventory list (INV201 3): the HS code differs from the account "
     "book"),
    ("store-fail", "申报要素不全", "海关入库失败（核注清单 INV201 Z）：申报要素不全",
     "customs could not store the inventory list (INV201 Z): 申报要素不全"),
])
def test_a_refusal_shows_its_reason_in_both_languages(client, tokens, db, mid, customs_core,
                                                      customs_client, mode, reason, zh, en):
    customs_core.set_mode(mode, count=1, reason=reason)
    confirm_counted(db, mid)
    sync(db, customs_client)
    assert client.post("/login", data={"token": tokens["operator"]}).status_code == 302
    page = client.get(f"/manifests/{mid}").get_data(as_text=True)
    assert 'data-testid="refusals"' in page
    assert zh in page and en.replace("'", "&#39;") in page


def test_no_refusal_no_section(client, tokens, db, mid, customs_client):
    confirm_counted(db, mid)
    sync(db, customs_client)
    client.post("/login", data={"token": tokens["operator"]})
    page = client.get(f"/manifests/{mid}").get_data(as_text=True)
    assert "已申报" in page or "declared" in page
    assert 'data-testid="refusals"' not in page
