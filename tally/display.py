"""How times and weights are shown to people: stored times are UTC ISO 8601 and stay so; pages
and exports show them in the warehouse's zone (tally.config.time_zone) with the offset, and
weights as kg with the precision they were declared with.
"""

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo


def local_time(stored: str | datetime | None, zone: ZoneInfo, *, seconds: bool = False) -> str:
    """A stored UTC time as the warehouse reads it: ``2026-12-03 17:25 +08:00`` (the offset
    always shown: a time without its zone is read in whatever zone the reader is in). Text that
    is not a time comes back as it is; None as ""."""
    if stored is None or stored == "":
        return ""
    try:
        moment = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    except (TypeError, ValueError):
        return str(stored)
    if moment.tzinfo is None:  # stored times are UTC (tally.db.now)
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + \
        f" {offset[:3]}:{offset[3:]}"


def kilograms(value, *, as_declared: bool = False) -> str:
    """A weight as people read it, ``9506.8 kg``. Computed weights (a release order's share,
    its total: five places) lose their trailing zeros; ``as_declared`` keeps the digits a
    declaration was written with (``12.50`` stays ``12.50 kg``). None or blank: ""."""
    if value is None or value == "":
        return ""
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return f"{value} kg"
    if not number.is_finite():
        return f"{value} kg"
    if as_declared:
        return f"{number:f} kg"
    text = f"{number:f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{text} kg"
