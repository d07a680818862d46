"""A stand-in for the customs special-area system (金关二期): the one party tests cannot reach.

Standard library only (the `tally` package never imports flask). Routes:

    POST /api/inventories                      declare an inventory list (INV101), Idempotency-Key
    GET  /api/inventories/<no>/receipts        INV200 / INV201 receipts for one etpsInnerInvtNo
    POST /api/passports                        declare a release order (SAS121), Idempotency-Key
    GET  /api/passports/<no>/receipts          SAS221 / SAS223 receipts for one etpsPreentNo
    POST /api/gate-passes                      a truck passed the gate (SAS223), Idempotency-Key
    POST /api/white-cards/verify               {"whiteCardNo", "transferOrderNo", "vehicleNo"?}
    POST /api/manifests/write-off              {"manifestNo", "billNo", "transferOrderNo",
                                                "whiteCardNo"}: write the manifest off (核销)
    GET  /api/manifests/<no>/tally-status      the manifest's tally status (理货状态)
    GET  /_control                             the current failure mode
    POST /_control                             {"mode", "count", "delay", "reason"}: set it
    POST /_control/tally-status                {"manifestNo", "status", "text"?, "reason"?}
    POST /_control/white-cards                 {"whiteCardNo", "valid": false, "reason"?}
    GET  /_control/received                    every stored message (with its "kind"), plus the
                                               count of message POST attempts
    POST /_control/reset                       forget everything (mode back to "ok")

The three message routes take JSON, or the XML of messages.render_xml with Content-Type
application/xml (stored as the dict messages.parse_xml gives, every value text). Every receipt
carries "documentNo": the bondInvtNo of an inventory list, the passportNo of a release order.
Refusals of a business rule answer 409 in the house error shape, and are not remembered under
the Idempotency-Key (the same message may succeed once the rule is met).

Failure modes (CLI --mode, or POST /_control) act on `/api/` requests only, never on `/_control`:

    ok        answer normally
    down      read the request, then hang up without a status line
    error     503 with a JSON error
    slow      sleep `delay` seconds, then answer normally (the message IS stored: a client timeout
              does not mean customs did not get it)
    returned  store (Y); the approval receipt (INV201 / SAS221) is 3 退单 with `reason`
    review    store (Y); the approval receipt is 2 manual review 转人工
    garbled   200 with an HTML page instead of JSON, as a misbehaving proxy would

"returned" and "review" decide the outcome of the next declaration of any kind (inventory list or
release order), so neither a receipts poll, a gate pass nor a write-off call triggers or uses
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
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote, urlsplit

from tally.customs.messages import BIND_TYPES, IO_TYPES, PASSED_GATE, parse_xml

MODES = ("ok", "down", "error", "returned", "review", "slow", "garbled")
# Approval marks of INV201 and SAS221: 1 approved, 2 manual review (转人工), 3 returned (退单).
APPROVED = "1"
OUTCOMES = {"returned": "3", "review": "2"}
MESSAGES = {"1": "审核通过", "2": "转人工审核", "3": "退单"}
DEFAULT_REASON = "商品编码与备案不符"  # a typical return: HS code differs from the account book
NORMAL_TALLY = "正常理货"  # the only tally status that lets tallying start (docs/customs.md)
CST = timezone(timedelta(hours=8))  # customs stamps receipts in Beijing time
MAX_BODY = 10 * 1024 * 1024
STATE_FORMAT = 2  # 1: inventory lists only (still read, see _migrate)
KINDS = ("INV101", "SAS121", "SAS223")
MESSAGE_ROUTES = {"/api/inventories": "INV101", "/api/passports": "SAS121",
                  "/api/gate-passes": "SAS223"}
RECEIPTS_PATH = re.compile(r"/api/(inventories|passports)/([^/]+)/receipts")
TALLY_STATUS_PATH = re.compile(r"/api/manifests/([^/]+)/tally-status")


@dataclass(frozen=True)
class Mode:
    """A failure mode as one request sees it."""

    name: str = "ok"
    delay: float = 1.0
    reason: str = DEFAULT_REASON


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, CST).isoformat(timespec="seconds")


def _error_body(status: int, errors: list[str]) -> dict:
    # The house error shape (web/errors.py), so callers parse one format everywhere.
    return {"ok": False, "error": errors[0], "errors": errors, "status": status}


def _fresh_state() -> dict:
    return {
        "format": STATE_FORMAT,
        "seq": 0,  # order of everything received, for /_control/received
        "attempts": 0,
        "serial": 0,  # last bondInvtNo serial
        "inventories": {},  # etpsInnerInvtNo -> {"bondInvtNo", "versions"}
        "passportSerial": 0,
        "passports": {},  # etpsPreentNo -> {"passportNo", "versions", "gate"}
        "answers": {kind: {} for kind in KINDS},  # Idempotency-Key -> answer, per route
        "whiteCards": {"invalid": {}, "verified": {}},
        "writeOffs": {},  # manifestNo -> the write-off answer
        "tallyStatus": {},  # manifestNo -> {"status", "text", "reason"} set via /_control
    }


def _migrate(state: dict) -> dict:
    """A format 1 state (inventory lists only) as format 2: nothing received is lost."""
    if state.get("format") == 1:
        answers = {kind: {} for kind in KINDS} | {"INV101": state["answers"]}
        state = _fresh_state() | state | {"format": STATE_FORMAT, "answers": answers}
    return state


def _number(value) -> Decimal | None:
    """A finite Decimal from a JSON number or the text of an XML element, else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _fingerprint(payload: object) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _envelope_errors(payload: dict) -> list[str]:
    # Envelope (public code): DelcareFlag (sic) 0 draft 暂存, 1 declare 申报;
    # dclTypecd 1 new, 2 change, 3 delete.
    errors = []
    if payload.get("DelcareFlag", "1") not in ("0", "1"):
        errors.append("DelcareFlag must be '0' (draft) or '1' (declare)")
    if payload.get("dclTypecd", "1") not in ("1", "2", "3"):
        errors.append("dclTypecd must be '1' (new), '2' (change) or '3' (delete)")
    return errors


def _request_head(payload: object, key: str) -> tuple[list[str], dict | None]:
    """What every message request can lack (its idempotency key, being an object), and its head:
    ``{}`` when missing, None when the body is no object at all (nothing more to check)."""
    errors = [] if key else ["Idempotency-Key header is required"]
    if not isinstance(payload, dict):
        return [*errors, "body must be a JSON object"], None
    head = payload.get("head")
    return errors, head if isinstance(head, dict) else {}


def validate_declaration(payload: object, key: str) -> list[str]:
    """Return what is wrong with an INV101 request (empty when it may be stored)."""
    errors, head = _request_head(payload, key)
    if head is None:
        return errors
    if not head.get("etpsInnerInvtNo"):
        errors.append("head.etpsInnerInvtNo is required")
    lines = payload.get("lines")
    if not isinstance(lines, list) or not lines:
        errors.append("lines must be a non-empty list")
    else:
        for i, line in enumerate(lines):
            for field in ("gdsSeqno", "dclQty"):
                if not isinstance(line, dict) or line.get(field) in (None, ""):
                    errors.append(f"lines[{i}].{field} is required")
    return errors + _envelope_errors(payload)


def validate_passport(payload: object, key: str) -> list[str]:
    """Return what is wrong with a SAS121 request (empty when its goods may be checked)."""
    errors, head = _request_head(payload, key)
    if head is None:
        return errors
    if not head.get("etpsPreentNo"):
        errors.append("head.etpsPreentNo is required")
    if head.get("bindTypecd") not in BIND_TYPES:
        errors.append("head.bindTypecd must be '1' (one truck, many tickets), '2' (one truck, "
                      "one ticket) or '3' (one ticket, many trucks)")
    if head.get("ioTypecd", "I") not in IO_TYPES:
        errors.append("head.ioTypecd must be 'I' or 'E'")
    lines = payload.get("lines")
    if not isinstance(lines, list) or not lines:
        errors.append("lines must be a non-empty list")
    else:
        for i, line in enumerate(lines):
            line = line if isinstance(line, dict) else {}
            if line.get("rltGdsSeqno") in (None, ""):
                errors.append(f"lines[{i}].rltGdsSeqno is required")
            qty = _number(line.get("dclQty"))
            if qty is None or qty <= 0:
                errors.append(f"lines[{i}].dclQty must be a number > 0")
    errors += _envelope_errors(payload)
    if payload.get("dclTypecd", "1") != "1":
        errors.append("dclTypecd must be '1': the simulator takes new release orders only")
    if not errors and head["bindTypecd"] in ("2", "3"):
        numbers = {number for number, _, _ in _line_refs(payload)} | set(_rlt_numbers(head))
        if len(numbers) != 1:
            errors.append(f"bindTypecd {head['bindTypecd']} ({BIND_TYPES[head['bindTypecd']]}) "
                          f"relates exactly one inventory list, got {len(numbers)}")
    return errors


def validate_gate_pass(payload: object, key: str) -> list[str]:
    """Return what is wrong with a SAS223 request (empty when it may be checked)."""
    errors, head = _request_head(payload, key)
    if head is None:
        return errors
    if not head.get("passportNo"):
        errors.append("head.passportNo is required")
    if not head.get("vehicleNo") and not head.get("vehicleIcNo"):
        errors.append("head.vehicleNo or head.vehicleIcNo is required: the gate identifies the "
                      "truck by plate or IC card")
    if head.get("stucd", PASSED_GATE) != PASSED_GATE:
        errors.append("head.stucd must be '2' (passed the gate)")
    return errors


def _required(body: object, fields: tuple[str, ...]) -> list[str]:
    """What is missing from a write-off request body."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    return [f"{field} is required" for field in fields
            if not isinstance(body.get(field), str) or not body[field].strip()]


def _rlt_numbers(head: dict) -> list[str]:
    """The inventory list numbers of a release order head's rltNo (comma-separated)."""
    return [n.strip() for n in str(head.get("rltNo") or "").split(",") if n.strip()]


def _line_refs(payload: dict) -> list[tuple[str | None, str, Decimal]]:
    """(bondInvtNo, gdsSeqno, dclQty) per release order line.

    A line names its list in rltNo; without one it takes the head's rltNo when that is a
    single list (rltGdsSeqno alone is ambiguous once a truck carries several tickets).
    """
    numbers = _rlt_numbers(payload["head"])
    default = numbers[0] if len(numbers) == 1 else None
    return [(str(line.get("rltNo") or "") or default, str(line["rltGdsSeqno"]),
             _number(line["dclQty"])) for line in payload["lines"]]


def _declared(versions: list[dict]) -> list[dict]:
    """The versions that were declared (DelcareFlag 1), drafts left out."""
    return [v for v in versions if v["DelcareFlag"] == "1"]


def _live(versions: list[dict]) -> bool:
    """True while a declared version is not returned: the number is taken."""
    return any(v["outcome"] != "3" for v in _declared(versions))


def _vehicle_problem(passport_no: str, declared: dict, passed: dict) -> str | None:
    """Why the truck at the gate is not the release order's, or None.

    The gate knows the truck by plate or IC card and direction (docs/customs.md). A release order
    declared without a vehicle (sent before the vehicle-order association 车单关联) leaves the
    check to the site's own gate.
    """
    plate, card = declared.get("vehicleNo"), declared.get("vehicleIcNo")
    if (plate or card) and not ((plate and passed.get("vehicleNo") == plate)
                                or (card and passed.get("vehicleIcNo") == card)):
        truck = passed.get("vehicleNo") or passed.get("vehicleIcNo")
        return f"truck {truck} is not the vehicle of release order {passport_no} ({plate or card})"
    direction = declared.get("ioTypecd", "I")
    if passed.get("ioTypecd") and passed["ioTypecd"] != direction:
        return (f"release order {passport_no} is for direction {direction}, the truck passed "
                f"{passed['ioTypecd']}")
    return None


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

    # -- messages: one entry for the three message routes ----------------------------------------
    def count_attempt(self) -> None:
        """Count one POST of a customs message (INV101, SAS121, SAS223), whatever becomes of it."""
        with self._lock:
            self._state["attempts"] += 1
            self._save()

    def receive(self, kind: str, payload: object, key: str, *, mode: Mode | None = None
                ) -> tuple[int, dict]:
        """Answer one message of `kind` (INV101, SAS121 or SAS223): (status, body)."""
        handlers = {"INV101": self.declare, "SAS121": self.declare_passport,
                    "SAS223": self.pass_gate}
        return handlers[kind](payload, key, mode=mode)

    def _answer(self, kind: str, key: str, payload: object, store) -> tuple[int, dict]:
        """Replay the answer already given to `key` on this route, or call store(): (status, body).

        Only a 200 is remembered: a refusal (409) stores nothing, so the same message under the
        same key may succeed once the rule is met.
        """
        fingerprint = _fingerprint(payload)
        with self._lock:
            answers = self._state["answers"][kind]
            known = answers.get(key)
            if known is not None:
                if known["fingerprint"] != fingerprint:
                    # Same key, different message: a bug on the sender's side, never a retry.
                    errors = ["Idempotency-Key was already used for a different payload"]
                    return 422, _error_body(422, errors)
                return known["status"], known["body"]
            status, body = store()
            if status == 200:
                answers[key] = {"fingerprint": fingerprint, "status": status, "body": body}
                self._save()
        return status, body

    def _next_seq(self) -> int:
        """The arrival number of a stored message (caller holds the lock)."""
        self._state["seq"] += 1
        return self._state["seq"]

    def _decided(self, version: dict, now: float) -> bool:
        """True once the approval receipt of a declared version is out (approve_after)."""
        return bool(version["outcome"]) and now >= version["receivedTs"] + self.approve_after

    # -- inventory lists (INV101) ----------------------------------------------------------------
    def declare(self, payload: object, key: str, *, mode: Mode | None = None) -> tuple[int, dict]:
        """Store one inventory list declaration, or replay the answer given to `key`."""
        mode = mode or Mode()
        errors = validate_declaration(payload, key)
        if errors:
            return 400, _error_body(400, errors)
        return self._answer("INV101", key, payload,
                            lambda: (200, {"receipts": [self._store(payload, key, mode)]}))

    def _store(self, payload: dict, key: str, mode: Mode) -> dict:
        """Store a version (INV200 Y) or refuse it (INV200 Z); the caller holds the lock."""
        now = time.time()
        number = payload["head"]["etpsInnerInvtNo"]
        typecd = payload.get("dclTypecd", "1")
        inventory = self._state["inventories"].get(number)
        refusal = None
        if typecd == "1" and inventory is not None and _live(inventory["versions"]):
            # etpsInnerInvtNo is unique: a second "new" for a live list is refused, not stored.
            refusal = "企业内部编号已存在"
        elif typecd != "1" and inventory is None:
            refusal = "未找到可变更或删除的清单"
        if refusal:
            return {
                "type": "INV200",
                "status": "Z",
                "documentNo": None,
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
        version = self._version(inventory["versions"], payload, key, mode, now)
        inventory["versions"].append(version)
        return self._inv200(number, inventory, version)

    def _version(self, versions: list, payload: dict, key: str, mode: Mode, now: float) -> dict:
        """One stored version of a declaration; its outcome is decided now, shown later."""
        flag = payload.get("DelcareFlag", "1")
        outcome = OUTCOMES.get(mode.name, APPROVED) if flag == "1" else None  # drafts: no review
        return {
            "version": len(versions) + 1,
            "seq": self._next_seq(),
            "idempotencyKey": key,
            "receivedTs": now,
            "DelcareFlag": flag,
            "dclTypecd": payload.get("dclTypecd", "1"),
            "outcome": outcome,
            "reason": mode.reason if outcome == "3" else None,
            "payload": payload,
        }

    def _inv200(self, number: str, inventory: dict, version: dict) -> dict:
        return {
            "type": "INV200",
            "status": "Y",
            "documentNo": inventory["bondInvtNo"],
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
            if self._decided(version, now):
                receipt = {
                    "type": "INV201",
                    "status": version["outcome"],
                    "documentNo": inventory["bondInvtNo"],
                    "etpsInnerInvtNo": number,
                    "bondInvtNo": inventory["bondInvtNo"],
                    "version": version["version"],
                    "dclTypecd": version["dclTypecd"],
                    "message": MESSAGES[version["outcome"]],
                    "receivedAt": _stamp(version["receivedTs"] + self.approve_after),
                }
                if version["reason"]:
                    receipt["reason"] = version["reason"]
                receipts.append(receipt)
        return receipts

    def _approved_list(self, bond_no: str, now: float) -> tuple[dict | None, str | None]:
        """({gdsSeqno: dclQty} of approved list `bond_no`, None), or (None, why it is not usable).

        The list's latest declared version decides (a change replaces the lines; a delete or a
        return ends it); the caller holds the lock.
        """
        inventory = next((inv for inv in self._state["inventories"].values()
                          if inv["bondInvtNo"] == bond_no), None)
        declared = _declared(inventory["versions"]) if inventory else []
        if not declared:
            return None, f"inventory list {bond_no} is unknown to customs"
        latest = declared[-1]
        if latest["dclTypecd"] == "3":
            return None, f"inventory list {bond_no} was deleted"
        if latest["outcome"] == "3" and self._decided(latest, now):
            return None, f"inventory list {bond_no} was returned (退单): {latest['reason']}"
        if latest["outcome"] != APPROVED or not self._decided(latest, now):
            return None, f"inventory list {bond_no} is not approved (no INV201 1 yet)"
        lines = {str(line.get("gdsSeqno")): _number(line.get("dclQty")) or Decimal(0)
                 for line in latest["payload"]["lines"]}
        return lines, None

    # -- release orders (SAS121) -----------------------------------------------------------------
    def declare_passport(self, payload: object, key: str, *, mode: Mode | None = None
                         ) -> tuple[int, dict]:
        """Store one release order (SAS221 Y), refuse it (409), or replay the answer to `key`."""
        mode = mode or Mode()
        errors = validate_passport(payload, key)
        if errors:
            return 400, _error_body(400, errors)
        return self._answer("SAS121", key, payload,
                            lambda: self._store_passport(payload, key, mode))

    def _store_passport(self, payload: dict, key: str, mode: Mode) -> tuple[int, dict]:
        """Check the goods against the approved lists, then store; the caller holds the lock."""
        now = time.time()
        number = payload["head"]["etpsPreentNo"]
        passport = self._state["passports"].get(number)
        if passport is not None and _live(passport["versions"]):
            # etpsPreentNo is unique, as etpsInnerInvtNo is: a second live one is refused.
            return 200, {"receipts": [self._sas221_refused(number, "企业内部编号已存在", now)]}
        problems = self._goods_problems(payload, number, now)
        if problems:
            return 409, _error_body(409, problems)
        if passport is None:
            self._state["passportSerial"] += 1
            io = payload["head"].get("ioTypecd", "I")
            # passportNo (24 chars): HP + customs code (4) + year (2) + I/E + 15-digit serial
            passport_no = (f"HP{self.customs_code}{datetime.now(CST):%y}{io}"
                           f"{self._state['passportSerial']:015d}")
            passport = {"passportNo": passport_no, "versions": [], "gate": None}
            self._state["passports"][number] = passport
        version = self._version(passport["versions"], payload, key, mode, now)
        passport["versions"].append(version)
        return 200, {"receipts": [self._sas221_stored(number, passport, version)]}

    def _goods_problems(self, payload: dict, number: str, now: float) -> list[str]:
        """Why the goods of a release order cannot go out: unapproved lists, or more than the list
        declares over all live release orders (what makes one ticket, many trucks real)."""
        problems: list[str] = []
        lists: dict[str, dict | None] = {}
        wanted: dict[tuple[str, str], Decimal] = {}
        for i, (bond_no, seq, qty) in enumerate(_line_refs(payload)):
            if not bond_no:
                problems.append(f"lines[{i}].rltNo is required: the release order relates "
                                "several inventory lists")
                continue
            if bond_no not in lists:
                lists[bond_no], reason = self._approved_list(bond_no, now)
                if reason:
                    problems.append(reason)
            if lists[bond_no] is None:
                continue
            if seq not in lists[bond_no]:
                problems.append(f"lines[{i}]: inventory list {bond_no} has no line gdsSeqno {seq}")
                continue
            wanted[(bond_no, seq)] = wanted.get((bond_no, seq), Decimal(0)) + qty
        reserved = self._reserved(exclude=number)
        for (bond_no, seq), qty in wanted.items():
            declarable = lists[bond_no][seq]
            used = reserved.get((bond_no, seq), Decimal(0))
            if used + qty > declarable:
                problems.append(
                    f"line gdsSeqno {seq} of inventory list {bond_no}: {qty} exceeds the "
                    f"declarable quantity; {declarable - used} remaining of {declarable}")
        return problems

    def _reserved(self, *, exclude: str) -> dict[tuple[str, str], Decimal]:
        """Quantity per (bondInvtNo, gdsSeqno) on the live release orders, but `exclude`."""
        totals: dict[tuple[str, str], Decimal] = {}
        for number, passport in self._state["passports"].items():
            declared = _declared(passport["versions"])
            if number == exclude or not declared or declared[-1]["outcome"] == "3":
                continue  # a returned release order gives its quantities back
            for bond_no, seq, qty in _line_refs(declared[-1]["payload"]):
                totals[(bond_no, seq)] = totals.get((bond_no, seq), Decimal(0)) + qty
        return totals

    def _sas221_stored(self, number: str, passport: dict, version: dict) -> dict:
        return {
            "type": "SAS221",
            "stage": "stored",
            "status": "Y",
            "documentNo": passport["passportNo"],
            "passportNo": passport["passportNo"],
            "etpsPreentNo": number,
            "version": version["version"],
            "message": "入库成功" if version["DelcareFlag"] == "1" else "暂存成功",
            "receivedAt": _stamp(version["receivedTs"]),
        }

    def _sas221_refused(self, number: str, message: str, now: float) -> dict:
        return {"type": "SAS221", "stage": "stored", "status": "Z", "documentNo": None,
                "passportNo": None, "etpsPreentNo": number, "message": message,
                "receivedAt": _stamp(now)}

    def passport_receipts(self, number: str) -> list[dict]:
        """Every receipt for one etpsPreentNo: SAS221 stored / approval, SAS223 once passed."""
        now = time.time()
        with self._lock:
            passport = self._state["passports"].get(number)
            versions = list(passport["versions"]) if passport else []
            gate = passport["gate"] if passport else None
        receipts = []
        for version in versions:
            receipts.append(self._sas221_stored(number, passport, version))
            if self._decided(version, now):
                outcome = version["outcome"]
                receipt = {
                    "type": "SAS221",
                    "stage": "approval",
                    "status": outcome,
                    "stucd": "1" if outcome == APPROVED else "0",  # 1 approved, 0 applied
                    "documentNo": passport["passportNo"],
                    "passportNo": passport["passportNo"],
                    "etpsPreentNo": number,
                    "version": version["version"],
                    "message": MESSAGES[outcome],
                    "receivedAt": _stamp(version["receivedTs"] + self.approve_after),
                }
                if version["reason"]:
                    receipt["reason"] = version["reason"]
                receipts.append(receipt)
        if gate:
            receipts.append(self._sas223(number, passport, gate))
        return receipts

    # -- the gate (SAS223) -----------------------------------------------------------------------
    def pass_gate(self, payload: object, key: str, *, mode: Mode | None = None
                  ) -> tuple[int, dict]:
        """Record that a release order's truck passed the gate (SAS223 Y), or refuse it (409).

        ``mode`` is not used: "returned" and "review" decide declarations, not gate passes.
        """
        errors = validate_gate_pass(payload, key)
        if errors:
            return 400, _error_body(400, errors)
        return self._answer("SAS223", key, payload, lambda: self._store_gate_pass(payload, key))

    def _store_gate_pass(self, payload: dict, key: str) -> tuple[int, dict]:
        """The gate takes an approved, not yet passed order of this truck (docs/customs.md)."""
        now = time.time()
        head = payload["head"]
        passport_no = head["passportNo"]
        number, passport = next(((n, p) for n, p in self._state["passports"].items()
                                 if p["passportNo"] == passport_no), (None, None))
        if passport is None:
            return 409, _error_body(409, [f"no release order has passportNo {passport_no}"])
        declared = _declared(passport["versions"])
        latest = declared[-1] if declared else None
        if latest is None or latest["outcome"] != APPROVED or not self._decided(latest, now):
            return 409, _error_body(409, [f"release order {passport_no} is not approved "
                                          "(no SAS221 1): the gate cannot pass it"])
        if passport["gate"]:
            return 409, _error_body(409, [f"release order {passport_no} already passed the gate "
                                          f"at {passport['gate']['passTime']}"])
        problem = _vehicle_problem(passport_no, latest["payload"]["head"], head)
        if problem:
            return 409, _error_body(409, [problem])
        passport["gate"] = {"seq": self._next_seq(), "idempotencyKey": key, "receivedTs": now,
                            "passTime": head.get("passTime") or _stamp(now), "payload": payload}
        return 200, {"receipts": [self._sas223(number, passport, passport["gate"])]}

    def _sas223(self, number: str, passport: dict, gate: dict) -> dict:
        return {
            "type": "SAS223",
            "status": "Y",
            "stucd": PASSED_GATE,
            "documentNo": passport["passportNo"],
            "passportNo": passport["passportNo"],
            "etpsPreentNo": number,
            "passTime": gate["passTime"],
            "message": "已过卡",
            "receivedAt": _stamp(gate["receivedTs"]),
        }

    # -- write-off (核销): white card, manifest, tally status --------------------------------------
    def verify_white_card(self, body: object) -> tuple[int, dict]:
        """Verify a white card (白卡) for a transfer order: 200, or 409 when it is not valid."""
        errors = _required(body, ("whiteCardNo", "transferOrderNo"))
        if errors:
            return 400, _error_body(400, errors)
        card, transfer = body["whiteCardNo"], body["transferOrderNo"]
        with self._lock:
            cards = self._state["whiteCards"]
            if card in cards["invalid"]:
                return 409, _error_body(409, [f"white card {card} is not valid: "
                                              f"{cards['invalid'][card]}"])
            known = cards["verified"].get(card)
            if known is not None and known["transferOrderNo"] != transfer:
                return 409, _error_body(409, [f"white card {card} was verified for transfer "
                                              f"order {known['transferOrderNo']}, not {transfer}"])
            if known is None:
                known = {"verified": True, "whiteCardNo": card, "transferOrderNo": transfer,
                         "vehicleNo": body.get("vehicleNo"), "verifiedAt": _stamp(time.time())}
                cards["verified"][card] = known
                self._save()
        return 200, known

    def write_off(self, body: object) -> tuple[int, dict]:
        """Write a manifest off against its verified white card; the same manifest again gets the
        same answer."""
        fields = ("manifestNo", "billNo", "transferOrderNo", "whiteCardNo")
        # billNo (提运单号) may be missing: a manifest is written off by its number.
        errors = _required(body, ("manifestNo", "transferOrderNo", "whiteCardNo"))
        if isinstance(body, dict) and not isinstance(body.get("billNo") or "", str):
            errors.append("billNo must be text")
        if errors:
            return 400, _error_body(400, errors)
        manifest_no, card = body["manifestNo"], body["whiteCardNo"]
        with self._lock:
            done = self._state["writeOffs"].get(manifest_no)
            if done is not None:
                if any(done[field] != body.get(field) for field in fields):
                    return 409, _error_body(409, [
                        f"manifest {manifest_no} was already written off with bill "
                        f"{done['billNo']}, transfer order {done['transferOrderNo']} and white "
                        f"card {done['whiteCardNo']}"])
                return 200, done
            cards = self._state["whiteCards"]
            verified = cards["verified"].get(card)
            if verified is None:
                problem = f"white card {card} has not been verified: verify it first"
            elif card in cards["invalid"]:
                problem = f"white card {card} is not valid: {cards['invalid'][card]}"
            elif verified["transferOrderNo"] != body["transferOrderNo"]:
                problem = (f"white card {card} was verified for transfer order "
                           f"{verified['transferOrderNo']}, not {body['transferOrderNo']}")
            else:
                problem = None
            if problem:
                return 409, _error_body(409, [problem])
            done = {"writtenOff": True, **{field: body.get(field) for field in fields},
                    "writtenOffAt": _stamp(time.time())}
            self._state["writeOffs"][manifest_no] = done
            self._save()
        return 200, done

    def tally_status(self, manifest_no: str) -> dict:
        """The manifest's tally status: 正常理货 unless set otherwise via /_control."""
        with self._lock:
            configured = self._state["tallyStatus"].get(manifest_no) or {}
            written_off = manifest_no in self._state["writeOffs"]
        status = configured.get("status", NORMAL_TALLY)
        return {
            "manifestNo": manifest_no,
            "tallyStatus": status,
            "text": configured.get("text") or f"接受申报_{status}",  # e.g. 接受申报_正常理货
            "normal": status == NORMAL_TALLY,
            "reason": configured.get("reason"),
            "writtenOff": written_off,
        }

    def set_tally_status(self, body: object) -> dict:
        """Control: the tally status customs answers for one manifest (ValueError when wrong)."""
        errors = _required(body, ("manifestNo", "status"))
        for field in ("text", "reason"):
            if isinstance(body, dict) and body.get(field) is not None \
                    and not isinstance(body[field], str):
                errors.append(f"{field} must be text")
        if errors:
            raise ValueError("; ".join(errors))
        with self._lock:
            self._state["tallyStatus"][body["manifestNo"]] = {
                "status": body["status"], "text": body.get("text"), "reason": body.get("reason")}
            self._save()
        return self.tally_status(body["manifestNo"])

    def set_white_card(self, body: object) -> dict:
        """Control: mark a white card invalid ("valid": false) or valid again."""
        errors = _required(body, ("whiteCardNo",))
        if isinstance(body, dict) and not isinstance(body.get("valid"), bool):
            errors.append("valid must be true or false")
        if errors:
            raise ValueError("; ".join(errors))
        card, reason = body["whiteCardNo"], body.get("reason") or "白卡无效"
        with self._lock:
            if body["valid"]:
                self._state["whiteCards"]["invalid"].pop(card, None)
            else:
                self._state["whiteCards"]["invalid"][card] = str(reason)
            self._save()
        return {"whiteCardNo": card, "valid": body["valid"],
                "reason": None if body["valid"] else str(reason)}

    def apply_control(self, body: object) -> dict:
        """Control: set the failure mode from a POST /_control body (ValueError when wrong)."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        options = {k: body[k] for k in ("count", "delay", "reason") if k in body}
        self.set_mode(body.get("mode", "ok"), **options)
        return self.control()

    # -- what was received -----------------------------------------------------------------------
    def received(self) -> dict:
        """Every stored message with its kind, key and time, and the count of all POST attempts."""
        with self._lock:
            entries = []
            for number, inventory in self._state["inventories"].items():
                for v in inventory["versions"]:
                    entries.append((v, {"kind": "INV101", "etpsInnerInvtNo": number,
                                        "bondInvtNo": inventory["bondInvtNo"],
                                        "version": v["version"]}))
            for number, passport in self._state["passports"].items():
                ids = {"etpsPreentNo": number, "passportNo": passport["passportNo"]}
                for v in passport["versions"]:
                    entries.append((v, {"kind": "SAS121", **ids, "version": v["version"]}))
                if passport["gate"]:
                    entries.append((passport["gate"], {"kind": "SAS223", **ids}))
            entries.sort(key=lambda entry: (entry[0]["receivedTs"], entry[0].get("seq", 0)))
            stored = [{**ids, "idempotencyKey": record["idempotencyKey"],
                       "receivedAt": _stamp(record["receivedTs"]), "payload": record["payload"]}
                      for record, ids in entries]
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
            state = _migrate(json.load(f))
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
        receipts = RECEIPTS_PATH.fullmatch(path)
        tally = TALLY_STATUS_PATH.fullmatch(path)
        if path == "/_control":
            self._send_json(200, sim.control())
        elif path == "/_control/received":
            self._send_json(200, sim.received())
        elif receipts:
            if not self._act_out(sim.take_mode(declaration=False)):
                number = unquote(receipts[2])
                found = (sim.receipts(number) if receipts[1] == "inventories"
                         else sim.passport_receipts(number))
                self._send_json(200, {"receipts": found})
        elif tally:
            if not self._act_out(sim.take_mode(declaration=False)):
                self._send_json(200, sim.tally_status(unquote(tally[1])))
        else:
            self._send_json(404, _error_body(404, [f"no route GET {path}"]))

    def do_POST(self) -> None:
        sim = self.server.simulator
        path = urlsplit(self.path).path
        services = {"/api/white-cards/verify": sim.verify_white_card,
                    "/api/manifests/write-off": sim.write_off}
        controls = {"/_control": sim.apply_control, "/_control/tally-status": sim.set_tally_status,
                    "/_control/white-cards": sim.set_white_card}
        if path in MESSAGE_ROUTES:
            self._post_message(MESSAGE_ROUTES[path])
        elif path in services:
            self._post_service(services[path])
        elif path in controls:
            self._post_control(controls[path])
        elif path == "/_control/reset":
            sim.reset()
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, _error_body(404, [f"no route POST {path}"]))

    def _post_message(self, kind: str) -> None:
        """POST of a customs message: count it, play the failure mode, decode, answer."""
        sim = self.server.simulator
        sim.count_attempt()
        # A gate pass is no declaration: "returned" / "review" wait for the next one.
        mode = sim.take_mode(declaration=kind != "SAS223")
        raw = self._read_body()  # read first, so "down" hangs up on a fully sent request
        if raw is None or self._act_out(mode):
            return
        payload, error = self._decode(raw, kind)
        if error:
            self._send_json(400, _error_body(400, [error]))
            return
        key = self.headers.get("Idempotency-Key", "").strip()
        self._send_json(*sim.receive(kind, payload, key, mode=mode))

    def _decode(self, raw: bytes, kind: str) -> tuple[object, str | None]:
        """The message as a dict from JSON, or from XML (Content-Type application/xml)."""
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type.endswith("xml"):  # application/xml, text/xml
            try:
                message_type, payload = parse_xml(raw)
            except ValueError as e:
                return None, f"body is not a {kind} message: {e}"
            if message_type != kind:
                return None, f"this route takes {kind} messages, got {message_type}"
            return payload, None
        try:
            return json.loads(raw), None
        except ValueError:
            return None, "body is not JSON"

    def _post_service(self, handler) -> None:
        """POST to a write-off route: failure modes apply, as to every /api/ request."""
        mode = self.server.simulator.take_mode(declaration=False)
        raw = self._read_body()
        if raw is None or self._act_out(mode):
            return
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._send_json(400, _error_body(400, ["body is not JSON"]))
            return
        self._send_json(*handler(body))

    def _post_control(self, handler) -> None:
        """POST to a /_control route: never subject to failure modes; 400 on a bad body."""
        raw = self._read_body()
        if raw is None:
            return
        try:
            answer = handler(json.loads(raw or b"{}"))
        except ValueError as e:
            self._send_json(400, _error_body(400, [str(e)]))
            return
        self._send_json(200, answer)

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


def serve(host: str = "127.0.0.1", port: int = 0, **options) -> Simulator:
    """Start a simulator in a background thread (options as for Simulator); call .stop() (or use
    `with`) when done."""
    return Simulator(host, port, **options).start()


def main(argv: list[str] | None = None) -> int:
    """CLI: serve until interrupted, printing the base URL on stdout first."""
    parser = argparse.ArgumentParser(
        prog="tally customs-sim",
        description="Simulated customs special-area system (INV101, SAS121, SAS223, write-off).",
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
