"""``ddb``: the table's operator tool (the journal's ddb/* scripts as one CLI).

Works against the embedded server, DynamoDB Local or AWS, chosen by the same settings as the
API (CRUDDUR_DDB_ENDPOINT_URL, CRUDDUR_AWS_REGION, CRUDDUR_TABLE_NAME) or the flags below.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from app.crypto.cipher import TextCipher
from app.ddb import open_client
from app.domain import Text, User, pair_conversation_uuid
from app.errors import ServiceError
from app.repositories.blocks import BlocksRepository
from app.repositories.conversations import ConversationsRepository
from app.repositories.dead_letters import DeadLettersRepository
from app.repositories.messages import MessagesRepository
from app.repositories.schema import create_table, drop_table
from app.repositories.table import CapacityLog, Table, deserialize, dynamodb_errors
from app.repositories.users import UsersRepository
from app.schemas import HANDLE_PATTERN, shown
from app.services.moderation import purge_message
from app.services.summaries_repair import SummariesRepair, decode_position
from app.settings import Settings, settings_or_exit
from app.state import cipher_of, open_data_keys
from scripts.backfill import backfill, checkpoint_path
from scripts.seed import seed


class CommandError(Exception):
    """A failure the user can act on; printed without a traceback."""


def _json_default(value: Any) -> Any:
    if hasattr(value, "value") and isinstance(value.value, bytes):  # binary: an envelope
        return "base64:" + base64.b64encode(value.value).decode()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, set):
        return sorted(value)
    return str(value)


def _print_json(value: Any) -> None:
    print(json.dumps(value, default=_json_default, ensure_ascii=False))


@asynccontextmanager
async def _table(settings: Settings, capacity: CapacityLog | None = None) -> AsyncIterator[Table]:
    async with AsyncExitStack() as stack:
        client = await open_client(settings, stack)
        yield Table(client, settings.table_name, capacity)


@asynccontextmanager
async def _cipher(settings: Settings, table: Table) -> AsyncIterator[TextCipher]:
    """The API's cipher when these settings (CRUDDUR_ENCRYPTION=kms) and credentials allow."""
    async with AsyncExitStack() as stack:
        yield cipher_of(await open_data_keys(settings, stack, table))


class _Unreadable:
    """Counts texts the pattern scripts could not decrypt, to say why once at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.codes: list[str] = []

    def fields(self, text: Text, name: str) -> dict[str, Any]:
        plain, error = shown(text)
        if error is None:
            return {name: plain}
        self.codes.append(error)
        return {name: None, f"{name}_error": error}

    def explain(self) -> None:
        if not self.codes:
            return
        why = (
            "set CRUDDUR_ENCRYPTION=kms (and CRUDDUR_KMS_KEY_ID) with credentials that may "
            "decrypt under the message key"
            if self.settings.encryption == "off"
            else "their ciphertext or data key does not verify (see the codes)"
        )
        print(
            f"ddb: {len(self.codes)} encrypted texts not shown: {why}",
            file=sys.stderr,
        )


async def _require_table(table: Table) -> None:
    if await table.describe() is None:
        raise CommandError(f"table {table.name!r} does not exist: run `ddb schema-load` first")


def _print_capacity(capacity: CapacityLog) -> None:
    print("-- consumed capacity (as reported by DynamoDB):")
    for operation, consumed in capacity.entries:
        _print_json({"operation": operation, **consumed})


async def cmd_schema_load(settings: Settings, _: argparse.Namespace) -> None:
    async with _table(settings) as table:
        created = await create_table(table.client, table.name)
    print(f"table {settings.table_name!r} {'created' if created else 'already exists'}; ACTIVE")


async def cmd_drop(settings: Settings, args: argparse.Namespace) -> None:
    if args.yes != settings.table_name:
        raise CommandError(
            f"refusing to drop: confirm with --yes {settings.table_name} (the table's name)"
        )
    async with _table(settings) as table:
        dropped = await drop_table(table.client, table.name)
    print(f"table {settings.table_name!r} {'dropped' if dropped else 'did not exist'}")


async def cmd_list_tables(settings: Settings, _: argparse.Namespace) -> None:
    async with _table(settings) as table, dynamodb_errors():
        paginator = table.client.get_paginator("list_tables")
        async for page in paginator.paginate():
            for name in page.get("TableNames", []):
                print(name)


async def cmd_scan(settings: Settings, args: argparse.Namespace) -> None:
    async with _table(settings) as table:
        await _require_table(table)
        paginator = table.client.get_paginator("scan")
        shown = 0
        pages = paginator.paginate(
            TableName=table.name, PaginationConfig={"PageSize": args.page_size}
        )
        async with dynamodb_errors():
            async for page in pages:
                for item in page.get("Items", []):
                    _print_json(deserialize(item))
                    shown += 1
                    if args.max_items and shown >= args.max_items:
                        print(f"-- {shown} items shown (--max-items reached)")
                        return
    print(f"-- {shown} items")


async def cmd_seed(settings: Settings, _: argparse.Namespace) -> None:
    async with _table(settings) as table, _cipher(settings, table) as cipher:
        await _require_table(table)
        report = await seed(table, cipher)
    print(f"seeded {settings.table_name!r}: {report}")


async def cmd_users_create(settings: Settings, args: argparse.Namespace) -> None:
    user = User(
        uuid=uuid4(),
        handle=args.handle,
        display_name=args.display_name,
        cognito_sub=args.cognito_sub or str(uuid4()),
    )
    async with _table(settings) as table:
        await _require_table(table)
        created = await UsersRepository(table).create(user)
    _print_json(
        {"uuid": created.uuid, "handle": created.handle, "display_name": created.display_name}
    )


async def cmd_users_delete(settings: Settings, args: argparse.Namespace) -> None:
    async with _table(settings) as table:
        await _require_table(table)
        deleted = await UsersRepository(table).delete(args.handle)
    if deleted is None:
        raise CommandError(f"no user has the handle {args.handle!r}")
    _print_json({"deleted": {"uuid": deleted.uuid, "handle": deleted.handle}})


async def cmd_messages_purge(settings: Settings, args: argparse.Namespace) -> None:
    async with _table(settings) as table:
        await _require_table(table)
        purged = await purge_message(
            MessagesRepository(table),
            ConversationsRepository(table),
            args.message_group_uuid,
            args.message_uuid,
        )
    if purged is None:
        raise CommandError(f"no message {args.message_uuid} in {args.message_group_uuid}")
    _print_json({"purged": {"uuid": purged.uuid, "sender_uuid": purged.sender_uuid}})


async def _user_by_handle(table: Table, handle: str) -> User:
    user = await UsersRepository(table).get_by_handle(handle)
    if user is None:
        raise CommandError(f"no user has the handle {handle!r}")
    return user


async def cmd_summaries_repair(settings: Settings, args: argparse.Namespace) -> None:
    if args.after is not None and not args.all:
        raise CommandError("--after resumes --all: give both")
    async with _table(settings) as table:
        await _require_table(table)
        repair = SummariesRepair(
            ConversationsRepository(table),
            DeadLettersRepository(table),
            BlocksRepository(table),
            rows_per_second=args.rate,
        )
        if args.conversation is not None:
            await repair.conversation(args.conversation)
        elif args.handle is not None:
            await repair.user((await _user_by_handle(table, args.handle)).uuid)
        else:
            await repair.set_aside_records()
            if args.all:

                def progress(position: str) -> None:
                    print(f"-- to resume: ddb summaries repair --all --after {position}")

                await repair.everything(after=args.after, progress=progress)
    report = repair.report
    print(
        f"checked {report.rows_checked} rows, repaired {report.rows_repaired}; "
        f"processed {report.dead_letters_processed} dead letters"
    )


async def cmd_get_conversation(settings: Settings, args: argparse.Namespace) -> None:
    capacity = CapacityLog()
    unreadable = _Unreadable(settings)
    async with _table(settings) as table, _cipher(settings, table) as cipher:
        await _require_table(table)
        reader = await _user_by_handle(table, args.handle)
        group = args.group
        if group is None:
            other = await _user_by_handle(table, args.with_handle)
            group = pair_conversation_uuid(reader.uuid, other.uuid)
        table_with_log = Table(table.client, table.name, capacity)
        # Pattern A exactly as the API runs it: membership check, then one page.
        if await ConversationsRepository(table_with_log).get(reader.uuid, group) is None:
            raise CommandError(f"{args.handle!r} is not in conversation {group}")
        page = await MessagesRepository(table_with_log, cipher).page(group, limit=args.limit)
    for message in page.items:
        _print_json(
            {
                "uuid": message.uuid,
                "handle": message.sender_handle,
                **unreadable.fields(message.text, "message"),
                "created_at": message.created_at.isoformat(),
            }
        )
    _print_capacity(capacity)
    unreadable.explain()


async def cmd_list_conversations(settings: Settings, args: argparse.Namespace) -> None:
    capacity = CapacityLog()
    unreadable = _Unreadable(settings)
    async with _table(settings) as table, _cipher(settings, table) as cipher:
        await _require_table(table)
        owner = await _user_by_handle(table, args.handle)
        repo = ConversationsRepository(Table(table.client, table.name, capacity), cipher)
        page = await repo.list_recent(owner.uuid, limit=args.limit)
    for conversation in page.items:
        _print_json(
            {
                "message_group_uuid": conversation.message_group_uuid,
                "with": conversation.other_handle,
                **unreadable.fields(conversation.last_message, "last_message"),
                "last_message_at": conversation.last_message_at.isoformat(),
                "unread_count": conversation.unread_count,
            }
        )
    _print_capacity(capacity)
    unreadable.explain()


async def cmd_encryption_backfill(settings: Settings, args: argparse.Namespace) -> None:
    if settings.encryption != "kms":
        raise CommandError("the backfill encrypts: set CRUDDUR_ENCRYPTION=kms")
    checkpoint = checkpoint_path(settings.local_state_dir, settings.table_name)
    async with _table(settings) as table, _cipher(settings, table) as cipher:
        await _require_table(table)
        counts = await backfill(
            table,
            cipher,
            checkpoint,
            page_size=args.page_size,
            items_per_second=args.items_per_second,
            restart=args.restart,
            report=lambda counts: print(f"-- {counts}", file=sys.stderr),
        )
    print(
        f"encrypted {counts.messages} messages, {counts.rows} conversation rows and "
        f"{counts.records} idempotency records; {counts.scanned} items scanned, "
        f"{counts.changed_meanwhile} changed by another writer meanwhile (left as they are)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ddb", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint-url", help="DynamoDB endpoint (default: settings; AWS)")
    parser.add_argument("--table-name", help="table name (default: settings)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("schema-load", help="create the table (idempotent), wait until ACTIVE")
    drop = commands.add_parser("drop", help="delete the table (needs --yes TABLE_NAME)")
    drop.add_argument("--yes", metavar="TABLE_NAME", help="confirm by repeating the table name")
    commands.add_parser("list-tables", help="list the tables at the endpoint")
    scan = commands.add_parser("scan", help="print every item, one JSON object per line")
    scan.add_argument("--page-size", type=int, default=100)
    scan.add_argument("--max-items", type=int, default=0, help="stop after N items (0: all)")
    commands.add_parser("seed", help="load the demo users and conversation (idempotent)")

    users = commands.add_parser("users", help="user administration")
    users_commands = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = users_commands.add_parser("create", help="add a user (handles are unique)")
    create.add_argument("--handle", required=True, type=_handle)
    create.add_argument("--display-name", required=True, type=_non_blank)
    create.add_argument("--cognito-sub", help="the Cognito sub (default: a new random one)")
    delete = users_commands.add_parser(
        "delete", help="remove a user's profile, handle and sign-in link (messages stay)"
    )
    delete.add_argument("--handle", required=True, type=_handle)

    messages = commands.add_parser("messages", help="message administration")
    messages_commands = messages.add_subparsers(
        dest="messages_command", required=True, metavar="ACTION"
    )
    purge = messages_commands.add_parser(
        "purge", help="hard-delete one message (data-protection requests); rows show it deleted"
    )
    purge.add_argument("--message-group-uuid", required=True, type=UUID)
    purge.add_argument("--message-uuid", required=True, type=UUID)

    summaries = commands.add_parser("summaries", help="conversation rows (pattern E)")
    summaries_commands = summaries.add_subparsers(
        dest="summaries_command", required=True, metavar="ACTION"
    )
    repair = summaries_commands.add_parser(
        "repair",
        help="recompute rows from the stored messages (safe while the stream handler runs)",
    )
    scope = repair.add_mutually_exclusive_group(required=True)
    scope.add_argument("--conversation", type=UUID, help="both rows of one conversation")
    scope.add_argument("--handle", help="every conversation of one user")
    scope.add_argument("--all", action="store_true", help="the dead letters, then every row")
    scope.add_argument(
        "--dead-letters", action="store_true", help="only the records set aside by the stream"
    )
    repair.add_argument("--after", type=_position, help="resume --all from a position it printed")
    repair.add_argument(
        "--rate", type=_rate, default=50.0, help="rows per second at most (default 50)"
    )

    patterns = commands.add_parser("patterns", help="run an access pattern, print its capacity")
    pattern_commands = patterns.add_subparsers(dest="pattern", required=True, metavar="PATTERN")
    get = pattern_commands.add_parser("get-conversation", help="pattern A: a conversation page")
    get.add_argument("--handle", required=True, help="the reader")
    target = get.add_mutually_exclusive_group(required=True)
    target.add_argument("--with", dest="with_handle", help="the other participant's handle")
    target.add_argument("--group", type=UUID, help="the message group uuid")
    get.add_argument("--limit", type=_page_limit, default=20)
    listing = pattern_commands.add_parser(
        "list-conversations", help="pattern B: a user's conversations"
    )
    listing.add_argument("--handle", required=True)
    listing.add_argument("--limit", type=_page_limit, default=20)

    encryption = commands.add_parser("encryption", help="message text encryption")
    encryption_commands = encryption.add_subparsers(
        dest="encryption_command", required=True, metavar="ACTION"
    )
    fill = encryption_commands.add_parser(
        "backfill", help="encrypt text stored before encryption was on (resumable, idempotent)"
    )
    fill.add_argument("--page-size", type=int, default=100)
    fill.add_argument("--items-per-second", type=float, default=200.0, help="scan rate cap")
    fill.add_argument("--restart", action="store_true", help="ignore the saved scan position")
    return parser


def _handle(value: str) -> str:
    if not re.fullmatch(HANDLE_PATTERN, value):
        raise argparse.ArgumentTypeError("handles are 1-32 letters, digits or underscores")
    return value


def _non_blank(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be blank")
    return value.strip()


def _position(value: str) -> dict[str, Any]:
    try:
        return decode_position(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _rate(value: str) -> float:
    rate = float(value)
    if not rate > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return rate


def _page_limit(value: str) -> int:
    limit = int(value)
    if not 1 <= limit <= 50:
        raise argparse.ArgumentTypeError("must be between 1 and 50")
    return limit


COMMANDS = {
    "schema-load": cmd_schema_load,
    "drop": cmd_drop,
    "list-tables": cmd_list_tables,
    "scan": cmd_scan,
    "seed": cmd_seed,
    "create": cmd_users_create,
    "delete": cmd_users_delete,
    "purge": cmd_messages_purge,
    "repair": cmd_summaries_repair,
    "get-conversation": cmd_get_conversation,
    "list-conversations": cmd_list_conversations,
    "encryption": cmd_encryption_backfill,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {
        name: value
        for name, value in (
            ("ddb_endpoint_url", args.endpoint_url),
            ("table_name", args.table_name),
        )
        if value
    }
    settings = settings_or_exit("ddb", **overrides)
    # A command group's action (``users create``, ``messages purge``, ``patterns ...``) names
    # the function.
    action = next(
        (
            getattr(args, name)
            for name in ("users_command", "messages_command", "summaries_command", "pattern")
            if getattr(args, name, None)
        ),
        None,
    )
    command = COMMANDS[action or args.command]
    try:
        asyncio.run(command(settings, args))
    except CommandError as error:
        print(f"ddb: {error}", file=sys.stderr)
        return 1
    except ServiceError as error:
        print(f"ddb: {error.code}: {error.detail or error.title}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
