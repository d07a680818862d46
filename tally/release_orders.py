"""Release orders (核放单, SAS121) and vehicle-order association (车单关联).

A release order carries goods of approved inventory lists through the gate. Bind types
(bindTypecd): 1 one truck, many tickets; 2 one truck, one ticket; 3 one ticket, many trucks
(each truck its own release order with part of the quantities). Many-to-many is not allowed.
The remaining declarable quantity of a list line is its counted quantity less what release
orders in force already carry.

A release order is declared with its truck: SAS121 requires vehicleNo, vehicleWt, vehicleFrameWt,
totalWt and the goods' weights when it is declared (docs/customs.md). So it is created here
first (``created``: its goods chosen and their quantities held, nothing sent), the
vehicle-order association (车单关联) then writes the truck into it and queues its SAS121, and
customs' approval (SAS221) lets the truck through the gate.
"""

from decimal import Decimal

from sqlite_utils import Database

from tally import company, declaration, outbox, workflow
from tally.catalogue import say
from tally.conditions import IN_FORCE, manifest_number, manifests_of, remaining_quantities
from tally.customs.messages import build_sas121
from tally.db import lock_manifests, lock_name, next_ids, now, write
from tally.errors import ConflictError, NotFoundError, ValidationError
from tally.events import record_event
from tally.fields import MAX_INTEGER, Fields

BIND_TYPES = {"1": "one truck, many tickets", "2": "one truck, one ticket",
              "3": "one ticket, many trucks"}
BIND_NAMES = {"one_truck_many_tickets": "1", "one_truck_one_ticket": "2",
              "one_ticket_many_trucks": "3"}
IO_TYPES = ("I", "E")  # into the zone, out of it
# A consignment can be put on release orders once its inventory list is approved.
RELEASABLE = (workflow.Status.DECLARED, workflow.Status.VEHICLE_BOUND, workflow.Status.RELEASED)


def _parse_request(body: object) -> tuple[str, str, str, list[int], list[dict] | None]:
    if not isinstance(body, dict):
        raise ValidationError(say("release_order_not_object"))
    errors = []
    bind = str(body.get("bind_type", ""))
    bind = BIND_NAMES.get(bind, bind)
    if bind not in BIND_TYPES:
        errors.append({"field": "bind_type", "message": say("bind_type_form")})
    fields = Fields(errors=errors)
    # docs/customs.md: 1 enter first, declare later (先入区后报关); 2 first-line integrated.
    passport_type = fields.choice(str(body.get("passport_type", "1")), "passport_type",
                                  ("1", "2"))
    io_type = fields.choice(body.get("io_type", "I"), "io_type", IO_TYPES)
    ids = body.get("manifests")
    if not isinstance(ids, list) or not ids or not all(_whole(i) for i in ids):
        errors.append({"field": "manifests", "message": say("manifest_ids_required")})
        ids = []
    elif len(set(ids)) != len(ids):
        errors.append({"field": "manifests", "message": say("manifest_twice")})
    lines = body.get("lines")
    if lines is not None:
        if not isinstance(lines, list) or not lines:
            errors.append({"field": "lines", "message": say("lines_or_all")})
            lines = None
        else:
            for index, line in enumerate(lines):
                if not isinstance(line, dict) or not all(
                        _whole(line.get(k)) for k in ("manifest_id", "line_no", "qty")):
                    errors.append({"index": index, "field": "lines",
                                   "message": say("release_line_form")})
    if bind == "2" and len(ids) != 1:
        errors.append({"field": "manifests", "message": say("one_truck_one_ticket")})
    if bind == "3" and len(ids) != 1:
        errors.append({"field": "manifests", "message": say("one_ticket_many_trucks")})
    if bind in ("1", "2") and lines is not None:
        errors.append({"field": "lines", "message": say("only_split_bind_type")})
    if errors:
        raise ValidationError(say("release_order_invalid"), errors)
    return bind, passport_type, io_type, ids, lines


def create_release_order(db: Database, body: object, *, user_id: int | None,
                         settings: dict) -> dict:
    """Create a release order for approved inventory lists, holding their quantities; its SAS121
    is declared when a truck is associated (associate_vehicle)."""
    bind, passport_type, io_type, ids, wanted = _parse_request(body)
    with write(db):
        lock_manifests(db, ids)  # their remaining quantities stay theirs until the commit
        lines, unmet = [], []
        for manifest_id in ids:
            status = workflow.current_status(db, manifest_id)
            number = declaration.bond_invt_no(db, manifest_id)
            if status not in RELEASABLE or number is None:
                unmet.append({"manifest_id": manifest_id, "message": say(
                    "list_not_approved", manifest_no=manifest_number(db, manifest_id),
                    status=status.value)})
                continue
            earlier = {r[0] for r in db.execute(
                "SELECT DISTINCT r.bind_typecd FROM release_orders r JOIN release_order_lines l"
                " ON l.release_order_id = r.id WHERE l.manifest_id = ? AND r.status IN"
                f" ({', '.join('?' * len(IN_FORCE))})", [manifest_id, *IN_FORCE])}
            if earlier and (bind != "3" or earlier != {"3"}):
                # Once a ticket is split over trucks it stays split, and a ticket on a
                # multi-ticket truck is not split: no many-to-many.
                unmet.append({"manifest_id": manifest_id, "message": say(
                    "already_travels", manifest_no=manifest_number(db, manifest_id),
                    bind_types="/".join(sorted(earlier)))})
                continue
            remaining = remaining_quantities(db, manifest_id)
            manifest_lines = {r["line_no"]: r for r in db.query(
                "SELECT id, line_no, sku, hs_code, name, unit, declared_qty, gross_weight_kg,"
                " net_weight_kg FROM manifest_lines WHERE manifest_id = ?", [manifest_id])}
            if wanted is None:
                picked = {n: q for n, q in remaining.items() if q > 0}
            else:
                picked = {}
                for line in wanted:
                    if line["manifest_id"] != manifest_id:
                        unmet.append({"message": say(
                            "manifest_not_in_order",
                            manifest_no=manifest_number(db, line["manifest_id"]))})
                    elif line["line_no"] not in remaining:
                        unmet.append({"message": say(
                            "manifest_has_no_line", manifest_no=manifest_number(db, manifest_id),
                            line_no=line["line_no"])})
                    elif line["qty"] > remaining[line["line_no"]]:
                        unmet.append({"line_no": line["line_no"], "remaining":
                                      remaining[line["line_no"]], "message": say(
                                          "qty_exceeds_remaining", line_no=line["line_no"],
                                          qty=line["qty"], remaining=remaining[line["line_no"]])})
                    else:
                        picked[line["line_no"]] = picked.get(line["line_no"], 0) + line["qty"]
            if not picked:
                unmet.append({"manifest_id": manifest_id,
                              "message": say("nothing_left", manifest_no=manifest_number(
                                  db, manifest_id))})
            for line_no, qty in sorted(picked.items()):
                ml = manifest_lines[line_no]
                lines.append({"manifest_id": manifest_id, "line_id": ml["id"], "line_no": line_no,
                              "qty": qty,
                              "gross_wt": _share(ml["gross_weight_kg"], qty, ml["declared_qty"]),
                              "net_wt": _share(ml["net_weight_kg"], qty, ml["declared_qty"])})
        if unmet:
            raise ConflictError(say("release_order_problems", count=len(unmet)), unmet)
        [release_id] = next_ids(db, "release_orders", 1)
        preent_no = f"RO{settings['customs_code']}{release_id:010d}"
        gross = sum((Decimal(x["gross_wt"] or 0) for x in lines), Decimal(0))
        net = sum((Decimal(x["net_wt"] or 0) for x in lines), Decimal(0))
        db.execute(
            "INSERT INTO release_orders (id, etps_preent_no, bind_typecd, passport_typecd,"
            " io_typecd, status, total_gross_wt, total_net_wt, created_at, created_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [release_id, preent_no, bind, passport_type, io_type, workflow.INITIAL_RELEASE,
             str(gross), str(net), now(), user_id])
        db.conn.executemany(
            "INSERT INTO release_order_lines (release_order_id, manifest_id, line_id, qty,"
            " gross_wt, net_wt) VALUES (?, ?, ?, ?, ?, ?)",
            [[release_id, x["manifest_id"], x["line_id"], x["qty"], x["gross_wt"], x["net_wt"]]
             for x in lines])
        record_event(db, "release-order-created", user_id=user_id, release_order_id=release_id,
                     etps_preent_no=preent_no, bind_typecd=bind, manifests=ids,
                     quantities={f"{x['manifest_id']}:{x['line_no']}": x["qty"] for x in lines})
    return get_release_order(db, preent_no)


def _share(weight: str | None, qty: int, declared: int) -> str | None:
    if not weight or not declared:
        return None
    return str((Decimal(weight) * qty / declared).quantize(Decimal("0.00001")))


def _find(db: Database, number) -> dict:
    row = next(iter(db.query(
        "SELECT * FROM release_orders WHERE passport_no = ? OR etps_preent_no = ?",
        [str(number), str(number)])), None)
    if row is None:
        raise NotFoundError(say("release_order_unknown", number=number))
    return row


def get_release_order(db: Database, number) -> dict:
    """One release order by passportNo or our etpsPreentNo, with lines and sync state."""
    row = _find(db, number)
    row["bind_type"] = BIND_TYPES[row["bind_typecd"]]
    row["lines"] = list(db.query(
        "SELECT l.manifest_id, m.manifest_no, ml.line_no, ml.sku, ml.name, l.qty, l.gross_wt,"
        " l.net_wt FROM release_order_lines l JOIN manifest_lines ml ON ml.id = l.line_id"
        " JOIN manifests m ON m.id = l.manifest_id WHERE l.release_order_id = ?"
        " ORDER BY l.manifest_id, ml.line_no", [row["id"]]))
    row["manifests"] = sorted({line["manifest_id"] for line in row["lines"]})
    row["receipts"] = [
        {k: r[k] for k in ("type", "status", "document_no", "message", "received_at")}
        for r in db.query("SELECT * FROM customs_receipts WHERE release_order_id = ?"
                          " ORDER BY id", [row["id"]])]
    return row


def list_release_orders(db: Database, manifest_id: int | None = None) -> list[dict]:
    """Every release order (or those carrying one consignment's goods), newest first."""
    where = (" WHERE id IN (SELECT release_order_id FROM release_order_lines"
             " WHERE manifest_id = ?)" if manifest_id is not None else "")
    return list(db.query(
        "SELECT id, etps_preent_no, passport_no, bind_typecd, io_typecd, status, vehicle_no,"
        f" total_wt, created_at FROM release_orders{where} ORDER BY id DESC",
        [manifest_id] if manifest_id is not None else []))


# No road vehicle weighs more; a larger number is a typing error.
MAX_VEHICLE_KG = 200_000


def _weight(body, name, errors, *, required=True, positive=True):
    """A weight in kg (the truck's tare, frame or container)."""
    return Fields(errors=errors).decimal(body.get(name), name, maximum=MAX_VEHICLE_KG,
                                         positive=positive, required=required)


def associate_vehicle(db: Database, number, body: object, *, user_id: int | None,
                      settings: dict) -> dict:
    """Associate a truck with a created release order (车单关联): plate, IC card, weights,
    driver, mileage; then declare the release order with it (SAS121 queued in the outbox).

    totalWt = vehicleWt (tare) + vehicleFrameWt + containerWt + the goods' gross weight.
    A plate on another release order that has not passed the gate is refused; so is an order
    whose goods have no gross or net weight (SAS121 requires both, > 0).
    """
    body = body if isinstance(body, dict) else {}
    errors: list[dict] = []
    texts = {}
    for name, required in (("plate", True), ("ic_card", False), ("container_no", False),
                           ("driver", False)):
        value = body.get(name)
        if value is None or value == "":
            if required:
                errors.append({"field": name, "message": say("required")})
            texts[name] = None
        elif not isinstance(value, str) or len(value) > 32:
            errors.append({"field": name, "message": say("text_at_most", max_length=32)})
        else:
            texts[name] = value.strip().upper() if name == "plate" else value.strip()
    tare = _weight(body, "tare_wt", errors)
    frame = _weight(body, "frame_wt", errors)
    container = _weight(body, "container_wt", errors, required=False, positive=False)
    mileage = _weight(body, "mileage_km", errors, required=False, positive=False)
    if texts.get("container_no") and container is None and not errors:
        errors.append({"field": "container_wt", "message": say("required_with_container")})
    if errors:
        raise ValidationError(say("vehicle_invalid"), errors)
    with write(db):
        order = _find(db, number)
        # Two orders given one truck at once: the second sees the first once it committed.
        lock_name(db, f"vehicle:{texts['plate']}")
        other = db.execute(
            "SELECT etps_preent_no FROM release_orders WHERE vehicle_no = ? AND id != ?"
            " AND status IN ('applied', 'approved')", [texts["plate"], order["id"]]).fetchone()
        if other:
            raise ConflictError(say("truck_already_bound", plate=texts["plate"], number=other[0]),
                                [{"field": "plate", "message": say("bound_to", number=other[0])}])
        total = tare + frame + (container or 0) + Decimal(order["total_gross_wt"])
        db.execute(
            "UPDATE release_orders SET vehicle_no = ?, vehicle_ic_no = ?, vehicle_wt = ?,"
            " vehicle_frame_wt = ?, container_no = ?, container_wt = ?, driver = ?,"
            " mileage_km = ?, total_wt = ? WHERE id = ?",
            [texts["plate"], texts["ic_card"], str(tare), str(frame), texts["container_no"],
             str(container) if container is not None else None, texts["driver"],
             str(mileage) if mileage is not None else None, str(total), order["id"]])
        workflow.apply_release(db, order["id"], "bind_vehicle", user_id=user_id,
                               plate=texts["plate"], total_wt=str(total))
        vehicle = {"vehicleNo": texts["plate"], "vehicleIcNo": texts["ic_card"],
                   "vehicleWt": str(tare), "vehicleFrameWt": str(frame),
                   "containerNo": texts["container_no"],
                   "containerWt": str(container) if container is not None else None}
        _declare(db, order, vehicle, settings)
        for manifest_id in manifests_of(db, order["id"]):
            if workflow.current_status(db, manifest_id) == workflow.Status.DECLARED:
                workflow.apply(db, manifest_id, "bind_vehicle", user_id=user_id,
                               release_order=order["etps_preent_no"])
    return get_release_order(db, number)


def _declare(db: Database, order: dict, vehicle: dict, settings: dict) -> None:
    """Queue the SAS121 of a release order with its truck (inside the caller's transaction)."""
    # The goods as the inventory list declared them: its gdsSeqno, HS code, name and unit
    # (from the account book) per manifest line.
    rows = list(db.query(
        "SELECT l.manifest_id, l.line_id, l.qty, l.gross_wt, l.net_wt, ml.line_no, ml.sku"
        " FROM release_order_lines l JOIN manifest_lines ml ON ml.id = l.line_id"
        " WHERE l.release_order_id = ? ORDER BY l.id", [order["id"]]))
    missing = sorted({r["line_no"] for r in rows
                      if not r["gross_wt"] or not r["net_wt"] or not Decimal(r["gross_wt"])
                      or not Decimal(r["net_wt"])})
    if missing:
        raise ConflictError(say("release_order_weights_missing",
                                lines=", ".join(map(str, missing))),
                            [{"line_no": n, "message": say("release_line_weight_missing",
                                                           line_no=n)} for n in missing])
    numbers, declared, lines = {}, {}, []
    for row in rows:
        manifest_id = row["manifest_id"]
        if manifest_id not in numbers:
            numbers[manifest_id] = declaration.bond_invt_no(db, manifest_id)
            declared[manifest_id] = declaration.declared_lines(db, manifest_id)
        listed = declared[manifest_id][row["line_no"]]
        lines.append({"bondInvtNo": numbers[manifest_id], "gds_seqno": listed["gdsSeqno"],
                      "sku": row["sku"], "hs_code": listed["gdecd"], "name": listed["gdsNm"],
                      "unit": listed["dclUnitcd"], "qty": row["qty"],
                      "gross_wt": row["gross_wt"], "net_wt": row["net_wt"]})
    values = company.load(db, settings)
    payload = build_sas121(
        etps_preent_no=order["etps_preent_no"],
        lists=[{"bondInvtNo": n} for n in numbers.values()], lines=lines,
        bind_typecd=order["bind_typecd"], passport_typecd=order["passport_typecd"],
        io_typecd=order["io_typecd"], settings=values, vehicle=vehicle,
        declared_on=company.declaration_date(values))
    outbox.enqueue(db, manifest_id=None, release_order_id=order["id"], kind="SAS121",
                   payload=payload, key=f"SAS121-{order['etps_preent_no']}-1")


def _whole(value) -> bool:
    """A whole number from 1 that the database can hold (an id, a line number, a quantity)."""
    return not isinstance(value, bool) and isinstance(value, int) and 1 <= value <= MAX_INTEGER
