"""Statements built once, run on SQLite's cursor directly: compiled once, converted by SQLAlchemy's own types.

Through `Connection.execute`, a statement that SQLite answers in a few microseconds costs 20 to 70 us of SQLAlchemy's
execution machinery (cache key, execution context, parameter and result processing), and the pipeline runs a dozen
such statements a message. A statement marked with `prepared` is compiled once per set of parameter names into its
SQL text, each parameter's bind conversion and each result column's conversion (the very functions the engine would
apply), and then costs the cursor's call and those conversions. It runs on the connection of the session's
transaction, so it commits or rolls back with everything else.

Only plain statements take this path: one whose compiled form needs the execution context (an UPDATE's Python-side
defaults, a default that reads the context, a list bound by the caller to an IN) goes through the engine as before
(`plan_of` returns None for it).
"""

from __future__ import annotations

import sqlite3
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Executable
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.sql.compiler import SQLCompiler
from sqlmodel.sql.sqltypes import UTCDateTime

S = TypeVar("S", bound=Executable)
Convert = Callable[[Any], Any] | None

_PREPARED: dict[int, Executable] = {}  # id -> the statement itself, so that the id stays its own


def prepared(statement: S) -> S:
    """Mark a statement that is built once (a module constant, or cached per shape) for the direct path on SQLite."""
    _PREPARED[id(statement)] = statement
    return statement


def is_prepared(statement: Executable) -> bool:
    return _PREPARED.get(id(statement)) is statement


GIVEN, FIXED, DEFAULT = 0, 1, 2  # where a parameter's value comes from: the caller, the statement, a column default


@dataclass(frozen=True, slots=True)
class Plan:
    """A statement as SQLite runs it: the SQL, where each positional parameter's value comes from, the conversions."""

    sql: str
    sources: tuple[tuple[int, Any, Convert], ...]  # per "?": (GIVEN, name, bind conversion), (FIXED, value, None)
    # or (DEFAULT, the column's default function, bind conversion)
    results: tuple[Convert, ...]  # the result conversion of each column returned
    row: type[tuple[Any, ...]] | None  # a named tuple of the result columns (Row-like: by index and by name)
    # `sources` and `results` written out as one function each (`_bind_function`, `_read_function`)
    bind: Callable[[Mapping[str, Any]], tuple[Any, ...]] = field(init=False, repr=False, compare=False)
    read: Callable[[Sequence[Any]], tuple[Any, ...]] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # bind(params): the value of each "?" for a call with `params`, converted for SQLite
        object.__setattr__(self, "bind", _bind_function(self.sources))
        object.__setattr__(self, "read", _read_function(self.results, self.row) if self.row is not None else None)


# A statement's parameters and result rows are converted a dozen times a message on the pipeline's event loop. A loop
# over `sources` (or `results`) tests each entry's kind on every call; the same steps written out as one expression,
# compiled once per plan, cost about a third less (a message row's 12 parameters 0.97 against 1.50 us). The names in
# the generated code are all bound in its namespace, never spliced into its text, so a parameter's name or value
# cannot change what the code does.


def _bind_function(sources: Sequence[tuple[int, Any, Convert]]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    namespace: dict[str, Any] = {}
    values: list[str] = []
    for i, (kind, what, convert) in enumerate(sources):
        if kind == FIXED:
            namespace[f"fixed{i}"] = what
            values.append(f"fixed{i}")
            continue
        if kind == GIVEN:
            namespace[f"name{i}"] = what
            value = f"params[name{i}]"
        else:
            namespace[f"default{i}"] = what
            value = f"default{i}()"
        if convert is not None:
            namespace[f"convert{i}"] = convert
            value = f"convert{i}({value})"
        values.append(value)
    return _compiled("bind", "params", namespace, f"({''.join(v + ', ' for v in values)})")


def _read_function(results: Sequence[Convert], row: type[tuple[Any, ...]]) -> Callable[[Sequence[Any]], Any]:
    namespace: dict[str, Any] = {"make": row._make}  # type: ignore[attr-defined]
    columns = [f"column{i}" for i in range(len(results))]
    values = []
    for i, convert in enumerate(results):
        if convert is None:
            values.append(f"column{i}")
        else:
            namespace[f"convert{i}"] = convert
            values.append(f"convert{i}(column{i})")
    # Unpacking checks the row's width, as zip(..., strict=True) did.
    unpack = f"({''.join(c + ', ' for c in columns)}) = raw"
    return _compiled("read", "raw", namespace, unpack, f"make(({''.join(v + ', ' for v in values)}))")


def _compiled(name: str, argument: str, namespace: dict[str, Any], *lines: str) -> Any:
    """`def name(argument)` of these lines, the last one returned, defined in `namespace` (which binds every name
    the lines use: our own text, with no value spliced into it)."""
    *steps, result = lines
    source = f"def {name}({argument}):\n" + "".join(f"    {step}\n" for step in steps) + f"    return {result}\n"
    exec(compile(source, f"<sqlite_direct {name}>", "exec"), namespace)
    return namespace[name]


def plan_of(statement: Executable, params: Mapping[str, Any], dialect: Dialect) -> Plan | None:
    """Compile `statement` for calls with these parameter names; None when it must go through the engine."""
    compiled = statement.compile(dialect=dialect, column_keys=sorted(params))
    assert isinstance(compiled, SQLCompiler)
    if compiled.update_prefetch or any(bind.key in params for bind in compiled.post_compile_params):
        return None  # an UPDATE's Python-side defaults, or a caller's IN list (its length varies): the engine's
    if any(bind.callable is not None for bind in compiled.binds.values()):
        return None
    defaults = _column_defaults(compiled)
    if defaults is None:
        return None
    try:
        expanded = compiled.construct_expanded_state(dict(params))  # constant IN lists become plain "?"s
    except Exception:  # a required value missing: the engine raises the error the caller expects
        return None
    processors = {**compiled._bind_processors, **expanded.processors}  # the second: those of expanded IN lists
    sources: list[tuple[int, Any, Convert]] = []
    for name in expanded.positiontup or ():
        convert = _faster(compiled, name, processors.get(name))
        if name in params:
            sources.append((GIVEN, name, convert))
        elif name in defaults:
            default = defaults[name]
            if callable(default):
                sources.append((DEFAULT, default, convert))
            else:
                sources.append((FIXED, convert(default) if convert else default, None))
        else:
            value = expanded.parameters[name]
            sources.append((FIXED, convert(value) if convert else value, None))
    columns = compiled._result_columns  # (key, name, objects, type) of each column returned
    results = tuple(column[3]._cached_result_processor(dialect, None) for column in columns)
    row = namedtuple("Row", [column[0] for column in columns], rename=True) if columns else None  # type: ignore[misc]
    return Plan(expanded.statement, tuple(sources), results, row)


def utc_text(value: datetime | None) -> str | None:
    """An aware datetime as SQLite's DATETIME stores it, in UTC ("2026-05-01 12:00:00.000000"): what the engine's
    conversion of `UTCDateTime` gives (see `_faster`), in a third of its time; a dozen are bound a message."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        if value.utcoffset() is None:
            raise ValueError("Datetime values must have timezone information")  # as UTCDateTime says it
        value = value.astimezone(UTC)
    # `isoformat` formats each of its seven numbers with C's printf (about 12,000 instructions); the values bound
    # in a transaction mostly fall within one second, so the text up to the seconds is kept for the next
    global _last_second
    second, prefix = _last_second  # one read: another thread may replace it meanwhile
    this = (value.toordinal(), value.hour, value.minute, value.second)
    if second != this:
        prefix = value.isoformat(" ", "seconds")[:-6] + "."  # less the "+00:00"
        _last_second = (this, prefix)
    return prefix + str(value.microsecond).zfill(6)


_last_second: tuple[tuple[int, int, int, int], str] = ((0, 0, 0, 0), "")


_UTC_SAMPLES = (
    datetime(2026, 5, 1, 12, 30, 5, 123456, tzinfo=UTC),
    datetime(2026, 5, 1, 8, 0, tzinfo=timezone(timedelta(hours=-4))),
    datetime(999, 1, 2, tzinfo=UTC),
)


def _faster(compiled: SQLCompiler, name: str, convert: Convert) -> Convert:
    """`utc_text` in place of the engine's conversion of an aware datetime, once it gives the same text for the
    samples (the storage format is the dialect's to set); any other conversion as it is."""
    bind = compiled.binds.get(name)
    if convert is None or bind is None or not isinstance(bind.type, UTCDateTime):
        return convert
    return utc_text if all(convert(v) == utc_text(v) for v in _UTC_SAMPLES) else convert


def _column_defaults(compiled: SQLCompiler) -> dict[str, Any] | None:
    """The INSERT's Python-side column defaults by parameter name: a value, or a function of no arguments (the
    engine calls it with its execution context, which a default of ours never reads); None for other kinds."""
    defaults: dict[str, Any] = {}
    for column in compiled.insert_prefetch:
        default = column.default
        if default is None or not (default.is_scalar or default.is_callable):
            return None
        if default.is_scalar:
            defaults[column.key] = default.arg
            continue
        function = default.arg
        try:
            function(None)
        except Exception:  # it wants the execution context after all
            return None
        defaults[column.key] = partial(function, None)
    return defaults


class DirectResult:
    """What callers of `execute_core` read of a result: its rows (named tuples) and how many rows it changed."""

    __slots__ = ("_rows", "rowcount")

    def __init__(self, rows: list[Any], rowcount: int) -> None:
        self._rows = rows
        self.rowcount = rowcount

    def all(self) -> list[Any]:
        return self._rows

    def first(self) -> Any:
        return self._rows[0] if self._rows else None

    def one(self) -> Any:
        if not self._rows:
            raise NoResultFound("No row was found when one was required")
        if len(self._rows) > 1:
            raise MultipleResultsFound("Multiple rows were found when exactly one was required")
        return self._rows[0]

    def one_or_none(self) -> Any:
        return self.one() if self._rows else None

    def scalar_one(self) -> Any:
        return self.one()[0]

    def scalar_one_or_none(self) -> Any:
        row = self.one_or_none()
        return None if row is None else row[0]

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None


_plans: dict[tuple[int, tuple[str, ...]], Plan | None] = {}


def run_direct(
    connection: sqlite3.Connection, statement: Executable, params: Any, dialect: Dialect
) -> DirectResult | None:
    """Run a prepared statement with `params` (a mapping, or a list of them for many rows) on `connection`;
    None when its plan says it must go through the engine."""
    many = isinstance(params, Sequence) and not isinstance(params, (str, bytes))
    first = params[0] if many else (params or {})
    key = (id(statement), tuple(first))  # a call site passes its names in one order: no sort on every call
    plan = _plans.get(key, _plans)
    if plan is _plans:
        plan = _plans[key] = plan_of(statement, first, dialect)
    if plan is None:
        return None
    assert isinstance(plan, Plan)
    if many and plan.row is not None:  # the driver cannot return rows from executemany
        return None
    if many:
        cursor = connection.executemany(plan.sql, list(map(plan.bind, params)))
        return DirectResult([], cursor.rowcount)
    cursor = connection.execute(plan.sql, plan.bind(first))
    if plan.read is None:
        return DirectResult([], cursor.rowcount)
    return DirectResult(list(map(plan.read, cursor.fetchall())), cursor.rowcount)
