"""Issuing unit codes for unpacked units, listing them for printing, and recording reprints."""

from sqlite_utils import Database

from tally import conditions, manifests, units, workflow
from tally.catalogue import say
from tally.db import lock_manifests, next_ids, now, write
from tally.errors import ConflictError, NotFoundError, PayloadTooLarge, ValidationError
from tally.events import record_event
from tally.fields import Fields

# The hard bound of one request, whoever asks (a supervisor beyond the surplus allowance too).
MAX_LABELS_PER_REQUEST = 10_000
# Labels in one list, PDF or print job: a PDF takes ~0.7 ms a label to draw (docs/benchmarks.md).
MAX_LABELS_LISTED = 2_000
# Goods arrive over-shipped and surplus units need labels too: an operator may label a line up to
# its declared quantity plus this surplus, 10 % rounded up and at least 5 units.
SURPLUS_PERCENT = 10
SURPLUS_MINIMUM = 5


def label_allowance(declared_qty: int) -> int:
    """Labels (not void) an operator may have on a line: declared plus the surplus allowance."""
    surplus = max(-(-declared_qty * SURPLUS_PERCENT // 100), SURPLUS_MINIMUM)
    return declared_qty + surplus


def issue_labels(
    db: Database, manifest_id: int, *, line_no, count, box_no=None, user_id: int | None,
    may_exceed: bool = False,
) -> list[dict]:
    """Issue ``count`` new unit codes for one manifest line (and box); return them.

    Beyond the line's ``label_allowance`` (labels not void counted) only ``may_exceed`` (the
    supervisor role) may issue. The unit's row id is its serial, allocated inside the write
    transaction, so codes are unique across the database without a separate sequence.
    """
    fields = Fields()
    count = fields.integer(count, "count", minimum=1, maximum=MAX_LABELS_PER_REQUEST)
    line_no = fields.integer(line_no, "line_no", minimum=1)
    box_no = fields.text(box_no, "box_no", required=False, max_length=32)
    fields.raise_if_any(say("labels_invalid"))
    with write(db):
        workflow.require_tally_open(db, manifest_id, say(
            "labels_refused", manifest_no=conditions.manifest_number(db, manifest_id)))
        line = manifests.find_line(db, manifest_id, line_no)
        if not may_exceed:
            _check_allowance(db, manifest_id, line, count)
        issued_at = now()
        rows = [
            (serial, units.make_code(serial), manifest_id, line["id"], box_no, issued_at, user_id)
            for serial in next_ids(db, "units", count)
        ]
        db.conn.executemany(
            "INSERT INTO units (id, code, manifest_id, line_id, box_no, issued_at, issued_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if box_no is not None:  # the box gets its own label the first time
            db.execute("INSERT INTO boxes (manifest_id, box_no, created_at) VALUES (?, ?, ?)"
                       " ON CONFLICT (manifest_id, box_no) DO NOTHING",
                       [manifest_id, box_no, issued_at])
        record_event(
            db,
            "labels-issued",
            user_id=user_id,
            manifest_id=manifest_id,
            line_no=line_no,
            box_no=box_no,
            count=count,
            first_code=rows[0][1],
            last_code=rows[-1][1],
        )
    return [{"code": r[1], "line_no": line_no, "box_no": box_no} for r in rows]


def issued_per_line(db: Database, manifest_id: int, line_nos: list[int]) -> dict[int, int]:
    """Labels not void of each of the manifest's ``line_nos`` (up to a page of them)."""
    marks = ", ".join("?" * len(line_nos))
    return dict(db.execute(
        "SELECT l.line_no, count(u.id) FROM manifest_lines l LEFT JOIN units u"
        " ON u.manifest_id = l.manifest_id AND u.line_id = l.id AND u.status = 'issued'"
        f" WHERE l.manifest_id = ? AND l.line_no IN ({marks}) GROUP BY l.line_no",
        [manifest_id, *line_nos]).fetchall())


def issued_summary(db: Database, manifest_id: int) -> dict:
    """The manifest's labels not void: how many (``issued_total``) and their ``boxes``."""
    total = db.execute("SELECT count(*) FROM units WHERE manifest_id = ? AND status = 'issued'",
                       [manifest_id]).fetchone()[0]
    boxes = [r[0] for r in db.execute(
        "SELECT DISTINCT box_no FROM units WHERE manifest_id = ? AND status = 'issued'"
        " AND box_no IS NOT NULL ORDER BY box_no", [manifest_id])]
    return {"issued_total": total, "boxes": boxes}


_BOXES = ("SELECT b.id, b.manifest_id, b.box_no, (SELECT count(*) FROM units u"
          " WHERE u.manifest_id = b.manifest_id AND u.box_no = b.box_no"
          " AND u.status = 'issued') FROM boxes b")


def list_boxes(db: Database, manifest_id: int) -> list[dict]:
    """The manifest's boxes in the order they were first labelled: number, box code, and the
    labels not void issued to each."""
    return [_box(row) for row in db.execute(
        _BOXES + " WHERE b.manifest_id = ? ORDER BY b.id", [manifest_id])]


def find_box(db: Database, box_id: int) -> dict | None:
    """The box with this id (from a box code): manifest id, number, code and labels, or None."""
    row = db.execute(_BOXES + " WHERE b.id = ?", [box_id]).fetchone()
    return None if row is None else _box(row)


def _box(row) -> dict:
    return {"manifest_id": row[1], "box_no": row[2], "code": units.box_code(row[0]),
            "labels": row[3]}


def list_labels_with_boxes(db: Database, manifest_id: int, *, line_no=None,
                           box_no=None) -> list[dict]:
    """A print job of the selected labels (``list_labels``), each box's label first: a box
    (``kind`` "box": code, box_no, labels, manifest_no) then its unit labels (``kind`` "unit")
    in code order; boxes in the order first labelled, units without a box last. Box labels count
    toward MAX_LABELS_LISTED (PayloadTooLarge past it)."""
    rows = list_labels(db, manifest_id, line_no=line_no, box_no=box_no)
    if not rows:
        return []
    boxes = {box["box_no"]: (order, box) for order, box in enumerate(list_boxes(db, manifest_id))}
    groups: dict[str | None, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["box_no"], []).append({**row, "kind": "unit"})

    def rank(key: str | None) -> tuple:
        if key is None:  # units issued without a box: after every box
            return (2, 0, "")
        return (0, boxes[key][0], "") if key in boxes else (1, 0, key)

    job: list[dict] = []
    for key in sorted(groups, key=rank):
        if key in boxes:
            box = boxes[key][1]
            job.append({"kind": "box", "code": box["code"], "box_no": box["box_no"],
                        "labels": box["labels"], "manifest_no": rows[0]["manifest_no"]})
        job.extend(groups[key])
    if len(job) > MAX_LABELS_LISTED:
        raise PayloadTooLarge(
            say("labels_too_many", limit=MAX_LABELS_LISTED),
            [{"field": "line_no", "message": say("choose_line_or_box")}])
    return job


def find_box_by_code(db: Database, code: str) -> dict:
    """The box of a box code (``units.box_code``) with its manifest number; NotFoundError when
    the text is no box code or no box has it."""
    read = units.read_code(code)
    box = find_box(db, read[1]) if read is not None and read[0] == "box" else None
    if box is None:
        raise NotFoundError(f"no box with code {code}")
    return {**box, "manifest_no": manifests.load_head(db, box["manifest_id"])["manifest_no"]}


def _check_allowance(db: Database, manifest_id: int, line: dict, count: int) -> None:
    """ConflictError when ``count`` more labels would take the line past its allowance."""
    issued = issued_per_line(db, manifest_id, [line["line_no"]])[line["line_no"]]
    allowance = label_allowance(line["declared_qty"])
    left = max(allowance - issued, 0)
    if count > left:
        raise ConflictError(
            say("label_allowance_exceeded", line_no=line["line_no"],
                declared=line["declared_qty"], issued=issued, left=left, allowance=allowance),
            [{"field": "count", "message": say("allowance_left", left=left,
                                               line_no=line["line_no"])}],
            line_no=line["line_no"], declared_qty=line["declared_qty"], issued=issued,
            allowance=allowance, remaining=left, required_role="supervisor")


def list_labels(db: Database, manifest_id: int, *, line_no=None, box_no=None, codes=None,
                bounded: bool = True) -> list[dict]:
    """Issued (not void) labels of a manifest with what a label prints, in code order (of the
    ``codes`` only, if given); if ``bounded``, more than MAX_LABELS_LISTED of them is refused
    (PayloadTooLarge), none read past it."""
    limit = MAX_LABELS_LISTED if bounded else None
    manifests.load_head(db, manifest_id)
    sql = [
        """SELECT u.code, l.line_no, u.box_no, l.sku, l.name, m.manifest_no, u.status
              FROM units u JOIN manifest_lines l ON l.id = u.line_id
              JOIN manifests m ON m.id = u.manifest_id
              WHERE u.manifest_id = ? AND u.status = 'issued'"""
    ]
    params: list = [manifest_id]
    if line_no is not None:
        sql.append("AND l.line_no = ?")
        params.append(line_no)
    if box_no is not None:
        sql.append("AND u.box_no = ?")
        params.append(box_no)
    if codes is not None:
        sql.append(f"AND u.code IN ({', '.join('?' * len(codes))})")
        params.extend(codes)
    sql.append("ORDER BY u.id")
    if limit is not None:
        sql.append(f"LIMIT {int(limit) + 1}")
    rows = list(db.query(" ".join(sql), params))
    if limit is not None and len(rows) > limit:
        raise PayloadTooLarge(
            say("labels_too_many", limit=limit),
            [{"field": "line_no", "message": say("choose_line_or_box")}])
    return rows


def get_label(db: Database, code: str) -> dict:
    """What the label of one unit code prints (latest copy number included)."""
    row = next(
        iter(
            db.query(
                """SELECT u.id AS unit_id, u.code, u.status, u.manifest_id, l.line_no, u.box_no,
                  l.sku,
                  l.name, m.manifest_no,
                  (SELECT coalesce(max(copy_no), 0) FROM label_prints p WHERE p.unit_id = u.id)
                  AS copy_no
           FROM units u JOIN manifest_lines l ON l.id = u.line_id
           JOIN manifests m ON m.id = u.manifest_id WHERE u.code = ?""",
                [code],
            )
        ),
        None,
    )
    if row is None:
        raise NotFoundError(say("unit_not_found", code=code))
    return row


def get_label_copy(db: Database, code: str, copy_no: int = 0) -> dict:
    """What the label of one unit code prints (``get_label``), checking that copy ``copy_no``
    exists: 0 is the original, 1 up to the latest copy a recorded reprint; NotFoundError else."""
    label = get_label(db, code)
    if copy_no and not 1 <= copy_no <= label["copy_no"]:
        raise NotFoundError(say("label_copy_missing", copy=copy_no, code=code))
    return label


def record_print(db: Database, manifest_id: int, *, printer: str, codes: list[str],
                 copy_no: int, dpi: int, size: str, box_labels: int,
                 user_id: int | None) -> None:
    """Record in the audit trail a print job sent to the network printer ``printer``: its
    labels' ``codes`` in print order (box labels, ``box_labels`` of them, included)."""
    with write(db):
        record_event(
            db,
            "labels-printed",
            user_id=user_id,
            manifest_id=manifest_id,
            printer=printer,
            count=len(codes),
            first_code=codes[0],
            last_code=codes[-1],
            copy_no=copy_no,
            dpi=dpi,
            size=size,
            box_labels=box_labels,
        )


def record_reprint(db: Database, code: str, *, reason, user_id: int | None) -> dict:
    """Record a reprint of one label with its reason; return the label marked as that copy."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
        raise ValidationError(
            say("reprint_reason_required"),
            [{"field": "reason", "message": say("reason_required")}],
        )
    with write(db):
        # Queued behind the consignment's other writers: the copy number read next is theirs + 1.
        lock_manifests(db, [get_label(db, code)["manifest_id"]])
        label = get_label(db, code)
        if label["status"] != "issued":
            raise ConflictError(say("label_not_reprintable", code=code,
                                    status=label["status"]))
        copy_no = label["copy_no"] + 1
        db.execute(
            "INSERT INTO label_prints (unit_id, copy_no, reason, printed_at, printed_by)"
            " VALUES (?, ?, ?, ?, ?)",
            [label["unit_id"], copy_no, reason.strip(), now(), user_id],
        )
        record_event(
            db,
            "label-reprinted",
            user_id=user_id,
            manifest_id=label["manifest_id"],
            code=code,
            copy_no=copy_no,
            reason=reason.strip(),
        )
    return {**label, "copy_no": copy_no}


def void_unit(db: Database, code: str, *, reason, user_id: int | None) -> dict:
    """Void a unit code (label spoiled, unit withdrawn): later scans of it answer ``void``.

    A unit already counted cannot be voided; record a discrepancy for it instead.
    """
    if not isinstance(reason, str) or not reason.strip() or len(reason) > 200:
        raise ValidationError(
            say("void_reason_required"),
            [{"field": "reason", "message": say("reason_required")}],
        )
    with write(db):
        # The label is read again once its consignment's row is locked (PostgreSQL): a void
        # committed meanwhile by another server is then seen, and this one refused.
        manifest_id = get_label(db, code)["manifest_id"]
        workflow.require_tally_open(db, manifest_id, say("void_refused", code=code))
        label = get_label(db, code)
        if label["status"] == "void":
            raise ConflictError(say("label_already_void", code=code))
        if list(
            db.query(
                "SELECT 1 FROM scans WHERE unit_id = ? AND outcome = 'counted'", [label["unit_id"]]
            )
        ):
            raise ConflictError(say("label_already_counted", code=code))
        db.execute("UPDATE units SET status = 'void' WHERE id = ?", [label["unit_id"]])
        record_event(
            db,
            "label-voided",
            user_id=user_id,
            manifest_id=label["manifest_id"],
            code=code,
            reason=reason.strip(),
        )
    return {**label, "status": "void"}
