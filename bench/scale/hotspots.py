"""Hot spots: the per-partition ceilings of three skewed shapes, from the capacity model.

DynamoDB limits each partition, hence each partition key, to 3,000 read and 1,000 write units
a second however large the table, and (with an LSI) to 10 GB per partition key value.
An LSI entry lives in its item's partition, so its writes count against that key too.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.repositories import keys
from app.repositories.conversations import PARTICIPANTS_PER_CONVERSATION
from bench.capacity import OURS, SUMMARY_UPDATE
from bench.capacity_model import TABLE, Units, write_cost
from bench.patterns import LIST_CONVERSATIONS, READ_PAGE
from bench.scale import published as pub
from bench.scale.measured import StreamConfig
from bench.scale.model import shard_ceiling
from bench.scale.units import RequestUnits
from bench.scale.workload import Workload


@dataclass(frozen=True, slots=True)
class HotSpot:
    name: str
    partition: str
    units_per_event: float
    """Write units one event costs this partition key (table + LSI)."""
    event: str
    ceiling_per_second: float
    """Events a second before the key's partition throttles."""
    collection_bytes_per_event: float
    """What one event leaves in the key's item collection (10 GB limit)."""
    today: str
    design_answer: str

    @property
    def events_to_collection_limit(self) -> float:
        return pub.ITEM_COLLECTION_BYTES.value / self.collection_bytes_per_event


def _same_partition(units: Units) -> float:
    """Units that land in the item's own partition: the table and its LSI, not the GSI."""
    return units.write.get(TABLE, 0.0) + units.write.get(keys.ACTIVITY_INDEX, 0.0)


def hot_spots(units: RequestUnits, stream: StreamConfig) -> list[HotSpot]:
    overhead = pub.ITEM_STORAGE_OVERHEAD.value
    sizes = units.sizes
    row_bytes = sizes.row + sizes.activity_entry + 2 * overhead
    # The handler writes the recipient's row only (the send itself moved the sender's).
    per_row_update = _same_partition(units.by_pattern[SUMMARY_UPDATE])
    row = units.dataset.conversations[0].row_items()[1]
    opening_row = _same_partition(write_cost(OURS, None, row, transactional=True))
    message_put = sizes.message_put
    page_reads = pub.PARTITION_READ_UNITS.value / units.by_pattern[READ_PAGE.name].total_read
    shard = shard_ceiling(stream).value
    return [
        HotSpot(
            "one user in thousands of conversations",
            "GRP#<owner>",
            per_row_update,
            "message into any of their conversations (summary update of their row)",
            pub.PARTITION_WRITE_UNITS.value / per_row_update,
            row_bytes,
            "every message to them rewrites their row and its LSI entry in the same partition; "
            "past the ceiling the stream handler's updates throttle, each call is tried 5 times, "
            "then Lambda retries the batch until it succeeds, holding back the shard's later "
            "records: their inbox lags, and so does every conversation on that shard; lists "
            "stay cheap (one LSI page)",
            "coalesce per owner partition as well as per conversation in a batch; past that, "
            "write-shard the owner's rows (GRP#<owner>#<n>) and merge n LSI pages on list",
        ),
        HotSpot(
            "one very busy conversation",
            "MSG#<group>",
            message_put,
            "message sent into it",
            pub.PARTITION_WRITE_UNITS.value / message_put,
            sizes.message + overhead,
            "sends past the ceiling throttle and the API answers 503 dynamodb_throttled after its "
            "3 attempts; each send also moves its sender's row (read-your-writes, in the "
            f"sender's own partition: {per_row_update:.2f} units; past "
            f"{pub.PARTITION_WRITE_UNITS.value / per_row_update:,.0f} sends/s from one sender "
            "that update throttles and the send, which still succeeds, leaves the row to the "
            "stream handler), while the "
            "recipient's row is updated at most once a batching window (coalescing); page "
            f"reads cap at {page_reads:,.0f}/s; all its records share one stream "
            f"shard, which applies about {shard:,.0f} records/s with one batch in flight",
            "bucket the message partition by time (MSG#<group>#<month>): new writes move to a "
            "new key and the 10 GB collection limit never binds; admission control per "
            "conversation (a per-conversation rate limit) before that",
        ),
        HotSpot(
            "a celebrity receiving first messages from many users at once",
            "GRP#<celebrity>",
            opening_row,
            "new conversation opened with them (their row, transactional put + LSI entry)",
            pub.PARTITION_WRITE_UNITS.value / opening_row,
            row_bytes,
            "each opener's transaction writes a row into the celebrity's partition at twice the "
            "units; past the ceiling transactions are cancelled as throttled and senders get 503 "
            "dynamodb_throttled; every "
            "later message then lands on the same partition as the first hot spot",
            "admission control: a per-recipient limit on new conversations (message requests "
            "queued and accepted in batches), and the sharded owner rows of the first answer",
        ),
    ]


def ordinary_collection_years(workload: Workload, units: RequestUnits) -> float:
    """Years until an ordinary conversation's MSG# collection reaches 10 GB."""
    per_day = (
        PARTICIPANTS_PER_CONVERSATION
        * workload.messages_per_user_per_day
        / max(1, workload.conversations_per_user)
    )
    bytes_per_day = per_day * (units.sizes.message + pub.ITEM_STORAGE_OVERHEAD.value)
    return pub.ITEM_COLLECTION_BYTES.value / bytes_per_day / 365


def list_ceiling(units: RequestUnits) -> float:
    """List requests a second one owner's partition can serve."""
    return pub.PARTITION_READ_UNITS.value / units.by_pattern[LIST_CONVERSATIONS.name].total_read
