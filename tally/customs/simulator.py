"""A stand-in for the customs special-area system (金关二期): the one party tests cannot reach.

Standard library only (the `tally` package never imports flask). Routes:

    POST /api/inventories                 declare an inventory list (INV101), with Idempotency-Key
    GET  /api/inventories/<no>/receipts   INV200 / INV201 receipts so far for one etpsInnerInvtNo
    GET  /_control                        the current failure mode
    POST /_control                        {"mode", "count", "delay", "reason"}: set the failure mode
    GET  /_control/received               every stored payload, plus the count of POST attempts
    POST /_control/reset                  forget everything (mode back to "ok")

Failure modes (CLI --mode, or POST /_control) act on `/api/` requests only, never on `/_control`:

    ok        answer normally
    down      read the request, then hang up without a status line
    error     503 with a JSON error
    slow      sleep `delay` seconds, then answer normally (the message IS stored: a client timeout
              does not mean customs did not get it)
    returned  store (INV200 Y); the INV201 receipt is 3 退单 with `reason`
    review    store (INV200 Y); the INV201 receipt is 2 manual review 转人工
    garbled   200 with an HTML page instead of JSON, as a misbehaving proxy would

"returned" and "review" decide a declaration's outcome, so a receipts poll neither triggers nor uses
them up. `count` is how many API requests the mode lasts; omitted, it lasts until changed.
"""

import argparse
import hashlib
import http.server
import json
import os
import re
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote, urlsplit

MODES = ("ok", "down", "error", "returned", "review", "slow", "garbled")
# INV201 approval marks: 1 approved, 2 manual review (转人工), 3 returned (退单).
OUTCOMES = {"returned": "3", "review": "2"}
MESSAGES = {"1": "审核通过", "2": "转人工审核", "3": "退单"}
DEFAULT_REASON = "商品编码与备案不符"  # a typical return: HS code differs from the account book
CST = timezone(timedelta(hours=8))  # customs stamps receipts in Beijing time
MAX_BODY = 10 * 1024 * 1024
STATE_FORMAT = 1
RECEIPTS_PATH = re.compile(r"/api/inventories/([^/]+)/receipts")


@dataclass(frozen=True)
class Mode:
    """A failure mode as one request sees it."""

    name: str = "ok"
    delay: float = 1.0
    reason: str = DEFAULT_REASON


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, CST).isoformat(timespec="seconds")


def _error_body(status: int, errors: list[str]) -> dict:
    # The house error shape (see STYLE.md), so callers parse one format everywhere.
    return {"ok": False, "error": errors[0], "errors": errors, "status": status}


def _fresh_state() -> dict:
    return {"format": STATE_FORMAT, "serial": 0, "attempts": 0, "inventories": {}, "answers": {}}


def validate_declaration(payload: object, key: str) -> list[str]:
    """Return what is wrong with a declaration request (empty when it may be stored)."""
    errors = [] if key else ["Idempotency-Key header is required"]
    if not isinstance(payload, dict):
        return [*errors, "body must be a JSON object"]
    head = payload.get("head")
    if not isinstance(head, dict) or not head.get("etpsInnerInvtNo"):
        errors.append("head.etpsInnerInvtNo is required")
    lines = payload.get("lines")
    if not isinstance(lines, list) or not lines:
        errors.append("lines must be a non-empty list")
    else:
        for i, line in enumerate(lines):
            for field in ("gdsSeqno", "dclQty"):
                if not isinstance(line, dict) or line.get(field) in (None, ""):
                    errors.append(f"lines[{i}].{field} is required")
    # Envelope (public code): DelcareFlag (sic) 0 draft 暂存, 1 declare 申报;
    # dclTypecd 1 new, 2 change, 3 delete.
    if payload.get("DelcareFlag", "1") not in ("0", "1"):
        errors.append("DelcareFlag must be '0' (draft) or '1' (declare)")
    if payload.get("dclTypecd", "1") not in ("1", "2", "3"):
        errors.append("dclTypecd must be '1' (new), '2' (change) or '3' (delete)")
    return errors


class Simulator:
    """The simulated customs side: state, failure mode, an HTTP server in a background thread."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        state_path: str | os.PathLike | None = None,
        mode: str = "ok",
        count: int | None = None,
        delay: float = 1.0,
        reason: str = DEFAULT_REASON,
        approve_after: float = 0.0,
        customs_code: str = "4230",
        log: bool = False,
    ):
        if not re.fullmatch(r"\d{4}", customs_code):
            raise ValueError("customs_code must be 4 digits")
        self.approve_after = float(approve_after)
        self.customs_code = customs_code
        self.log = log
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._state_path = os.fspath(state_path) if state_path else None
        self._state = self._load()
        self._mode, self._remaining = Mode(), None
        self.set_mode(mode, count=count, delay=delay, reason=reason)
        self._server = _Server((host, port), self)
        # A short poll interval keeps stop() quick (shutdown() waits for the next poll).
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="customs-simulator", daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------
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

    # -- failure modes -----------------------------------------------------------------------
    def set_mode(
        self,
        mode: str,
        *,
        count: int | None = None,
        delay: float = 1.0,
        reason: str = DEFAULT_REASON,
    ) -> None:
        """Apply `mode` to the next `count` API requests (None: until changed)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if count is not None and (type(count) is not int or count < 1):
            raise ValueError("count must be a positive integer or omitted")
        if type(delay) not in (int, float) or delay < 0:
            raise ValueError("delay must be a number of seconds >= 0")
        if not isinstance(reason, str) or not reason:
            raise ValueError("reason must be a non-empty string")
        with self._lock:
            self._mode = Mode(mode, float(delay), reason)
            self._remaining = None if mode == "ok" else count

    def control(self) -> dict:
        """The current failure mode, as GET /_control shows it."""
        with self._lock:
            mode, remaining = self._mode, self._remaining
        return {
            "mode": mode.name,
            "count": remaining,
            "delay": mode.delay,
            "reason": mode.reason,
            "approveAfter": self.approve_after,
        }

    def take_mode(self, *, declaration: bool) -> Mode:
        """The mode for one API request, using up one of its count."""
        with self._lock:
            mode = self._mode
            if mode.name == "ok" or (mode.name in OUTCOMES and not declaration):
                return Mode()
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining == 0:
                    self._mode, self._remaining = Mode(), None
            return mode

    # -- the customs side --------------------------------------------------------------------
    def count_attempt(self) -> None:
        """Count one POST /api/inventories, whatever becomes of it."""
        with self._lock:
            self._state["attempts"] += 1
            self._save()

    def declare(self, payload: object, key: str, *, mode: Mode | None = None) -> tuple[int, dict]:
        """Store one declaration, or replay the answer already given to `key`: (status, body)."""
        mode = mode or Mode()
        errors = validate_declaration(payload, key)
        if errors:
            return 400, _error_body(400, errors)
        canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
        with self._lock:
            known = self._state["answers"].get(key)
            if known is not None:
                if known["fingerprint"] != fingerprint:
                    # Same key, different message: a bug on the sender's side, never a retry.
                    errors = ["Idempotency-Key was already used for a different payload"]
                    return 422, _error_body(422, errors)
                return known["status"], known["body"]
            body = {"receipts": [self._store(payload, key, mode)]}
            self._state["answers"][key] = {"fingerprint": fingerprint, "status": 200, "body": body}
            self._save()
        return 200, body

    def _store(self, payload: dict, key: str, mode: Mode) -> dict:
        """Store a version (INV200 Y) or refuse it (INV200 Z); the caller holds the lock."""
        now = time.time()
        number = payload["head"]["etpsInnerInvtNo"]
        flag = payload.get("DelcareFlag", "1")
        typecd = payload.get("dclTypecd", "1")
        inventory = self._state["inventories"].get(number)
        live = inventory is not None and any(
            v["DelcareFlag"] == "1" and v["outcome"] != "3" for v in inventory["versions"]
        )
        refusal = None
        if typecd == "1" and live:
            # etpsInnerInvtNo is unique: a second "new" for a live list is refused, not stored.
            refusal = "企业内部编号已存在"
        elif typecd != "1" and inventory is None:
            refusal = "未找到可变更或删除的清单"
        if refusal:
            return {
                "type": "INV200",
                "status": "Z",
                "etpsInnerInvtNo": number,
                "bondInvtNo": None,
                "message": refusal,
                "receivedAt": _stamp(now),
            }
        if inventory is None:
            self._state["serial"] += 1
            # bondInvtNo (18 chars): QD + 4-digit customs code + 2-digit year + I/E + 9-digit serial
            bond_no = f"QD{self.customs_code}{datetime.now(CST):%y}I{self._state['serial']:09d}"
            inventory = {"bondInvtNo": bond_no, "versions": []}
            self._state["inventories"][number] = inventory
        outcome = OUTCOMES.get(mode.name, "1") if flag == "1" else None  # a draft is not reviewed
        version = {
            "version": len(inventory["versions"]) + 1,
            "idempotencyKey": key,
            "receivedTs": now,
            "DelcareFlag": flag,
            "dclTypecd": typecd,
            "outcome": outcome,
            "reason": mode.reason if outcome == "3" else None,
            "payload": payload,
        }
        inventory["versions"].append(version)
        return self._inv200(number, inventory, version)

    def _inv200(self, number: str, inventory: dict, version: dict) -> dict:
        return {
            "type": "INV200",
            "status": "Y",
            "etpsInnerInvtNo": number,
            "bondInvtNo": inventory["bondInvtNo"],
            "version": version["version"],
            "dclTypecd": version["dclTypecd"],
            "message": "入库成功" if version["DelcareFlag"] == "1" else "暂存成功",
            "receivedAt": _stamp(version["receivedTs"]),
        }

    def receipts(self, number: str) -> list[dict]:
        """Every receipt so far for one etpsInnerInvtNo; INV201 once approve_after has passed."""
        now = time.time()
        with self._lock:
            inventory = self._state["inventories"].get(number)
            versions = list(inventory["versions"]) if inventory else []
        receipts = []
        for version in versions:
            receipts.append(self._inv200(number, inventory, version))
            decided = version["receivedTs"] + self.approve_after
            if version["outcome"] and now >= decided:
                receipt = {
                    "type": "INV201",
                    "status": version["outcome"],
                    "etpsInnerInvtNo": number,
                    "bondInvtNo": inventory["bondInvtNo"],
                    "version": version["version"],
                    "dclTypecd": version["dclTypecd"],
                    "message": MESSAGES[version["outcome"]],
                    "receivedAt": _stamp(decided),
                }
                if version["reason"]:
                    receipt["reason"] = version["reason"]
                receipts.append(receipt)
        return receipts

    def received(self) -> dict:
        """Every stored payload with its key and time, and the count of all POST attempts."""
        with self._lock:
            versions = sorted(
                (
                    (v, number, inventory)
                    for number, inventory in self._state["inventories"].items()
                    for v in inventory["versions"]
                ),
                key=lambda item: item[0]["receivedTs"],
            )
            stored = [
                {
                    "etpsInnerInvtNo": number,
                    "bondInvtNo": inventory["bondInvtNo"],
                    "version": v["version"],
                    "idempotencyKey": v["idempotencyKey"],
                    "receivedAt": _stamp(v["receivedTs"]),
                    "payload": v["payload"],
                }
                for v, number, inventory in versions
            ]
            attempts = self._state["attempts"]
        return {"count": len(stored), "attempts": attempts, "received": stored}

    def reset(self) -> None:
        """Forget everything received and go back to mode "ok"."""
        with self._lock:
            self._state = _fresh_state()
            self._mode, self._remaining = Mode(), None
            self._save()

    # -- persistence -------------------------------------------------------------------------
    def _load(self) -> dict:
        if not self._state_path or not os.path.exists(self._state_path):
            return _fresh_state()
        with open(self._state_path, encoding="utf-8") as f:
            state = json.load(f)
        if state.get("format") != STATE_FORMAT:
            raise ValueError(f"{self._state_path}: not a customs simulator state file")
        return state

    def _save(self) -> None:
        """Write the state file atomically (caller holds the lock): a kill never half-writes it."""
        if not self._state_path:
            return
        folder = os.path.dirname(os.path.abspath(self._state_path))
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".customs-sim-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(self._state, f, ensure_ascii=False)
            os.replace(tmp, self._state_path)
        except BaseException:
            os.unlink(tmp)
            raise


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
    server_version = "CustomsSimulator/1"
    timeout = 30  # a client that never finishes its request must not hold stop() forever
    server: _Server

    def log_message(self, format: str, *args) -> None:
        if self.server.simulator.log:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        sim = self.server.simulator
        path = urlsplit(self.path).path
        match = RECEIPTS_PATH.fullmatch(path)
        if path == "/_control":
            self._send_json(200, sim.control())
        elif path == "/_control/received":
            self._send_json(200, sim.received())
        elif match:
            if not self._act_out(sim.take_mode(declaration=False)):
                self._send_json(200, {"receipts": sim.receipts(unquote(match[1]))})
        else:
            self._send_json(404, _error_body(404, [f"no route GET {path}"]))

    def do_POST(self) -> None:
        sim = self.server.simulator
        path = urlsplit(self.path).path
        if path == "/api/inventories":
            sim.count_attempt()
            mode = sim.take_mode(declaration=True)
            raw = self._read_body()  # read first, so "down" hangs up on a fully sent request
            if raw is None or self._act_out(mode):
                return
            try:
                payload = json.loads(raw)
            except ValueError:
                self._send_json(400, _error_body(400, ["body is not JSON"]))
                return
            key = self.headers.get("Idempotency-Key", "").strip()
            self._send_json(*sim.declare(payload, key, mode=mode))
        elif path == "/_control":
            raw = self._read_body()
            if raw is None:
                return
            try:
                body = json.loads(raw or b"{}")
                if not isinstance(body, dict):
                    raise ValueError("body must be a JSON object")
                options = {k: body[k] for k in ("count", "delay", "reason") if k in body}
                sim.set_mode(body.get("mode", "ok"), **options)
            except ValueError as e:
                self._send_json(400, _error_body(400, [str(e)]))
                return
            self._send_json(200, sim.control())
        elif path == "/_control/reset":
            sim.reset()
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, _error_body(404, [f"no route POST {path}"]))

    def _act_out(self, mode: Mode) -> bool:
        """Play a failure mode; True when the request has been dealt with."""
        if mode.name == "slow" and self.server.simulator.stopping.wait(mode.delay):
            self.close_connection = True  # shutting down: drop the sleeper
            return True
        if mode.name == "down":
            self.close_connection = True  # hang up without a status line, like a dropped link
            return True
        if mode.name == "error":
            self._send_json(503, _error_body(503, ["customs system unavailable (simulated)"]))
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
            self._send_json(400, _error_body(400, ["bad Content-Length"]))
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def _send_json(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8")

    def _send(self, status: int, data: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    state_path: str | os.PathLike | None = None,
    mode: str = "ok",
    count: int | None = None,
    delay: float = 1.0,
    reason: str = DEFAULT_REASON,
    approve_after: float = 0.0,
    customs_code: str = "4230",
    log: bool = False,
) -> Simulator:
    """Start a simulator in a background thread; call .stop() (or use `with`) when done."""
    return Simulator(
        host,
        port,
        state_path=state_path,
        mode=mode,
        count=count,
        delay=delay,
        reason=reason,
        approve_after=approve_after,
        customs_code=customs_code,
        log=log,
    ).start()


def main(argv: list[str] | None = None) -> int:
    """CLI: serve until interrupted, printing the base URL on stdout first."""
    parser = argparse.ArgumentParser(
        prog="tally customs-sim", description="Simulated customs special-area system (INV101)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8700, help="0 picks a free port")
    parser.add_argument(
        "--state", metavar="FILE", help="JSON file that keeps state across restarts"
    )
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--count", type=int, help="requests the mode applies to (default: all)")
    parser.add_argument("--delay", type=float, default=1.0, help="seconds, for --mode slow")
    parser.add_argument("--approve-after", type=float, default=0.0, metavar="SECONDS")
    parser.add_argument("--customs-code", default="4230", help="4 digits, used in bondInvtNo")
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    args = parser.parse_args(argv)
    try:
        sim = serve(
            args.host,
            args.port,
            state_path=args.state,
            mode=args.mode,
            count=args.count,
            delay=args.delay,
            approve_after=args.approve_after,
            customs_code=args.customs_code,
            log=not args.quiet,
        )
    except (OSError, ValueError) as e:
        print(f"customs simulator: {e}", file=sys.stderr)
        return 1
    print(sim.url, flush=True)
    try:
        sim.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
