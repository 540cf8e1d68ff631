"""Prepared statements on SQLite's cursor give what the engine gives: the same rows, values, defaults and counts."""

from __future__ import annotations

import gc
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Executable, bindparam, event, insert, inspect, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.exc import MultipleResultsFound, NoResultFound
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel.sql.sqltypes import UTCDateTime

from storage.core import execute_core
from storage.db import Database, _insert_with_id
from storage.duplicates import _candidates_query
from storage.models import Contact, Message, Outbox, RawInbound, RawState, Ticket, TicketStatus
from storage.raw import NewRaw, claim_pending, settle_done, store_raw_batch
from storage.replies import _COUNT_REPLY
from storage.sqlite_direct import (
    DEFAULT,
    FIXED,
    GIVEN,
    DirectResult,
    Plan,
    is_prepared,
    plan_of,
    prepared,
    run_direct,
    utc_text,
)
from storage.tickets import _NEXT_NUMBER, _touch_statement, create_ticket, get_or_create_contact


async def _both(session: AsyncSession, statement: Executable, params: Any) -> tuple[Any, DirectResult]:
    """The statement through the engine, then on the cursor, in the same transaction."""
    connection = await session.connection()
    engine = connection.execute(statement, params)  # type: ignore[union-attr]
    rows = engine.all() if engine.returns_rows else []
    direct = run_direct(connection.connection.driver_connection, statement, params, connection.dialect)
    assert direct is not None, "a prepared statement of the pipeline must take the direct path"
    return (rows, engine.rowcount), direct


async def test_every_pipeline_statement_is_prepared() -> None:
    statements = [
        _NEXT_NUMBER["sqlite"],
        _COUNT_REPLY["sqlite"],
        _touch_statement(("status",)),
        _insert_with_id(Message.__table__),
        _candidates_query(True, True),
    ]
    assert all(is_prepared(s) for s in statements)
    assert not is_prepared(select(Contact.id))  # a statement built per call keeps the engine's path


async def test_upserts_return_what_the_engine_returns(sqlite_db: Database) -> None:
    async with sqlite_db.write() as session:
        (rows, _), direct = await _both(session, _NEXT_NUMBER["sqlite"], {"prefix": "SR", "year": 2026})
        assert [tuple(r) for r in rows] == [(1,)] and direct.scalar_one() == 2  # the counter went on
        window = datetime(2026, 12, 3, 10, tzinfo=UTC)
        params = {"address_1": "a@example.org", "address_2": "*", "window": window}
        (rows, _), direct = await _both(session, _COUNT_REPLY["sqlite"], params)  # two rows' upsert, both returned
        assert dict(rows) == {"a@example.org": 1, "*": 1} and dict(direct.all()) == {"a@example.org": 2, "*": 2}


async def test_an_insert_gets_the_column_defaults_the_engine_would_fill_in(sqlite_db: Database) -> None:
    async with sqlite_db.write() as session:
        ticket = await create_ticket(session=session, prefix="SR", status="new", channel="email", summary="x")
        values = {"ticket_id": ticket.id, "direction": "in", "channel": "email", "body": "pothole"}
        (rows, _), direct = await _both(session, _insert_with_id(Message.__table__), values)
        before = datetime.now(UTC)
        found = await session.execute(select(Message).where(Message.id.in_([rows[0][0], direct.scalar_one()])))
        by_engine, by_cursor = found.scalars().all()
    for column in ("subject", "body", "kind", "flagged", "direction"):  # scalar defaults and the given values
        assert getattr(by_cursor, column) == getattr(by_engine, column)
    assert by_cursor.kind == "message" and by_cursor.subject == ""
    assert by_cursor.created_at.tzinfo is not None  # the callable default, stored as the engine stores it
    assert abs(by_cursor.created_at - before) < timedelta(seconds=5)


def test_an_aware_datetime_is_bound_as_the_engine_binds_it() -> None:
    """The direct path's own conversion of `UTCDateTime` (`utc_text`) against the engine's, on dates of every kind;
    a plan uses it for such a parameter, and a naive datetime is refused as the engine refuses it."""
    dialect = sqlite.dialect()
    engines = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert engines is not None
    chance = random.Random(311)
    for _ in range(2000):
        moment = datetime(2, 1, 1, tzinfo=UTC) + timedelta(microseconds=chance.randrange(310_000_000_000_000_000))
        offset = timezone(timedelta(minutes=chance.randrange(-23 * 60, 23 * 60)))
        for value in (moment, moment.replace(microsecond=0), moment.astimezone(offset)):
            assert utc_text(value) == engines(value)
    # the text up to the second is kept from one value to the next: steps across a second, a year, and back
    new_year = datetime(2027, 1, 1, tzinfo=UTC)
    for step in (timedelta(microseconds=7), timedelta(milliseconds=300), timedelta(days=-1)):
        for n in range(-20, 20):
            value = new_year + n * step
            assert utc_text(value) == engines(value), value
    assert utc_text(None) is None and engines(None) is None
    with pytest.raises(ValueError):
        utc_text(datetime(2026, 5, 1))
    plan = plan_of(select(Ticket.id).where(Ticket.created_at >= bindparam("since")), {"since": 0}, dialect)
    assert plan is not None and [convert for _, _, convert in plan.sources] == [utc_text]


async def test_a_json_column_is_converted_both_ways(sqlite_db: Database) -> None:
    payload = {"subject": "Re: pothole", "lines": ["á", 2]}
    async with sqlite_db.write() as session:
        values = {"channel": "email", "recipient": "a@example.org", "payload": payload}
        await _both(session, _insert_with_id(Outbox.__table__), values)
        stored = (await session.execute(select(Outbox.payload))).scalars().all()
    assert stored == [payload, payload]


async def test_a_select_gives_named_rows_with_converted_values(sqlite_db: Database) -> None:
    async with sqlite_db.write() as session:
        ticket = await create_ticket(
            session=session, prefix="SR", status=TicketStatus.NEW, channel="email", summary="Pothole on Elm",
            category="pothole", lat=40.0, lon=-75.0, address_key="elm st",
        )  # fmt: skip
        params = {
            "category": "pothole", "since": ticket.created_at - timedelta(days=1), "limit": 10, "exclude_id": 0,
            "lat_lo": 39.9, "lat_hi": 40.1, "lon_lo": -75.1, "lon_hi": -74.9, "address_key": "nowhere",
        }  # fmt: skip
        (rows, _), direct = await _both(session, _candidates_query(True, True), params)
    assert [tuple(r) for r in rows] == [tuple(r) for r in direct.all()]
    (row,) = direct.all()
    assert row.id == ticket.id and row.summary == "Pothole on Elm" and row.created_at == rows[0].created_at
    assert row.created_at.tzinfo is not None  # the UTC type's conversion, not SQLite's text


async def test_an_update_counts_its_rows_and_rolls_back_with_the_transaction(sqlite_db: Database) -> None:
    async with sqlite_db.write() as session:
        ticket = await create_ticket(session=session, prefix="SR", status="new", channel="email", summary="x")
        ticket_id = ticket.id
    with pytest.raises(RuntimeError):
        async with sqlite_db.write() as session:
            now = datetime.now(UTC)
            params = {
                "ticket_id": ticket_id,
                "new_updated_at": now,
                "new_last_activity_at": now,
                "new_status": "closed",
            }
            updated = await execute_core(session, _touch_statement(("status",)), params)
            assert isinstance(updated, DirectResult) and updated.rowcount == 1
            missing = await execute_core(session, _touch_statement(("status",)), {**params, "ticket_id": -1})
            assert missing.rowcount == 0
            raise RuntimeError("roll back")
    async with sqlite_db.read() as session:
        assert (await session.get(Ticket, ticket_id)).status == "new"  # type: ignore[union-attr]


async def test_many_rows_at_once_count_every_row(sqlite_db: Database) -> None:
    items = [NewRaw(channel="email", source="smtp", idempotency_key=f"k{i}", raw=b"x") for i in range(3)]
    async with sqlite_db.write() as session:
        await store_raw_batch(session=session, items=items)
    async with sqlite_db.write() as session:
        rows = await claim_pending(session=session, owner="me", limit=10, lease=timedelta(minutes=1))
        assert await settle_done(session=session, owner="me", done=[(r.id, None) for r in rows])  # type: ignore[misc]
    async with sqlite_db.write() as session:  # settled already: no row is "processing" by "me" any more
        assert not await settle_done(session=session, owner="me", done=[(rows[0].id, None)])  # type: ignore[misc]
    async with sqlite_db.read() as session:
        states = (await session.execute(select(RawInbound.state).order_by(RawInbound.id))).scalars().all()
    assert states == [RawState.DONE] * 3


def test_what_needs_the_engine_is_left_to_it() -> None:
    from sqlalchemy.dialects import sqlite

    dialect = sqlite.dialect()
    by_list = select(Contact.id).where(Contact.address.in_(bindparam("addresses", expanding=True)))
    assert plan_of(by_list, {"addresses": ["a", "b"]}, dialect) is None  # the list's length varies per call
    constant_list = select(Contact.id).where(Contact.kind.in_(("email", "phone")), Contact.address == bindparam("a"))
    plan = plan_of(constant_list, {"a": "x"}, dialect)
    assert plan is not None and plan.sql.count("?") == 3
    assert plan_of(select(Contact.id).where(Contact.address == bindparam("a")), {}, dialect) is None  # missing


async def test_a_required_value_missing_raises_the_engines_error(sqlite_db: Database) -> None:
    statement = prepared(insert(Contact.__table__).values(kind=bindparam("kind"), address=bindparam("address")))
    async with sqlite_db.write() as session:
        with pytest.raises(Exception, match="address"):
            await execute_core(session, statement, {"kind": "email"})


def test_a_result_is_read_as_the_engines_is() -> None:
    assert DirectResult([(1,)], 1).scalar_one() == 1
    assert DirectResult([], 0).scalar_one_or_none() is None and DirectResult([], 0).first() is None
    with pytest.raises(NoResultFound):
        DirectResult([], 0).one()
    with pytest.raises(MultipleResultsFound):
        DirectResult([(1,), (2,)], 2).scalar_one()


async def test_a_row_read_again_is_the_object_the_session_holds(db: Database) -> None:
    """On both databases: the contact looked up twice in one transaction is one object, its change kept."""
    async with db.write() as session:
        first = await get_or_create_contact(session=session, kind="email", address="ana@example.org")
        first.bounced = True  # pending: flushed before the second lookup reads the row
        again = await get_or_create_contact(session=session, kind="email", address="ana@example.org")
        assert again is first and again.bounced
        ticket = await create_ticket(session=session, prefix="SR", status="new", channel="email", summary="x")
        assert await session.get(Ticket, ticket.id) is ticket  # the inserted row's object, not a second one
    async with db.read() as session:
        stored = await session.get(Contact, first.id)
        assert stored is not None and stored.bounced


async def test_an_inserted_or_claimed_row_is_held_by_the_session_and_written_when_changed(db: Database) -> None:
    """On both databases: an object made of an inserted or claimed row stays in the session when nothing else
    holds it (no second SELECT for it), is persistent, and a change to it is flushed with the transaction."""
    loads: list[object] = []
    async with db.write() as session:
        event.listen(session.sync_session, "do_orm_execute", loads.append)
        ticket = await create_ticket(session=session, prefix="SR", status="new", channel="email", summary="x")
        ticket_id = ticket.id
        assert inspect(ticket).persistent and ticket in session
        del ticket
        gc.collect()
        again = await session.get(Ticket, ticket_id)
        assert again is not None and loads == []  # the held object: the identity map alone holds it weakly
        again.summary = "changed"
        raw = NewRaw(channel="email", source="t", idempotency_key="k", raw=b"x")
        await store_raw_batch(session=session, items=[raw])
        raw_id = (await claim_pending(session=session, owner="me", limit=1, lease=timedelta(minutes=1)))[0].id
        loads.clear()  # (storing and claiming may run through the session)
        gc.collect()
        claimed = await session.get(RawInbound, raw_id)
        assert claimed is not None and claimed.state == RawState.PROCESSING and loads == []
    async with db.read() as session:
        stored = await session.get(Ticket, ticket_id)
        assert stored is not None and stored.summary == "changed"


def _by_loop(plan: Plan, params: dict[str, Any]) -> tuple[Any, ...]:
    """What a plan's parameters are, spelt out: the value of each source in turn, converted."""
    values = []
    for kind, what, convert in plan.sources:
        if kind != FIXED:
            what = params[what] if kind == GIVEN else what()
            what = convert(what) if convert is not None else what
        values.append(what)
    return tuple(values)


def test_the_written_out_conversions_give_what_the_plan_says() -> None:
    """Each plan's generated `bind` against its sources taken one by one (given, fixed and default values, with and
    without a conversion), and its `read` against each result column's conversion, on the pipeline's statements."""
    dialect = sqlite.dialect()
    moment = datetime(2026, 12, 6, 20, 15, 1, 250, tzinfo=timezone(timedelta(hours=-5)))
    message = {"ticket_id": 7, "direction": "in", "channel": "email", "body": "pothole"}
    cases = [
        (_insert_with_id(Message.__table__), message),
        (_insert_with_id(Outbox.__table__), {"channel": "email", "recipient": "a@x.org", "payload": {"a": [1, "é"]}}),
        (_COUNT_REPLY["sqlite"], {"address_1": "a@x.org", "address_2": "*", "window": moment}),
        (
            _touch_statement(("status",)),
            {"ticket_id": 3, "new_status": "open", "new_updated_at": moment, "new_last_activity_at": moment},
        ),
        (select(Ticket.id).where(Ticket.created_at >= bindparam("since")).limit(5), {"since": moment}),
    ]
    kinds: set[int] = set()
    for statement, params in cases:
        plan = plan_of(statement, params, dialect)
        assert plan is not None
        kinds |= {kind for kind, _, _ in plan.sources}
        bound, expected = plan.bind(params), _by_loop(plan, params)
        defaults = [i for i, (kind, _, _) in enumerate(plan.sources) if kind == DEFAULT]  # a clock's value differs
        assert [v for i, v in enumerate(bound) if i not in defaults] == [
            v for i, v in enumerate(expected) if i not in defaults
        ]
        assert len(bound) == len(plan.sources) == plan.sql.count("?")
    assert kinds == {GIVEN, FIXED, DEFAULT}  # every kind of source was compared

    query = _candidates_query(True, True)
    params = {
        "category": "pothole", "since": moment, "limit": 10, "exclude_id": 0, "lat_lo": 39.9, "lat_hi": 40.1,
        "lon_lo": -75.1, "lon_hi": -74.9, "address_key": "elm st",
    }  # fmt: skip
    plan = plan_of(query, params, dialect)
    assert plan is not None and plan.read is not None and plan.row is not None
    fields = plan.row._fields  # type: ignore[attr-defined]
    raw = tuple("2026-12-06 01:02:03.000004" if name == "created_at" else f"v{i}" for i, name in enumerate(fields))
    assert any(plan.results), "a column with a conversion is compared"
    converted = [f(value) if f is not None else value for f, value in zip(plan.results, raw, strict=True)]
    row = plan.read(raw)
    assert isinstance(row, plan.row) and list(row) == converted
    with pytest.raises(ValueError):  # a row of another width is refused, not cut short
        plan.read(raw[:-1])


def test_a_parameter_name_is_never_read_as_code() -> None:
    """The generated functions bind names and values in their namespace: a name that is not an identifier (SQL
    allows quoted ones) is looked up as it is."""
    name = "x'); raise SystemExit('ran') #"
    plan = plan_of(select(Ticket.id).where(Ticket.summary == bindparam(name)), {name: "pothole"}, sqlite.dialect())
    assert plan is not None and plan.bind({name: "pothole"}) == ("pothole",)
    with pytest.raises(KeyError):
        plan.bind({})
