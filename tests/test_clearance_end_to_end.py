"""One consignment through every step of the clearance, over real HTTP: the server (granian + the
outbox worker) and the customs simulator run as processes on free ports.

A wooden pallet without an IPPC mark is fumigated, then the inspection passes; the tally status
is abnormal, then normal; one line is short (discrepancy recorded, the list carries the counted
quantity); customs cannot store the list (Z), it is corrected and declared again under the same
SeqNo, returned (3), corrected again, held for manual review (2) and approved without deduction
(5); a release order of one ticket over two trucks, each approved by SAS221; a gate refusal
without association, one for the weight, then the passes, the consignment has entered, and
customs' gate confirms both passages (SAS223)."""

import json
import os
import urllib.request

from bench.servers import free_port, start_service, start_simulator, tally
from tally.demo import DEMO_SETTINGS
from tests.conftest import MANIFEST_CSV, WRITE_OFF, book_items, signature_data_url
from tests.http import Api, wait_for


def control(customs: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(f"{customs}{path}", data=json.dumps(body).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def received(customs: str) -> list[dict]:
    with urllib.request.urlopen(f"{customs}/_control/received", timeout=5) as response:
        return json.loads(response.read())["received"]


def test_consignment_from_arrival_to_the_gate(tmp_path):
    db_path = str(tmp_path / "clearance.db")
    env = {**os.environ, "TALLY_DATABASE": db_path}
    tally("migrate", env=env)
    token = tally("token", "create", "--user", "station", "--role", "supervisor",
                  env=env).strip().splitlines()[-1]
    sim_port, port = free_port(), free_port()
    customs = f"http://127.0.0.1:{sim_port}"
    simulator = start_simulator(sim_port, log_path=str(tmp_path / "sim.log"))
    server = start_service(db_path, port, customs, log_path=str(tmp_path / "server.log"),
                           TALLY_OUTBOX_BACKOFF_BASE="0.2", TALLY_OUTBOX_BACKOFF_MAX="0.5",
                           TALLY_OUTBOX_POLL_INTERVAL="0.1", TALLY_RECEIPT_POLL_INTERVAL="0.2",
                           TALLY_GATE_TOLERANCE_KG="50")
    try:
        api = Api(f"http://127.0.0.1:{port}", token)

        def status():
            return api.call("GET", f"/api/manifests/{mid}/workflow")[1]["status"]

        _, manifest = api.call("POST", "/api/manifests", data=MANIFEST_CSV.encode(),
                               content_type="text/csv")
        mid = manifest["id"]

        # 1. Inspection: an unmarked wooden pallet must be fumigated before the pass.
        ok = {"result": "pass"}
        code, inspection = api.call("POST", f"/api/manifests/{mid}/inspections", json_body={
            "location": "Bay 3", "ciq_officer": "Zhang Wei", "customs_officer": "Li Na",
            "pallets": [
                {"pallet_no": "P1", "material": "wood", "mark_text": "", "disposition":
                 "fumigate"},
                {"pallet_no": "P2", "material": "wood", "mark_text": "IPPC CN-000123 HT DB",
                 "disposition": "pass"},
            ],
            "checks": [{"line_no": n, "nature": ok, "origin": ok, "condition": ok,
                        "quantity": ok, "value": ok} for n in (1, 2, 3)],
            "escort": {"name": "Wang Fang", "signature": signature_data_url()},
        })
        assert code == 201 and inspection["result"] == "pending", inspection
        assert inspection["pallets"][0]["mark_problems"] == ["wood packaging without an IPPC mark"]
        assert inspection["pallets"][1]["mark"]["treatments"] == ["HT"]
        task = inspection["pallets"][0]["task"]
        _, workflow = api.call("GET", f"/api/manifests/{mid}/workflow")
        assert workflow["next_actions"][0]["unmet"][0]["condition"] == "task"
        code, refused = api.call("POST", f"/api/manifests/{mid}/write-off", json_body=WRITE_OFF)
        assert code == 409 and refused["current_status"] == "arrived"
        code, inspection = api.call(
            "POST", f"/api/manifests/{mid}/inspections/{inspection['id']}/tasks/{task['id']}/done",
            json_body={"note": "fumigated with SF, 24 h, certificate F-88"})
        assert code == 200 and inspection["result"] == "passed"
        code, pdf = api.call("GET", f"/api/manifests/{mid}/inspections/{inspection['id']}"
                                    "/record.pdf")
        assert code == 200 and pdf.startswith(b"%PDF")

        # 2. Write-off: refused while customs reports an abnormal tally status.
        control(customs, "/_control/tally-status", {
            "manifestNo": "MF-TEST-1", "status": "非正常理货", "text": "接受申报_非正常理货",
            "reason": "短卸 short-landed"})
        code, refused = api.call("POST", f"/api/manifests/{mid}/write-off", json_body=WRITE_OFF)
        assert code == 409 and "非正常理货" in refused["errors"][0]["message"]
        assert status() == "inspected"
        control(customs, "/_control/tally-status", {
            "manifestNo": "MF-TEST-1", "status": "正常理货", "text": "接受申报_正常理货"})
        code, written = api.call("POST", f"/api/manifests/{mid}/write-off", json_body=WRITE_OFF)
        assert code == 200 and status() == "written_off", written

        # The company settings (the admin's command) and the account book (imported by the
        # supervisor) the inventory list is built from.
        tally("settings", "set", *(f"{k}={v}" for k, v in DEMO_SETTINGS.items()), env=env)
        book = book_items(manifest["lines"])
        book_csv = "\n".join([",".join(book[0]),
                              *(",".join(str(v) for v in item.values()) for item in book)])
        code, imported = api.call("POST", "/api/account-book", data=book_csv.encode(),
                                  content_type="text/csv")
        assert code == 201 and imported["items"] == 3, imported

        # 3. Tally: line 2 is one unit short.
        codes = {}
        for line_no, count in ((1, 3), (2, 2), (3, 1)):
            _, issued = api.call("POST", f"/api/manifests/{mid}/labels",
                                 json_body={"line_no": line_no, "count": count})
            codes[line_no] = [label["code"] for label in issued["labels"]]
        batch = [{"code": c, "client_scan_id": f"e-{c}"}
                 for c in codes[1] + codes[2][:1] + codes[3]]
        code, scanned = api.call("POST", f"/api/manifests/{mid}/scans", json_body={"scans": batch})
        assert code == 200 and {r["outcome"] for r in scanned["results"]} == {"counted"}
        api.call("POST", f"/api/manifests/{mid}/discrepancies", json_body={
            "line_no": 2, "kind": "short", "qty": 1, "note": "carton held 1",
            "disposition": "按实收"})

        # 4. The receipts, keyed on the SeqNo: stored-failed (Z), corrected and declared again
        # under the same SeqNo, returned (3), corrected again, manual review (2), then approved
        # without deduction (5): an approval, the consignment is declared.
        def sync_log():
            return api.call("GET", f"/api/manifests/{mid}/sync")[1]["messages"]

        def receipts_of(message):
            return [(r["type"], r["status"]) for r in message["receipts"]]

        control(customs, "/_control", {"mode": "store-fail", "count": 1,
                                       "reason": "表体商品备案序号在账册中不存在"})
        code, confirmed = api.call("POST", f"/api/manifests/{mid}/tally/confirm")
        assert code == 200, confirmed
        wait_for(lambda: status() == "returned")
        [first] = sync_log()
        assert receipts_of(first) == [("INV201", "Z")] and len(first["seq_no"]) == 18
        assert first["receipts"][0]["reason"] == "表体商品备案序号在账册中不存在"
        control(customs, "/_control", {"mode": "returned", "count": 1,
                                       "reason": "商品编码与备案不符"})
        code, corrected = api.call("POST", f"/api/manifests/{mid}/inventory/correction",
                                   json_body={"changes": [{"gdsSeqno": 1, "gdecd": "1901109000"}],
                                              "note": "HS code per the account book"})
        assert code == 201 and corrected["version"] == 2, corrected
        assert corrected["payload"]["dclTypecd"] == "1"
        assert corrected["payload"]["head"]["seqNo"] == first["seq_no"]
        wait_for(lambda: len(sync_log()[-1]["receipts"]) == 2)
        assert status() == "returned"
        assert sync_log()[-1]["receipts"][-1]["reason"] == "商品编码与备案不符"
        control(customs, "/_control", {"mode": "review", "count": 1})
        code, corrected = api.call("POST", f"/api/manifests/{mid}/inventory/correction",
                                   json_body={"changes": [{"gdsSeqno": 2, "gdsNm": "纸尿裤 L 码"}]})
        assert code == 201 and corrected["version"] == 3, corrected
        wait_for(lambda: receipts_of(sync_log()[-1]) == [("INV201", "Y"), ("INV201", "2")])
        assert status() == "tallied"  # manual review: customs has not decided yet
        control(customs, "/_control/review", {"seqNo": first["seq_no"], "result": "5"})
        wait_for(lambda: status() == "declared")
        assert [m["seq_no"] for m in sync_log()] == [first["seq_no"]] * 3
        assert receipts_of(sync_log()[-1]) == [("INV201", "Y"), ("INV201", "2"),
                                                ("INV201", "5")]
        _, listing = api.call("GET", f"/api/manifests/{mid}/inventory")
        assert [line["dclQty"] for line in listing["payload"]["lines"]] == [3, 1, 1]
        assert listing["payload"]["lines"][0]["gdecd"] == "1901109000"
        code, xml = api.call("GET", f"/api/manifests/{mid}/inventory.xml")
        assert code == 200 and b"<InvtHeadType>" in xml

        # 5. Release orders: one ticket over two trucks; the declarable quantity shrinks.
        code, first = api.call("POST", "/api/release-orders", json_body={
            "bind_type": "one_ticket_many_trucks", "manifests": [mid],
            "lines": [{"manifest_id": mid, "line_no": 1, "qty": 2},
                      {"manifest_id": mid, "line_no": 2, "qty": 1}]})
        assert code == 201, first
        code, too_much = api.call("POST", "/api/release-orders", json_body={
            "bind_type": "3", "manifests": [mid],
            "lines": [{"manifest_id": mid, "line_no": 1, "qty": 2}]})
        assert code == 409 and too_much["errors"][0]["remaining"] == 1
        code, second = api.call("POST", "/api/release-orders", json_body={
            "bind_type": "3", "manifests": [mid],
            "lines": [{"manifest_id": mid, "line_no": 1, "qty": 1},
                      {"manifest_id": mid, "line_no": 3, "qty": 1}]})
        assert code == 201, second
        _, workflow = api.call("GET", f"/api/manifests/{mid}/workflow")
        assert workflow["remaining"] == {"1": 0, "2": 0, "3": 0}
        # Created, their quantities held, and nothing sent: a release order is declared with
        # its truck (SAS121 requires the vehicle).
        assert (first["status"], second["status"]) == ("created", "created")
        assert status() == "declared"

        # 6. The gate refuses a truck with no association.
        code, refusal = api.call("POST", "/api/gate/passes", json_body={
            "plate": "沪A11111", "direction": "I", "weighbridge_kg": 9504})
        assert code == 409 and refusal["outcome"] == "refuse"
        assert "no release order" in refusal["reasons"][0]

        # 7. Vehicle-order association declares each release order with its truck; one truck
        # per release order, a plate bound once; customs approves both (SAS221).
        code, bound = api.call("POST", f"/api/release-orders/{first['etps_preent_no']}/vehicle",
                               json_body={"plate": "沪A11111", "ic_card": "IC-7001",
                                          "tare_wt": 8000, "frame_wt": 1500,
                                          "driver": "Chen Gang", "mileage_km": 42.5})
        assert code == 200 and bound["total_wt"] == "9503.90000", bound
        assert bound["status"] in ("applied", "approved")
        assert status() in ("vehicle_bound", "released")
        code, clash = api.call("POST", f"/api/release-orders/{second['etps_preent_no']}/vehicle",
                               json_body={"plate": "沪A11111", "tare_wt": 8000, "frame_wt": 1500})
        assert code == 409 and "already bound" in clash["error"]
        code, bound2 = api.call("POST", f"/api/release-orders/{second['etps_preent_no']}/vehicle",
                                json_body={"plate": "沪B22222", "tare_wt": 7000,
                                           "frame_wt": 1200, "container_no": "TGHU1234567",
                                           "container_wt": 2200})
        assert code == 200 and bound2["total_wt"] == "10401.40000", bound2

        def approved(order):
            return api.call("GET", f"/api/release-orders/{order['etps_preent_no']}")[1][
                "status"] == "approved"
        wait_for(lambda: approved(first) and approved(second))
        assert status() == "released"
        declared = [r for r in received(customs) if r["kind"] == "SAS121"]
        assert sorted(r["payload"]["head"]["vehicleNo"] for r in declared) == [
            "沪A11111", "沪B22222"]

        # 8. The gate: weight out of tolerance, then both trucks pass and the goods have entered.
        code, heavy = api.call("POST", "/api/gate/passes", json_body={
            "plate": "沪A11111", "direction": "I", "weighbridge_kg": 9700})
        assert code == 409 and "over the tolerance" in heavy["reasons"][0]
        code, passed = api.call("POST", "/api/gate/passes", json_body={
            "plate": "沪A11111", "direction": "I", "weighbridge_kg": 9490})
        assert code == 201 and passed["outcome"] == "pass", passed
        assert status() == "released"  # the second truck is still outside
        code, again = api.call("POST", "/api/gate/passes", json_body={
            "plate": "沪A11111", "direction": "I", "weighbridge_kg": 9490})
        assert code == 409 and "already used" in again["reasons"][0]
        code, passed2 = api.call("POST", "/api/gate/passes", json_body={
            "ic_card": None, "plate": "沪B22222", "direction": "I", "weighbridge_kg": 10410})
        assert code == 201, passed2
        assert status() == "entered"

        _, log = api.call("GET", "/api/gate/passes")
        assert [entry["outcome"] for entry in log["passes"]] == [
            "pass", "refuse", "pass", "refuse", "refuse"]

        # 9. Our gate sent nothing; customs' gate records both passages and sends SAS223, which
        # confirm the passes our gate made (keyed on each release order's SeqNo).
        kinds = [r["kind"] for r in received(customs)]
        assert kinds.count("INV101") == 3 and kinds.count("SAS121") == 2 and len(kinds) == 5
        for order in (first, second):
            _, order = api.call("GET", f"/api/release-orders/{order['etps_preent_no']}")
            control(customs, "/_control/gate", {"passportNo": order["passport_no"]})

        def confirmed_by_customs(order):
            _, order = api.call("GET", f"/api/release-orders/{order['etps_preent_no']}")
            return order["customs_pass_time"] is not None and ("SAS223", "1") in [
                (r["type"], r["status"]) for r in order["receipts"]]
        wait_for(lambda: confirmed_by_customs(first) and confirmed_by_customs(second))
        _, history = api.call("GET", f"/api/manifests/{mid}/workflow")
        assert [h["to"] for h in history["history"]] == [
            "inspected", "written_off", "tallied", "returned", "tallied", "returned", "tallied",
            "declared", "vehicle_bound", "released", "entered"]
    finally:
        server.stop()
        simulator.stop()
