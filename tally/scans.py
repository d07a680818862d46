"""The scan ledger: every scan is appended with its outcome; counts are derived from it.

``record_scans`` is idempotent by client scan id: a scan sent again (a retry, a handheld replaying
its offline queue) gets the first answer back and counts nothing. The partial unique index
``scans_counted_unit`` makes a double count impossible even if this code were wrong.

A server records through ``submit(path, request)``: one thread per process and
database file takes the requests waiting at the same moment and records them in one transaction
(group commit), each answered as if it had come alone and only after the commit.
"""

import json
import logging
import os
import queue
import re
import threading
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii

from sqlite_utils import Database

from tally import gs1, units, workflow
from tally.catalogue import say
from tally.db import any_of, checkpoint_when_due, close_db, now, open_db, pipelined, write
from tally.errors import ConflictError, NotFoundError, TallyError, ValidationError
from tally.fields import Fields

MAX_BATCH = 1000
log = logging.getLogger(__name__)
OUTCOMES = ("counted", "duplicate", "unknown", "other_manifest", "void", "invalid")
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_CODE = re.compile(r"[\x20-\x7e\x1d]+")  # what a linear barcode carries; GS in GS1 codes


@dataclass(frozen=True)
class Scan:
    """One scan request: a wedge read (one code) or a camera frame (the codes decoded from it)."""

    client_scan_id: str
    codes: tuple[str, ...]
    source: str = "wedge"
    device: str | None = None
    image_sha256: str | None = None
    carton: gs1.Carton | None = None  # the GS1 carton the unit was unpacked from


def parse_wedge_scan(item: object, index: int | None = None,
                     fields: Fields | None = None) -> Scan | None:
    """Validate one JSON wedge scan ``{"code", "client_scan_id", "device", "carton"}`` (the
    carton: its GS1 barcode's text, whose batch and expiry the unit takes). With ``fields``
    (a batch's), its problems are added there and None returned; else they are raised."""
    where = {} if index is None else {"index": index}
    own = fields is None
    fields = Fields(where) if own else fields
    fields.where = where
    if not isinstance(item, dict):
        fields.errors.append({**where, "message": say("not_an_object")})
        return fields.raise_if_any(say("scan_not_object")) if own else None
    found = len(fields.errors)
    code = fields.text(item.get("code"), "code", max_length=128, pattern=_CODE, controls="\x1d",
                       hint=say("scan_code_form"))
    client_id = read_client_scan_id(fields, item.get("client_scan_id"))
    device = fields.text(item.get("device"), "device", required=False, max_length=64)
    carton = read_carton(fields, item.get("carton"))
    if own:
        fields.raise_if_any(say("scan_invalid"))
    if len(fields.errors) > found:
        return None
    return Scan(client_id, (code,), "wedge", device, carton=carton)


def read_carton(fields: Fields, value) -> gs1.Carton | None:
    """The GS1 carton barcode a scan names, parsed (None when absent)."""
    text = fields.text(value, "carton", required=False, max_length=128, pattern=_CODE,
                       controls="\x1d", hint=say("carton_form"))
    if text is None:
        return None
    try:
        return gs1.parse_carton(text)
    except ValueError as exc:
        fields.problem("carton", exc.args[0])
        return None


def parse_request(body: object) -> list[Scan]:
    """A JSON scan request: one wedge scan, or a batch ``{"scans": [...]}``."""
    if isinstance(body, dict) and "scans" in body:
        return parse_batch(body)
    return [parse_wedge_scan(body)]


def read_client_scan_id(fields: Fields, value) -> str | None:
    """A client scan id: 1-64 of letters, digits and ``._:-`` (e.g. a UUID)."""
    return fields.text(value, "client_scan_id", max_length=64, pattern=CLIENT_ID,
                       hint=say("client_scan_id_form"))


def parse_batch(body: object) -> list[Scan]:
    """Validate ``{"scans": [...]}``: every bad item is reported, nothing is recorded."""
    items = body.get("scans") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError(say("scans_not_list"))
    if len(items) > MAX_BATCH:
        raise ValidationError(say("scans_too_many", limit=MAX_BATCH, count=len(items)))
    scans, fields, seen = [], Fields(), set()
    for index, item in enumerate(items):
        scan = parse_wedge_scan(item, index, fields)
        if scan is None:
            continue
        if scan.client_scan_id in seen:
            fields.problem("client_scan_id", say("repeated_in_batch"))
        seen.add(scan.client_scan_id)
        scans.append(scan)
    fields.raise_if_any(say("scan_batch_invalid", count=len(fields.errors)))
    return scans


def find_recorded(db: Database, client_scan_id: str) -> list[dict] | None:
    """The stored answer of an earlier request with this client scan id, or None."""
    rows = db.conn.execute(
        "SELECT result FROM scans WHERE client_scan_id = ? ORDER BY seq", [client_scan_id]
    ).fetchall()
    return [json.loads(r[0]) for r in rows] if rows else None


@dataclass(frozen=True)
class Request:
    """One client request's scans; ``image`` (content, content type) is the camera frame they
    were decoded from, kept once per distinct frame for later review."""

    manifest_id: int
    scans: list[Scan]
    user_id: int | None
    image: tuple[bytes, str] | None = None


def record_scans(
    db: Database,
    manifest_id: int,
    scans: list[Scan],
    *,
    user_id: int | None,
    image: tuple[bytes, str] | None = None,
) -> list[dict]:
    """Record one request's scans in one transaction; return one result per code, in order.

    The ledger row is the scan's audit record (who, device, when, what was read, the answer),
    append-only and written in the same transaction, so scans add no row to ``events``.
    """
    [outcome] = record_requests(db, [Request(manifest_id, scans, user_id, image)])
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def record_requests(db: Database, requests: list[Request]) -> list[list[dict] | Exception]:
    """Record several requests in one transaction, as if each came after the one before it.

    Each request gets its results, or its own error (no such manifest, the tally is closed, a
    client scan id used for another scan), in which case nothing of it is recorded and the others
    go on. A request repeating an earlier one's client scan id gets that one's answer, as it
    would a moment later. Should the transaction itself fail, each request is recorded alone, so
    that one request's fault is never another's answer.
    """
    try:
        with pipelined(db), write(db):  # the ledger's rows go with the COMMIT (PostgreSQL)
            return _record(db, requests)
    except Exception as exc:
        if len(requests) == 1:
            return [exc]
    log.warning("a group of %d scan requests failed together; recording each alone",
                len(requests))
    return [outcome for request in requests for outcome in record_requests(db, [request])]


# A group stops growing at this many requests or scans: its clients wait for one commit.
MAX_GROUP_REQUESTS = 64
MAX_GROUP_SCANS = 4 * MAX_BATCH
# A writer with nothing to do for this long stops and closes its connection.
WRITER_IDLE_S = 10.0


class _Waiting:
    """A request handed to a writer, and what to do with its outcome once committed: release a
    waiting thread, or call ``then`` (from the writer's thread)."""

    __slots__ = ("request", "outcome", "_done", "_then")

    def __init__(self, request: Request, then=None):
        self.request, self.outcome, self._then = request, None, then
        self._done = None
        if then is None:
            self._done = threading.Lock()
            self._done.acquire()  # released by the writer: cheaper than an Event

    def wait(self) -> list[dict]:
        self._done.acquire()
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome

    def answer(self, outcome) -> None:
        if self._then is not None:
            self._then(outcome)
            return
        self.outcome = outcome
        self._done.release()


class ScanWriter:
    """The one thread of this process that records scans into the database file at ``path``.

    Callers ``submit`` a request and wait; the thread takes every request waiting at that moment
    (up to a group's worth) and records them with ``record_requests`` in one transaction, then
    answers each. One lock wait, one read of the ledger and one commit then serve many clients.
    """

    def __init__(self, path: str):
        self.path = path
        self._queue: queue.SimpleQueue[_Waiting] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="scan-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        db = None
        try:
            while (group := self._next_group()) is not None:
                try:
                    if db is None:  # here, so that a failure to open is answered too
                        db = open_db(self.path)
                        db.checkpoint_later = True  # checkpoints after the answers
                    outcomes = record_requests(db, [w.request for w in group])
                except BaseException as exc:  # noqa: BLE001 - every waiting client is answered
                    outcomes = [exc] * len(group)
                for waiting, outcome in zip(group, outcomes, strict=True):
                    try:
                        waiting.answer(outcome)
                    except Exception:  # a caller's callback: the others are still answered
                        log.exception("answering a scan request failed")
                if db is not None:
                    checkpoint_when_due(db)
        finally:
            if db is not None:
                close_db(db)

    def _next_group(self) -> list[_Waiting] | None:
        """The requests waiting now (blocking for the first), or None once idle and retired."""
        try:
            group = [self._queue.get(timeout=WRITER_IDLE_S)]
        except queue.Empty:
            if _retire(self):
                return None
            return self._next_group()
        scans = len(group[0].request.scans)
        while len(group) < MAX_GROUP_REQUESTS and scans < MAX_GROUP_SCANS:
            try:
                waiting = self._queue.get_nowait()
            except queue.Empty:
                break
            group.append(waiting)
            scans += len(waiting.request.scans)
        return group


_writers: dict[tuple[int, str], ScanWriter] = {}
_writers_lock = threading.Lock()


def submit(path: str, request: Request) -> list[dict]:
    """Record the request through this process's writer for the database file at ``path``
    (started when first needed): its results once committed, or its own error raised."""
    waiting = _Waiting(request)
    _enqueue(path, waiting)
    return waiting.wait()


def submit_then(path: str, request: Request, then) -> None:
    """Like ``submit`` without waiting: the writer calls ``then(results or error)`` from its own
    thread once the request is committed (an event loop waits this way)."""
    _enqueue(path, _Waiting(request, then))


def _enqueue(path: str, waiting: _Waiting) -> None:
    key = (os.getpid(), os.path.abspath(path))
    with _writers_lock:  # with the put, so that an idle writer cannot retire in between
        writer = _writers.get(key)
        if writer is None:
            writer = _writers[key] = ScanWriter(path)
        writer._queue.put(waiting)


def _retire(writer: ScanWriter) -> bool:
    """Forget an idle writer unless a request reached it meanwhile (submitters look it up under
    the same lock, so none can be left waiting on a stopped thread)."""
    with _writers_lock:
        if not writer._queue.empty():
            return False
        key = (os.getpid(), os.path.abspath(writer.path))
        if _writers.get(key) is writer:
            del _writers[key]
        return True


def _record(db: Database, requests: list[Request]) -> list[list[dict] | TallyError]:
    """The results or the error, per request, within the caller's transaction."""
    manifest_ids = sorted({r.manifest_id for r in requests})
    group_scans = [s for r in requests for s in r.scans]
    with pipelined(db) as send:  # asked in one round trip on PostgreSQL, answered in order
        # In id order: each locks its consignment's row (PostgreSQL) until the commit, so the
        # reads after it see what the writer before committed.
        asked = {mid: workflow.ask_status(db, mid) for mid in manifest_ids}
        stored = any_of(db, _STORED_QUERY, [s.client_scan_id for s in group_scans])
        # Every unit read, though a closed tally or an earlier answer may leave it unused.
        serials = {int(code[1:-1]) for s in group_scans for code in map(_normal, s.codes)
                   if units.looks_like_code(code)}
        unit_rows = any_of(db, _UNITS_QUERY, sorted(serials))
        send()
    closed = {mid: _closed(asked[mid], mid) for mid in manifest_ids}
    outcomes: list = [closed[r.manifest_id] for r in requests]
    # Every earlier answer of these client scan ids, and as this group records more, theirs.
    known = _stored_answers(stored)
    ledger = _Ledger(unit_rows)
    stamp = now()
    rows = []
    for index, request in enumerate(requests):
        if outcomes[index] is not None:
            continue
        try:
            earlier = _earlier_answers(request, known)
        except ConflictError as exc:
            outcomes[index] = exc
            continue
        results, worth_keeping = [], False
        for scan in request.scans:
            if scan.client_scan_id in earlier:
                results += earlier[scan.client_scan_id]
                continue
            for seq, raw in enumerate(scan.codes):
                result, unit_id, line_id, lot = ledger.classify(raw, request.manifest_id,
                                                                scan.carton)
                result = {"client_scan_id": scan.client_scan_id, **result}
                results.append(result)
                worth_keeping = worth_keeping or result["outcome"] != "duplicate"
                known.setdefault(scan.client_scan_id, []).append(
                    (request.manifest_id, raw, scan.source, result))
                rows.append((scan.client_scan_id, seq, request.manifest_id, raw, scan.source,
                             scan.device, request.user_id, result["outcome"], unit_id,
                             line_id, _result_json(result), scan.image_sha256, stamp, *lot))
        # A new frame is kept for review (its ledger rows name it by its hash) unless all it
        # showed was units already counted.
        if request.image is not None and worth_keeping:
            content, content_type = request.image
            db.execute(
                "INSERT INTO scan_images (sha256, content_type, content,"
                " created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                [request.scans[0].image_sha256, content_type, content, stamp],
            )
        outcomes[index] = results
    # One statement for them all; the line_counts trigger keeps each line's count.
    db.conn.executemany(
        "INSERT INTO scans (client_scan_id, seq, manifest_id, code, source, device, user_id,"
        " outcome, unit_id, line_id, result, image_sha256, created_at, lot_gtin, lot_batch,"
        " lot_expiry) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    return outcomes


def _closed(asked, manifest_id: int) -> TallyError | None:
    """Why the manifest takes no scans (there is none, or its tally is not open), or None."""
    try:
        workflow.check_tally_open(workflow.status_from(asked, manifest_id),
                                  say("scans_refused"))
    except (NotFoundError, ConflictError) as exc:
        return exc
    return None


_STORED_QUERY = ("SELECT client_scan_id, seq, manifest_id, code, source, result FROM scans"
                 " WHERE client_scan_id IN ({}) ORDER BY client_scan_id, seq")


def _stored_answers(rows) -> dict[str, list[tuple]]:
    """(manifest id, code, source, result) of each ledger row of _STORED_QUERY's ``rows``, by
    client scan id."""
    found: dict[str, list[tuple]] = {}
    for client_id, _seq, scan_manifest, code, source, result in rows:
        found.setdefault(client_id, []).append((scan_manifest, code, source, json.loads(result)))
    return found


def _earlier_answers(request: Request, known: dict[str, list[tuple]]) -> dict[str, list]:
    """The answers already given to the request's scans, by client scan id.

    A client scan id used before for a different scan is a 409: the client has a bug, and
    answering with the other scan's result would hide it.
    """
    answers = {}
    for scan in request.scans:
        stored = known.get(scan.client_scan_id)
        if stored is None:
            continue
        scan_manifest, code, source, _ = stored[0]
        same = scan_manifest == request.manifest_id and source == scan.source
        if scan.source == "wedge":
            same = same and code == scan.codes[0]
        if not same:
            raise ConflictError(
                say("scan_id_reused", client_scan_id=scan.client_scan_id),
                [{"field": "client_scan_id", "message": say("already_used")}],
            )
        answers[scan.client_scan_id] = [row[3] for row in stored]
    return answers


# The units read by a request, whether the ledger already counts each, and their lines' counts
# (kept from the ledger by the line_counts trigger, see tally/schema.py m004). Units are found by
# their serial, which is their row id (tally/labelling.py), rather than through the code index:
# one B-tree descent fewer; the code is compared after. The counted scan is a scalar subquery,
# one probe of the partial unique index per unit: as EXISTS or a join, PostgreSQL may hash the
# whole ledger's counted scans for a few hundred units.
_UNITS_QUERY = """
SELECT u.id, u.code, u.manifest_id, u.line_id, u.status, l.line_no, l.declared_qty,
       (SELECT s.id FROM scans s WHERE s.unit_id = u.id AND s.outcome = 'counted') IS NOT NULL,
       coalesce((SELECT c.counted FROM line_counts c WHERE c.line_id = u.line_id), 0),
       u.box_no, l.gtin
FROM units u JOIN manifest_lines l ON l.id = u.line_id WHERE u.id IN ({})
"""


class _Ledger:
    """The state a group of requests' scans are classified against, read in one go and kept up
    to date as the scans are classified in order (a unit read twice in a batch counts once)."""

    def __init__(self, unit_rows):
        # Units are keyed by their stored (valid) code: a misread whose serial exists but whose
        # check digit fails finds no entry and is answered invalid below.
        self.units, self.line_counts, self.counted = {}, {}, set()
        for row in unit_rows:  # _UNITS_QUERY's
            unit_id, code, _, line_id, _, _, _, already, line_count, _, _ = row
            self.units[code] = row
            self.line_counts[line_id] = line_count
            if already:
                self.counted.add(unit_id)

    def classify(self, raw: str, manifest_id: int, carton: gs1.Carton | None = None
                 ) -> tuple[dict, int | None, int | None, tuple]:
        """(answer without client_scan_id, unit id, line id to count under, the lot's ledger
        columns) for one code read for the manifest ``manifest_id``, unpacked from ``carton``."""
        code = _normal(raw)
        row = self.units.get(code)
        if row is None:
            misread = units.looks_like_code(code) and not units.is_valid_code(code)
            return _answer(code, "invalid" if misread else "unknown"), None, None, _NO_LOT
        unit_id, _, unit_manifest, line_id, unit_status, line_no, declared, _, _, box, gtin = row
        if unit_manifest != manifest_id:
            return _answer(code, "other_manifest"), unit_id, None, _NO_LOT
        lot = _NO_LOT
        if unit_status == "void":
            outcome, ledger_line = "void", None
        elif unit_id in self.counted:
            outcome, ledger_line = "duplicate", line_id
        else:
            outcome, ledger_line = "counted", line_id
            self.counted.add(unit_id)
            self.line_counts[line_id] += 1
            lot = _lot(carton, gtin)
        answer = _answer(code, outcome, line_no, self.line_counts[line_id], declared, box)
        if carton is not None and outcome == "counted":
            answer["lot"] = ({"batch": lot[1], "expiry": lot[2]} if lot[0] else None)
        return answer, unit_id, ledger_line, lot


_NO_LOT = (None, None, None)


def _lot(carton: gs1.Carton | None, line_gtin: str | None) -> tuple:
    """(GTIN, batch, expiry) a counted unit takes from its carton: none when there is no carton
    or the carton's GTIN is not its line's (the unit's label says which line it is)."""
    if carton is None or (line_gtin and gs1.gtin14(line_gtin) != carton.gtin):
        return _NO_LOT
    return (carton.gtin, carton.batch,
            carton.expiry.isoformat() if carton.expiry is not None else None)


def _result_json(result: dict) -> str:
    """``json.dumps(result)`` for one scan's answer, byte for byte, in a quarter of the time: it
    runs under the write lock for every scan of a batch."""
    if "lot" in result:  # rare: scans naming a carton
        return json.dumps(result)
    box = result.get("box_no")
    return (
        f'{{"client_scan_id": {encode_basestring_ascii(result["client_scan_id"])},'
        f' "code": {encode_basestring_ascii(result["code"])},'
        f' "outcome": {encode_basestring_ascii(result["outcome"])},'
        f' "line_no": {_json_int(result["line_no"])}, "counted": {_json_int(result["counted"])},'
        f' "declared": {_json_int(result["declared"])},'
        f' "box_no": {"null" if box is None else encode_basestring_ascii(box)}}}'
    )


def _json_int(value) -> str:
    return "null" if value is None else str(int(value))


def _normal(raw: str) -> str:
    return raw.strip().upper()


def _answer(code, outcome, line_no=None, counted=None, declared=None, box_no=None) -> dict:
    return {"code": code, "outcome": outcome, "line_no": line_no, "counted": counted,
            "declared": declared, "box_no": box_no}


def list_scans(
    db: Database, manifest_id: int, *, after_id: int = 0, limit: int = 500
) -> list[dict]:
    """The manifest's ledger, oldest first, for review (``after_id`` pages through it)."""
    return list(
        db.query(
            """SELECT s.id, s.client_scan_id, s.seq, s.code, s.source, s.device, u.name AS user,
                  s.outcome, s.result, s.image_sha256, s.created_at
           FROM scans s LEFT JOIN users u ON u.id = s.user_id
           WHERE s.manifest_id = ? AND s.id > ? ORDER BY s.id LIMIT ?""",
            [manifest_id, after_id, limit],
        )
    )
