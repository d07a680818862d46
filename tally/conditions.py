"""What the state machine's guards read: the latest inspection's outcome, the reconciliation of
declared with counted quantities, and the quantities carried by release orders and through the gate.

Read-only and below tally.workflow: inspections, reconcile and release_orders record these facts
and apply transitions through workflow, so workflow's guards read them from here, not from there.
"""

import json

from sqlite_utils import Database

from tally.catalogue import say


def manifest_number(db: Database, manifest_id: int) -> str:
    """The manifest number (舱单号) messages name a consignment by; its id if there is none."""
    row = db.execute("SELECT manifest_no FROM manifests WHERE id = ?", [manifest_id]).fetchone()
    return row[0] if row else str(manifest_id)


# --- inspection -------------------------------------------------------------------------------


def latest_inspection_id(db: Database, manifest_id: int) -> int | None:
    """The id of the manifest's latest inspection (the one that counts), or None."""
    row = db.execute("SELECT max(id) FROM inspections WHERE manifest_id = ?",
                     [manifest_id]).fetchone()
    return row[0]


def unmet_for_pass(db: Database, manifest_id: int) -> list[dict]:
    """What keeps the latest inspection from passing (empty when it can pass)."""
    inspection_id = latest_inspection_id(db, manifest_id)
    if inspection_id is None:
        return [{"condition": "inspection", "message": say("no_inspection")}]
    unmet = [
        {"condition": "check", "line_no": r["line_no"], "aspect": r["aspect"],
         "message": say("check_failed", line_no=r["line_no"], aspect=r["aspect"], note=r["note"])}
        for r in db.query(
            "SELECT l.line_no, c.aspect, c.note FROM inspection_checks c"
            " JOIN manifest_lines l ON l.id = c.line_id"
            " WHERE c.inspection_id = ? AND c.result = 'fail' ORDER BY l.line_no",
            [inspection_id])
    ]
    unmet += [{"condition": "task", "task_id": t["id"],
               "message": say("task_open", pallet_no=t["pallet_no"], kind=t["kind"])}
              for t in open_tasks(db, manifest_id)]
    signed = db.execute("SELECT escort_signed_at FROM inspections WHERE id = ?",
                        [inspection_id]).fetchone()[0]
    if not signed:
        unmet.append({"condition": "signature", "message": say("escort_not_signed")})
    return unmet


def open_tasks(db: Database, manifest_id: int) -> list[dict]:
    """Disposition tasks of the latest inspection not yet recorded done."""
    inspection_id = latest_inspection_id(db, manifest_id)
    return list(db.query(
        "SELECT t.id, t.kind, p.pallet_no FROM inspection_tasks t"
        " JOIN inspection_pallets p ON p.id = t.pallet_id"
        " WHERE t.inspection_id = ? AND t.done_at IS NULL ORDER BY t.id", [inspection_id]))


# --- reconciliation ---------------------------------------------------------------------------

KINDS = ("short", "over", "damaged", "wrong_item")
# Only short and over change the count arithmetic; damaged and wrong_item qualify counted units.
_SIGN = {"short": -1, "over": 1, "damaged": 0, "wrong_item": 0}


def compute_reconciliation(
    lines: list[dict], counts: dict[int, int], discrepancies: list[dict]
) -> dict:
    """Compare declared with counted quantities per line and say which differences are explained.

    ``lines``: manifest lines (id, line_no, sku, name, declared_qty); ``counts``: counted units by
    line id; ``discrepancies``: the effective records. A line's difference (counted - declared) is
    explained when the recorded over minus short quantities equal it exactly.
    """
    by_line: dict[int | None, list[dict]] = {}
    for record in discrepancies:
        by_line.setdefault(record["line_no"], []).append(record)
    out, totals = (
        [],
        {
            "declared": 0,
            "counted": 0,
            "lines": 0,
            "match": 0,
            "short": 0,
            "over": 0,
            "unexplained_lines": 0,
        },
    )
    for line in lines:
        declared, counted = line["declared_qty"], counts.get(line["id"], 0)
        difference = counted - declared
        records = by_line.get(line["line_no"], [])
        explained = sum(_SIGN[r["kind"]] * r["qty"] for r in records)
        status = "match" if difference == 0 else ("short" if difference < 0 else "over")
        out.append(
            {
                "line_no": line["line_no"],
                "sku": line["sku"],
                "name": line["name"],
                "declared": declared,
                "counted": counted,
                "difference": difference,
                "status": status,
                "explained": explained,
                "unexplained": difference - explained,
                "discrepancies": records,
            }
        )
        totals["declared"] += declared
        totals["counted"] += counted
        totals["lines"] += 1
        totals[status] += 1
        totals["unexplained_lines"] += difference != explained
    totals["difference"] = totals["counted"] - totals["declared"]
    return {
        "lines": out,
        "totals": totals,
        "unassigned_discrepancies": by_line.get(None, []),
        "balanced": totals["unexplained_lines"] == 0,
    }


def unit_totals(db: Database, manifest_id: int) -> tuple[int, int]:
    """Units counted (from the scan ledger) and declared, over the whole manifest."""
    return db.execute(
        "SELECT (SELECT count(*) FROM scans WHERE manifest_id = ? AND outcome = 'counted'),"
        " (SELECT coalesce(sum(declared_qty), 0) FROM manifest_lines WHERE manifest_id = ?)",
        [manifest_id, manifest_id],
    ).fetchone()


def list_discrepancies(db: Database, manifest_id: int) -> list[dict]:
    """Every discrepancy record of a manifest, corrections included, with whether it is in force."""
    rows = list(
        db.query(
            """SELECT d.id, l.line_no, d.kind, d.qty, d.note, d.disposition, d.action,
                  d.supersedes_id, d.created_at, u.name AS recorded_by,
                  (SELECT s.id FROM discrepancies s WHERE s.supersedes_id = d.id) AS superseded_by
           FROM discrepancies d LEFT JOIN manifest_lines l ON l.id = d.line_id
           LEFT JOIN users u ON u.id = d.created_by
           WHERE d.manifest_id = ? ORDER BY d.id""",
            [manifest_id],
        )
    )
    for row in rows:
        row["in_force"] = row["superseded_by"] is None and row["action"] != "reverse"
    return rows


def effective_discrepancies(db: Database, manifest_id: int) -> list[dict]:
    """The records in force: neither superseded by a correction nor a reversal themselves."""
    return [r for r in list_discrepancies(db, manifest_id) if r["in_force"]]


def reconciliation(db: Database, manifest_id: int) -> dict:
    """compute_reconciliation fed from the scan ledger and the discrepancies in force."""
    lines = list(
        db.query(
            "SELECT id, line_no, sku, name, declared_qty FROM manifest_lines"
            " WHERE manifest_id = ? ORDER BY line_no",
            [manifest_id],
        )
    )
    counts = dict(
        db.execute(
            "SELECT line_id, count(*) FROM scans WHERE manifest_id = ? AND outcome = 'counted'"
            " GROUP BY line_id",
            [manifest_id],
        ).fetchall()
    )
    return compute_reconciliation(lines, counts, effective_discrepancies(db, manifest_id))


# --- release orders ---------------------------------------------------------------------------

# Release orders whose quantities are spoken for (a returned one frees them).
IN_FORCE = ("created", "applied", "approved", "passed")


def counted_quantities(db: Database, manifest_id: int) -> dict[int, int]:
    """Counted quantity per line of the confirmed tally (what the inventory list declares)."""
    row = db.execute("SELECT snapshot FROM tallies WHERE manifest_id = ?", [manifest_id]).fetchone()
    if row is None:
        return {}
    return {line["line_no"]: line["counted"] for line in json.loads(row[0])["lines"]}


def remaining_quantities(db: Database, manifest_id: int, *, passed_only: bool = False
                         ) -> dict[int, int]:
    """Per line: counted less what release orders in force carry (or, with ``passed_only``,
    less what has passed the gate)."""
    statuses = ("passed",) if passed_only else IN_FORCE
    used = dict(db.execute(
        f"SELECT ml.line_no, sum(l.qty) FROM release_order_lines l"
        f" JOIN release_orders r ON r.id = l.release_order_id"
        f" JOIN manifest_lines ml ON ml.id = l.line_id"
        f" WHERE l.manifest_id = ? AND r.status IN ({', '.join('?' * len(statuses))})"
        f" GROUP BY ml.line_no", [manifest_id, *statuses]).fetchall())
    return {line_no: qty - used.get(line_no, 0)
            for line_no, qty in counted_quantities(db, manifest_id).items()}


def manifests_of(db: Database, release_order_id: int) -> list[int]:
    """The consignments whose goods a release order carries."""
    return [r[0] for r in db.execute(
        "SELECT DISTINCT manifest_id FROM release_order_lines WHERE release_order_id = ?"
        " ORDER BY manifest_id", [release_order_id])]


def skus_not_in_book(db: Database, manifest_id: int) -> list[dict]:
    """The manifest's lines whose SKU is not in the account book (电子账册): line_no, sku."""
    return list(db.query(
        "SELECT line_no, sku FROM manifest_lines WHERE manifest_id = ? AND sku NOT IN"
        " (SELECT sku FROM account_book) ORDER BY line_no", [manifest_id]))
