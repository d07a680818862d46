"""The simulated customs side without any transport: its state, its failure and outcome modes,
and what it answers. server.py puts it behind HTTP; fake.py behind the customs client's
interface, in-process, for unit tests.

A declaration (INV101, SAS121) is answered at once with a CommonResponeMessage carrying the
SeqNo; its receipts follow in the receipt feed (``receipts(after)``), in order: the stored
receipt (Y, or Z store failed), then, `approve_after` seconds later, the result (1, 2, 3, 4,
5). A manual review (2) waits until ``decide`` gives the final result. The gate lane
(``pass_gate``) is customs' own: its passage comes to the enterprise as SAS223, an inspection's
disposal as SAS224.
"""

import hashlib
import json
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from customs_sim import receipts as r
from customs_sim import validation
from customs_sim.writeoff import WriteOffDesk, error_body

# Failure modes act on /api/ requests; outcome modes decide the next declarations' results.
# unsent: the Single Window client gives up on a file (folder mode; over HTTP, like down).
FAILURES = ("down", "error", "slow", "garbled", "unsent")
OUTCOMES = {"store-fail": r.STORE_FAILED, "returned": r.RETURNED, "review": r.REVIEW,
            "pre-deducted": r.PRE_DEDUCTED, "not-deducted": r.NOT_DEDUCTED}
MODES = ("ok", *FAILURES, *OUTCOMES)
DEFAULT_REASON = "商品编码与备案不符"  # a typical return: HS code differs from the account book
STORE_FAIL_REASON = "表体商品备案序号在账册中不存在"  # a typical Z: item not in the account book
STATE_FORMAT = 3
KINDS = ("INV101", "SAS121")


@dataclass(frozen=True)
class Mode:
    """A mode as one request sees it."""

    name: str = "ok"
    delay: float = 1.0
    reason: str = DEFAULT_REASON


def _fresh_state() -> dict:
    return {
        "format": STATE_FORMAT,
        "seq": 0,  # order of every stored message, for received()
        "attempts": 0,
        "preentSerial": 0,  # last SeqNo serial
        "serial": 0,  # last bondInvtNo serial
        "passportSerial": 0,
        "receiptSerial": 0,  # last feed id (and message_id serial)
        "documents": {},  # SeqNo -> {"kind", "etpsNo", "number", "versions", "gate"}
        "byEtpsNo": {kind: {} for kind in KINDS},  # our number -> SeqNo
        "answers": {kind: {} for kind in KINDS},  # Idempotency-Key -> answer, per route
        "pending": [],  # receipts not yet out: {"due", "receipt"}
        "feed": [],  # receipts out, in order, each with its "id"
        "whiteCards": {"invalid": {}, "verified": {}},
        "writeOffs": {},  # manifestNo -> the write-off answer
        "tallyStatus": {},  # manifestNo -> {"status", "text", "reason"} set via control
    }


def _fingerprint(payload: object) -> str:
    canonical = json.dumps(payload, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class Customs(WriteOffDesk):
    """The customs special-area system (金关二期) as the simulator plays it; thread-safe."""

    def __init__(self, *, state_path: str | os.PathLike | None = None, mode: str = "ok",
                 count: int | None = None, delay: float = 1.0, reason: str = DEFAULT_REASON,
                 approve_after: float = 0.0, customs_code: str = "4230", clock=time.time):
        if not re.fullmatch(r"\d{4}", customs_code):
            raise ValueError("customs_code must be 4 digits")
        self.approve_after = float(approve_after)
        self.customs_code = customs_code
        self.clock = clock
        self._lock = threading.Lock()
        self._state_path = os.fspath(state_path) if state_path else None
        self._state = self._load()
        self._mode, self._remaining = Mode(), None
        self.set_mode(mode, count=count, delay=delay, reason=reason)

    # -- modes -----------------------------------------------------------------------------------
    def set_mode(self, mode: str, *, count: int | None = None, delay: float = 1.0,
                 reason: str = DEFAULT_REASON) -> None:
        """Apply `mode` to the next `count` requests it concerns (None: until changed)."""
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
        """The current mode, as GET /_control shows it."""
        with self._lock:
            mode, remaining = self._mode, self._remaining
        return {"mode": mode.name, "count": remaining, "delay": mode.delay,
                "reason": mode.reason, "approveAfter": self.approve_after}

    def apply_control(self, body: object) -> dict:
        """Set the mode from a POST /_control body (ValueError when wrong)."""
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        options = {k: body[k] for k in ("count", "delay", "reason") if k in body}
        self.set_mode(body.get("mode", "ok"), **options)
        return self.control()

    def take_mode(self, *, declaration: bool) -> Mode:
        """The mode for one request, using up one of its count. Outcome modes concern
        declarations only: a receipts poll or a write-off neither triggers nor uses them up."""
        with self._lock:
            mode = self._mode
            if mode.name == "ok" or (mode.name in OUTCOMES and not declaration):
                return Mode()
            if self._remaining is not None:
                self._remaining -= 1
                if self._remaining == 0:
                    self._mode, self._remaining = Mode(), None
            return mode

    def count_attempt(self) -> None:
        """Count one POST of a declaration, whatever becomes of it."""
        with self._lock:
            self._state["attempts"] += 1
            self._save()

    # -- declarations ------------------------------------------------------------------------------
    def receive(self, kind: str, payload: object, key: str, *, mode: Mode | None = None
                ) -> tuple[int, dict]:
        """Answer one declaration of `kind` (INV101 or SAS121): (HTTP status, body).

        400 when it is no readable message; else 200 with a CommonResponeMessage: DealFlag 0 and
        the SeqNo when imported, -1 and CheckInfo when refused. The same Idempotency-Key with
        the same message replays the first answer; with another message it is 422. A message
        that arrived as XML (validation.decode) and fails its XML Schema is refused for that
        first, whatever else it carries.
        """
        arrived = validation.arrived_problems(payload)
        if arrived:
            errors = validation.key_errors(key)
        else:
            check = (validation.validate_declaration if kind == "INV101"
                     else validation.validate_passport)
            errors = check(payload, key)
        if errors:
            return 400, error_body(400, errors)
        # An element parse_xml dropped changes the answer, so it changes the fingerprint too.
        fingerprint = _fingerprint([payload, arrived] if arrived else payload)
        with self._lock:
            answers = self._state["answers"][kind]
            known = answers.get(key)
            if known is not None:
                if known["fingerprint"] != fingerprint:
                    errors = ["Idempotency-Key was already used for a different payload"]
                    return 422, error_body(422, errors)
                return 200, known["body"]
            body = self._import(kind, dict(payload), key, mode or Mode(), arrived=arrived)
            answers[key] = {"fingerprint": fingerprint, "body": body}
            self._save()
        return 200, body

    def _import(self, kind: str, payload: dict, key: str, mode: Mode, *,
                arrived: list[str] | None = None) -> dict:
        """Store a declaration and schedule its receipts, or refuse it (DealFlag -1).

        ``arrived``: what the XML Schema found in a message that came as XML (None: JSON)."""
        now = self.clock()
        head = payload["head"]
        etps_field = "etpsInnerInvtNo" if kind == "INV101" else "etpsPreentNo"
        etps_no = str(head.get(etps_field) or "")
        by_etps = self._state["byEtpsNo"][kind]
        seq_no = str(head.get("seqNo") or "") or None
        typecd = payload.get("dclTypecd", "1")
        problem = None
        if arrived:  # customs reads the XML before anything in it
            problem = validation.schema_refusal(arrived)
        elif seq_no is None and etps_no in by_etps:
            # The real refusal (gx-customs-bridge's Failed_SAS121 receipt) names the record.
            problem = (f"报文类型为{kind}，导入报文中预录入统一编号为空，并且企业内部编号{etps_no}"
                       f"与系统已有记录【{by_etps[etps_no]}】的对应字段重复，请修改后重新导入。")
        elif seq_no is not None:
            document = self._state["documents"].get(seq_no)
            if document is None or document["kind"] != kind:
                problem = f"预录入统一编号{seq_no}不存在"
            elif document["etpsNo"] != etps_no:
                problem = f"预录入统一编号{seq_no}属于企业内部编号{document['etpsNo']}"
            else:
                problem = self._redeclare_problem(document, typecd, head)
        elif typecd != "1":
            problem = "变更或删除申请须填写预录入统一编号"
        if problem is None and arrived is None:  # JSON: its form, as XML, against the XSDs
            problems = validation.schema_problems(kind, payload)
            if problems:
                problem = validation.schema_refusal(problems)
        drawn: list[tuple[str, str, Decimal]] = []
        if kind == "SAS121" and problem is None:
            problems, drawn = self._goods(payload, etps_no, now)
            problem = "；".join(problems) if problems else None
        if problem:
            return r.common_response(None, etps_no, problem, "-1")
        if seq_no is None:
            self._state["preentSerial"] += 1
            seq_no = f"{datetime.fromtimestamp(now, r.CST):%Y}{self._state['preentSerial']:014d}"
            by_etps[etps_no] = seq_no
            self._state["documents"][seq_no] = {"kind": kind, "etpsNo": etps_no, "number": None,
                                                "versions": [], "gate": None}
        document = self._state["documents"][seq_no]
        version = self._version(document, payload, key, mode, now)
        if kind == "SAS121":  # what each list gives this release order
            version["lineRefs"] = [[bond_no, seq, str(qty)] for bond_no, seq, qty in drawn]
        document["versions"].append(version)
        self._schedule(seq_no, document, version, now)
        return r.common_response(seq_no, etps_no, r.CHECK_INFO[kind], "0")

    def _redeclare_problem(self, document: dict, typecd: str, head: dict) -> str | None:
        """Why a message under a known SeqNo cannot be taken, or None.

        A returned (3) or store-failed (Z) list is declared again as dclTypecd 1 with the same
        SeqNo; dclTypecd 2 changes an approved list and carries chgTmsCnt; 3 deletes it.
        """
        latest = _declared(document["versions"])
        last = latest[-1] if latest else None
        outcome = last["outcome"] if last else None
        if typecd == "1":
            if last is not None and outcome not in (r.RETURNED, r.STORE_FAILED):
                return "该预录入统一编号的单证未退单，不能重新申报"
            return None
        if outcome not in r.APPROVALS:
            return "单证未审核通过，不能变更或删除"
        if typecd == "2" and str(head.get("chgTmsCnt") or "") != str(last["tmsCnt"] + 1):
            return f"变更次数chgTmsCnt应为{last['tmsCnt'] + 1}"
        return None

    def _version(self, document: dict, payload: dict, key: str, mode: Mode, now: float) -> dict:
        """One stored version of a declaration; its outcome is decided now, shown later."""
        flag = payload.get("DelcareFlag", "1")
        outcome = None
        if flag == "1":  # drafts (暂存) are stored, never reviewed
            outcome = OUTCOMES.get(mode.name, r.APPROVED)
            if document["kind"] == "SAS121" and outcome in (r.PRE_DEDUCTED, r.NOT_DEDUCTED):
                outcome = r.APPROVED  # deduction concerns inventory lists, not release orders
        previous = _declared(document["versions"])
        typecd = payload.get("dclTypecd", "1")
        tms = previous[-1]["tmsCnt"] + (typecd == "2") if previous else 0
        reason = None
        if outcome == r.RETURNED:
            reason = mode.reason
        elif outcome == r.STORE_FAILED:
            reason = mode.reason if mode.reason != DEFAULT_REASON else STORE_FAIL_REASON
        return {"version": len(document["versions"]) + 1, "seq": self._next_seq(),
                "idempotencyKey": key, "receivedTs": now, "DelcareFlag": flag,
                "dclTypecd": typecd, "tmsCnt": tms, "outcome": outcome, "reason": reason,
                "payload": payload}

    def _next_seq(self) -> int:
        self._state["seq"] += 1
        return self._state["seq"]

    def _schedule(self, seq_no: str, document: dict, version: dict, now: float) -> None:
        """Queue the version's receipts: stored (Y or Z) now, its result after approve_after."""
        if version["outcome"] == r.STORE_FAILED:
            self._queue(now, seq_no, "stored", version["version"], r.STORE_FAILED)
            return
        self._queue(now, seq_no, "stored", version["version"], r.STORED)
        if version["outcome"] is not None:
            self._queue(now + self.approve_after, seq_no, "result", version["version"],
                        version["outcome"])

    def _queue(self, due: float, seq_no: str, stage: str, version: int, result: str) -> None:
        self._state["pending"].append({"due": due, "seqNo": seq_no, "stage": stage,
                                       "version": version, "result": result})

    # -- the receipt feed ---------------------------------------------------------------------
    def receipts(self, after: int = 0) -> list[dict]:
        """Every receipt out so far with a feed id above `after`, in the order sent."""
        now = self.clock()
        with self._lock:
            before = len(self._state["feed"])
            self._flush(now)
            if len(self._state["feed"]) != before:
                self._save()
            return [dict(x) for x in self._state["feed"] if x["id"] > after]

    def _emit(self, item: dict, ts: float) -> dict:
        """Send one receipt: number it, build it from the document as it now stands."""
        document = self._state["documents"][item["seqNo"]]
        version = document["versions"][item["version"] - 1]
        result, kind = item["result"], document["kind"]
        if item["stage"] == "result" and result in r.APPROVALS and not document["number"]:
            document["number"] = self._number(kind, version["payload"], ts)
        self._state["receiptSerial"] += 1
        serial = self._state["receiptSerial"]
        business_id = document["number"] if result in r.APPROVALS or item["stage"] == "gate" \
            else None
        rmk = version["reason"] if result in (r.RETURNED, r.STORE_FAILED) else ""
        if item["stage"] == "gate":
            rmk = document["gate"].get("rmk", "")
        appr = r.appr_result(item["seqNo"], business_id, result, ts, tms_cnt=version["tmsCnt"],
                             typecd="" if item["stage"] == "gate" else version["dclTypecd"],
                             rmk=rmk or "")
        if kind == "INV101":
            receipt = r.package("INV201", ts, serial, appr, "BondInvtBsc",
                                r.bond_invt_bsc(item["seqNo"], document, version, result))
        elif item["stage"] == "gate":
            gate = document["gate"]
            receipt = r.package(item["type"], ts, serial, appr, "SasPassportBsc",
                                r.sas_passport_bsc(item["seqNo"], document, version,
                                                   stucd=gate["stucd"], gate=gate))
        else:
            stucd = "1" if result in r.APPROVALS else "0"  # 1 approved, 0 applied
            receipt = r.package("SAS221", ts, serial, appr, "SasPassportBsc",
                                r.sas_passport_bsc(item["seqNo"], document, version,
                                                   stucd=stucd))
        receipt["id"] = serial
        self._state["feed"].append(receipt)
        return receipt

    def _number(self, kind: str, payload: dict, ts: float) -> str:
        """The number customs gives an approved document."""
        when = datetime.fromtimestamp(ts, r.CST)
        io = payload["head"].get("impexpMarkcd" if kind == "INV101" else "ioTypecd") or "I"
        if kind == "INV101":
            self._state["serial"] += 1
            # bondInvtNo (18): QD + customs code (4) + year (2) + I/E + serial (9)
            return f"QD{self.customs_code}{when:%y}{io}{self._state['serial']:09d}"
        self._state["passportSerial"] += 1
        # passportNo (24): Z + customs code (4) + I/E + yyMMdd + serial (12)
        return f"Z{self.customs_code}{io}{when:%y%m%d}{self._state['passportSerial']:012d}"

    def decide(self, body: object) -> dict:
        """Control: conclude a manual review (2) with 1, 3, 4 or 5 (ValueError when wrong)."""
        errors = validation.required(body, ("seqNo", "result"))
        if not errors and body["result"] not in (r.RETURNED, *r.APPROVALS):
            errors.append("result must be '1', '3', '4' or '5'")
        if errors:
            raise ValueError("; ".join(errors))
        with self._lock:
            document = self._state["documents"].get(body["seqNo"])
            declared = _declared(document["versions"]) if document else []
            if not declared or declared[-1]["outcome"] != r.REVIEW:
                raise ValueError(f"no declaration under SeqNo {body['seqNo']} is in manual "
                                 "review")
            version, result = declared[-1], body["result"]
            if document["kind"] == "SAS121" and result in (r.PRE_DEDUCTED, r.NOT_DEDUCTED):
                raise ValueError("a release order is approved with '1'")
            version["outcome"] = result
            if result == r.RETURNED:
                version["reason"] = str(body.get("reason") or DEFAULT_REASON)
            self._queue(self.clock(), body["seqNo"], "result", version["version"], result)
            self._save()
        return {"seqNo": body["seqNo"], "result": result}

    # -- release orders: goods against the approved lists ----------------------------------------
    def _approved_list(self, bond_no: str) -> tuple[dict | None, str | None]:
        """({gdsSeqno: (dclQty, gdsMtno)} of approved list `bond_no`, None), or (None, why not
        usable)."""
        document = next((d for d in self._state["documents"].values()
                         if d["kind"] == "INV101" and d["number"] == bond_no), None)
        declared = _declared(document["versions"]) if document else []
        if not declared:
            return None, f"核注清单{bond_no}不存在 inventory list {bond_no} is unknown to customs"
        latest = declared[-1]
        if latest["dclTypecd"] == "3":
            return None, f"核注清单{bond_no}已删除 inventory list {bond_no} was deleted"
        if not self._result_out(document, latest):
            return None, (f"核注清单{bond_no}未审核通过 inventory list {bond_no} is not "
                          "approved")
        lines = {str(line.get("gdsSeqno")): (validation.number(line.get("dclQty")) or Decimal(0),
                                             str(line.get("gdsMtno") or ""))
                 for line in latest["payload"]["lines"]}
        return lines, None

    def _result_out(self, document: dict, version: dict) -> bool:
        """True once the version's approval receipt (1, 4, 5) is in the feed."""
        return version["outcome"] in r.APPROVALS and any(
            receipt["HdeApprResult"]["manageResult"] == version["outcome"]
            and receipt["HdeApprResult"]["etpsPreentNo"] == self._seq_of(document)
            for receipt in self._state["feed"])

    def _seq_of(self, document: dict) -> str:
        return self._state["byEtpsNo"][document["kind"]][document["etpsNo"]]

    def _goods(self, payload: dict, etps_no: str, now: float
               ) -> tuple[list[str], list[tuple[str, str, Decimal]]]:
        """(why the goods of a release order cannot go out, what it draws on each list:
        (bondInvtNo, gdsSeqno, qty)). Every related list must be approved and no list line give
        more than it declares over all live release orders (what makes one ticket, many trucks
        real).

        Real XML cannot tie a line to a list: it draws on the related lists, checked per item.
        """
        self._flush(now)
        problems: list[str] = []
        lists: dict[str, dict | None] = {}

        def approved(bond_no: str) -> dict | None:
            if bond_no not in lists:
                lists[bond_no], reason = self._approved_list(bond_no)
                if reason:
                    problems.append(reason)
            return lists[bond_no]

        related = validation.rlt_numbers(payload["head"])
        for bond_no in related:
            approved(bond_no)
        wanted: dict[tuple[str, str], Decimal] = {}
        pools: dict[tuple[str, str], Decimal] = {}  # (gdsSeqno, item) -> qty of unnamed lines
        for i, (bond_no, seq, qty) in enumerate(validation.line_refs(payload)):
            if not bond_no:
                item = str(payload["lines"][i].get("gdsMtno") or "")
                pools[(seq, item)] = pools.get((seq, item), Decimal(0)) + qty
                continue
            if approved(bond_no) is None:
                continue
            if seq not in lists[bond_no]:
                problems.append(f"lines[{i}]: inventory list {bond_no} has no line gdsSeqno {seq}")
                continue
            wanted[(bond_no, seq)] = wanted.get((bond_no, seq), Decimal(0)) + qty
        reserved = self._reserved(exclude=etps_no)
        drawn = []
        for (bond_no, seq), qty in wanted.items():
            declarable = lists[bond_no][seq][0]
            used = reserved.get((bond_no, seq), Decimal(0))
            if used + qty > declarable:
                problems.append(
                    f"line gdsSeqno {seq} of inventory list {bond_no}: {qty} exceeds the "
                    f"declarable quantity; {declarable - used} remaining of {declarable}")
            drawn.append((bond_no, seq, qty))
            reserved[(bond_no, seq)] = used + qty
        for (seq, item), qty in pools.items():
            problems += self._draw(seq, item, qty, [n for n in related if lists.get(n)],
                                   lists, reserved, drawn)
        return problems, drawn

    @staticmethod
    def _draw(seq: str, item: str, qty: Decimal, related: list[str], lists: dict,
              reserved: dict, drawn: list) -> list[str]:
        """Draw ``qty`` of line ``seq`` (``item``) on the approved related lists having that
        line for that item, in order, into ``drawn``; the problem when they have too little."""
        sources = [n for n in related if seq in lists[n]
                   and (not item or not lists[n][seq][1] or lists[n][seq][1] == item)]
        what = f"line gdsSeqno {seq}" + (f" ({item})" if item else "")
        if not sources:
            return [f"{what}: none of the related inventory lists has it"]
        left, free_total = qty, Decimal(0)
        for bond_no in sources:
            free = max(lists[bond_no][seq][0] - reserved.get((bond_no, seq), Decimal(0)),
                       Decimal(0))
            free_total += free
            take = min(free, left)
            if take > 0:
                drawn.append((bond_no, seq, take))
                reserved[(bond_no, seq)] = reserved.get((bond_no, seq), Decimal(0)) + take
                left -= take
        if left > 0:
            declarable = sum(lists[n][seq][0] for n in sources)
            return [f"{what} of inventory lists {', '.join(sources)}: {qty} exceeds the "
                    f"declarable quantity; {free_total} remaining of {declarable}"]
        return []

    def _flush(self, now: float) -> None:
        """Send the receipts that are due (caller holds the lock)."""
        due = [p for p in self._state["pending"] if p["due"] <= now]
        if due:
            self._state["pending"] = [p for p in self._state["pending"] if p["due"] > now]
            for item in sorted(due, key=lambda p: p["due"]):
                self._emit(item, item["due"])

    def _reserved(self, *, exclude: str) -> dict[tuple[str, str], Decimal]:
        """Quantity per (bondInvtNo, gdsSeqno) on the live release orders, but `exclude`."""
        totals: dict[tuple[str, str], Decimal] = {}
        for document in self._state["documents"].values():
            declared = _declared(document["versions"])
            if (document["kind"] != "SAS121" or document["etpsNo"] == exclude or not declared
                    or declared[-1]["outcome"] in (r.RETURNED, r.STORE_FAILED)
                    or (document["gate"] or {}).get("stucd") == "6"):
                continue  # a returned or gate-refused release order gives its quantities back
            refs = declared[-1].get("lineRefs")
            refs = ([(bond_no, seq, Decimal(qty)) for bond_no, seq, qty in refs]
                    if refs is not None else validation.line_refs(declared[-1]["payload"]))
            for bond_no, seq, qty in refs:
                totals[(bond_no, seq)] = totals.get((bond_no, seq), Decimal(0)) + qty
        return totals

    # -- the gate lane (customs' own): SAS223 passage, SAS224 inspection disposal ----------------
    def pass_gate(self, body: object) -> dict:
        """Control: a release order's truck at customs' gate. ``{"passportNo", "inspection"?:
        "refused" | "released", "passCollectWt"?, "passID"?, "secdPassId"?, "reason"?}``.

        Without inspection the truck passes (SAS223, stucd 2). An inspected truck gets SAS224:
        2 refused at the gate (stucd 6), or 3 released, passing (stucd 2). ValueError when the
        order is unknown, not approved or already through; returns the receipt sent.
        """
        errors = validation.required(body, ("passportNo",))
        inspection = body.get("inspection") if isinstance(body, dict) else None
        if inspection not in (None, "refused", "released"):
            errors.append("inspection must be 'refused' or 'released' when given")
        if errors:
            raise ValueError("; ".join(errors))
        now = self.clock()
        with self._lock:
            self._flush(now)
            number = body["passportNo"]
            seq_no, document = next(((s, d) for s, d in self._state["documents"].items()
                                     if d["kind"] == "SAS121" and number in
                                     (d["number"], d["etpsNo"])), (None, None))
            if document is None:
                raise ValueError(f"no release order has passportNo {number}")
            declared = _declared(document["versions"])
            latest = declared[-1] if declared else None
            if latest is None or not self._result_out(document, latest):
                raise ValueError(f"release order {number} is not approved (no SAS221 1): the "
                                 "gate cannot pass it")
            if document["gate"]:
                raise ValueError(f"release order {number} already went through the gate")
            head = latest["payload"]["head"]
            total = validation.number(head.get("totalWt"))
            reading = validation.number(body.get("passCollectWt"))
            passed = inspection != "refused"
            document["gate"] = {
                "stucd": "2" if passed else "6",
                "passID": str(body.get("passID") or "G1"),
                "secdPassId": str(body.get("secdPassId") or ""),
                "passTime": r.stamp(now) if passed else "",
                "secdPassTime": r.stamp(now) if passed and body.get("secdPassId") else "",
                "passCollectWt": str(reading) if reading is not None else "",
                "wtError": str(total - reading) if total is not None and reading is not None
                else "",
                "rmk": str(body.get("reason") or ("查验不合格，不予放行" if not passed else "")),
            }
            result = ({"refused": r.GATE_REFUSED, "released": r.GATE_RELEASED}[inspection]
                      if inspection else r.APPROVED)
            item = {"seqNo": seq_no, "stage": "gate", "version": latest["version"],
                    "result": result, "type": "SAS224" if inspection else "SAS223"}
            receipt = self._emit(item, now)
            self._save()
        return receipt

    # -- what was received -----------------------------------------------------------------------
    def received(self) -> dict:
        """Every stored declaration with its kind, SeqNo, key and time, and the count of all
        declaration POSTs."""
        with self._lock:
            entries = []
            for seq_no, document in self._state["documents"].items():
                number_field = "etpsInnerInvtNo" if document["kind"] == "INV101" \
                    else "etpsPreentNo"
                for v in document["versions"]:
                    entries.append((v["seq"], {
                        "kind": document["kind"], "seqNo": seq_no,
                        number_field: document["etpsNo"], "number": document["number"],
                        "version": v["version"], "idempotencyKey": v["idempotencyKey"],
                        "receivedAt": r.stamp(v["receivedTs"]), "payload": v["payload"]}))
            stored = [entry for _, entry in sorted(entries, key=lambda e: e[0])]
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
        if not isinstance(state, dict) or "format" not in state:
            raise ValueError(f"{self._state_path}: not a customs simulator state file")
        if state["format"] != STATE_FORMAT:
            # An older simulator's state holds no SeqNos and no receipt feed: keep it aside and
            # start afresh rather than refuse to start (`make run` after an upgrade).
            os.replace(self._state_path, f"{self._state_path}.format{state['format']}")
            return _fresh_state()
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


def _declared(versions: list[dict]) -> list[dict]:
    """The versions that were declared (DelcareFlag 1), drafts left out."""
    return [v for v in versions if v["DelcareFlag"] == "1"]
