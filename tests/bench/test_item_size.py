"""The item-size calculator against the rules of "DynamoDB item sizes and formats"."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from bench.item_size import item_size, read_units, wire_item_size, write_units


@pytest.mark.parametrize(
    ("item", "size"),
    [
        ({"pk": "abc"}, 2 + 3),
        ({"t": "é"}, 1 + 2),  # UTF-8 bytes, not characters
        ({"n": 123}, 1 + 3),  # 3 significant digits: 2 bytes + 1
        ({"n": Decimal("1.500")}, 1 + 2),  # trailing zeros trimmed: "15"
        ({"n": Decimal("0.0012")}, 1 + 2),  # leading zeros trimmed: "12"
        ({"b": b"\x00\x01\x02"}, 1 + 3),  # raw bytes, not base64
        ({"ok": True}, 2 + 1),
        ({"ss": {"ab", "cde"}}, 2 + 5),  # a set is the sum of its elements
        ({"l": ["ab", "c"]}, 1 + 3 + (1 + 2) + (1 + 1)),  # 3 bytes + 1 per element
        ({"m": {"k": "v"}}, 1 + 3 + (1 + 1 + 1)),  # nested names count too
        ({"m": {}}, 1 + 3),
        ({"gone": None}, 0),  # None is no attribute (as the repositories store it)
    ],
)
def test_item_size_follows_the_documented_rules(item: dict[str, Any], size: int) -> None:
    assert item_size(item) == size


def test_null_attribute_costs_its_name_and_one_byte() -> None:
    assert wire_item_size({"x": {"NULL": True}}) == 2


@pytest.mark.parametrize(("size", "units"), [(0, 1), (1, 1), (1024, 1), (1025, 2), (4096, 4)])
def test_write_units_round_up_per_kilobyte(size: int, units: int) -> None:
    assert write_units(size) == units


@pytest.mark.parametrize(
    ("size", "consistent", "units"),
    [(0, False, 0.5), (4096, False, 0.5), (4097, False, 1.0), (4096, True, 1.0), (9000, True, 3.0)],
)
def test_read_units_round_up_per_four_kilobytes(size: int, consistent: bool, units: float) -> None:
    assert read_units(size, consistent=consistent) == units
