"""DynamoDB item sizes and capacity units, by the rules of the developer guide.

Sizes follow "DynamoDB item sizes and formats": attribute name bytes plus value bytes; numbers
take one byte per two significant digits plus one; lists and maps carry 3 bytes plus 1 byte
per element. Sets are the sum of their elements (the guide gives no set overhead). Units round
up per request: 1 KB per write unit, 4 KB per read unit (half for eventually consistent reads).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from app.repositories.table import serialize

WRITE_UNIT_BYTES = 1024
READ_UNIT_BYTES = 4096
TRANSACTION_FACTOR = 2
"""Transactional reads and writes cost twice the standard units."""

AttributeValue = Mapping[str, Any]


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits  # leading/trailing zeros trimmed
    return math.ceil(len(digits) / 2) + 1


def value_size(value: AttributeValue) -> int:
    """Bytes of one attribute value in DynamoDB's wire form (``{"S": ...}``, ``{"N": ...}``)."""
    ((kind, content),) = value.items()
    if kind == "S":
        return len(content.encode())
    if kind == "N":
        return _number_size(content)
    if kind == "B":
        return len(content)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(element.encode()) for element in content)
    if kind == "NS":
        return sum(_number_size(element) for element in content)
    if kind == "BS":
        return sum(len(element) for element in content)
    if kind == "L":
        return 3 + sum(1 + value_size(element) for element in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + value_size(v) for name, v in content.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def wire_item_size(attributes: Mapping[str, AttributeValue]) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in attributes.items())


def item_size(item: Mapping[str, Any]) -> int:
    """Bytes of an item given as Python values (as the repositories build them)."""
    return wire_item_size(serialize(item))


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WRITE_UNIT_BYTES))


def read_units(size: int, *, consistent: bool) -> float:
    """Units of one GetItem, or of one Query page whose items add up to ``size`` bytes."""
    units = max(1, math.ceil(size / READ_UNIT_BYTES))
    return float(units) if consistent else units / 2
