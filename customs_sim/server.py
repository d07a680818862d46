"""The simulated customs side over HTTP (standard library only), in a background thread.

    POST /api/inventories               declare an inventory list (INV101), Idempotency-Key
    POST /api/passports                 declare a release order (SAS121), Idempotency-Key
         both answer a CommonResponeMessage (SeqNo, EtpsPreentNo, CheckInfo, DealFlag)
    GET  /api/receipts?after=<id>       the receipts sent since feed id <id> (INV201, SAS221,
                                        SAS223, SAS224), in order
    POST /api/white-cards/verify        {"whiteCardNo", "transferOrderNo", "vehicleNo"?}
    POST /api/manifests/write-off       {"manifestNo", "billNo", "transferOrderNo", "whiteCardNo"}
    GET  /api/manifests/<no>/tally-status
    GET  /_control                      the current mode
    POST /_control                      {"mode", "count", "delay", "reason"}: set it
    POST /_control/review               {"seqNo", "result", "reason"?}: end a manual review
    POST /_control/gate                 {"passportNo", "inspection"?, "passCollectWt"?, ...}: a
                                        truck at customs' gate lane (SAS223 / SAS224)
    POST /_control/tally-status         {"manifestNo", "status", "text"?, "reason"?}
    POST /_control/white-cards          {"whiteCardNo", "valid": false, "reason"?}
    GET  /_control/received             every stored declaration, and the count of POSTs
    POST /_control/reset                forget everything (mode back to "ok")

The declaration routes take JSON, or the XML of message_xml.render_xml (Content-Type
application/xml), checked against its XML Schema as it arrived (validation.decode). Modes
(CLI --mode, or POST /_control) act on `/api/` requests only:

    ok            answer normally: stored (Y), then approved (1)
    down          read the request, then hang up without a status line
    error         503 with a JSON error
    slow          sleep `delay` seconds, then answer normally (the message IS stored)
    garbled       200 with an HTML page instead of JSON, as a misbehaving proxy would
    store-fail    INV201 / SAS221 Z (入库失败) with `reason`
    returned      stored (Y), then 3 退单 with `reason`
    review        stored (Y), then 2 manual review (转人工): POST /_control/review ends it
    pre-deducted  stored (Y), then 4 (inventory lists; a release order gets 1)
    not-deducted  stored (Y), then 5 approved, not deducted (idem)

The last five decide the next declarations only. `count` is how many requests the mode lasts;
omitted, it lasts until changed.
"""

import http.server
import json
import re
import sys
import threading
from urllib.parse import parse_qs, unquote, urlsplit

from customs_sim import validation
from customs_sim.core import Customs, Mode
from customs_sim.writeoff import error_body

MAX_BODY = 10 * 1024 * 1024
MESSAGE_ROUTES = {"/api/inventories": "INV101", "/api/passports": "SAS121"}
TALLY_STATUS_PATH = re.compile(r"/api/manifests/([^/]+)/tally-status")


class Simulator:
    """A Customs behind an HTTP server in a background thread."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, log: bool = False,
                 customs: Customs | None = None, **options):
        self.customs = customs or Customs(**options)
        self.log = log
        self.stopping = threading.Event()
        self._server = _Server((host, port), self)
        # A short poll interval keeps stop() quick (shutdown() waits for the next poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="customs-simulator", daemon=True
        )

    def __getattr__(self, name):
        # set_mode, control, received, reset, pass_gate, decide...: the customs' own.
        return getattr(self.customs, name)

    @property
    def host(self) -> str:
        """The address the server is bound to."""
        return self._server.server_address[0]

    @property
    def port(self) -> int:
        """The port the server listens on (the real one when 0 was asked for)."""
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL for CustomsClient, e.g. http://127.0.0.1:8700."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> "Simulator":
        """Serve in the background thread; returns self."""
        self._thread.start()
        return self

    def wait(self) -> None:
        """Block until the server stops (Ctrl-C interrupts)."""
        self._thread.join()

    def stop(self) -> None:
        """Stop serving, wake sleeping slow requests, close the socket and join every thread."""
        self.stopping.set()
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> "Simulator":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    # Non-daemon handler threads are joined by server_close(), so stop() leaves nothing running.
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], simulator: Simulator):
        self.simulator = simulator
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        # A client that timed out and hung up (slow mode) is expected; anything else is a bug.
        if isinstance(sys.exception(), ConnectionError):
            return
        super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    server_version = "CustomsSimulator/2"
    timeout = 30  # a client that never finishes its request must not hold stop() forever
    server: _Server

    def log_message(self, format: str, *args) -> None:
        if self.server.simulator.log:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        customs = self.server.simulator.customs
        parts = urlsplit(self.path)
        path = parts.path
        tally = TALLY_STATUS_PATH.fullmatch(path)
        if path == "/_control":
            self._send_json(200, customs.control())
        elif path == "/_control/received":
            self._send_json(200, customs.received())
        elif path == "/api/receipts":
            after = parse_qs(parts.query).get("after", ["0"])[0]
            if not after.isdigit():
                self._send_json(400, error_body(400, ["after must be a feed id (0 or more)"]))
            elif not self._act_out(customs.take_mode(declaration=False)):
                self._send_json(200, {"receipts": customs.receipts(int(after))})
        elif tally:
            if not self._act_out(customs.take_mode(declaration=False)):
                self._send_json(200, customs.tally_status(unquote(tally[1])))
        else:
            self._send_json(404, error_body(404, [f"no route GET {path}"]))

    def do_POST(self) -> None:
        customs = self.server.simulator.customs
        path = urlsplit(self.path).path
        services = {"/api/white-cards/verify": customs.verify_white_card,
                    "/api/manifests/write-off": customs.write_off}
        controls = {"/_control": customs.apply_control,
                    "/_control/tally-status": customs.set_tally_status,
                    "/_control/white-cards": customs.set_white_card,
                    "/_control/review": customs.decide, "/_control/gate": customs.pass_gate}
        if path in MESSAGE_ROUTES:
            self._post_message(MESSAGE_ROUTES[path])
        elif path in services:
            self._post_service(services[path])
        elif path in controls:
            self._post_control(controls[path])
        elif path == "/_control/reset":
            customs.reset()
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, error_body(404, [f"no route POST {path}"]))

    def _post_message(self, kind: str) -> None:
        """POST of a declaration: count it, play the mode, decode, answer."""
        customs = self.server.simulator.customs
        customs.count_attempt()
        mode = customs.take_mode(declaration=True)
        raw = self._read_body()  # read first, so "down" hangs up on a fully sent request
        if raw is None or self._act_out(mode):
            return
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        payload, error = validation.decode(raw, content_type, kind)
        if error:
            self._send_json(400, error_body(400, [error]))
            return
        key = self.headers.get("Idempotency-Key", "").strip()
        self._send_json(*customs.receive(kind, payload, key, mode=mode))

    def _post_service(self, handler) -> None:
        """POST to a write-off route: failure modes apply, as to every /api/ request."""
        mode = self.server.simulator.customs.take_mode(declaration=False)
        raw = self._read_body()
        if raw is None or self._act_out(mode):
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, error_body(400, ["body is not JSON"]))
            return
        self._send_json(*handler(body))

    def _post_control(self, handler) -> None:
        """POST to a /_control route: never subject to modes; 400 on a bad body."""
        raw = self._read_body()
        if raw is None:
            return
        try:
            answer = handler(json.loads(raw or b"{}"))
        except ValueError as e:
            self._send_json(400, error_body(400, [str(e)]))
            return
        self._send_json(200, answer)

    def _act_out(self, mode: Mode) -> bool:
        """Play a failure mode; True when the request has been dealt with."""
        if mode.name == "slow" and self.server.simulator.stopping.wait(mode.delay):
            self.close_connection = True  # shutting down: drop the sleeper
            return True
        if mode.name in ("down", "unsent"):  # unsent: the folder client's; over HTTP, down
            self.close_connection = True  # hang up without a status line, like a dropped link
            return True
        if mode.name == "error":
            self._send_json(503, error_body(503, ["customs system unavailable (simulated)"]))
            return True
        if mode.name == "garbled":
            # A proxy's HTML page with status 200: the client must not take it for an answer.
            self._send(200, b"<html><body>Gateway maintenance</body></html>", "text/html")
            return True
        return False

    def _read_body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self._send_json(400, error_body(400, ["bad Content-Length"]))
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _send_json(self, status: int, body: dict | list) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(host: str = "127.0.0.1", port: int = 0, **options) -> Simulator:
    """Start a simulator in a background thread (options as for Customs, plus log); call .stop()
    (or use `with`) when done."""
    return Simulator(host, port, **options).start()
