"""The consignment page's data synchronisation through the file-drop transport: the button reads
the inbox folder (tally/customs/files.py), not the HTTP feed."""

from customs_sim.folders import FolderExchange
from tally import outbox
from tally.customs import files
from tests.conftest import app_config, auth, confirm_counted


def test_sync_now_reads_the_inbox_folder(tmp_path, db_path, db, mid, tokens, customs_core):
    from web import create_app
    from web.db import close_all

    outbox_dir, inbox_dir = tmp_path / "OutBox", tmp_path / "InBox"
    app = create_app(app_config(db_path, CUSTOMS_TRANSPORT="files",
                                CUSTOMS_OUTBOX_DIR=str(outbox_dir),
                                CUSTOMS_INBOX_DIR=str(inbox_dir)))
    try:
        confirm_counted(db, mid)
        transport = files.FileDropTransport.from_config(app.config)
        for message in outbox.claim_due(db, lease_seconds=5):
            assert outbox.deliver(db, transport, message, base=0, maximum=0) == "delivered"
        FolderExchange(customs_core, outbox_dir, inbox_dir).poll()
        (inbox_dir / "INV201_broken.xml").write_bytes(b"<Package>")
        answer = app.test_client().post(f"/api/manifests/{mid}/sync",
                                        headers=auth(tokens["supervisor"]))
        assert answer.status_code == 200, answer.json
        assert answer.json["new_receipts"] == 3  # the SeqNo answer, INV201 Y and 1
        [message] = answer.json["messages"]
        assert [(r["type"], r["status"]) for r in message["receipts"]] == [("INV201", "Y"),
                                                                           ("INV201", "1")]
        assert sorted(p.name for p in (tmp_path / "failed").iterdir()) == [
            "INV201_broken.xml", "INV201_broken.xml.error"]
        assert list(inbox_dir.iterdir()) == []
    finally:
        close_all()
