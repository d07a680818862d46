import random

import pytest

from tally import units


def test_code_shape_and_check_digit():
    code = units.make_code(17)
    assert code == "U000000000174"
    assert units.is_valid_code(code)
    assert units.parse_serial(code) == 17


@pytest.mark.parametrize("serial", [0, -1, 10**11])
def test_serial_out_of_range(serial):
    with pytest.raises(ValueError):
        units.make_code(serial)


def test_every_single_digit_error_and_adjacent_transposition_is_refused():
    rng = random.Random(7)
    for _ in range(300):
        code = units.make_code(rng.randrange(1, 10**11))
        digits = code[1:]
        for i in range(len(digits)):
            for d in "0123456789":
                if d != digits[i]:
                    assert not units.is_valid_code("U" + digits[:i] + d + digits[i + 1 :])
        for i in range(len(digits) - 1):
            if digits[i] != digits[i + 1]:
                swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
                assert not units.is_valid_code("U" + swapped)


@pytest.mark.parametrize(
    "text",
    ["", "U00000000017", "X000000000174", "u000000000174", "U0000000001744", "9300633603168"],
)
def test_not_a_code(text):
    assert not units.looks_like_code(text)
    with pytest.raises(ValueError):
        units.parse_serial(text)
