"""Capacity units of reads and writes on a table with secondary indexes, by DynamoDB's rules.

Index upkeep follows the developer guide: an item enters an index only if it has all of the
index's key attributes (sparse indexes); a write that changes an index key costs a delete and
a put in that index; a write that changes only projected attributes costs one index write; a
write that changes neither costs nothing there (so a KEYS_ONLY index is only written when its
keys change). An index entry holds the table keys, the index keys and the projected
attributes. Transactions cost twice the table units; their index upkeep is counted at the
standard rate (the guide documents the doubling for the items, not for index propagation).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from app.repositories.table import Item
from bench.item_size import TRANSACTION_FACTOR, item_size, read_units, write_units

TABLE = "table"


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    key_attributes: tuple[str, ...]
    projection: Literal["ALL", "KEYS_ONLY", "INCLUDE"]
    included: tuple[str, ...] = ()
    """The non-key attributes of an INCLUDE projection."""

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> Item | None:
        """What the index holds for ``item``; None when the item is not in the index."""
        if item is None or any(item.get(name) is None for name in self.key_attributes):
            return None
        if self.projection == "ALL":
            return dict(item)
        entry = {name: item[name] for name in (*table_keys, *self.key_attributes)}
        for name in self.included:
            if item.get(name) is not None:
                entry[name] = item[name]
        return entry


@dataclass(frozen=True, slots=True)
class Schema:
    table_keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> Schema:
        """From CreateTable parameters (``app.repositories.schema.table_definition``)."""

        def keys_of(schema: Iterable[Mapping[str, str]]) -> tuple[str, ...]:
            return tuple(element["AttributeName"] for element in schema)

        indexes = [
            Index(
                index["IndexName"],
                keys_of(index["KeySchema"]),
                index["Projection"]["ProjectionType"],
                tuple(index["Projection"].get("NonKeyAttributes", ())),
            )
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
            for index in definition.get(kind, [])
        ]
        return cls(keys_of(definition["KeySchema"]), tuple(indexes))

    def index(self, name: str) -> Index:
        return next(index for index in self.indexes if index.name == name)


@dataclass(slots=True)
class Units:
    """Capacity units by target (``table`` or an index name)."""

    read: dict[str, float] = field(default_factory=dict)
    write: dict[str, float] = field(default_factory=dict)

    def add(self, other: Units) -> Units:
        for mine, theirs in ((self.read, other.read), (self.write, other.write)):
            for target, units in theirs.items():
                mine[target] = mine.get(target, 0.0) + units
        return self

    def scaled(self, factor: float) -> Units:
        return Units(
            {target: units * factor for target, units in self.read.items()},
            {target: units * factor for target, units in self.write.items()},
        )

    @property
    def total_read(self) -> float:
        return sum(self.read.values())

    @property
    def total_write(self) -> float:
        return sum(self.write.values())


def get_cost(item: Item | None, *, consistent: bool) -> Units:
    """GetItem: a miss still costs the minimum unit."""
    return Units(read={TABLE: read_units(item_size(item) if item else 0, consistent=consistent)})


def query_cost(
    schema: Schema, items: Iterable[Item], *, consistent: bool, index: str | None = None
) -> Units:
    """One Query page: the returned entries' sizes add up, then round up to 4 KB."""
    target = TABLE
    entries: Iterable[Item | None] = items
    if index is not None:
        target = index
        entries = (schema.index(index).entry(item, schema.table_keys) for item in items)
    size = sum(item_size(entry) for entry in entries if entry is not None)
    return Units(read={target: read_units(size, consistent=consistent)})


def _index_write_units(index: Index, schema: Schema, old: Item | None, new: Item | None) -> int:
    before, after = index.entry(old, schema.table_keys), index.entry(new, schema.table_keys)
    if before is None and after is None:
        return 0
    if before is None or after is None:
        return write_units(item_size(before or after or {}))
    keys_changed = any(before[name] != after[name] for name in index.key_attributes)
    if keys_changed:
        return write_units(item_size(before)) + write_units(item_size(after))
    if before == after:
        return 0
    return write_units(max(item_size(before), item_size(after)))


def write_cost(
    schema: Schema, old: Item | None, new: Item | None, *, transactional: bool = False
) -> Units:
    """A put, update (both given) or delete (``new`` None) of one item, with index upkeep."""
    size = max(item_size(old) if old else 0, item_size(new) if new else 0)
    factor = TRANSACTION_FACTOR if transactional else 1
    units = Units(write={TABLE: float(write_units(size) * factor)})
    for index in schema.indexes:
        index_units = _index_write_units(index, schema, old, new)
        if index_units:
            units.write[index.name] = float(index_units)
    return units
