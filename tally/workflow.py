"""The state machines: the consignment's status and the release order's status.

Each has one enum and one table of every allowed transition with its guards; ``apply`` and
``apply_release`` are the only code that writes a status: load, check transition and guards,
change the status and write the audit event, in one transaction. A refused action raises
ConflictError with the current status, the action and every unmet condition, and writes nothing.
The flow follows docs/customs.md.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from tally import conditions
from tally.catalogue import say
from tally.db import for_update, write
from tally.errors import ConflictError, NotFoundError
from tally.events import record_event
from tally.names import PENDING_STEP_NAMES, chinese, english


class Status(enum.StrEnum):
    """The consignment (one manifest) from arrival to the gate."""

    ARRIVED = "arrived"  # goods at the bonded park, manifest imported
    INSPECTED = "inspected"  # 查验 passed: checks, pallet tasks done, escort signed
    WRITTEN_OFF = "written_off"  # 核销 done and the tally status is 正常理货: tallying may start
    TALLIED = "tallied"  # 理货 confirmed: counts frozen, inventory list (INV101) sent
    RETURNED = "returned"  # customs returned the inventory list (退单): correct and re-send
    DECLARED = "declared"  # inventory list approved (INV201 1, 4 or 5)
    VEHICLE_BOUND = "vehicle_bound"  # a truck is associated with its release order (车单关联)
    #                                  and the release order (SAS121) is declared with it
    RELEASED = "released"  # a release order (核放单) for it is approved (SAS221 1)
    ENTERED = "entered"  # all its goods passed the gate (卡口) into the zone


class ReleaseStatus(enum.StrEnum):
    """A release order (核放单, SAS121); stucd in parentheses. It is declared with its truck:
    created here, then the vehicle-order association (车单关联) fills in the vehicle and sends
    the SAS121 (docs/customs.md, "Release order SAS121")."""

    CREATED = "created"  # ours alone: goods chosen, waiting for its truck; nothing sent
    APPLIED = "applied"  # vehicle associated and SAS121 declared to customs (0)
    APPROVED = "approved"  # approved (1): its truck may pass the gate
    RETURNED = "returned"  # returned by customs, quantities and truck freed
    PASSED = "passed"  # passed the gate (2)
    REFUSED = "refused"  # refused at the gate after inspection (SAS224 2), quantities freed


INITIAL = Status.ARRIVED.value
INITIAL_RELEASE = ReleaseStatus.CREATED.value

# A guard returns the unmet conditions (empty: the action may go ahead). ``context`` carries what
# the caller learnt outside the transaction, e.g. the customs answer to a write-off.
Guard = Callable[[Database, int, dict], list[dict]]


@dataclass(frozen=True)
class Transition:
    action: str
    source: enum.StrEnum
    target: enum.StrEnum
    guards: tuple[Guard, ...] = ()
    by: str = "supervisor"  # who may trigger it: a role, or "customs" (a receipt), "gate"


def _inspection_complete(db: Database, manifest_id: int, context: dict) -> list[dict]:
    return conditions.unmet_for_pass(db, manifest_id)


def _inspection_tasks_done(db: Database, manifest_id: int, context: dict) -> list[dict]:
    return [
        {"task_id": t["id"], "message": say("task_open", pallet_no=t["pallet_no"], kind=t["kind"])}
        for t in conditions.open_tasks(db, manifest_id)
    ]


def _tally_status_normal(db: Database, manifest_id: int, context: dict) -> list[dict]:
    answer = context.get("tally_status") or {}
    if answer.get("normal"):
        return []
    text = answer.get("text") or answer.get("tallyStatus") or "unknown"
    reason = answer.get("reason")
    return [
        {
            "condition": "tally_status",
            "tally_status": text,
            "message": say("tally_status_abnormal", status=text,
                           reason=f": {reason}" if reason else ""),
        }
    ]


def _no_unexplained_differences(db: Database, manifest_id: int, context: dict) -> list[dict]:
    report = conditions.reconciliation(db, manifest_id)
    totals = report["totals"]
    stage = tally_stage(current_status(db, manifest_id), totals["counted"], totals["declared"])
    if not stage.counting_begun and not report["balanced"]:
        # Before any unit is counted every line differs: that says nothing about any one line.
        return [{"condition": "counting", "counted": totals["counted"],
                 "declared": totals["declared"],
                 "message": say("counting_not_begun", text=stage.text)}]
    return [
        {
            "line_no": line["line_no"],
            "declared": line["declared"],
            "counted": line["counted"],
            "difference": line["difference"],
            "unexplained": line["unexplained"],
            "message": say("difference_unexplained", line_no=line["line_no"],
                           difference=line["difference"]),
        }
        for line in report["lines"]
        if line["unexplained"]
    ]


def _skus_in_account_book(db: Database, manifest_id: int, context: dict) -> list[dict]:
    # PutrecSeqno, HS code and legal units of an inventory list line come from the account book
    # (电子账册): a SKU missing there would be found by customs, after the list is sent.
    return [
        {"condition": "account_book", "line_no": line["line_no"], "sku": line["sku"],
         "message": say("sku_not_in_book", line_no=line["line_no"], sku=line["sku"])}
        for line in conditions.skus_not_in_book(db, manifest_id)
    ]


def _approved_release_order(db: Database, manifest_id: int, context: dict) -> list[dict]:
    row = db.execute(
        "SELECT 1 FROM release_orders r JOIN release_order_lines l ON l.release_order_id = r.id"
        " WHERE l.manifest_id = ? AND r.status IN ('approved', 'passed') LIMIT 1",
        [manifest_id],
    ).fetchone()
    return [] if row else [{"message": say("no_approved_release_order")}]


def _vehicle_associated(db: Database, manifest_id: int, context: dict) -> list[dict]:
    row = db.execute(
        "SELECT 1 FROM release_orders r JOIN release_order_lines l ON l.release_order_id = r.id"
        " WHERE l.manifest_id = ? AND r.status IN ('applied', 'approved', 'passed') LIMIT 1",
        [manifest_id],
    ).fetchone()
    return [] if row else [{"message": say("no_vehicle")}]


def _release_order_returned(db: Database, manifest_id: int, context: dict) -> list[dict]:
    returned = db.execute(
        "SELECT 1 FROM release_orders r JOIN release_order_lines l ON l.release_order_id = r.id"
        " WHERE l.manifest_id = ? AND r.status = 'returned' LIMIT 1", [manifest_id]).fetchone()
    unmet = [] if returned else [{"message": say("no_returned_release_order")}]
    if not _vehicle_associated(db, manifest_id, context):
        unmet.append({"message": say("vehicle_still_associated")})
    return unmet


def _all_goods_passed(db: Database, manifest_id: int, context: dict) -> list[dict]:
    left = conditions.remaining_quantities(db, manifest_id, passed_only=True)
    if not left:
        return [{"message": say("no_confirmed_tally")}]
    return [
        {"line_no": line_no, "message": say("units_not_through", line_no=line_no, qty=qty)}
        for line_no, qty in left.items()
        if qty
    ]


TRANSITIONS: tuple[Transition, ...] = (
    Transition("pass_inspection", Status.ARRIVED, Status.INSPECTED, (_inspection_complete,),
               by="operator"),
    Transition("write_off", Status.INSPECTED, Status.WRITTEN_OFF, (_tally_status_normal,)),
    Transition("confirm_tally", Status.WRITTEN_OFF, Status.TALLIED,
               (_no_unexplained_differences, _inspection_tasks_done, _skus_in_account_book)),
    Transition("approve_list", Status.TALLIED, Status.DECLARED, by="customs"),
    Transition("return_list", Status.TALLIED, Status.RETURNED, by="customs"),
    Transition("correct_list", Status.RETURNED, Status.TALLIED),
    # The release order is declared with its truck (SAS121 requires the vehicle [G]): the
    # association comes first, customs' approval of the order after it.
    Transition("bind_vehicle", Status.DECLARED, Status.VEHICLE_BOUND, (_vehicle_associated,)),
    Transition("release", Status.VEHICLE_BOUND, Status.RELEASED, (_approved_release_order,),
               by="customs"),
    # Customs returned (SAS221 3 / Z) the only release order that carried it with a truck.
    Transition("return_release", Status.VEHICLE_BOUND, Status.DECLARED,
               (_release_order_returned,), by="customs"),
    Transition("enter", Status.RELEASED, Status.ENTERED, (_all_goods_passed,), by="gate"),
)

RELEASE_TRANSITIONS: tuple[Transition, ...] = (
    # 车单关联: the truck is written into the release order, which is then declared (SAS121).
    Transition("bind_vehicle", ReleaseStatus.CREATED, ReleaseStatus.APPLIED),
    Transition("approve", ReleaseStatus.APPLIED, ReleaseStatus.APPROVED, by="customs"),
    Transition("return", ReleaseStatus.APPLIED, ReleaseStatus.RETURNED, by="customs"),
    # Our gate's pass, or customs' gate passage (SAS223 / SAS224 3) when ours has not passed it.
    Transition("pass_gate", ReleaseStatus.APPROVED, ReleaseStatus.PASSED, by="gate"),
    Transition("refuse_at_gate", ReleaseStatus.APPROVED, ReleaseStatus.REFUSED, by="customs"),
)

# The tally rule, written once: while the tally is open, labels, scans and discrepancies are
# accepted; every module and page asks the functions below.
TALLY_OPEN = frozenset({Status.WRITTEN_OFF})
# Before the tally opens: what the consignment still waits for, in the operator's words.
_TALLY_NOT_YET = {
    Status.ARRIVED: say("waits_inspection"),
    Status.INSPECTED: say("waits_write_off"),
}


def current_status(db: Database, manifest_id: int) -> Status:
    """The manifest's status; NotFoundError if there is no such manifest. Inside a write the
    row is locked until the commit (PostgreSQL): every writer of a consignment asks this first,
    so they queue on it and each sees what the one before committed."""
    return status_from(ask_status(db, manifest_id), manifest_id)


def ask_status(db: Database, manifest_id: int):
    """Send ``current_status``'s query (its row lock included); ``status_from`` reads the
    answer, which within ``pipelined`` comes at its ``send``."""
    return db.execute("SELECT status FROM manifests WHERE id = ?" + for_update(db),
                      [manifest_id])


def status_from(cursor, manifest_id: int) -> Status:
    """The status ``ask_status`` was answered; NotFoundError if there is no such manifest."""
    row = cursor.fetchone()
    if row is None:
        raise NotFoundError(say("manifest_not_found", manifest_id=manifest_id))
    return Status(row[0])


def release_status(db: Database, release_order_id: int) -> ReleaseStatus:
    """The release order's status; NotFoundError if there is none."""
    row = db.conn.execute(
        "SELECT status FROM release_orders WHERE id = ?", [release_order_id]
    ).fetchone()
    if row is None:
        raise NotFoundError(say("release_order_not_found", release_order_id=release_order_id))
    return ReleaseStatus(row[0])


def is_tally_open(status: Status) -> bool:
    """Scans, labels and discrepancies are accepted only while the tally is open."""
    return status in TALLY_OPEN


def has_tally_opened(status: Status) -> bool:
    """True once the tally has opened, whether still open or closed since: labels may exist."""
    return status not in _TALLY_NOT_YET


def why_tally_not_open(status: Status) -> str | None:
    """Why the tally takes no scans, labels or discrepancies now (None while it is open)."""
    if is_tally_open(status):
        return None
    if status in _TALLY_NOT_YET:
        return f"the tally is not open yet ({status.value}): {_TALLY_NOT_YET[status]}"
    return f"the tally is closed ({status.value}): it was confirmed and its counts are final"


def require_tally_open(db: Database, manifest_id: int, refused) -> Status:
    """The manifest's status if its tally is open. Otherwise ConflictError with the current status
    and ``tally`` ("not_open_yet" or "closed"), saying why and what is ``refused``; NotFoundError
    if there is no such manifest."""
    return check_tally_open(current_status(db, manifest_id), refused)


def check_tally_open(status: Status, refused) -> Status:
    """``require_tally_open`` for a status already read."""
    if not is_tally_open(status):
        text = (say("tally_not_open", status=status.value, why=_TALLY_NOT_YET[status],
                    refused=refused) if status in _TALLY_NOT_YET else
                say("tally_closed", status=status.value, refused=refused))
        raise ConflictError(text, current_status=status.value,
                            tally=tally_stage(status).tally)
    return status


@dataclass(frozen=True)
class Stage:
    """Where a consignment stands for the tally, in the pages' words (Chinese, then English).

    ``key``: not_open_yet, not_counted (open, nothing counted yet), counting or closed;
    ``tally``: not_open_yet, open or closed, as require_tally_open's refusal says it;
    ``pending``: the steps left, in order (the actions before the tally opens; issue_labels,
    scan and confirm_tally while it is open; none once it is closed).
    """

    key: str
    tally: str
    text: str
    pending: tuple[str, ...]
    counted: int
    declared: int

    @property
    def counting_begun(self) -> bool:
        """A unit is counted, or the tally is closed (its counts final): differences mean
        something only then."""
        return self.key in ("counting", "closed")


def tally_stage(status: Status, counted: int = 0, declared: int = 0) -> Stage:
    """Where a consignment at ``status`` with ``counted`` of ``declared`` units stands for the
    tally and what is pending: the one text every page shows."""
    if status in _TALLY_NOT_YET:
        pending = _steps_to_tally(status)
        names = [PENDING_STEP_NAMES[action] for action in pending]
        text = (f"理货未开始：{'、'.join(map(chinese, names))}待完成 The tally opens after "
                f"{' and '.join(map(english, names))}")
        return Stage("not_open_yet", "not_open_yet", text, pending, counted, declared)
    if not is_tally_open(status):
        return Stage("closed", "closed", "理货已确认 The tally is confirmed: nothing more can be "
                     "recorded", (), counted, declared)
    if not counted:
        return Stage("not_counted", "open", f"理货未开始计数，0 / {declared}：先发放标签，再扫描"
                     f" Counting not started, 0 / {declared}: issue labels, then scan",
                     ("issue_labels", "scan", "confirm_tally"), counted, declared)
    return Stage("counting", "open", f"理货中，已点 {counted} / {declared} Counting: {counted} / "
                 f"{declared} counted", ("scan", "confirm_tally"), counted, declared)


def consignment_stage(db: Database, manifest_id: int) -> Stage:
    """tally_stage of a stored consignment; NotFoundError if there is none."""
    return tally_stage(current_status(db, manifest_id),
                       *conditions.unit_totals(db, manifest_id))


def _steps_to_tally(status: Status) -> tuple[str, ...]:
    """The actions that lead from ``status`` (before the tally) to the open tally."""
    steps = []
    while status in _TALLY_NOT_YET:
        transition = next(t for t in TRANSITIONS if t.source == status)
        steps.append(transition.action)
        status = transition.target
    return tuple(steps)


def unmet_conditions(db: Database, transition: Transition, subject_id: int,
                     context: dict | None = None) -> list[dict]:
    """Every unmet condition of one transition's guards."""
    return [c for guard in transition.guards for c in guard(db, subject_id, context or {})]


def next_actions(db: Database, manifest_id: int) -> list[dict]:
    """The actions possible from the consignment's status, each with who triggers it and what
    still blocks it (the write-off's customs answer is only known when it is attempted)."""
    status = current_status(db, manifest_id)
    actions = []
    for t in TRANSITIONS:
        if t.source != status:
            continue
        unmet = [] if t.action == "write_off" else unmet_conditions(db, t, manifest_id)
        actions.append({"action": t.action, "target": t.target.value, "by": t.by,
                        "unmet": unmet})
    return actions


def apply(db: Database, manifest_id: int, action: str, *, user_id: int | None,
          context: dict | None = None, **details) -> Status:
    """Apply one action to a consignment in one transaction; return the new status."""
    return _apply(db, TRANSITIONS, "manifest", manifest_id, action, user_id, context, details)


def apply_release(db: Database, release_order_id: int, action: str, *, user_id: int | None,
                  context: dict | None = None, **details) -> ReleaseStatus:
    """Apply one action to a release order in one transaction; return the new status."""
    return _apply(db, RELEASE_TRANSITIONS, "release_order", release_order_id, action, user_id,
                  context, details)


def _apply(db, table, kind, subject_id, action, user_id, context, details):
    load = current_status if kind == "manifest" else release_status
    subject_table = "manifests" if kind == "manifest" else "release_orders"
    with write(db):
        status = load(db, subject_id)
        transition = next((t for t in table if t.action == action and t.source == status), None)
        if transition is None:
            allowed = sorted({t.action for t in table if t.source == status})
            name = "consignment" if kind == "manifest" else "release order"
            raise ConflictError(
                say("action_not_possible", action_words=action.replace("_", " "),
                    action=action, subject=name, status=status.value),
                [{"message": say("action_not_from", action=action, status=status.value),
                  "allowed_actions": allowed}],
                current_status=status.value,
                action=action,
            )
        unmet = unmet_conditions(db, transition, subject_id, context)
        if unmet:
            raise ConflictError(
                say("conditions_unmet", action_words=action.replace("_", " "), action=action,
                    count=len(unmet)),
                unmet,
                current_status=status.value,
                action=action,
            )
        db.execute(
            f"UPDATE {subject_table} SET status = ? WHERE id = ?",
            [transition.target.value, subject_id],
        )
        where = {"manifest_id": subject_id} if kind == "manifest" else {
            "release_order_id": subject_id}
        record_event(db, f"status-{transition.target.value.replace('_', '-')}", user_id=user_id,
                     **where, action=action, source=status.value,
                     target=transition.target.value, **details)
    return transition.target
