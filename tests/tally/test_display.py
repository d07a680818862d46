"""Times in the warehouse's zone with their offset, weights as kg with their precision."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from tally.config import from_env, time_zone
from tally.display import kilograms, local_time

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(("stored", "seconds", "shown"), [
    ("2026-12-03T09:25:41.120Z", False, "2026-12-03 17:25 +08:00"),
    ("2026-12-03T09:25:41.120Z", True, "2026-12-03 17:25:41 +08:00"),
    ("2026-12-31T20:00:00Z", False, "2027-01-01 04:00 +08:00"),  # the date turns over too
    ("2026-12-03T09:25:41", False, "2026-12-03 17:25 +08:00"),  # naive: stored UTC
    (datetime(2026, 12, 3, 9, 25, tzinfo=UTC), False, "2026-12-03 17:25 +08:00"),
    (None, False, ""),
    ("not a time", False, "not a time"),
])
def test_stored_utc_times_show_in_the_warehouse_zone(stored, seconds, shown):
    assert local_time(stored, SHANGHAI, seconds=seconds) == shown


def test_another_zone_shows_its_own_offset():
    assert local_time("2026-07-01T12:00:00Z", ZoneInfo("Europe/Berlin")) == \
        "2026-07-01 14:00 +02:00"


@pytest.mark.parametrize(("value", "as_declared", "shown"), [
    ("9506.80000", False, "9506.8 kg"),
    ("11706.00000", False, "11706 kg"),
    ("12.50", True, "12.50 kg"),
    ("12.50", False, "12.5 kg"),
    (100, False, "100 kg"),
    (None, False, ""),
])
def test_weights_show_as_kg_with_their_precision(value, as_declared, shown):
    assert kilograms(value, as_declared=as_declared) == shown


def test_the_zone_setting_defaults_to_shanghai_and_refuses_unknown_zones():
    assert time_zone(from_env({})).key == "Asia/Shanghai"
    assert time_zone(from_env({"TALLY_TIMEZONE": "Europe/Berlin"})).key == "Europe/Berlin"
    with pytest.raises(ValueError, match="not a time zone this machine knows"):
        time_zone({"TIMEZONE": "Asia/Nowhere"})
