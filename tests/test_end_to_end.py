"""End to end over real HTTP: the server (granian + outbox worker) and the customs simulator run as
processes on free ports. Manifest -> labels -> PDF -> rasterized and photographed -> image scans ->
reconciliation -> discrepancy -> confirm -> the simulator receives the list exactly once, although
it was down for the first delivery attempts."""

import json
import os
import random
import urllib.request

import pypdfium2

from bench.camera import photograph
from bench.servers import free_port, start_service, start_simulator, tally
from tally.demo import DEMO_SETTINGS
from tests.conftest import MANIFEST_CSV, WRITE_OFF, book_items, passing_inspection
from tests.http import Api, wait_for


def test_tally_end_to_end(tmp_path):
    db_path = str(tmp_path / "e2e.db")
    sim_port, port = free_port(), free_port()
    customs = f"http://127.0.0.1:{sim_port}"
    env = {"TALLY_DATABASE": db_path}
    tally("migrate", env={**os.environ, **env})
    token = (
        tally(
            "token",
            "create",
            "--user",
            "station-1",
            "--role",
            "supervisor",
            env={**os.environ, **env},
        )
        .strip()
        .splitlines()[-1]
    )
    server = start_service(
        db_path,
        port,
        customs,
        log_path=str(tmp_path / "server.log"),
        TALLY_OUTBOX_BACKOFF_BASE="0.2",
        TALLY_OUTBOX_BACKOFF_MAX="0.5",
        TALLY_OUTBOX_POLL_INTERVAL="0.1",
        TALLY_RECEIPT_POLL_INTERVAL="0.3",
    )
    state = str(tmp_path / "customs-state.json")
    simulator = start_simulator(sim_port, "--state", state, log_path=str(tmp_path / "sim.log"))
    try:
        api = Api(f"http://127.0.0.1:{port}", token)
        status, manifest = api.call(
            "POST", "/api/manifests", data=MANIFEST_CSV.encode(), content_type="text/csv"
        )
        assert status == 201
        mid = manifest["id"]
        status, inspection = api.call(
            "POST", f"/api/manifests/{mid}/inspections", json_body=passing_inspection([1, 2, 3])
        )
        assert status == 201 and inspection["result"] == "passed", inspection
        status, written_off = api.call(
            "POST", f"/api/manifests/{mid}/write-off", json_body=WRITE_OFF
        )
        assert status == 200, written_off
        # The company settings and the account book the inventory list needs (JSON this time).
        tally("settings", "set", *(f"{k}={v}" for k, v in DEMO_SETTINGS.items()),
              env={**os.environ, **env})
        status, imported = api.call("POST", "/api/account-book",
                                    json_body={"items": book_items(manifest["lines"])})
        assert status == 201, imported
        # From here the customs side is down until the tally is confirmed.
        simulator.stop()
        simulator = None
        for line_no, count in ((1, 3), (2, 2), (3, 1)):
            status, _ = api.call(
                "POST",
                f"/api/manifests/{mid}/labels",
                json_body={"line_no": line_no, "count": count, "box_no": "C-01"},
            )
            assert status == 201
        status, listing = api.call("GET", f"/api/manifests/{mid}/labels")
        codes = [label["code"] for label in listing["labels"]]
        status, pdf = api.call("GET", f"/api/manifests/{mid}/labels.pdf?size=50x30&dpi=300")
        assert status == 200 and pdf.startswith(b"%PDF")

        document = pypdfium2.PdfDocument(pdf)
        pages = [page.render(scale=300 / 72).to_pil() for page in document]
        document.close()
        assert len(pages) == 7  # box C-01's label, then its six unit labels
        pages = pages[1:]
        rng = random.Random(2026)
        photos = [
            photograph(
                page,
                rng,
                rotation_deg=rng.uniform(0, 360),
                tilt_deg=rng.uniform(5, 25),
                blur_sigma=rng.uniform(0.3, 1.0),
                noise=3.0,
                light_gradient=0.3,
                jpeg_quality=rng.randint(55, 80),
                scale=rng.uniform(0.9, 1.2),
            )
            for page in pages
        ]
        # Unit 5 (the second of line 2) is missing from the consignment: it is never scanned.
        results = {}
        for index in (0, 1, 2, 3, 5):
            status, answer = api.image_scan(mid, photos[index], f"frame-{index}")
            assert status == 200, answer
            results[index] = answer["results"]
        assert [r[0]["code"] for r in results.values()] == [codes[i] for i in (0, 1, 2, 3, 5)]
        assert all(r[0]["outcome"] == "counted" for r in results.values())
        status, again = api.image_scan(mid, photos[0], "frame-0")  # a retried upload
        assert again["results"] == results[0]
        status, second_look = api.image_scan(mid, photos[1], "frame-1b")
        assert second_look["results"][0]["outcome"] == "duplicate"

        status, report = api.call("GET", f"/api/manifests/{mid}/reconciliation")
        assert [(x["declared"], x["counted"], x["status"]) for x in report["lines"]] == [
            (3, 3, "match"),
            (2, 1, "short"),
            (1, 1, "match"),
        ]
        status, refused = api.call("POST", f"/api/manifests/{mid}/tally/confirm")
        assert status == 409 and refused["errors"][0]["line_no"] == 2
        status, _ = api.call(
            "POST",
            f"/api/manifests/{mid}/discrepancies",
            json_body={
                "line_no": 2,
                "kind": "short",
                "qty": 1,
                "note": "carton had 1 unit",
                "disposition": "按实收",
            },
        )
        assert status == 201
        status, confirmed = api.call("POST", f"/api/manifests/{mid}/tally/confirm")
        assert status == 200 and confirmed["status"] == "tallied"

        # The customs side is down: the worker keeps retrying with backoff.
        wait_for(
            lambda: api.call("GET", f"/api/manifests/{mid}/sync")[1]["messages"][0]["attempts"] >= 2
        )
        # Back, but answering 503 until told otherwise: a delivery attempt meets it.
        simulator = start_simulator(
            sim_port,
            "--state",
            state,
            "--mode",
            "error",
            log_path=str(tmp_path / "sim.log"),
        )
        wait_for(lambda: 503 in [a["http_status"] for a in api.call(
            "GET", f"/api/manifests/{mid}/sync")[1]["messages"][0]["attempt_log"]])
        request = urllib.request.Request(f"{customs}/_control", data=b'{"mode": "ok"}',
                                         method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=5).close()

        def approved():
            message = api.call("GET", f"/api/manifests/{mid}/sync")[1]["messages"][0]
            kinds = {(r["type"], r["status"]) for r in message["receipts"]}
            return message if ("INV201", "1") in kinds else None

        message = wait_for(approved)
        assert message["status"] == "delivered"
        outcomes = [a["outcome"] for a in message["attempt_log"]]
        assert outcomes[-1] == "delivered" and set(outcomes[:-1]) == {"retry"}
        assert 503 in [a["http_status"] for a in message["attempt_log"]]

        with urllib.request.urlopen(f"{customs}/_control/received", timeout=5) as response:
            received = json.loads(response.read())
        assert received["count"] == 1
        payload = received["received"][0]["payload"]
        assert [line["dclQty"] for line in payload["lines"]] == [3, 1, 1]
        assert [line["modfMarkcd"] for line in payload["lines"]] == ["3", "3", "3"]  # a new list
        assert [line["putrecSeqno"] for line in payload["lines"]] == [1, 2, 3]  # the book's
        assert payload["tallyDiscrepancies"][0]["kindName"] == "短少"
        status, late = api.call(
            "POST",
            f"/api/manifests/{mid}/scans",
            json_body={"code": codes[4], "client_scan_id": "late"},
        )
        assert status == 409
    finally:
        server.stop()
        if simulator is not None:
            simulator.stop()
