"""Our HTTP client to the customs side (the real gateway, or the simulator in tests and dev).

Standard library only. One connection per request: declarations are rare and a fresh connection
never carries a half-dead keep-alive socket into a retry.
"""

import http.client
import json
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit


class CustomsError(Exception):
    "The customs side did not accept the message"

    def __init__(self, message: str, *, status: int | None = None, detail: str = ""):
        super().__init__(message)
        self.status = status
        self.detail = detail


class CustomsUnavailable(CustomsError):
    "Connection refused/reset, timeout, or 5xx: try again later"


class CustomsRejected(CustomsError):
    "4xx: the message itself is wrong; retrying will not help"


@dataclass(frozen=True)
class Delivery:
    """One answered request: HTTP status, the JSON body, and how long it took."""

    status: int
    body: dict
    duration_ms: float


class CustomsClient:
    """Sends inventory lists (INV101) and pulls their receipts (数据同步)."""

    def __init__(self, base_url: str, *, timeout: float = 10.0):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"customs URL must be http(s)://host[:port][/path], got {base_url!r}")
        self.base_url = base_url
        self.timeout = timeout
        self._parts = parts

    def send_inventory(self, payload: dict, *, idempotency_key: str) -> Delivery:
        """POST one inventory list; the same key for a retry makes customs store it only once."""
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        headers["Idempotency-Key"] = idempotency_key
        return self._request("POST", "/api/inventories", body, headers)

    def fetch_receipts(self, etps_inner_invt_no: str) -> list[dict]:
        """Every receipt (INV200, INV201, ...) customs has so far for one etpsInnerInvtNo."""
        path = f"/api/inventories/{quote(etps_inner_invt_no, safe='')}/receipts"
        delivery = self._request("GET", path)
        receipts = delivery.body.get("receipts")
        if not isinstance(receipts, list):
            raise CustomsUnavailable(
                "customs answered without a receipts list",
                status=delivery.status,
                detail=json.dumps(delivery.body, ensure_ascii=False),
            )
        return receipts

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
        if 400 <= status < 500:
            raise CustomsRejected(
                f"customs rejected the message: {status}", status=status, detail=text
            )
        if not 200 <= status < 300:
            raise CustomsUnavailable(f"customs answered {status}", status=status, detail=text)
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            # A 200 that is not our JSON (a proxy's HTML page) is no receipt: retry, same key.
            raise CustomsUnavailable(
                f"customs answered {status} without a JSON object", status=status, detail=text
            )
        return Delivery(status=status, body=parsed, duration_ms=duration_ms)
