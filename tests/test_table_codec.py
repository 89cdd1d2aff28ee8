"""The table's attribute codec: the fast string path must agree with boto3's deserializer."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from hypothesis import given
from hypothesis import strategies as st

from app.repositories.table import deserialize, serialize

scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.decimals(
        allow_nan=False, allow_infinity=False, places=3, max_value=10**9, min_value=-(10**9)
    ),
    st.booleans(),
    st.binary(max_size=8),
)
values = st.recursive(
    st.one_of(scalars, st.frozensets(st.text(max_size=8), min_size=1).map(set)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
items = st.dictionaries(st.text(min_size=1, max_size=8), st.one_of(values, st.none()), max_size=6)


@given(items)
def test_deserialize_inverts_serialize_like_boto3(item: dict[str, Any]) -> None:
    wire = serialize(item)
    boto3_view = {name: TypeDeserializer().deserialize(value) for name, value in wire.items()}

    decoded = deserialize(wire)

    assert decoded == boto3_view
    assert decoded == {
        name: Decimal(value) if type(value) is int else value
        for name, value in item.items()
        if value is not None
    }
