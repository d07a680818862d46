"""The ingestion benchmark's workloads (bench/ingest_bench.py)."""

from bench.ingest_bench import _box_order
from tally.units import make_code, parse_serial


def test_box_order_interleaves_operators_each_in_their_own_box():
    codes = [make_code(serial) for serial in range(1000, 0, -1)]  # any order in
    order = _box_order(codes, clients=4, box=10)
    assert sorted(order) == sorted(codes)  # every unit once
    serials = [parse_serial(code) for code in order]
    # The first 40 scans: 4 boxes of 10 consecutive serials, one scan of each box in turn.
    assert serials[:8] == [1, 11, 21, 31, 2, 12, 22, 32]
    assert sorted(serials[:40]) == list(range(1, 41))
    # Then the next 4 boxes.
    assert serials[40:44] == [41, 51, 61, 71]
