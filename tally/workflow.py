"""The consignment's state machine: the status enum, one table of transitions, one apply().

No other module writes ``manifests.status``. The flow follows DOMAIN.md; the tally core uses the
``confirm_tally`` action, the customs steps around it add theirs to the same table.
"""

import enum
from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database

from tally.db import write
from tally.errors import ConflictError, NotFoundError
from tally.events import record_event


class Status(enum.StrEnum):
    ARRIVED = "arrived"  # goods at the bonded park, manifest imported
    INSPECTED = "inspected"  # 查验 done, escort signed
    WRITTEN_OFF = "written_off"  # 核销 done, tally status 正常理货
    TALLIED = "tallied"  # 理货 confirmed: counts frozen, inventory list queued
    DECLARED = "declared"  # 核注清单 approved
    RELEASED = "released"  # 核放单 approved
    VEHICLE_BOUND = "vehicle_bound"
    ENTERED = "entered"  # passed the gate


INITIAL = Status.ARRIVED.value

# A guard returns the unmet conditions (empty list: the action may go ahead).
Guard = Callable[[Database, int], list[dict]]


@dataclass(frozen=True)
class Transition:
    action: str
    source: Status
    target: Status
    guards: tuple[Guard, ...] = ()


def _no_unexplained_differences(db: Database, manifest_id: int) -> list[dict]:
    from tally.reconcile import load_reconciliation  # reconcile imports this module

    report = load_reconciliation(db, manifest_id)
    return [
        {
            "line_no": line["line_no"],
            "declared": line["declared"],
            "counted": line["counted"],
            "difference": line["difference"],
            "unexplained": line["unexplained"],
            "message": f"line {line['line_no']}: difference {line['difference']:+d} "
            f"is not explained by recorded discrepancies",
        }
        for line in report["lines"]
        if line["unexplained"]
    ]


TRANSITIONS: tuple[Transition, ...] = (
    # Until the inspection and write-off steps exist, tallying starts on arrival.
    Transition("confirm_tally", Status.ARRIVED, Status.TALLIED, (_no_unexplained_differences,)),
)


def current_status(db: Database, manifest_id: int) -> Status:
    """The manifest's status; NotFoundError if there is no such manifest."""
    row = db.conn.execute("SELECT status FROM manifests WHERE id = ?", [manifest_id]).fetchone()
    if row is None:
        raise NotFoundError(f"no manifest with id {manifest_id}")
    return Status(row[0])


def apply(db: Database, manifest_id: int, action: str, *, user_id: int | None, **details) -> Status:
    """Check and apply one action in one transaction (status + audit event); return the new status.

    Refuses with ConflictError (status, action, every unmet condition) and writes nothing when the
    action is not allowed from the current status or a guard fails.
    """
    with write(db):
        status = current_status(db, manifest_id)
        transition = next(
            (t for t in TRANSITIONS if t.action == action and t.source == status), None
        )
        if transition is None:
            allowed = sorted({t.action for t in TRANSITIONS if t.source == status})
            raise ConflictError(
                f"cannot {action.replace('_', ' ')}: the consignment is {status.value}",
                [
                    {
                        "message": f"{action} is not possible from {status.value}",
                        "allowed_actions": allowed,
                    }
                ],
                current_status=status.value,
                action=action,
            )
        unmet = [condition for guard in transition.guards for condition in guard(db, manifest_id)]
        if unmet:
            raise ConflictError(
                f"cannot {action.replace('_', ' ')}: {len(unmet)} condition(s) unmet",
                unmet,
                current_status=status.value,
                action=action,
            )
        db.execute(
            "UPDATE manifests SET status = ? WHERE id = ?", [transition.target.value, manifest_id]
        )
        record_event(
            db,
            f"status-{transition.target.value.replace('_', '-')}",
            user_id=user_id,
            manifest_id=manifest_id,
            action=action,
            source=status.value,
            target=transition.target.value,
            **details,
        )
    return transition.target


def is_tally_open(status: Status) -> bool:
    """Scans, labels and discrepancies are accepted only until the tally is confirmed."""
    return status in TALLY_OPEN


TALLY_OPEN = frozenset({Status.ARRIVED, Status.INSPECTED, Status.WRITTEN_OFF})
