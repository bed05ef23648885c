"""A batch's rows written with one statement per table, at the database driver's speed.

The worker's batch writes about nine rows per event into seven tables. Through SQLAlchemy's executemany,
each row pays for parameter construction and every value's bind processing (the aware-UTC instants, the
JSON columns) in Python, and on PostgreSQL each row is one more execution of a prepared statement in
psycopg's pipeline. Here the statements are the store's own SQLAlchemy constructs, compiled once per set of
columns, and the rows go in as follows (see docs/decisions.md, "the batch's rows in bulk"):

- PostgreSQL: the rows are one JSON document (orjson), expanded by the server with
  ``json_populate_recordset(NULL::table, …)``: one statement and one round trip per table, whatever the
  number of rows, with the same ON CONFLICT clauses as the row-at-a-time statements.
- SQLite: the compiled statement's text and the rows as tuples of values already converted by the
  columns' own bind processors (so an instant is stored in exactly the text SQLAlchemy writes and reads),
  through sqlite3's executemany, whose loop runs in C.

Either way the rows are what the row-at-a-time statements would have written (tested equal on both).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Connection, Table, bindparam, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import Insert

from connector.store.schema import UTCDateTime


def _iso(value: Any) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def rows_document(rows: Sequence[Mapping[str, Any]]) -> bytes:
    """The rows as one JSON array: instants in ISO 8601 with their offset, which PostgreSQL reads exactly.

    orjson refuses an integer beyond 64 bits: such a batch goes through the standard library instead."""
    try:
        return orjson.dumps(rows)
    except TypeError:
        return json.dumps(rows, default=_iso, ensure_ascii=False).encode()


# a prepared write: every value converted and the statement chosen, only the database's part left to run
Write = Callable[[Connection], None]


class BulkWriter:
    """Write many rows of one table in one go, as the statement `shape` builds it for the dialect.

    `prepared_insert` and `prepared_delete` do the Python part (choosing the statement, converting every
    value) and return what is left: running it on a connection. A batch prepares its writes before it takes
    SQLite's write lock, so the lock is held for the database's part only."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.postgresql = dialect.name == "postgresql"
        self._compiled: dict[tuple[str, tuple[str, ...]], Any] = {}

    def insert(self, conn: Connection, name: str, target: Table, rows: Sequence[Mapping[str, Any]],
               shape: Callable[[Insert], Any] = lambda stmt: stmt) -> None:
        """INSERT the rows (every row has the same keys) into `target`; `shape` adds an ON CONFLICT clause
        to the dialect's insert construct (`sqlalchemy.dialects.postgresql.insert` or `sqlite.insert`)."""
        self.prepared_insert(name, target, rows, shape)(conn)

    def delete(self, conn: Connection, name: str, target: Table, keys: Sequence[Mapping[str, Any]]) -> None:
        """DELETE the rows of `target` whose columns equal one of `keys` (every key has the same columns)."""
        self.prepared_delete(name, target, keys)(conn)

    def prepared_insert(self, name: str, target: Table, rows: Sequence[Mapping[str, Any]],
                        shape: Callable[[Insert], Any] = lambda stmt: stmt) -> Write:
        """`insert`, prepared: what is left is to run it on a connection."""
        if not rows:
            return _nothing
        columns = tuple(c.name for c in target.c if c.name in rows[0])
        key = (name, columns)
        if self.postgresql:
            stmt = self._compiled.get(key)
            if stmt is None:
                rows_set = self._recordset(target, columns)
                stmt = self._compiled[key] = shape(postgresql.insert(target).from_select(
                    list(columns), select(*(rows_set.c[c] for c in columns))))
            return _execute(stmt, {"rows": rows_document(rows).decode()})
        return self._executemany(key, lambda: shape(sqlite.insert(target)), columns, rows)

    def prepared_delete(self, name: str, target: Table, keys: Sequence[Mapping[str, Any]]) -> Write:
        """`delete`, prepared: what is left is to run it on a connection."""
        if not keys:
            return _nothing
        columns = tuple(keys[0])
        key = (name, columns)
        if self.postgresql:
            stmt = self._compiled.get(key)
            if stmt is None:
                rows = self._recordset(target, columns)
                stmt = self._compiled[key] = delete(target).where(*(target.c[c] == rows.c[c] for c in columns))
            return _execute(stmt, {"rows": rows_document(keys).decode()})
        return self._executemany(key, lambda: delete(target).where(*(target.c[c] == bindparam(c) for c in columns)),
                                 columns, keys)

    # -- helpers ---------------------------------------------------------------------------------

    def _quote(self, name: str) -> str:
        return str(self.dialect.identifier_preparer.quote(name))

    def _recordset(self, target: Table, columns: Sequence[str]) -> Any:
        """The JSON rows as a set of `target`'s rows, named r, with `columns` (PostgreSQL)."""
        return func.json_populate_recordset(text(f"CAST(NULL AS {self._quote(target.name)})"),
                                            text("CAST(:rows AS json)")).table_valued(*columns, name="r")

    def _executemany(self, key: tuple[str, tuple[str, ...]], build: Callable[[], Any], columns: Sequence[str],
                     rows: Sequence[Mapping[str, Any]]) -> Write:
        """The statement `build` makes, run once per row, the rows as tuples in the statement's order (SQLite)."""
        plan = self._compiled.get(key)
        if plan is None:
            plan = self._compiled[key] = self._plan(build(), columns)
        sql, values, converters = plan
        params = []
        for row in rows:
            line = list(values(row))
            for at, convert in converters:
                line[at] = convert(line[at])
            params.append(tuple(line))

        def run(conn: Connection) -> None:
            conn.exec_driver_sql(sql, params)
        return run

    def _plan(self, stmt: Any, columns: Sequence[str]) -> tuple[str, Callable[[Mapping[str, Any]], Any], list[Any]]:
        """The statement's text; a function picking a row's values in the order of its parameters (a constant
        of the statement, such as the 1 of ``version + 1``, in its place); which of them to convert, how."""
        compiled = stmt.compile(dialect=self.dialect, column_keys=list(columns))
        picks: list[Callable[[Mapping[str, Any]], Any]] = []
        converters: list[tuple[int, Callable[[Any], Any]]] = []
        for at, name in enumerate(compiled.positiontup):
            bind = compiled.binds[name]
            if name not in columns:
                picks.append(_constant(compiled.params[name]))
                continue
            picks.append(itemgetter(name))
            if isinstance(bind.type, UTCDateTime):
                converters.append((at, sqlite_instant))
            elif (process := bind.type.dialect_impl(self.dialect).bind_processor(self.dialect)) is not None:
                converters.append((at, process))
        if all(isinstance(pick, itemgetter) for pick in picks):
            names = list(compiled.positiontup)
            whole = itemgetter(*names)
            values: Callable[[Mapping[str, Any]], Any] = whole if len(names) > 1 else _one(whole)
        else:
            values = _each(picks)
        return str(compiled), values, converters


def _nothing(_conn: Connection) -> None:
    return None


def _execute(stmt: Any, params: Mapping[str, Any]) -> Write:
    def run(conn: Connection) -> None:
        conn.execute(stmt, params)
    return run


def _constant(value: Any) -> Callable[[Mapping[str, Any]], Any]:
    return lambda _row: value


def _one(pick: Callable[[Mapping[str, Any]], Any]) -> Callable[[Mapping[str, Any]], tuple[Any]]:
    return lambda row: (pick(row),)


def _each(picks: Sequence[Callable[[Mapping[str, Any]], Any]]) -> Callable[[Mapping[str, Any]], list[Any]]:
    return lambda row: [pick(row) for pick in picks]


def sqlite_instant(value: datetime | None) -> str | None:
    """An aware instant as SQLite stores it, exactly as `UTCDateTime` and SQLAlchemy's SQLite DATETIME write
    it ("YYYY-MM-DD HH:MM:SS.ffffff", UTC, the year in four digits), through the C `isoformat`."""
    if value is None:
        return None
    if value.__class__ is not datetime or value.tzinfo is not UTC:  # the core's instants are in UTC already
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"
