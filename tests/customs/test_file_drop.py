"""The file-drop transport (tally/customs/files.py) with real folders: messages written once and
atomically into the Single Window client's outbox, answers and receipts read from its inbox and
moved to done or failed, exactly once across a kill; and the clearance through folders against
the simulator's folder mode (customs_sim/folders.py)."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from customs_sim.folders import FolderExchange
from tally import declaration, outbox, release_orders, workflow
from tally.config import DEFAULTS, site_settings
from tally.customs import files
from tally.customs.client import CustomsClient
from tally.customs.message_xml import parse_xml, schema_problems
from tests.conftest import confirm_counted

SETTINGS = site_settings(DEFAULTS)


@pytest.fixture
def paths(tmp_path):
    """The client's folders as the configuration gives them (SentBox, done, ... by default)."""
    return files.folders({"CUSTOMS_OUTBOX_DIR": str(tmp_path / "OutBox"),
                          "CUSTOMS_INBOX_DIR": str(tmp_path / "InBox")})


@pytest.fixture
def transport(paths):
    return files.FileDropTransport(paths)


@pytest.fixture
def exchange(customs_core, paths):
    """The simulated customs behind the same folders (polled by the test, not a thread)."""
    return FolderExchange(customs_core, paths["outbox"], paths["inbox"], sent=paths["sent"])


def deliver_all(db, transport) -> list[str]:
    return [outbox.deliver(db, transport, message, base=0, maximum=0)
            for message in outbox.claim_due(db, lease_seconds=5)]


def sync(db, transport, exchange) -> int:
    """The worker's round (write due messages, read the inbox) with customs answering between."""
    deliver_all(db, transport)
    exchange.poll()
    return outbox.pull_receipts(db, transport)


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def status(db, mid) -> str:
    return workflow.current_status(db, mid).value


def test_settings_select_the_transport_and_place_the_folders(tmp_path):
    config = {**DEFAULTS, "CUSTOMS_TRANSPORT": "files",
              "CUSTOMS_OUTBOX_DIR": str(tmp_path / "OutBox"),
              "CUSTOMS_INBOX_DIR": str(tmp_path / "InBox"),
              "CUSTOMS_DONE_DIR": str(tmp_path / "archive")}
    transport = files.transport_from_config(config)
    assert isinstance(transport, files.FileDropTransport)
    assert {k: v.name for k, v in transport.paths.items()} == {
        "outbox": "OutBox", "inbox": "InBox", "sent": "SentBox", "fail": "FailBox",
        "done": "archive", "failed": "failed"}
    with pytest.raises(ValueError, match="TALLY_CUSTOMS_INBOX_DIR"):
        files.transport_from_config({**config, "CUSTOMS_INBOX_DIR": None})
    with pytest.raises(ValueError, match="http or files"):
        files.transport_from_config({**config, "CUSTOMS_TRANSPORT": "ftp"})
    http = files.transport_from_config({**DEFAULTS, "CUSTOMS_URL": "http://127.0.0.1:9"})
    assert http.base_url == "http://127.0.0.1:9"


@pytest.mark.parametrize(("kind", "io", "key", "attempt", "stem"), [
    ("INV101", "I", "INV101-TL000001-MF-TEST-1-1", 1, "INV101_I_TL000001-MF-TEST-1-1_t-1"),
    ("INV101", "E", "INV101-TL000002-MF_2/3-2", 3, "INV101_E_TL000002-MF%5F2%2F3-2_t-3"),
    ("SAS121", "I", "SAS121-RO42300000000001-1", 1, "SAS121_I_RO42300000000001-1_t-1"),
    ("SAS121", "I", "SAS121-浙B5Z502-1", 2, "SAS121_I_浙B5Z502-1_t-2"),
])
def test_file_names_as_the_client_expects_and_back_to_the_key(kind, io, key, attempt, stem):
    assert files.file_stem(kind, io, key, attempt) == stem
    for outcome in ("Successed", "Failed"):
        assert files.key_of_answer(f"{outcome}_{stem}_20240819144231438341200.xml") == key


def test_a_key_that_names_no_file_is_refused():
    with pytest.raises(ValueError, match="<kind>-<number>-<version>"):
        files.file_stem("INV101", "I", "some-key")
    assert files.key_of_answer("INV201_CUS0000E010000.xml") is None


def test_the_message_is_written_whole_once_as_built(db, mid, transport, paths):
    confirm_counted(db, mid)
    assert deliver_all(db, transport) == ["delivered"]
    [name] = names(paths["outbox"])  # no temporary file left beside it
    assert name == "INV101_I_TL000001-MF-TEST-1-1_t-1.xml"
    data = (paths["outbox"] / name).read_bytes()
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert schema_problems("INV101", data) == []
    kind, payload = parse_xml(data)
    [row] = db.query("SELECT payload, status, seq_no FROM outbox")
    built = json.loads(row["payload"])
    assert kind == "INV101" and payload["head"]["etpsInnerInvtNo"] == \
        built["head"]["etpsInnerInvtNo"]
    assert [line["gdsSeqno"] for line in payload["lines"]] == \
        [str(line["gdsSeqno"]) for line in built["lines"]]
    assert row["status"] == "delivered" and row["seq_no"] is None  # the SeqNo comes later
    [attempt] = outbox.sync_status(db, mid)["messages"][0]["attempt_log"]
    assert attempt["outcome"] == "delivered" and attempt["http_status"] is None


KILLED_AFTER_THE_RENAME = textwrap.dedent("""
    import os, signal, sys
    from tally import outbox
    from tally.customs import files
    from tally.db import open_db
    db = open_db(sys.argv[1])
    transport = files.FileDropTransport(files.folders(
        {"CUSTOMS_OUTBOX_DIR": sys.argv[2], "CUSTOMS_INBOX_DIR": sys.argv[3]}))
    [message] = outbox.claim_due(db, lease_seconds=0)
    delivery = transport.send_message(message["kind"], __import__("json").loads(
        message["payload"]), idempotency_key=message["idempotency_key"])
    print(delivery.body["file"], flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # before deliver() records anything
""")


@pytest.mark.parametrize("moved_on", [None, "sent", "answered"])
def test_a_kill_between_the_rename_and_the_commit_writes_the_file_once(
        db, db_path, mid, transport, paths, exchange, moved_on):
    confirm_counted(db, mid)
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AFTER_THE_RENAME, db_path, str(paths["outbox"]),
         str(paths["inbox"])], capture_output=True, text=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    name = killed.stdout.strip()
    assert names(paths["outbox"]) == [name]
    [row] = db.query("SELECT status, attempts FROM outbox")
    assert row == {"status": "pending", "attempts": 0}  # nothing recorded: the lease lapses
    if moved_on:  # the client took the file meanwhile (and perhaps customs answered)
        exchange.poll()
        if moved_on == "answered":
            # The answer (SeqNo kept) and INV201 Y, 1: kept, applied once it is delivered.
            assert outbox.pull_receipts(db, transport) == 3
            assert status(db, mid) == "tallied"
    written = (paths["outbox"] / name).stat().st_mtime_ns if not moved_on else None
    assert deliver_all(db, transport) == ["delivered"]
    [attempt] = outbox.sync_status(db, mid)["messages"][0]["attempt_log"]
    assert json.loads(json.dumps(attempt))["outcome"] == "delivered"
    response = json.loads(db.execute("SELECT response FROM outbox_attempts").fetchone()[0])
    assert response["written"] is False
    if moved_on:
        assert names(paths["outbox"]) == [] and names(paths["sent"]) == [name]
        assert response["found"] in ("sent", "inbox", "done")
    else:
        assert (paths["outbox"] / name).stat().st_mtime_ns == written
        assert response["found"] == "outbox"
    exchange.poll()
    outbox.pull_receipts(db, transport)
    assert exchange.customs.received()["count"] == 1  # customs got it once
    assert status(db, mid) == "declared"


def test_receipt_files_are_applied_once_and_moved_to_done(db, mid, transport, paths,
                                                           exchange):
    confirm_counted(db, mid)
    deliver_all(db, transport)
    assert exchange.poll() == 1
    inbox = names(paths["inbox"])
    assert len(inbox) == 3 and inbox[-1].startswith("Successed_INV101_I_TL000001-MF-TEST-1-1_t-1_")
    assert [n.split("_")[0] for n in inbox[:2]] == ["INV201", "INV201"]
    # A kill after the first file's transaction, before its move: the batch is recorded...
    batch, _moved = next(transport.receipt_batches())
    with db.conn:
        assert outbox.record_answer(db, batch[0]) == 1
    assert names(paths["done"]) == []
    # ...and on restart every file is read, the first one again without effect, all moved.
    assert outbox.pull_receipts(db, transport) == 2
    assert names(paths["inbox"]) == [] and names(paths["done"]) == sorted(inbox)
    [message] = outbox.sync_status(db, mid)["messages"]
    assert len(message["seq_no"]) == 18
    assert [(r["type"], r["status"]) for r in message["receipts"]] == [("INV201", "Y"),
                                                                       ("INV201", "1")]
    assert status(db, mid) == "declared"
    # The same receipts delivered again (a client re-sending its inbox) change nothing.
    for name in inbox:
        os.replace(paths["done"] / name, paths["inbox"] / name)
    assert outbox.pull_receipts(db, transport) == 0
    assert names(paths["done"]) == sorted(inbox)
    assert db.execute("SELECT count(*) FROM customs_receipts").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM events WHERE name = 'customs-receipt-received'"
                      ).fetchone()[0] == 2


@pytest.mark.parametrize(("name", "content", "error"), [
    ("INV201_broken.xml", b"<Package><EnvelopInfo>", "not well-formed XML"),
    ("INV999_x.xml", b"<Package><EnvelopInfo><message_type>INV999</message_type>"
     b"<message_id>1</message_id></EnvelopInfo></Package>", "not a receipt we know"),
    ("Successed_whatever.xml", b"<CommonResponeMessage><SeqNo>202600000000000001</SeqNo>"
     b"<DealFlag>0</DealFlag></CommonResponeMessage>", "not Successed_/Failed_<our file>"),
    ("note.xml", b"<Note>hello</Note>", "neither a CommonResponeMessage nor a Package"),
])
def test_a_bad_file_is_moved_to_failed_with_its_error(db, transport, paths, name, content,
                                                      error):
    paths["inbox"].mkdir(parents=True, exist_ok=True)
    (paths["inbox"] / name).write_bytes(content)
    assert outbox.pull_receipts(db, transport) == 0
    assert names(paths["inbox"]) == [] and names(paths["done"]) == []
    assert names(paths["failed"]) == sorted([name, f"{name}.error"])
    assert error in (paths["failed"] / f"{name}.error").read_text(encoding="utf-8")
    assert (paths["failed"] / name).read_bytes() == content  # kept as it came


def test_files_still_being_written_are_left_alone(db, mid, transport, paths, exchange):
    confirm_counted(db, mid)
    paths["inbox"].mkdir(parents=True, exist_ok=True)
    partial = {"inbox": [".INV201_CUS0000.xml.77.tmp", "INV201_CUS0000.xml.part",
                         ".INV201_half.xml"],
               "outbox": [".INV101_I_TL000009-X_t-1.xml.12.tmp", "INV101_I_TL9_t-1.tmp"]}
    for folder, partial_names in partial.items():
        for partial_name in partial_names:
            (paths[folder] / partial_name).write_bytes(b"<Package><Envelop")
    assert exchange.poll() == 0  # customs' side takes no partial file
    assert outbox.pull_receipts(db, transport) == 0  # nor do we
    assert names(paths["inbox"]) == sorted(partial["inbox"])
    assert not paths["failed"].exists() and not paths["done"].exists()
    assert deliver_all(db, transport) == ["delivered"]
    assert exchange.poll() == 1  # the whole file only
    assert sorted(partial["outbox"]) == names(paths["outbox"])


def test_a_refused_file_fails_the_message_with_check_info(db, mid, transport, paths):
    confirm_counted(db, mid)
    deliver_all(db, transport)
    [name] = names(paths["outbox"])
    answer = ("<CommonResponeMessage><EtpsPreentNo>TL000001-MF-TEST-1</EtpsPreentNo>"
              "<CheckInfo>企业内部编号重复</CheckInfo><DealFlag>-1</DealFlag>"
              "</CommonResponeMessage>")
    failed_name = f"Failed_{name[:-4]}_20260101120000000000.xml"
    files.write_atomically(paths["inbox"], failed_name, answer.encode("utf-8"))
    assert outbox.pull_receipts(db, transport) == 1
    [message] = outbox.sync_status(db, mid)["messages"]
    assert message["status"] == "failed" and message["last_error"] == "企业内部编号重复"
    assert names(paths["done"]) == [failed_name]
    assert "customs-message-rejected" in [r[0] for r in db.execute("SELECT name FROM events")]


def test_the_clearance_through_folders(db, mid, transport, paths, exchange, customs_core):
    """INV101 store-failed (Z), corrected and declared again under the same SeqNo, approved
    without deduction (5); a release order declared with its truck and approved (SAS221 1);
    customs' gate passes it (SAS223): every message a file, every answer and receipt a file."""
    customs_core.set_mode("store-fail", count=1)
    confirm_counted(db, mid)
    assert sync(db, transport, exchange) == 2  # the answer and INV201 Z
    assert status(db, mid) == "returned"
    customs_core.set_mode("not-deducted", count=1)
    declaration.correct_list(db, mid, {"changes": [{"gdsSeqno": 1, "gdecd": "1901109000"}]},
                             user_id=None)
    assert sync(db, transport, exchange) == 3  # the answer, INV201 Y and 5
    first, second = outbox.sync_status(db, mid)["messages"]
    assert first["seq_no"] == second["seq_no"] and len(first["seq_no"]) == 18
    assert [(r["type"], r["status"]) for r in second["receipts"]] == [("INV201", "Y"),
                                                                      ("INV201", "5")]
    assert status(db, mid) == "declared"
    assert declaration.bond_invt_no(db, mid).startswith("QD4230")

    order = release_orders.create_release_order(
        db, {"bind_type": "2", "manifests": [mid]}, user_id=None, settings=SETTINGS)
    assert sync(db, transport, exchange) == 0  # nothing declared before the truck is bound
    release_orders.associate_vehicle(
        db, order["etps_preent_no"], {"plate": "沪A12345", "tare_wt": 8000, "frame_wt": 1500},
        user_id=None, settings=SETTINGS)
    assert sync(db, transport, exchange) == 3  # the answer, SAS221 Y and 1
    order = release_orders.get_release_order(db, order["etps_preent_no"])
    assert [(r["type"], r["status"]) for r in order["receipts"]] == [("SAS221", "Y"),
                                                                     ("SAS221", "1")]
    assert order["status"] == "approved" and order["passport_no"].startswith("Z4230I")
    assert status(db, mid) == "released"
    customs_core.pass_gate({"passportNo": order["passport_no"]})
    assert sync(db, transport, exchange) == 1  # SAS223
    assert release_orders.get_release_order(db, order["passport_no"])["status"] == "passed"
    assert status(db, mid) == "entered"

    sent = names(paths["sent"])
    assert sent == ["INV101_I_TL000001-MF-TEST-1-1_t-1.xml",
                    "INV101_I_TL000001-MF-TEST-1-2_t-1.xml",
                    f"SAS121_I_{order['etps_preent_no']}-1_t-1.xml"]
    done = names(paths["done"])
    assert sum(n.startswith("Successed_") for n in done) == 3
    assert sorted(n.split("_")[0] for n in done if not n.startswith("Successed_")) == [
        "INV201", "INV201", "INV201", "SAS221", "SAS221", "SAS223"]
    assert names(paths["outbox"]) == [] and names(paths["inbox"]) == []
    assert not paths["failed"].exists()
    assert [v["kind"] for v in customs_core.received()["received"]] == [
        "INV101", "INV101", "SAS121"]


def test_a_file_the_client_could_not_send_goes_back_as_the_next_try(db, mid, transport, paths,
                                                                     exchange):
    """As gx-customs-bridge does with its FailBox: the file goes back to the outbox as t-2, the
    consignment page says so, and customs stores the message once when it is sent at last."""
    confirm_counted(db, mid)
    exchange.customs.set_mode("unsent", count=1)
    assert deliver_all(db, transport) == ["delivered"]
    assert exchange.poll() == 0
    assert names(paths["fail"]) == ["INV101_I_TL000001-MF-TEST-1-1_t-1.xml"]
    assert outbox.pull_receipts(db, transport) == 0
    assert names(paths["fail"]) == []
    assert names(paths["outbox"]) == ["INV101_I_TL000001-MF-TEST-1-1_t-2.xml"]
    [message] = outbox.sync_status(db, mid)["messages"]
    assert message["status"] == "delivered"
    assert "could not send INV101_I_TL000001-MF-TEST-1-1_t-1.xml (try 1 of 3)" in \
        message["last_error"]
    assert [a["outcome"] for a in message["attempt_log"]] == ["delivered", "retry"]
    # The worker claims nothing more: the file is the client's again.
    assert deliver_all(db, transport) == []
    assert sync(db, transport, exchange) == 3  # the answer, INV201 Y and 1
    [message] = outbox.sync_status(db, mid)["messages"]
    assert message["last_error"] is None and len(message["seq_no"]) == 18
    assert status(db, mid) == "declared"
    assert names(paths["sent"]) == ["INV101_I_TL000001-MF-TEST-1-1_t-2.xml"]
    assert exchange.customs.received()["count"] == 1


def test_the_message_fails_visibly_when_no_try_is_left(db, mid, transport, paths, exchange):
    confirm_counted(db, mid)
    exchange.customs.set_mode("unsent")
    deliver_all(db, transport)
    for _ in range(3):
        exchange.poll()
        outbox.pull_receipts(db, transport)
        outbox.pull_receipts(db, transport)  # a batch read twice records it once
    assert names(paths["fail"]) == [] and names(paths["outbox"]) == []
    assert names(paths["failed"]) == ["INV101_I_TL000001-MF-TEST-1-1_t-3.xml",
                                      "INV101_I_TL000001-MF-TEST-1-1_t-3.xml.error"]
    [message] = outbox.sync_status(db, mid)["messages"]
    assert message["status"] == "failed"
    assert "could not send INV101_I_TL000001-MF-TEST-1-1_t-3.xml in 3 tries" in \
        message["last_error"]
    assert [a["outcome"] for a in message["attempt_log"]] == [
        "delivered", "retry", "retry", "rejected"]
    assert exchange.customs.received()["count"] == 0
    events = [r[0] for r in db.execute("SELECT name FROM events ORDER BY id")]
    assert events.count("customs-message-client-failed") == 3


def test_stale_temporary_files_are_removed_at_start(paths, customs_core):
    for folder in ("outbox", "inbox"):
        paths[folder].mkdir(parents=True)
        for name in (".INV101_I_X-1_t-1.xml.4242.tmp", ".INV101_I_Y-1_t-1.xml.4243.tmp"):
            (paths[folder] / name).write_bytes(b"<Pack")
        old = paths[folder] / ".INV101_I_X-1_t-1.xml.4242.tmp"
        os.utime(old, (old.stat().st_atime - 3600, old.stat().st_mtime - 3600))
        (paths[folder] / ".keep").write_bytes(b"")  # not ours: left alone
    files.FileDropTransport(paths)
    FolderExchange(customs_core, paths["outbox"], paths["inbox"], sent=paths["sent"])
    for folder in ("outbox", "inbox"):
        assert names(paths[folder]) == [".INV101_I_Y-1_t-1.xml.4243.tmp", ".keep"]


def test_the_simulator_keeps_its_feed_position_across_a_restart(db, mid, transport, paths,
                                                                  customs_core, tmp_path):
    position = tmp_path / "feed-position"
    exchange = FolderExchange(customs_core, paths["outbox"], paths["inbox"],
                              sent=paths["sent"], position_file=position)
    confirm_counted(db, mid)
    assert sync(db, transport, exchange) == 3
    assert position.read_text().strip() == "2"
    again = FolderExchange(customs_core, paths["outbox"], paths["inbox"],
                           sent=paths["sent"], position_file=position)
    assert again.after == 2 and again.poll() == 0
    assert names(paths["inbox"]) == []  # no receipt written twice


def test_a_message_given_up_is_sent_again_as_its_next_version(db, mid, transport, paths,
                                                               exchange):
    confirm_counted(db, mid)
    exchange.customs.set_mode("unsent", count=3)
    deliver_all(db, transport)
    for _ in range(3):
        exchange.poll()
        outbox.pull_receipts(db, transport)
    [failed] = outbox.sync_status(db, mid)["messages"]
    assert failed["status"] == "failed" and failed["resendable"]
    again = outbox.resend(db, failed["id"], user_id=None)
    assert again["idempotency_key"] == failed["idempotency_key"][:-1] + "2"
    assert sync(db, transport, exchange) == 3  # the answer, INV201 Y and 1
    assert names(paths["sent"]) == ["INV101_I_TL000001-MF-TEST-1-2_t-1.xml"]
    assert status(db, mid) == "declared"
    assert exchange.customs.received()["count"] == 1


def test_unsent_is_a_folder_mode_over_http_it_is_down(db, mid, customs_client, customs_core,
                                                        customs):
    confirm_counted(db, mid)
    customs_core.set_mode("unsent", count=1)
    [message] = outbox.claim_due(db, lease_seconds=0)
    assert outbox.deliver(db, customs_client, message, base=0, maximum=0) == "retry"
    customs.set_mode("unsent", count=1)
    [message] = outbox.claim_due(db, lease_seconds=0)
    assert outbox.deliver(db, CustomsClient(customs.url, timeout=5), message, base=0,
                          maximum=0) == "retry"
    assert customs_core.received()["count"] == 0 and customs.received()["count"] == 0
