"""Our HTTP client to the customs side (the real gateway, or the simulator in tests and dev).

Standard library only. One connection per request: declarations are rare and a fresh connection
never carries a half-dead keep-alive socket into a retry.

Messages: INV101 inventory lists and SAS121 release orders (send_message), each answered with a
CommonResponeMessage (its SeqNo, or DealFlag -1 and why customs would not import it); the
receipts customs sends afterwards (INV201, SAS221, and the gate's SAS223 / SAS224) are read from
its receipt feed (fetch_receipts). Write-off: white-card verification, manifest write-off and the
manifest's tally status. customs_sim.fake has the same interface, in-process, for unit tests.
"""

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit


class CustomsError(Exception):
    "The customs side did not accept the message"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        detail: str = "",
        body: dict | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.detail = detail  # the answer's text as received (the JSON error, an HTML page, ...)
        self.body = body  # the answer parsed, when it was a JSON object; else None


class CustomsUnavailable(CustomsError):
    "Connection refused/reset, timeout, or 5xx: try again later"


class CustomsRejected(CustomsError):
    "4xx: the message itself is wrong, or customs refuses it (409); retrying will not help"


# Where each message kind is posted, and where its receipts are read (by our own number).
MESSAGE_PATHS = {"INV101": "/api/inventories", "SAS121": "/api/passports"}
RECEIPTS_PATH = "/api/receipts?after={}"
IMPORTED = "0"  # CommonResponeMessage.DealFlag: 0 imported, any other value refused


@dataclass(frozen=True)
class Delivery:
    """One answered request: HTTP status, the JSON body, and how long it took."""

    status: int
    body: dict
    duration_ms: float


def common_response(delivery: "Delivery") -> dict:
    """The CommonResponeMessage of an imported declaration; CustomsRejected when customs would
    not import it (DealFlag other than 0: CheckInfo says why), CustomsUnavailable when the
    answer is none."""
    answer = delivery.body.get("CommonResponeMessage")
    if not isinstance(answer, dict) or "DealFlag" not in answer:
        raise CustomsUnavailable("customs answered without a CommonResponeMessage",
                                 status=delivery.status,
                                 detail=json.dumps(delivery.body, ensure_ascii=False))
    if str(answer["DealFlag"]) != IMPORTED:
        info = str(answer.get("CheckInfo") or "")
        raise CustomsRejected(f"customs refused the message: {info}", status=delivery.status,
                              detail=info, body=delivery.body)
    return answer


class CustomsClient:
    """Sends inventory lists (INV101) and release orders (SAS121), pulls receipts (数据同步)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"customs URL must be http(s)://host[:port][/path], got {base_url!r}")
        self.base_url = base_url
        self.timeout = timeout
        self._parts = parts

    def send_message(self, kind: str, payload: dict, *, idempotency_key: str) -> Delivery:
        """POST one declaration (INV101 or SAS121); the same key for a retry makes customs
        store it only once. The answer's CommonResponeMessage is checked (common_response)."""
        if kind not in MESSAGE_PATHS:
            kinds = ", ".join(MESSAGE_PATHS)
            raise ValueError(f"message kind must be one of {kinds}, got {kind!r}")
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        headers["Idempotency-Key"] = idempotency_key
        delivery = self._request("POST", MESSAGE_PATHS[kind], body, headers)
        common_response(delivery)
        return delivery

    def send_inventory(self, payload: dict, *, idempotency_key: str) -> Delivery:
        """POST one inventory list (INV101): send_message("INV101", ...)."""
        return self.send_message("INV101", payload, idempotency_key=idempotency_key)

    def fetch_receipts(self, after: int = 0) -> list[dict]:
        """The receipts customs sent after feed id ``after`` (数据同步), oldest first: INV201,
        SAS221, SAS223, SAS224, each with its ``id`` in the feed and its envelope's
        ``message_id``."""
        delivery = self._request("GET", RECEIPTS_PATH.format(int(after)))
        receipts = delivery.body.get("receipts")
        if not isinstance(receipts, list):
            raise CustomsUnavailable(
                "customs answered without a receipts list",
                status=delivery.status,
                detail=json.dumps(delivery.body, ensure_ascii=False),
            )
        return receipts

    def receipt_batches(self, after: int = 0):
        """The receipts after feed id ``after`` as one batch, with the function to call once
        the batch is recorded (nothing to do over HTTP): the transport interface the outbox
        reads receipts through (tally/customs/files.py yields one batch per file)."""
        yield self.fetch_receipts(after), _recorded

    def verify_white_card(
        self, white_card_no: str, transfer_order_no: str, vehicle_no: str | None = None
    ) -> dict:
        """Verify the truck's white card (白卡) for a transfer order; CustomsRejected if invalid."""
        body = {"whiteCardNo": white_card_no, "transferOrderNo": transfer_order_no}
        if vehicle_no:
            body["vehicleNo"] = vehicle_no
        return self._post_json("/api/white-cards/verify", body)

    def write_off_manifest(
        self, manifest_no: str, bill_no: str, transfer_order_no: str, white_card_no: str
    ) -> dict:
        """Write the manifest (舱单) off against its verified white card (idempotent at customs)."""
        return self._post_json("/api/manifests/write-off", {
            "manifestNo": manifest_no, "billNo": bill_no,
            "transferOrderNo": transfer_order_no, "whiteCardNo": white_card_no})

    def tally_status(self, manifest_no: str) -> dict:
        """The manifest's tally status: {"tallyStatus", "text", "normal", "reason", ...}."""
        path = f"/api/manifests/{quote(manifest_no, safe='')}/tally-status"
        return self._request("GET", path).body

    def _post_json(self, path: str, body: dict) -> dict:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        return self._request("POST", path, data, headers).body

    def _request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> Delivery:
        parts = self._parts
        connection_class = (
            http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        )
        conn = connection_class(parts.hostname, parts.port, timeout=self.timeout)
        started = time.perf_counter()
        try:
            conn.request(
                method,
                parts.path.rstrip("/") + path,
                body=body,
                headers={"Accept": "application/json", **(headers or {})},
            )
            response = conn.getresponse()
            status, raw = response.status, response.read()
        except (OSError, http.client.HTTPException) as e:
            # Refused, reset, hung up without answering, or timed out: the message may or may not
            # have arrived, so the caller retries with the same idempotency key.
            raise CustomsUnavailable(
                f"customs unreachable: {e!r}", detail=str(e) or type(e).__name__
            ) from e
        finally:
            conn.close()
        duration_ms = (time.perf_counter() - started) * 1000
        text = raw.decode("utf-8", errors="replace")
        parsed = _json_object(text)
        if 400 <= status < 500:
            error = (parsed or {}).get("error")
            raise CustomsRejected(
                f"customs rejected the message: {status}" + (f" {error}" if error else ""),
                status=status,
                detail=text,
                body=parsed,
            )
        if not 200 <= status < 300:
            raise CustomsUnavailable(
                f"customs answered {status}", status=status, detail=text, body=parsed
            )
        if parsed is None:
            # A 200 that is not our JSON (a proxy's HTML page) is no receipt: retry, same key.
            raise CustomsUnavailable(
                f"customs answered {status} without a JSON object", status=status, detail=text
            )
        return Delivery(status=status, body=parsed, duration_ms=duration_ms)


def _recorded() -> None:
    """Nothing to acknowledge: the feed is read from a position, not consumed."""


def _json_object(text: str) -> dict | None:
    """The answer as a dict when it is a JSON object, else None."""
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
