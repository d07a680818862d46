"""The clearance through the file-drop transport, as processes: `tally serve` with
TALLY_CUSTOMS_TRANSPORT=files writes every declaration into the Single Window client's outbox
folder and reads the inbox; `tally customs-sim --outbox --inbox` plays the client and customs on
the other side of the folders (and the write-off desk over HTTP, which is not a declaration).
Inventory list through its receipts to the approval, a release order declared with its truck,
approved, and customs' gate passage (SAS223). And `tally serve` alone, whose embedded simulator
takes the same folders: a file the client could not send goes back as its next try."""

import json
import os
import re
import urllib.request

from bench.servers import free_port, start_service, start_simulator, tally
from tally.demo import DEMO_SETTINGS
from tests.conftest import MANIFEST_CSV
from tests.http import Api, ready_to_tally, wait_for


def control(customs: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{customs}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def counted_consignment(api: Api) -> int:
    """A consignment inspected, written off, its SKUs in the account book and every unit
    scanned: ready to confirm. Its id."""
    mid = ready_to_tally(api, MANIFEST_CSV)["id"]
    scans = []
    for line_no, count in ((1, 3), (2, 2), (3, 1)):
        _, issued = api.call("POST", f"/api/manifests/{mid}/labels",
                             json_body={"line_no": line_no, "count": count})
        scans += [{"code": label["code"], "client_scan_id": f"f-{label['code']}"}
                  for label in issued["labels"]]
    code, _ = api.call("POST", f"/api/manifests/{mid}/scans", json_body={"scans": scans})
    assert code == 200
    return mid


def prepared(tmp_path) -> tuple[dict, str]:
    """A migrated database with the company settings, its environment and a supervisor's
    token."""
    env = {**os.environ, "TALLY_DATABASE": str(tmp_path / "clearance.db")}
    tally("migrate", env=env)
    token = tally("token", "create", "--user", "station", "--role", "supervisor",
                  env=env).strip().splitlines()[-1]
    tally("settings", "set", *(f"{k}={v}" for k, v in DEMO_SETTINGS.items()), env=env)
    return env, token


def test_consignment_through_the_folders(tmp_path):
    env, token = prepared(tmp_path)
    db_path = env["TALLY_DATABASE"]
    outbox, inbox = tmp_path / "client" / "OutBox", tmp_path / "client" / "InBox"
    sim_port, port = free_port(), free_port()
    customs = f"http://127.0.0.1:{sim_port}"
    simulator = start_simulator(sim_port, "--outbox", str(outbox), "--inbox", str(inbox),
                                log_path=str(tmp_path / "sim.log"))
    server = start_service(db_path, port, customs, log_path=str(tmp_path / "server.log"),
                           TALLY_CUSTOMS_TRANSPORT="files", TALLY_CUSTOMS_OUTBOX_DIR=str(outbox),
                           TALLY_CUSTOMS_INBOX_DIR=str(inbox),
                           TALLY_OUTBOX_POLL_INTERVAL="0.1", TALLY_RECEIPT_POLL_INTERVAL="0.2")
    try:
        api = Api(f"http://127.0.0.1:{port}", token)

        def status():
            return api.call("GET", f"/api/manifests/{mid}/workflow")[1]["status"]

        mid = counted_consignment(api)
        assert status() == "written_off"

        # The inventory list: a file in the outbox, the client's answer and customs' INV201
        # Y and 5 files in the inbox, each applied and moved to done.
        control(customs, "/_control", {"mode": "not-deducted", "count": 1})
        code, confirmed = api.call("POST", f"/api/manifests/{mid}/tally/confirm")
        assert code == 200, confirmed
        wait_for(lambda: status() == "declared")
        [message] = api.call("GET", f"/api/manifests/{mid}/sync")[1]["messages"]
        assert len(message["seq_no"]) == 18
        assert [(r["type"], r["status"]) for r in message["receipts"]] == [("INV201", "Y"),
                                                                           ("INV201", "5")]

        # A release order, declared with its truck: SAS121 as a file, SAS221 back.
        code, order = api.call("POST", "/api/release-orders",
                               json_body={"bind_type": "2", "manifests": [mid]})
        assert code == 201, order
        number = order["etps_preent_no"]
        code, bound = api.call("POST", f"/api/release-orders/{number}/vehicle",
                               json_body={"plate": "沪A11111", "tare_wt": 8000,
                                          "frame_wt": 1500})
        assert code == 200, bound

        def order_now():
            return api.call("GET", f"/api/release-orders/{number}")[1]
        wait_for(lambda: order_now()["status"] == "approved")
        assert status() == "released"

        # Customs' gate lane passes the truck: SAS223 arrives as a file, the goods entered.
        control(customs, "/_control/gate", {"passportNo": order_now()["passport_no"]})
        wait_for(lambda: order_now()["status"] == "passed")
        assert status() == "entered"

        assert names(outbox) == [] and names(inbox) == []
        assert names(tmp_path / "client" / "SentBox") == [
            "INV101_I_TL000001-MF-TEST-1-1_t-1.xml", f"SAS121_I_{number}-1_t-1.xml"]
        done = names(tmp_path / "client" / "done")
        assert sum(n.startswith("Successed_") for n in done) == 2
        assert sorted(n.split("_")[0] for n in done if not n.startswith("Successed_")) == [
            "INV201", "INV201", "SAS221", "SAS221", "SAS223"]
        assert not (tmp_path / "client" / "failed").exists()
    finally:
        server.stop()
        simulator.stop()


def test_tally_serve_with_its_embedded_simulator_through_folders(tmp_path):
    """No TALLY_CUSTOMS_URL: `tally serve` starts the simulator on the same folders. The client
    cannot send the first file (FailBox): it goes back as t-2, the sync log says so, and the
    list is approved once; the simulator remembers which receipts it wrote."""
    env, token = prepared(tmp_path)
    client = tmp_path / "client"
    port = free_port()
    log = tmp_path / "server.log"
    server = start_service(env["TALLY_DATABASE"], port, "", log_path=str(log),
                           TALLY_CUSTOMS_TRANSPORT="files",
                           TALLY_CUSTOMS_OUTBOX_DIR=str(client / "OutBox"),
                           TALLY_CUSTOMS_INBOX_DIR=str(client / "InBox"),
                           TALLY_OUTBOX_POLL_INTERVAL="0.1", TALLY_RECEIPT_POLL_INTERVAL="0.2")
    try:
        api = Api(f"http://127.0.0.1:{port}", token)
        customs = re.search(r"customs simulator \(embedded default\) on (\S+)",
                            log.read_text()).group(1)
        mid = counted_consignment(api)
        control(customs, "/_control", {"mode": "unsent", "count": 1})
        code, confirmed = api.call("POST", f"/api/manifests/{mid}/tally/confirm")
        assert code == 200, confirmed
        wait_for(lambda: api.call("GET", f"/api/manifests/{mid}/workflow")[1]["status"]
                 == "declared")
        [message] = api.call("GET", f"/api/manifests/{mid}/sync")[1]["messages"]
        assert [a["outcome"] for a in message["attempt_log"]] == ["delivered", "retry"]
        assert "(try 1 of 3)" in message["attempt_log"][1]["error"]
        assert message["last_error"] is None and len(message["seq_no"]) == 18
        assert names(client / "SentBox") == ["INV101_I_TL000001-MF-TEST-1-1_t-2.xml"]
        assert names(client / "FailBox") == [] and not (client / "failed").exists()
        position = tmp_path / "customs-sim.json.inbox-position"
        assert int(position.read_text()) == 2  # INV201 Y and 1 written
    finally:
        server.stop()
