"""The simulated customs behind the customs client's interface, in-process: for unit tests,
which need no socket. It answers as CustomsClient does over HTTP (the same Delivery, the same
CustomsRejected / CustomsUnavailable), because it calls the same Customs the HTTP server
serves; the real-HTTP tests keep the transport honest.
"""

import json
import time

from customs_sim.core import Customs, Mode
from tally.customs.client import (
    MESSAGE_PATHS,
    CustomsClient,
    CustomsRejected,
    CustomsUnavailable,
    Delivery,
    common_response,
)


class FakeCustomsClient:
    """A CustomsClient that talks to ``customs`` in-process."""

    def __init__(self, customs: Customs | None = None):
        self.customs = customs or Customs()
        self.base_url = "in-process:"

    def send_message(self, kind: str, payload: dict, *, idempotency_key: str) -> Delivery:
        """As CustomsClient.send_message, the payload going through JSON as over HTTP."""
        if kind not in MESSAGE_PATHS:
            raise ValueError(f"message kind must be one of {', '.join(MESSAGE_PATHS)}, "
                             f"got {kind!r}")
        self.customs.count_attempt()
        mode = self.customs.take_mode(declaration=True)
        if mode.name == "slow":
            # Stored, but the answer comes later than the client waits: as over HTTP, a
            # timeout does not mean customs did not get the message.
            self.customs.receive(kind, _wire(payload), idempotency_key, mode=mode)
        self._act_out(mode)
        started = time.perf_counter()
        status, body = self.customs.receive(kind, _wire(payload), idempotency_key, mode=mode)
        delivery = self._answer(status, body, started)
        common_response(delivery)
        return delivery

    def send_inventory(self, payload: dict, *, idempotency_key: str) -> Delivery:
        """send_message("INV101", ...)."""
        return self.send_message("INV101", payload, idempotency_key=idempotency_key)

    def fetch_receipts(self, after: int = 0) -> list[dict]:
        """As CustomsClient.fetch_receipts."""
        self._failure(declaration=False)
        return _wire(self.customs.receipts(int(after)))

    receipt_batches = CustomsClient.receipt_batches  # the same transport interface

    def verify_white_card(self, white_card_no: str, transfer_order_no: str,
                          vehicle_no: str | None = None) -> dict:
        """As CustomsClient.verify_white_card."""
        body = {"whiteCardNo": white_card_no, "transferOrderNo": transfer_order_no}
        if vehicle_no:
            body["vehicleNo"] = vehicle_no
        return self._service(self.customs.verify_white_card, body)

    def write_off_manifest(self, manifest_no: str, bill_no: str, transfer_order_no: str,
                           white_card_no: str) -> dict:
        """As CustomsClient.write_off_manifest."""
        return self._service(self.customs.write_off, {
            "manifestNo": manifest_no, "billNo": bill_no,
            "transferOrderNo": transfer_order_no, "whiteCardNo": white_card_no})

    def tally_status(self, manifest_no: str) -> dict:
        """As CustomsClient.tally_status."""
        self._failure(declaration=False)
        return _wire(self.customs.tally_status(manifest_no))

    def _service(self, handler, body: dict) -> dict:
        self._failure(declaration=False)
        status, answer = handler(_wire(body))
        return self._answer(status, answer, time.perf_counter()).body

    def _failure(self, *, declaration: bool) -> Mode:
        """Take the customs' mode for one request and play it as the client would see it over
        HTTP."""
        return self._act_out(self.customs.take_mode(declaration=declaration))

    @staticmethod
    def _act_out(mode: Mode) -> Mode:
        """Raise what a failure mode looks like to the client; the mode when it is none."""
        if mode.name in ("down", "slow", "unsent"):  # unsent: over HTTP, like down
            # A hang-up, or an answer later than any client waits for in a unit test.
            raise CustomsUnavailable(f"customs unreachable: {mode.name} (in-process)",
                                     detail=mode.name)
        if mode.name == "error":
            raise CustomsUnavailable("customs answered 503", status=503,
                                     detail="customs system unavailable (simulated)")
        if mode.name == "garbled":
            raise CustomsUnavailable("customs answered 200 without a JSON object", status=200,
                                     detail="<html><body>Gateway maintenance</body></html>")
        return mode

    @staticmethod
    def _answer(status: int, body: dict, started: float) -> Delivery:
        body = _wire(body)
        text = json.dumps(body, ensure_ascii=False)
        if 400 <= status < 500:
            raise CustomsRejected(f"customs rejected the message: {status} {body.get('error')}",
                                  status=status, detail=text, body=body)
        if not 200 <= status < 300:
            raise CustomsUnavailable(f"customs answered {status}", status=status, detail=text,
                                     body=body)
        return Delivery(status=status, body=body,
                        duration_ms=(time.perf_counter() - started) * 1000)


def _wire(value):
    """The value as it would arrive over HTTP: through JSON, so no object is shared."""
    return json.loads(json.dumps(value, ensure_ascii=False))
