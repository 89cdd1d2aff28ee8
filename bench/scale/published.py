"""Published AWS prices (us-east-1) and documented limits the scale model uses, with sources.

Every figure names the page it comes from and the day it was read (through the project's
search tool, which serves stored copies of public pages). Where the stored copy of AWS's own
page did not show the number, ``source`` names the page that did and ``note`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

READ_ON = "2026-11-30"


@dataclass(frozen=True, slots=True)
class Published:
    value: float
    unit: str
    source: str
    note: str = ""


# Prices, us-east-1.

ON_DEMAND_WRITE_PER_MILLION = Published(
    0.625,
    "USD per million write request units",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "the stored copy of AWS's page omits the price table; figure as quoted from that page by "
    "https://airbyte.com/data-engineering-resources/dynamodb-pricing (US East)",
)
ON_DEMAND_READ_PER_MILLION = Published(
    0.125,
    "USD per million read request units",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    ON_DEMAND_WRITE_PER_MILLION.note,
)
PROVISIONED_WCU_HOUR = Published(
    0.00065,
    "USD per WCU-hour",
    "https://aws.amazon.com/dynamodb/pricing/provisioned/",
    "the stored copy omits the price table; figure as quoted for US East by a LinkedIn "
    "article ('Amazon DynamoDB Pricing Explained', Raheja)",
)
PROVISIONED_RCU_HOUR = Published(
    0.00013, "USD per RCU-hour", PROVISIONED_WCU_HOUR.source, PROVISIONED_WCU_HOUR.note
)
STORAGE_GB_MONTH = Published(
    0.25,
    "USD per GB-month (first 25 GB free)",
    "https://aws.amazon.com/dynamodb/pricing/",
)
ITEM_STORAGE_OVERHEAD = Published(
    100,
    "bytes of storage per item (and per index entry)",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html",
)
LAMBDA_GB_SECOND_ARM = Published(
    0.0000133334,
    "USD per GB-second, arm64, first 7.5 billion GB-s a month",
    "https://aws.amazon.com/lambda/pricing/",
    "as tabulated by https://cloudchipr.com/blog/aws-lambda-pricing (US East)",
)
LAMBDA_PER_MILLION_REQUESTS = Published(
    0.20, "USD per million invocations", LAMBDA_GB_SECOND_ARM.source, LAMBDA_GB_SECOND_ARM.note
)
FARGATE_VCPU_HOUR_ARM = Published(
    0.03238,
    "USD per vCPU-hour, Linux/ARM",
    "https://aws.amazon.com/fargate/pricing/",
    "as tabulated by https://www.vantage.sh/blog/fargate-pricing (us-east-1)",
)
FARGATE_GB_HOUR_ARM = Published(
    0.00356, "USD per GB-hour, Linux/ARM", FARGATE_VCPU_HOUR_ARM.source, FARGATE_VCPU_HOUR_ARM.note
)

# Documented limits.

PARTITION_READ_UNITS = Published(
    3000,
    "read units per second per partition (so per partition key)",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/warm-throughput-scenarios.html",
)
PARTITION_WRITE_UNITS = Published(
    1000, "write units per second per partition", PARTITION_READ_UNITS.source
)
ITEM_COLLECTION_BYTES = Published(
    10 * 1024**3,
    "bytes per partition key value (items + LSI entries) on a table with an LSI",
    "https://docs.aws.amazon.com/botocore/latest/reference/services/dynamodb/client/exceptions/"
    "ItemCollectionSizeLimitExceededException.html",
)
ON_DEMAND_TABLE_UNITS = Published(
    40000,
    "read (and, separately, write) request units per second per on-demand table (and per GSI), "
    "default quota, raisable",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/"
    "on-demand-capacity-mode-max-throughput.html",
)
STREAM_READERS_PER_SHARD = Published(
    2,
    "processes reading one stream shard at once before throttling",
    "https://docs.aws.amazon.com/sdk-for-kotlin/api/latest/dynamodb/"
    "aws.sdk.kotlin.services.dynamodb.model/-limit-exceeded-exception",
)
PARALLELIZATION_FACTOR_MAX = Published(
    10,
    "concurrent batches per shard (ParallelizationFactor, default 1)",
    "https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-params.md",
)
LAMBDA_CONCURRENCY = Published(
    1000,
    "concurrent executions per Region, default quota",
    "https://docs.aws.amazon.com/lambda/latest/dg/limits.html",
)
KMS_SYMMETRIC_RATE = Published(
    10000,
    "symmetric cryptographic requests per second (shared by Decrypt, GenerateDataKey, ...)",
    "https://docs.aws.amazon.com/kms/latest/developerguide/requests-per-second.html",
    "the stored copy lists 10,000 as the default and 20,000 for some Regions; its row for "
    "us-east-1 was cut off, so the lower default is used",
)
ELASTICACHE_CONNECTIONS = Published(
    65000,
    "concurrent client connections per node (and per serverless cache)",
    "https://docs.aws.amazon.com/AmazonElastiCache/latest/dg/BestPractices.Clients.Redis.Connections.html",
)
ALB_IDLE_TIMEOUT_SECONDS = Published(
    60,
    "seconds a connection may stay idle before the load balancer closes it (default)",
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/"
    "edit-load-balancer-attributes.html",
)

PRICES = (
    ON_DEMAND_WRITE_PER_MILLION,
    ON_DEMAND_READ_PER_MILLION,
    PROVISIONED_WCU_HOUR,
    PROVISIONED_RCU_HOUR,
    STORAGE_GB_MONTH,
    LAMBDA_GB_SECOND_ARM,
    LAMBDA_PER_MILLION_REQUESTS,
    FARGATE_VCPU_HOUR_ARM,
    FARGATE_GB_HOUR_ARM,
)
LIMITS = (
    ITEM_STORAGE_OVERHEAD,
    PARTITION_READ_UNITS,
    PARTITION_WRITE_UNITS,
    ITEM_COLLECTION_BYTES,
    ON_DEMAND_TABLE_UNITS,
    STREAM_READERS_PER_SHARD,
    PARALLELIZATION_FACTOR_MAX,
    LAMBDA_CONCURRENCY,
    KMS_SYMMETRIC_RATE,
    ELASTICACHE_CONNECTIONS,
    ALB_IDLE_TIMEOUT_SECONDS,
)
