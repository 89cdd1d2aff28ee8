"""The DynamoDB actions, and on which of the table's resources, each deployed component performs.

Derived from the code, so the IAM policies in ``template.yaml`` cannot drift from it silently:
``tests/deploy/test_iam.py`` asserts that every role grants exactly what is derived here.

How it works. mypy (the project's type checker) builds typed trees of ``app/``. From a
component's entry point we follow every function, method and class it references, each
resolved through its static type, so ``self.table.get`` is ``Table.get`` and
``self.client.put_item`` is the aiobotocore DynamoDB client's PutItem, whatever a variable is
called. Importing a module reaches its top level, and functions it registers with a decorator
call (FastAPI routes) are reached with it. Reaching a method of the DynamoDB client is a
DynamoDB call. Three facts come from the call sites (read with ``ast``):
- the index of a query: the ``index=`` argument of ``Table.query`` (the one query primitive),
  which must be a module constant such as ``keys.ACTIVITY_INDEX``;
- TransactWriteItems is authorised per item: its items are built as ``{"Put": ...}``,
  ``{"Update": ...}`` ... literals, each needing PutItem, UpdateItem ... on the table;
- paginators and waiters name their operation in a string argument.
Where the code leaves it open (a query index that is not a constant, an untyped receiver
calling a client method, PartiQL), the derivation stops with an error rather than guess.
Not followed: ``super()`` calls and ``getattr``-style dispatch; the replay tests
(tests/deploy/test_iam_replay.py) cover what the code really sends.

Run ``python -m deploy.iam_actions`` to print what each component needs.
"""

from __future__ import annotations

import ast
import importlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import botocore.session
from botocore import xform_name
from mypy import build
from mypy.find_sources import create_source_list
from mypy.nodes import (
    CallExpr,
    ClassDef,
    Decorator,
    FuncDef,
    Import,
    ImportAll,
    ImportBase,
    ImportFrom,
    MemberExpr,
    MypyFile,
    Node,
    OverloadedFuncDef,
    RefExpr,
    Statement,
    SymbolNode,
    TypeInfo,
    Var,
)
from mypy.options import Options
from mypy.traverser import NameAndMemberCollector
from mypy.types import AnyType, Instance, TupleType, Type, TypeType, UnionType, get_proper_type
from mypy.util import correct_relative_import

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "app"

TABLE = "table"
STREAM = "stream"
ANY_RESOURCE = "*"

DYNAMODB_CLIENT = "types_aiobotocore_dynamodb.client.DynamoDBClient"
STREAMS_CLIENT = "types_aiobotocore_dynamodbstreams.client.DynamoDBStreamsClient"
QUERY_PRIMITIVE = "app.repositories.table.Table.query"
"""Its callers name the index (``index=``), so they decide which resource each query needs."""

TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
PARTIQL_OPERATIONS = {"ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction"}
# Third-party code is skipped (its types become Any) except the aiobotocore client classes,
# which is what makes a DynamoDB call recognisable. Skipping keeps the build to seconds.
SKIPPED_IMPORTS = (
    "aioboto3",
    "aiobotocore",
    "anyio",
    "boto3",
    "botocore",
    "cryptography",
    "fastapi",
    "httpx",
    "jwt",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "starlette",
    "types_aiobotocore_dynamodb.literals",
    "types_aiobotocore_dynamodb.type_defs",
    "types_aiobotocore_dynamodbstreams.literals",
    "types_aiobotocore_dynamodbstreams.type_defs",
    "uvicorn",
)


@dataclass(frozen=True, order=True)
class Grant:
    action: str
    """An IAM action, e.g. ``dynamodb:Query``."""
    resource: str
    """``table``, ``index/<name>``, ``stream`` (the table's), or ``*``."""


@dataclass(frozen=True)
class Component:
    entry: str
    """The fully qualified function a deployment calls: a Lambda handler, the app factory."""
    implied: frozenset[Grant] = frozenset()
    """What the platform does with the component's role on its behalf."""


# Lambda's event source mapping reads the stream with the function's role (ListStreams
# names no resource type, so IAM only accepts it on "*"; it reads no item data).
STREAM_POLLING = frozenset(
    {
        Grant("dynamodb:DescribeStream", STREAM),
        Grant("dynamodb:GetRecords", STREAM),
        Grant("dynamodb:GetShardIterator", STREAM),
        Grant("dynamodb:ListStreams", ANY_RESOURCE),
    }
)

COMPONENTS = {
    "api": Component("app.main.create_app"),
    "stream": Component("app.streams.handler.handler", implied=STREAM_POLLING),
    "post_confirmation": Component("app.cognito.post_confirmation.handler"),
}


class DerivationError(Exception):
    """The code does something whose permissions cannot be told statically."""


def _operations(service: str) -> dict[str, str]:
    """snake_case client method -> API operation, from botocore's service model."""
    model = botocore.session.get_session().get_service_model(service)
    return {xform_name(name): name for name in model.operation_names}


@dataclass
class _Owner:
    """A unit of code that runs as a whole: a function, a class body or a module's top level."""

    edges: set[str] = field(default_factory=set)
    grants: set[Grant] = field(default_factory=set)
    transaction_items: set[str] = field(default_factory=set)
    transacts: bool = False


@dataclass(frozen=True)
class _CallSite:
    """A client or primitive method whose grants depend on the call's arguments."""

    owner: str
    target: str


Position = tuple[int, int, int | None, int | None]


def _position(node: Node | ast.expr) -> Position:
    if isinstance(node, ast.expr):
        return (node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)
    return (node.line, node.column, node.end_line, node.end_column)


class CallGraph:
    """Every owner of ``app/`` with what it references and which DynamoDB calls it makes."""

    def __init__(self, result: build.BuildResult) -> None:
        self._types = result.types
        self.modules = {name: tree for name, tree in result.files.items() if _is_ours(name)}
        # A module's names include what it imports: keep each of our classes once.
        self._classes = list(
            {
                symbol.node.fullname: symbol.node
                for tree in self.modules.values()
                for symbol in tree.names.values()
                if isinstance(symbol.node, TypeInfo) and _is_ours(symbol.node.fullname)
            }.values()
        )
        self._dynamodb = _operations("dynamodb")
        self._streams = _operations("dynamodbstreams")
        self.owners: dict[str, _Owner] = {}
        for name, tree in self.modules.items():
            _ModuleScan(self, name, tree).run()

    def reachable(self, entry: str) -> set[str]:
        module = entry.rsplit(".", 1)[0]
        start = {f"def:{entry}", f"module:{module}"}
        if not start <= self.owners.keys():
            raise DerivationError(f"no function {entry} in {PACKAGE}/")
        seen: set[str] = set()
        pending = list(start)
        while pending:
            key = pending.pop()
            if key in seen or key not in self.owners:
                continue  # nested functions run as part of the function that defines them
            seen.add(key)
            pending.extend(self.owners[key].edges)
        return seen

    def grants(self, component: Component) -> frozenset[Grant]:
        owners = [self.owners[key] for key in self.reachable(component.entry)]
        grants = {grant for owner in owners for grant in owner.grants} | component.implied
        if any(owner.transacts for owner in owners):
            items = {item for owner in owners for item in owner.transaction_items}
            if not items:
                raise DerivationError(
                    f"{component.entry}: TransactWriteItems with no item literals"
                )
            grants |= {Grant(action, TABLE) for action in items}
        return frozenset(grants)

    def owner(self, key: str) -> _Owner:
        return self.owners.setdefault(key, _Owner())

    def targets(self, expr: RefExpr) -> Iterator[SymbolNode]:
        """What a name or attribute refers to, overriding methods in subclasses included."""
        if expr.node is not None:
            yield expr.node
            return
        if not isinstance(expr, MemberExpr):
            return
        receiver = self._types.get(expr.expr)
        if isinstance(get_proper_type(receiver), AnyType) and (
            expr.name in self._dynamodb or expr.name in self._streams
        ):
            raise DerivationError(
                f"line {expr.line}: .{expr.name}() on an untyped value: annotate the client"
            )
        for info in _classes_of(receiver):
            symbol = info.get(expr.name)
            if symbol is not None and symbol.node is not None:
                yield symbol.node
            yield from self._overrides(info, expr.name)

    def _overrides(self, info: TypeInfo, name: str) -> Iterator[SymbolNode]:
        for other in self._classes:
            if other is info or name not in other.names:
                continue
            if info in other.mro or (info.is_protocol and not other.is_protocol):
                node = other.names[name].node
                if node is not None:
                    yield node

    def client_grants(self, target: str) -> tuple[set[Grant], bool]:
        """Grants of a call to an aiobotocore client method, and whether it is a transaction."""
        client, _, method = target.rpartition(".")
        if client == STREAMS_CLIENT and method in self._streams:
            read = self._streams[method]
            resource = ANY_RESOURCE if read == "ListStreams" else STREAM
            return {Grant(f"dynamodb:{read}", resource)}, False
        operation = self._dynamodb.get(method) if client == DYNAMODB_CLIENT else None
        if operation is None:
            return set(), False  # close(), meta, exceptions ...: no request
        if operation in PARTIQL_OPERATIONS:
            raise DerivationError(f"{operation}: PartiQL is not granted to any role")
        if operation == "TransactWriteItems":
            return set(), True
        if operation == "TransactGetItems":
            return {Grant("dynamodb:GetItem", TABLE)}, False
        return {Grant(f"dynamodb:{operation}", TABLE)}, False

    def operation_of(self, kind: str, name: str) -> str:
        """The client method behind ``get_paginator(name)`` / ``get_waiter(name)``."""
        if kind == "get_paginator":
            return name
        model = botocore.session.get_session().get_waiter_model("dynamodb")
        waiters = {xform_name(waiter): waiter for waiter in model.waiter_names}
        return xform_name(model.get_waiter(waiters[name]).operation)


def _is_ours(module: str) -> bool:
    return module == PACKAGE or module.startswith(f"{PACKAGE}.")


def _classes_of(receiver: Type | None) -> Iterator[TypeInfo]:
    proper = get_proper_type(receiver)
    if isinstance(proper, Instance):
        yield proper.type
    elif isinstance(proper, TypeType):
        yield from _classes_of(proper.item)
    elif isinstance(proper, TupleType):
        yield proper.partial_fallback.type
    elif isinstance(proper, UnionType):
        for item in proper.items:
            yield from _classes_of(item)


def _fullname(node: SymbolNode) -> str:
    return node.func.fullname if isinstance(node, Decorator) else node.fullname


def _is_registration(decorator: Node) -> bool:
    """``@router.get("/livez")``: a decorator call registers the function with a framework."""
    return isinstance(decorator, CallExpr)


class _ModuleScan:
    """Splits one module into owners and records their references and DynamoDB calls."""

    def __init__(self, graph: CallGraph, name: str, tree: MypyFile) -> None:
        self.graph = graph
        self.name = name
        self.tree = tree
        self.module_key = f"module:{name}"
        self.spans: list[tuple[int, int, str]] = []
        self.refs: dict[Position, RefExpr] = {}
        self.call_sites: dict[Position, _CallSite] = {}

    def run(self) -> None:
        self.graph.owner(self.module_key)
        for statement in self.tree.defs:
            self._statement(statement, self.module_key)
        self._imports()
        self._call_site_facts()

    def _statement(self, statement: Statement, owner: str) -> None:
        """``owner`` is the module or class whose body holds ``statement``."""
        if isinstance(statement, FuncDef | OverloadedFuncDef):
            self._function(f"def:{statement.fullname}", statement)
        elif isinstance(statement, Decorator):
            key = f"def:{statement.func.fullname}"
            self._function(key, statement.func)
            for decorator in statement.decorators:
                self._collect(owner, decorator)
                if _is_registration(decorator):
                    self.graph.owner(owner).edges.add(key)
        elif isinstance(statement, ClassDef):
            self._class(statement)
        else:
            self._collect(owner, statement)

    def _function(self, key: str, function: FuncDef | OverloadedFuncDef) -> None:
        self.graph.owner(key)
        self._collect(key, function)

    def _class(self, definition: ClassDef) -> None:
        key = f"class:{definition.info.fullname}"
        owner = self.graph.owner(key)
        for base in definition.info.mro:
            if _is_ours(base.module_name):
                # Called implicitly on instances (construction, `async with`, calls ...).
                owner.edges |= {
                    f"def:{_fullname(symbol.node)}"
                    for name, symbol in base.names.items()
                    if name.startswith("__")
                    and name.endswith("__")
                    and symbol.node is not None
                    and isinstance(symbol.node, FuncDef | Decorator | OverloadedFuncDef)
                }
        for statement in definition.defs.body:
            self._statement(statement, key)

    def _collect(self, owner: str, node: Node) -> None:
        if node.end_line is not None:
            self.spans.append((node.line, node.end_line, owner))
        collector = NameAndMemberCollector()
        node.accept(collector)
        for expr in [*collector.name_exprs, *collector.member_exprs]:
            self.refs[_position(expr)] = expr
            for target in self.graph.targets(expr):
                self._refer(owner, expr, target)

    def _refer(self, owner_key: str, expr: RefExpr, target: SymbolNode) -> None:
        owner = self.graph.owner(owner_key)
        if isinstance(target, TypeInfo) and _is_ours(target.module_name):
            owner.edges.add(f"class:{target.fullname}")
            return
        if not isinstance(target, FuncDef | Decorator | OverloadedFuncDef):
            return
        name = _fullname(target)
        if _is_ours(name):
            owner.edges.add(f"def:{name}")
            if name == QUERY_PRIMITIVE:
                self.call_sites[_position(expr)] = _CallSite(owner_key, name)
            return
        client, _, method = name.rpartition(".")
        if client == DYNAMODB_CLIENT and method in ("query", "get_paginator", "get_waiter"):
            if owner_key != f"def:{QUERY_PRIMITIVE}":  # the primitive's callers name the index
                self.call_sites[_position(expr)] = _CallSite(owner_key, name)
            return
        grants, transacts = self.graph.client_grants(name)
        owner.grants |= grants
        owner.transacts |= transacts

    def _imports(self) -> None:
        for statement in self.tree.imports:
            if statement.is_mypy_only or statement.is_unreachable:
                continue  # `if TYPE_CHECKING:` imports never run
            owner = self.graph.owner(self._owner_at(statement.line))
            owner.edges |= {f"module:{module}" for module in self._imported(statement)}

    def _imported(self, statement: ImportBase) -> Iterator[str]:
        if isinstance(statement, Import):
            names = [name for name, _ in statement.ids]
        else:
            assert isinstance(statement, ImportFrom | ImportAll)
            base, _ = correct_relative_import(
                self.name, statement.relative, statement.id, self.tree.is_package_init_file()
            )
            names = [base]
            if isinstance(statement, ImportFrom):
                names += [f"{base}.{name}" for name, _ in statement.names]
        for name in names:
            parts = name.split(".")
            # Importing a.b.c runs a/__init__, a/b/__init__ and a/b/c.
            yield from (
                prefix
                for prefix in (".".join(parts[:end]) for end in range(1, len(parts) + 1))
                if prefix in self.graph.modules
            )

    def _owner_at(self, line: int) -> str:
        containing = [
            (end - start, owner) for start, end, owner in self.spans if start <= line <= end
        ]
        return min(containing)[1] if containing else self.module_key

    def _call_site_facts(self) -> None:
        source = ast.parse(Path(self.tree.path).read_text(encoding="utf-8"))
        called: set[Position] = set()
        for node in ast.walk(source):
            if isinstance(node, ast.Dict):
                items = {
                    TRANSACTION_ITEMS[key.value]
                    for key in node.keys
                    if isinstance(key, ast.Constant) and key.value in TRANSACTION_ITEMS
                }
                self.graph.owner(self._owner_at(node.lineno)).transaction_items |= items
            elif isinstance(node, ast.Call) and _position(node.func) in self.call_sites:
                called.add(_position(node.func))
                self._call(self.call_sites[_position(node.func)], node)
        for position, site in self.call_sites.items():
            if position not in called:
                raise DerivationError(f"{self.tree.path}:{position[0]}: {site.target} not called")

    def _call(self, site: _CallSite, call: ast.Call) -> None:
        owner = self.graph.owner(site.owner)
        method = site.target.rpartition(".")[2]
        where = f"{self.tree.path}:{call.lineno}"
        if method in ("get_paginator", "get_waiter"):
            argument = call.args[0] if call.args else None
            if not (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                raise DerivationError(f"{where}: {method} needs a literal name")
            operation = self.graph.operation_of(method, argument.value)
            if operation in ("query", "scan"):
                raise DerivationError(f"{where}: paginate queries through Table.query")
            grants, transacts = self.graph.client_grants(f"{DYNAMODB_CLIENT}.{operation}")
            owner.grants |= grants
            owner.transacts |= transacts
            return
        keyword = "index" if site.target == QUERY_PRIMITIVE else "IndexName"
        if any(argument.arg is None for argument in call.keywords):
            raise DerivationError(f"{where}: a query with **arguments: pass {keyword}= explicitly")
        index = next((arg.value for arg in call.keywords if arg.arg == keyword), None)
        name = self._constant(index, where)
        owner.grants.add(Grant("dynamodb:Query", TABLE if name is None else f"index/{name}"))

    def _constant(self, expr: ast.expr | None, where: str) -> str | None:
        if expr is None or (isinstance(expr, ast.Constant) and expr.value is None):
            return None
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return expr.value
        ref = self.refs.get(_position(expr))
        node = ref.node if ref is not None else None
        if isinstance(node, Var):
            module, _, attribute = node.fullname.rpartition(".")
            if module in self.graph.modules:
                value = getattr(importlib.import_module(module), attribute)
                if isinstance(value, str):
                    return value
        raise DerivationError(f"{where}: the index must be a string or a module constant")


def analyse(root: Path = REPO) -> CallGraph:
    """Type-check ``app/`` with mypy (in memory, no cache) and build its call graph."""
    options = Options()
    options.preserve_asts = True
    options.export_types = True
    options.incremental = False
    options.follow_imports = "silent"
    options.ignore_missing_imports = True
    for module in SKIPPED_IMPORTS:
        options.per_module_options[module] = {"follow_imports": "skip"}
        options.per_module_options[f"{module}.*"] = {"follow_imports": "skip"}
    sources = create_source_list([str(root / PACKAGE)], options)
    return CallGraph(build.build(sources=sources, options=options))


def derive(graph: CallGraph | None = None) -> dict[str, frozenset[Grant]]:
    graph = graph or analyse()
    return {name: graph.grants(component) for name, component in COMPONENTS.items()}


def _describe(grants: Iterable[Grant]) -> str:
    return "\n".join(f"  {grant.action:<28} {grant.resource}" for grant in sorted(grants))


if __name__ == "__main__":
    for component, grants in derive().items():
        print(f"{component} ({COMPONENTS[component].entry}):\n{_describe(grants)}")
