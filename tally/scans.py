"""The scan ledger: every scan is appended with its outcome; counts are derived from it.

``record_scans`` is idempotent by client scan id: a scan sent again (a retry, a handheld replaying
its offline queue) gets the first answer back and counts nothing. The partial unique index
``scans_counted_unit`` makes a double count impossible even if this code were wrong.
"""

import json
import re
from dataclasses import dataclass

from sqlite_utils import Database

from tally import units, workflow
from tally.db import now, write
from tally.errors import ConflictError, ValidationError

MAX_BATCH = 1000
OUTCOMES = ("counted", "duplicate", "unknown", "other_manifest", "void", "invalid")
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


@dataclass(frozen=True)
class Scan:
    """One scan request: a wedge read (one code) or a camera frame (the codes decoded from it)."""

    client_scan_id: str
    codes: tuple[str, ...]
    source: str = "wedge"
    device: str | None = None
    image_sha256: str | None = None


def parse_wedge_scan(item: object, index: int | None = None) -> Scan:
    """Validate one JSON wedge scan ``{"code", "client_scan_id", "device"}``."""
    where = {} if index is None else {"index": index}
    if not isinstance(item, dict):
        raise ValidationError("a scan must be an object", [{**where, "message": "not an object"}])
    errors = []
    code, client_id, device = item.get("code"), item.get("client_scan_id"), item.get("device")
    if not isinstance(code, str) or not code.strip() or len(code) > 128:
        errors.append({**where, "field": "code", "message": "text of 1 to 128 characters required"})
    errors += check_client_scan_id(client_id, where)
    if device is not None and (not isinstance(device, str) or len(device) > 64):
        errors.append({**where, "field": "device", "message": "text of at most 64 characters"})
    if errors:
        raise ValidationError("the scan is invalid", errors)
    return Scan(client_id, (code,), "wedge", device)


def parse_request(body: object) -> list[Scan]:
    """A JSON scan request: one wedge scan, or a batch ``{"scans": [...]}``."""
    if isinstance(body, dict) and "scans" in body:
        return parse_batch(body)
    return [parse_wedge_scan(body)]


def check_client_scan_id(client_id, where=None) -> list[dict]:
    """Problems with a client scan id (1-64 of letters, digits and ``._:-``), as error dicts."""
    if isinstance(client_id, str) and _CLIENT_ID.match(client_id):
        return []
    return [
        {
            **(where or {}),
            "field": "client_scan_id",
            "message": "1 to 64 letters, digits or ._:- (e.g. a UUID) required",
        }
    ]


def parse_batch(body: object) -> list[Scan]:
    """Validate ``{"scans": [...]}``: every bad item is reported, nothing is recorded."""
    items = body.get("scans") if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise ValidationError("scans must be a non-empty list")
    if len(items) > MAX_BATCH:
        raise ValidationError(f"a batch holds at most {MAX_BATCH} scans, got {len(items)}")
    scans, errors, seen = [], [], set()
    for index, item in enumerate(items):
        try:
            scan = parse_wedge_scan(item, index)
        except ValidationError as exc:
            errors += exc.errors
            continue
        if scan.client_scan_id in seen:
            errors.append(
                {"index": index, "field": "client_scan_id", "message": "repeated within the batch"}
            )
        seen.add(scan.client_scan_id)
        scans.append(scan)
    if errors:
        raise ValidationError(
            f"{len(errors)} scan(s) in the batch are invalid; none was recorded", errors
        )
    return scans


def find_recorded(db: Database, client_scan_id: str) -> list[dict] | None:
    """The stored answer of an earlier request with this client scan id, or None."""
    rows = db.conn.execute(
        "SELECT result FROM scans WHERE client_scan_id = ? ORDER BY seq", [client_scan_id]
    ).fetchall()
    return [json.loads(r[0]) for r in rows] if rows else None


def record_scans(
    db: Database,
    manifest_id: int,
    scans: list[Scan],
    *,
    user_id: int | None,
    image: tuple[bytes, str] | None = None,
) -> list[dict]:
    """Record scan requests in one transaction; return one result per code, in order.

    ``image`` (content, content type) is kept once per distinct frame for later review.
    The ledger row is the scan's audit record (who, device, when, what was read, the answer),
    append-only and written in the same transaction, so scans add no row to ``events``: a
    second record of every scan made each one ~15 % slower under load (docs/benchmarks.md).
    """
    results: list[dict] = []
    recorded = False
    with write(db):
        status = workflow.current_status(db, manifest_id)
        if not workflow.is_tally_open(status):
            raise ConflictError(
                f"the tally is closed ({status.value}); scans are not accepted",
                current_status=status.value,
            )
        stamp = now()
        for scan in scans:
            earlier = _replay(db, manifest_id, scan)
            if earlier is not None:
                results += earlier
                continue
            for seq, raw in enumerate(scan.codes):
                results.append(_record_one(db, manifest_id, scan, seq, raw, user_id, stamp))
                recorded = True
        if image is not None and recorded:
            content, content_type = image
            db.execute(
                "INSERT OR IGNORE INTO scan_images (sha256, content_type, content, created_at)"
                " VALUES (?, ?, ?, ?)",
                [scans[0].image_sha256, content_type, content, stamp],
            )
    return results


def _replay(db: Database, manifest_id: int, scan: Scan) -> list[dict] | None:
    row = db.conn.execute(
        "SELECT manifest_id, code, source FROM scans WHERE client_scan_id = ? LIMIT 1",
        [scan.client_scan_id],
    ).fetchone()
    if row is None:
        return None
    same = row[0] == manifest_id and row[2] == scan.source
    if scan.source == "wedge":
        same = same and row[1] == scan.codes[0]
    if not same:
        raise ConflictError(
            f"client_scan_id {scan.client_scan_id} was already used for another scan",
            [{"field": "client_scan_id", "message": "already used"}],
        )
    return find_recorded(db, scan.client_scan_id)


def _record_one(db, manifest_id, scan: Scan, seq: int, raw: str, user_id, stamp) -> dict:
    code = raw.strip().upper()
    outcome, unit_id, line_id, line_no, declared, counted = _classify(db, manifest_id, code)
    result = {
        "client_scan_id": scan.client_scan_id,
        "code": code,
        "outcome": outcome,
        "line_no": line_no,
        "counted": counted,
        "declared": declared,
    }
    db.conn.execute(
        "INSERT INTO scans (client_scan_id, seq, manifest_id, code, source, device, user_id,"
        " outcome, unit_id, line_id, result, image_sha256, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            scan.client_scan_id,
            seq,
            manifest_id,
            raw,
            scan.source,
            scan.device,
            user_id,
            outcome,
            unit_id,
            line_id if outcome in ("counted", "duplicate") else None,
            json.dumps(result),
            scan.image_sha256,
            stamp,
        ],
    )
    return result


# One statement for the hot path: the unit, whether the ledger already counts it, and its line's
# count (kept from the ledger by the line_counts trigger, see tally/db.py m004). The unit is found
# by its serial, which is its row id (tally/labelling.py), rather than through the code index:
# one B-tree descent fewer, and the code is still compared.
_UNIT_QUERY = """
SELECT u.id, u.manifest_id, u.line_id, u.status, l.line_no, l.declared_qty,
       EXISTS (SELECT 1 FROM scans s WHERE s.unit_id = u.id AND s.outcome = 'counted'),
       coalesce((SELECT counted FROM line_counts c WHERE c.line_id = u.line_id), 0)
FROM units u JOIN manifest_lines l ON l.id = u.line_id WHERE u.id = ? AND u.code = ?
"""


def _classify(db, manifest_id, code):
    """(outcome, unit_id, line_id, line_no, declared, counted after this scan) for one code."""
    if not units.looks_like_code(code):
        return "unknown", None, None, None, None, None
    if not units.is_valid_code(code):
        return "invalid", None, None, None, None, None
    row = db.conn.execute(_UNIT_QUERY, [units.parse_serial(code), code]).fetchone()
    if row is None:
        return "unknown", None, None, None, None, None
    unit_id, unit_manifest, line_id, unit_status, line_no, declared, already, counted = row
    if unit_manifest != manifest_id:
        return "other_manifest", unit_id, None, None, None, None
    if unit_status == "void":
        return "void", unit_id, line_id, line_no, declared, counted
    if already:
        return "duplicate", unit_id, line_id, line_no, declared, counted
    return "counted", unit_id, line_id, line_no, declared, counted + 1


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
