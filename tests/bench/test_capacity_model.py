"""Index upkeep rules of the capacity model, on our table definition and the reference one."""

from __future__ import annotations

from app.repositories.keys import ACTIVITY_INDEX, CONVERSATION_INDEX
from app.repositories.schema import table_definition
from bench.capacity_model import TABLE, Schema, query_cost, write_cost
from bench.reference_design import reference_definition

OURS = Schema.from_definition(table_definition("t"))
REFERENCE = Schema.from_definition(reference_definition())

ROW = {
    "pk": "GRP#owner",
    "sk": "GRP#group",
    "message_group_uuid": "group",
    "last_message_sk": "2026-01-01T00:00:00.000000Z#m1",
    "last_message": "hello",
}
MESSAGE = {"pk": "MSG#group", "sk": "2026-01-01T00:00:00.000000Z#m1", "message": "hello"}


def test_indexes_come_from_the_table_definition() -> None:
    assert {index.name: index.projection for index in OURS.indexes} == {
        CONVERSATION_INDEX: "KEYS_ONLY",
        ACTIVITY_INDEX: "INCLUDE",
    }


def test_an_include_projection_holds_the_keys_and_the_listed_attributes_only() -> None:
    row = {**ROW, "other_handle": "bayko", "read_up_to": "2026-01-01T00:00:00.000000Z#m0"}
    entry = OURS.index(ACTIVITY_INDEX).entry(row, OURS.table_keys)
    assert entry == {name: row[name] for name in row if name != "message_group_uuid"}


def test_a_message_is_in_no_index() -> None:
    assert write_cost(OURS, None, MESSAGE).write == {TABLE: 1.0}


def test_a_new_row_enters_both_indexes() -> None:
    assert write_cost(OURS, None, ROW).write == {
        TABLE: 1.0,
        CONVERSATION_INDEX: 1.0,
        ACTIVITY_INDEX: 1.0,
    }


def test_moving_the_summary_rewrites_the_lsi_entry_but_not_the_keys_only_gsi() -> None:
    moved = {**ROW, "last_message_sk": "2026-01-02T00:00:00.000000Z#m2", "last_message": "next"}
    assert write_cost(OURS, ROW, moved).write == {TABLE: 1.0, ACTIVITY_INDEX: 2.0}


def test_changing_only_a_projected_attribute_costs_one_index_write() -> None:
    assert write_cost(OURS, ROW, {**ROW, "last_message": "edited"}).write == {
        TABLE: 1.0,
        ACTIVITY_INDEX: 1.0,
    }


def test_a_transaction_doubles_the_table_units() -> None:
    assert write_cost(OURS, None, MESSAGE, transactional=True).write == {TABLE: 2.0}


def test_item_over_a_kilobyte_costs_more_units_everywhere_it_is_written() -> None:
    big = {**ROW, "last_message": "x" * 1100}
    assert write_cost(OURS, None, big).write == {
        TABLE: 2.0,
        CONVERSATION_INDEX: 1.0,  # keys only: small
        ACTIVITY_INDEX: 2.0,
    }


def test_reference_delete_and_put_of_a_row_writes_its_all_projected_gsi_each_time() -> None:
    row = {"pk": "GRP#owner", "sk": "2026-01-01", "message_group_uuid": "group", "message": "hi"}
    delete = write_cost(REFERENCE, row, None).write
    put = write_cost(REFERENCE, None, {**row, "sk": "2026-01-02"}).write
    assert delete == put == {TABLE: 1.0, CONVERSATION_INDEX: 1.0}


def test_a_keys_only_query_reads_only_the_keys() -> None:
    fat_row = {**ROW, "last_message": "x" * 5000}
    assert query_cost(OURS, [fat_row], consistent=False, index=CONVERSATION_INDEX).read == {
        CONVERSATION_INDEX: 0.5
    }
    assert query_cost(OURS, [fat_row], consistent=False, index=ACTIVITY_INDEX).read == {
        ACTIVITY_INDEX: 1.0
    }
