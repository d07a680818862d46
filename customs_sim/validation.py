"""What the simulated customs checks in a message before it stores it: one small module, so a
change to the messages' fields changes the checks here and nowhere else.

Each function returns the problems found (empty: the message may be stored). A request that is
not a message at all (no JSON object, no head) is answered 400; a message customs reads but will
not take is refused with a CommonResponeMessage whose DealFlag is -1 (see core.py): among those,
a message that fails its XML Schema (the same XSDs, tally/customs/schemas, that our outbox
checks before sending), as the real system refuses a message it cannot import. A message that
came as XML is checked as it arrived (decode, before parse_xml reads it into a payload and drops
what it does not know); one that came as JSON is written as XML first (schema_problems).
"""

import json
from decimal import Decimal, InvalidOperation

from tally.customs import message_xml
from tally.customs.message_xml import parse_xml, render_xml
from tally.customs.messages import BIND_TYPES, IO_TYPES

SEQ_NO_DIGITS = 18  # SeqNo, the pre-entry number (预录入统一编号) customs gives a message


def number(value) -> Decimal | None:
    """A finite Decimal from a JSON number or the text of an XML element, else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


class XmlMessage(dict):
    """The payload of a message that arrived as XML, with ``schema_problems``: what its XML
    Schema found in the XML as it arrived (empty when valid). parse_xml keeps only the elements
    it knows, in its own order, so an unknown or misplaced element shows here and nowhere else."""

    def __init__(self, payload: dict, schema_problems: list[str]):
        super().__init__(payload)
        self.schema_problems = schema_problems


def decode(raw: bytes, content_type: str, kind: str) -> tuple[object, str | None]:
    """(the message as a dict, None), or (None, why it cannot be read): JSON, or the XML of
    message_xml.render_xml when the content type says xml, then an XmlMessage carrying what the
    schema of ``kind`` found in the raw XML (customs.receive refuses it with DealFlag -1)."""
    if content_type.endswith("xml"):  # application/xml, text/xml
        problems = message_xml.schema_problems(kind, raw)  # the XML as it arrived
        try:
            message_type, payload = parse_xml(raw)
        except ValueError as e:
            return None, f"body is not a {kind} message: {e}"
        if message_type != kind:
            return None, f"this route takes {kind} messages, got {message_type}"
        return XmlMessage(payload, problems), None
    try:
        return json.loads(raw), None
    except ValueError:
        return None, "body is not JSON"


def _envelope_errors(payload: dict) -> list[str]:
    # DelcareFlag (sic) 0 draft 暂存, 1 declare 申报; dclTypecd 1 new, 2 change, 3 delete.
    errors = []
    if payload.get("DelcareFlag", "1") not in ("0", "1"):
        errors.append("DelcareFlag must be '0' (draft) or '1' (declare)")
    if payload.get("dclTypecd", "1") not in ("1", "2", "3"):
        errors.append("dclTypecd must be '1' (new), '2' (change) or '3' (delete)")
    return errors


def arrived_problems(payload: object) -> list[str] | None:
    """What the XML Schema found in a message that arrived as XML (decode); None for one that
    came as JSON, whose payload is checked by schema_problems instead."""
    return payload.schema_problems if isinstance(payload, XmlMessage) else None


def key_errors(key: str) -> list[str]:
    """What a message request lacks whatever its body: its idempotency key."""
    return [] if key else ["Idempotency-Key header is required"]


def _request_head(payload: object, key: str) -> tuple[list[str], dict | None]:
    """What every message request can lack (its idempotency key, being an object), and its head:
    ``{}`` when missing, None when the body is no object at all (nothing more to check)."""
    errors = key_errors(key)
    if not isinstance(payload, dict):
        return [*errors, "body must be a JSON object"], None
    head = payload.get("head")
    return errors, head if isinstance(head, dict) else {}


def _seq_no_errors(head: dict) -> list[str]:
    seq = head.get("seqNo")
    if seq in (None, ""):
        return []
    if not (isinstance(seq, str) and seq.isdigit() and len(seq) == SEQ_NO_DIGITS):
        return [f"head.seqNo must be the {SEQ_NO_DIGITS}-digit number customs gave the message"]
    return []


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
    return errors + _envelope_errors(payload) + _seq_no_errors(head)


def rlt_numbers(head: dict) -> list[str]:
    """The inventory list numbers of a release order head's rltNo (a real receipt separates them
    with a backslash; we also read a comma)."""
    text = str(head.get("rltNo") or "").replace("\\", ",")
    return [n.strip() for n in text.split(",") if n.strip()]


def line_refs(payload: dict) -> list[tuple[str | None, str, Decimal]]:
    """(bondInvtNo, gdsSeqno, dclQty) per release order line; bondInvtNo None when the line
    does not say which of several related lists it draws on.

    A line names its list in rltNo or the payload's lineLists (our JSON transport only); without
    one it takes the head's rltNo when that is a single list. The real XML cannot name it: a
    PassportList line has RltGdsSeqno only and the related lists are PassportAcmp rows (in the
    receipts SasPassportRlt) without line numbers [G]; core.Customs draws such lines on the
    related lists by gdsSeqno and item.
    """
    numbers = rlt_numbers(payload["head"])
    default = numbers[0] if len(numbers) == 1 else None
    # A goods line has no rltNo element: our JSON transport names each line's list in
    # lineLists (the sender's bookkeeping, tally/customs/messages.py build_sas121).
    lists = payload.get("lineLists") or []
    return [(str(line.get("rltNo") or "") or (str(lists[i]) if i < len(lists) else default),
             str(line["rltGdsSeqno"]), number(line["dclQty"]))
            for i, line in enumerate(payload["lines"])]


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
            qty = number(line.get("dclQty"))
            if qty is None or qty <= 0:
                errors.append(f"lines[{i}].dclQty must be a number > 0")
    errors += _envelope_errors(payload)
    if payload.get("dclTypecd", "1") != "1":
        errors.append("dclTypecd must be '1': the simulator takes new release orders only")
    if not errors and head["bindTypecd"] in ("2", "3"):
        numbers = {n for n, _, _ in line_refs(payload)} | set(rlt_numbers(head))
        if len(numbers) != 1:
            errors.append(f"bindTypecd {head['bindTypecd']} ({BIND_TYPES[head['bindTypecd']]}) "
                          f"relates exactly one inventory list, got {len(numbers)}")
    return errors


# What the CheckInfo of a refusal for the message's form says before the schema's own messages.
SCHEMA_CHECK_INFO = "报文格式校验不通过"


def schema_refusal(problems: list[str]) -> str:
    """The CheckInfo of a message refused for its form."""
    return f"{SCHEMA_CHECK_INFO}：{'；'.join(problems)}"


def schema_problems(kind: str, payload: dict) -> list[str]:
    """What the XML Schema of ``kind`` (INV101 or SAS121) finds wrong with a message that came
    as JSON: the payload written as the special-area system's XML and checked against
    tally/customs/schemas; empty when it is valid. (A message that came as XML is checked as it
    arrived: arrived_problems.)"""
    try:
        text = render_xml(kind, payload, message_id="CHECK", send_time="2000-01-01T00:00:00")
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        return [f"the message cannot be written as {kind} XML: {e}"]
    return message_xml.schema_problems(kind, text)


def required(body: object, fields: tuple[str, ...]) -> list[str]:
    """What is missing from a write-off or control request body."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    return [f"{field} is required" for field in fields
            if not isinstance(body.get(field), str) or not body[field].strip()]
