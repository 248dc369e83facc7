"""The two drivers: run an operation's statements on an Engine or an AsyncEngine.

Each statement runs on its own: on the stores' own engines in the database's
autocommit (no BEGIN or COMMIT round trip around it), on an engine the caller
configured in a short transaction of its own. There is no pre-ping: a pooled
connection that the server dropped (restart, fail-over, idle timeout) is found
dead by the statement itself, and the statement is run once more on a new
connection only when it is a read (:attr:`Step.retry`), whose second answer is
as true as the first; a write whose reply was lost may have been done, so it
fails closed instead. A connection that fails on its first statement is not
retried either: a database that refuses new connections would only be asked twice.

A lookup by key (:attr:`Step.plain`) on the stores' own engines (sync, and
asyncpg) runs on the driver's connection from the pool directly: its SQL compiled once for the
dialect, its row read as the driver returns it. SQLAlchemy's execution context,
``Result`` and ``Row`` cost more Python than the read itself on SQLite and most
of a loopback round trip elsewhere. It is only done when the SQL needs nothing
of those layers (no type conversion of the parameter or of any column) and when
nobody listens to the engine's statement events (instrumentation sees every
statement); driver errors are wrapped and judged as SQLAlchemy does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.sql import Select

from tokenauth import StoreUnreachableError

from ._deadline import Deadline, bounded, watch, watch_dbapi
from ._engine import store_error
from ._ops import Op, Outcome, Step

if TYPE_CHECKING:
    # Importing sqlalchemy.ext.asyncio needs greenlet, an optional extra.
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Plain", "run_async", "run_sync", "run_transaction", "run_transaction_async"]

T = TypeVar("T")

#: Set in a pooled connection's ``info`` once it has answered a statement.
_USED = "tokenauth.used"


def _conflict(step: Step, exc: sa_exc.IntegrityError) -> Exception:
    if step.conflict is not None:
        return step.conflict(f"{step.doing}: a record with this key already exists")
    return store_error(exc, step.doing)


def _again(step: Step, exc: sa_exc.DBAPIError, used: bool, attempt: int) -> bool:
    """Whether to run ``step`` once more on a new connection after ``exc``.

    Only a read, only once, only when its connection had worked before (it was
    pooled, and the server dropped it since), and only when the driver says the
    connection is dead; any other failure is the database's answer.
    """
    return attempt == 0 and step.retry and used and exc.connection_invalidated


def _outcome(result: Any) -> Outcome:
    rows = tuple(result.all()) if result.returns_rows else ()
    return Outcome(rows=rows, rowcount=result.rowcount)


def _step_sync(engine: Engine, step: Step, autocommit: bool) -> Outcome:
    for attempt in (0, 1):  # the second pass is the one retry
        conn: Connection = engine.connect()
        watch(conn)
        info = conn.info
        used = _USED in info
        try:
            result = conn.execute(step.statement, step.params)
            outcome = _outcome(result)
            if not autocommit:
                conn.commit()
        except sa_exc.DBAPIError as exc:
            if _again(step, exc, used, attempt):
                continue
            raise
        finally:
            conn.close()
        if not used:
            info[_USED] = True
        return outcome
    raise AssertionError("unreachable")  # pragma: no cover


class Plain:
    """A lookup's SQL compiled for one dialect, for the driver's own cursor.

    Attributes:
        sql: The SQL text, in the driver's parameter style.
        names: The bound parameters' names in order, for a positional style;
            None for a named one.
    """

    __slots__ = ("names", "sql")

    def __init__(self, sql: str, names: tuple[str, ...] | None) -> None:
        """Keep the compiled parts; see the class docstring."""
        self.sql = sql
        self.names = names

    @classmethod
    def compile(cls, statement: Any, dialect: Dialect) -> Plain | None:
        """The plain form of ``statement``, or None when it needs SQLAlchemy's layers."""
        if not isinstance(statement, Select):
            return None
        compiled = statement.compile(dialect=dialect)
        for bind in compiled.binds.values():
            if bind.type.dialect_impl(dialect).bind_processor(dialect) is not None:
                return None
        for column in statement.selected_columns:
            impl = column.type.dialect_impl(dialect)
            if impl.result_processor(dialect, None) is not None:
                return None
        names = tuple(compiled.positiontup or ()) if compiled.positional else None
        return cls(compiled.string, names)

    def params(self, values: Any) -> Any:
        """The parameters for the driver's ``execute``."""
        if self.names is None:
            return values
        return tuple(values[name] for name in self.names)


def _plain_sync(engine: Engine, step: Step, plain: Plain) -> Outcome:
    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    params = plain.params(step.params)
    for attempt in (0, 1):  # the second pass is the one retry
        try:
            raw = engine.raw_connection()
        except dbapi_error as exc:
            raise sa_exc.DBAPIError.instance(
                None, None, exc, dbapi_error, connection_invalidated=True, dialect=dialect
            ) from exc
        try:
            dbapi_connection = raw.dbapi_connection
            watch_dbapi(dbapi_connection)
            info = raw.info
            used = _USED in info
            cursor = raw.cursor()
            try:
                cursor.execute(plain.sql, params)
                rows = cursor.fetchall()
            except dbapi_error as exc:
                dead = dialect.is_disconnect(exc, dbapi_connection, cursor)
                if dead:
                    raw.invalidate(exc)
                error = sa_exc.DBAPIError.instance(
                    plain.sql, params, exc, dbapi_error, connection_invalidated=dead,
                    dialect=dialect,
                )  # fmt: skip
                if attempt == 0 and step.retry and used and dead:
                    continue
                raise error from exc
            finally:
                cursor.close()
        finally:
            raw.close()
        if not used:
            info[_USED] = True
        return Outcome(rows=rows, rowcount=len(rows))
    raise AssertionError("unreachable")  # pragma: no cover


def _late(step: Step, seconds: float, exc: BaseException) -> StoreUnreachableError:
    return StoreUnreachableError(
        f"{step.doing}: the database did not answer within {seconds:g} s ({type(exc).__name__})"
    )


def _one_step(
    engine: Engine, step: Step, autocommit: bool, plain: dict[int, Plain | None] | None
) -> Outcome:
    if plain is not None and step.plain and not engine.dispatch.before_cursor_execute:
        key = id(step.statement)
        if key not in plain:
            plain[key] = Plain.compile(step.statement, engine.dialect)
        compiled = plain[key]
        if compiled is not None:
            return _plain_sync(engine, step, compiled)
    return _step_sync(engine, step, autocommit)


def _step_bounded(
    engine: Engine,
    step: Step,
    autocommit: bool,
    seconds: float,
    plain: dict[int, Plain | None] | None,
) -> Outcome:
    with Deadline(seconds) as deadline:
        try:
            return _one_step(engine, step, autocommit, plain)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            if deadline.expired or isinstance(exc, TimeoutError):
                raise _late(step, seconds, exc) from exc
            raise


def run_sync(
    engine: Engine,
    op: Op[T],
    *,
    deadline: float | None = None,
    autocommit: bool = False,
    plain: dict[int, Plain | None] | None = None,
) -> T:
    """Run ``op``, one statement at a time; map driver errors.

    Args:
        engine: The engine (see :func:`~._deadline.guard_engine` for a deadline
            that covers its connects too).
        op: The operation.
        deadline: Seconds one statement may take end to end (pool wait, connect,
            run, and the one retry of a read); past it the connection's socket
            is shut down and StoreUnreachableError raised. None leaves it to
            the driver.
        autocommit: The engine runs every statement in the database's autocommit,
            so no transaction is begun or committed around it.
        plain: Where lookups keep their SQL compiled for the driver's own cursor
            (by ``id`` of the statement, which the caller keeps alive); None runs
            every statement through SQLAlchemy.
    """
    outcome: Outcome | None = None
    while True:
        try:
            step = op.send(outcome)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            if deadline is None:
                outcome = _one_step(engine, step, autocommit, plain)
            else:
                outcome = _step_bounded(engine, step, autocommit, deadline, plain)
        except sa_exc.IntegrityError as exc:
            raise _conflict(step, exc) from exc
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise store_error(exc, step.doing) from exc


async def _plain_async(
    engine: AsyncEngine, step: Step, plain: Plain, deadline: float | None, timeout: float | None
) -> Outcome:
    """An asyncpg lookup on the driver's pooled connection, as :func:`_plain_sync` does.

    The deadline is kept without a task of its own (which costs event-loop turns on
    every lookup): the pool wait and the connect are each bounded by ``timeout``
    (the URL's), the read by asyncpg's own timeout with whatever time is left, and
    the retry is only tried while a connect and a read still fit.
    """
    import asyncpg  # type: ignore[import-untyped]  # ships no type information

    dialect = engine.dialect
    dbapi_error = dialect.loaded_dbapi.Error
    params = plain.params(step.params)
    ends = None if deadline is None else time.monotonic() + deadline
    for attempt in (0, 1):  # the second pass is the one retry
        try:
            raw = await engine.raw_connection()
        except dbapi_error as exc:
            raise sa_exc.DBAPIError.instance(
                None, None, exc, dbapi_error, connection_invalidated=True, dialect=dialect
            ) from exc
        driver: Any = raw.driver_connection
        info = raw.info
        used = _USED in info
        settled = False
        try:
            left = None if ends is None else ends - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError("no time was left to read before the deadline")
            rows = await driver.fetch(plain.sql, *params, timeout=left)
            settled = True
        except (TimeoutError, asyncio.TimeoutError) as exc:
            raw.invalidate(exc)
            settled = True
            raise TimeoutError(f"the lookup did not finish within {deadline:g} s") from exc
        except Exception as exc:
            # A server's refusal leaves the connection as it was; anything else (a
            # closed connection, a socket error, asyncpg's command timeout) does not.
            dead = driver.is_closed() or not isinstance(exc, asyncpg.PostgresError)
            if dead:
                raw.invalidate(exc)
            settled = True
            kind = sa_exc.OperationalError if dead else sa_exc.DBAPIError
            error = kind(plain.sql, params, exc, connection_invalidated=dead)
            fits = ends is None or timeout is None or ends - time.monotonic() > 2 * timeout
            if attempt == 0 and step.retry and used and dead and fits:
                continue
            raise error from exc
        finally:
            if not settled:
                # Cancelled mid-query (the deadline): the connection's state is unknown.
                raw.invalidate()
            raw.close()
        if not used:
            info[_USED] = True
        return Outcome(rows=rows, rowcount=len(rows))
    raise AssertionError("unreachable")  # pragma: no cover


async def _step_async(engine: AsyncEngine, step: Step, autocommit: bool) -> Outcome:
    for attempt in (0, 1):  # the second pass is the one retry
        conn: AsyncConnection = engine.connect()
        await conn.start()
        info = conn.info
        used = _USED in info
        try:
            result = await conn.execute(step.statement, step.params)
            outcome = _outcome(result)
            if not autocommit:
                await conn.commit()
        except sa_exc.DBAPIError as exc:
            if _again(step, exc, used, attempt):
                continue
            raise
        finally:
            await conn.close()
        if not used:
            info[_USED] = True
        return outcome
    raise AssertionError("unreachable")  # pragma: no cover


async def _one_step_async(
    engine: AsyncEngine,
    step: Step,
    autocommit: bool,
    plain: dict[int, Plain | None] | None,
    deadline: float | None,
    timeout: float | None,
) -> Outcome:
    if (
        plain is not None
        and step.plain
        and engine.dialect.driver == "asyncpg"
        and not engine.sync_engine.dispatch.before_cursor_execute
    ):
        key = id(step.statement)
        if key not in plain:
            plain[key] = Plain.compile(step.statement, engine.dialect)
        compiled = plain[key]
        if compiled is not None:
            return await _plain_async(engine, step, compiled, deadline, timeout)
    return await bounded(_step_async(engine, step, autocommit), deadline)


async def run_async(
    engine: AsyncEngine,
    op: Op[T],
    *,
    deadline: float | None = None,
    autocommit: bool = False,
    plain: dict[int, Plain | None] | None = None,
    timeout: float | None = None,
) -> T:
    """Run ``op`` on an async engine, as :func:`run_sync` does.

    Args:
        engine: The engine.
        op: The operation.
        deadline: Seconds one statement may take end to end (pool wait, connect,
            execution, the one retry of a read, and the driver's own clean-up,
            which is left to finish in the background); past it
            StoreUnreachableError is raised. Some async drivers (aiomysql) have no
            timeout of their own for a server that accepts and never answers, and
            psycopg's cancellation waits up to 10 s.
        autocommit: As for :func:`run_sync`.
        plain: As for :func:`run_sync`; the plain path is taken on asyncpg only.
        timeout: The URL's timeout, which bounds the pool wait and the connect on
            their own; with ``deadline``, it decides whether a retry still fits.
    """
    outcome: Outcome | None = None
    while True:
        try:
            step = op.send(outcome)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            outcome = await _one_step_async(engine, step, autocommit, plain, deadline, timeout)
        except TimeoutError as exc:
            if deadline is None:
                raise store_error(exc, step.doing) from exc
            raise _late(step, deadline, exc) from exc
        except sa_exc.IntegrityError as exc:
            raise _conflict(step, exc) from exc
        except (sa_exc.SQLAlchemyError, OSError, asyncio.TimeoutError) as exc:
            # Async drivers can let a refused or timed-out connect through unwrapped
            # (on Python 3.10 asyncio.TimeoutError is not yet the OSError TimeoutError).
            raise store_error(exc, step.doing) from exc


# -- operations that need one transaction --------------------------------------------
#
# A capped add counts a subject's tokens and adds one: both in one transaction, on
# one connection, after locking the subject's row (see TokenOps.add_capped). On the
# stores' own autocommit engines the connection leaves autocommit for it (READ
# COMMITTED, so that each statement sees what others committed before it; SQLite
# has one writer at a time anyway); an engine the caller configured keeps its own
# level. A deadlock the database broke, or a serialization failure, runs the whole
# operation again, a few times: the database undid all of it.

#: Runs of a transaction before a deadlock is reported as a StoreError.
TRANSACTION_ATTEMPTS = 4
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})  # deadlock, serialization failure
_RETRY_MYSQL_ERRORS = frozenset({1213, 1205})  # deadlock, lock wait timeout


def _isolation(dialect: Dialect) -> str:
    return "SERIALIZABLE" if dialect.name == "sqlite" else "READ COMMITTED"


def _deadlocked(exc: sa_exc.DBAPIError) -> bool:
    orig = exc.orig
    state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if state in _RETRY_SQLSTATES:
        return True
    args: tuple[Any, ...] = getattr(orig, "args", ())
    return bool(args) and args[0] in _RETRY_MYSQL_ERRORS


class _Transaction:
    """Steps one operation through a transaction, and maps its errors as :func:`run_sync` does."""

    __slots__ = ("op", "step")

    def __init__(self, op: Op[Any]) -> None:
        self.op = op
        self.step: Step | None = None

    def error(self, exc: BaseException) -> BaseException:
        doing = "running a transaction" if self.step is None else self.step.doing
        if isinstance(exc, sa_exc.IntegrityError) and self.step is not None:
            return _conflict(self.step, exc)
        if isinstance(exc, TimeoutError | asyncio.TimeoutError):
            return StoreUnreachableError(f"{doing}: the database did not answer in time")
        return store_error(exc, doing)


def run_transaction(
    engine: Engine,
    make_op: Callable[[], Op[T]],
    *,
    deadline: float | None = None,
    autocommit: bool = False,
) -> T:
    """Run the operation ``make_op()`` makes in one transaction on one connection.

    Args:
        engine: The engine.
        make_op: Makes the operation; called again to retry after a deadlock.
        deadline: Seconds the whole transaction may take end to end.
        autocommit: The engine is in autocommit; the connection leaves it for this.
    """
    for attempt in range(TRANSACTION_ATTEMPTS):
        tx = _Transaction(make_op())
        try:
            if deadline is None:
                result: T = _transaction_sync(engine, tx, autocommit)
                return result
            with Deadline(deadline) as bound:
                try:
                    bounded_result: T = _transaction_sync(engine, tx, autocommit)
                    return bounded_result
                except (sa_exc.SQLAlchemyError, OSError) as exc:
                    if bound.expired or isinstance(exc, TimeoutError):
                        raise TimeoutError(str(exc)) from exc
                    raise
        except sa_exc.DBAPIError as exc:
            if attempt + 1 < TRANSACTION_ATTEMPTS and _deadlocked(exc):
                continue
            raise tx.error(exc) from exc
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise tx.error(exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def _transaction_sync(engine: Engine, tx: _Transaction, autocommit: bool) -> Any:
    with engine.connect() as conn:
        watch(conn)
        if autocommit:
            conn.execution_options(isolation_level=_isolation(engine.dialect))
        with conn.begin():
            outcome: Outcome | None = None
            while True:
                try:
                    tx.step = tx.op.send(outcome)  # type: ignore[arg-type]  # None starts it
                except StopIteration as done:
                    return done.value
                outcome = _outcome(conn.execute(tx.step.statement, tx.step.params))


async def run_transaction_async(
    engine: AsyncEngine,
    make_op: Callable[[], Op[T]],
    *,
    deadline: float | None = None,
    autocommit: bool = False,
) -> T:
    """The async twin of :func:`run_transaction`."""
    for attempt in range(TRANSACTION_ATTEMPTS):
        tx = _Transaction(make_op())
        try:
            result: T = await bounded(_transaction_async(engine, tx, autocommit), deadline)
            return result
        except sa_exc.DBAPIError as exc:
            if attempt + 1 < TRANSACTION_ATTEMPTS and _deadlocked(exc):
                continue
            raise tx.error(exc) from exc
        except (sa_exc.SQLAlchemyError, OSError, asyncio.TimeoutError) as exc:
            raise tx.error(exc) from exc
    raise AssertionError("unreachable")  # pragma: no cover


async def _transaction_async(engine: AsyncEngine, tx: _Transaction, autocommit: bool) -> Any:
    async with engine.connect() as conn:
        if autocommit:
            await conn.execution_options(isolation_level=_isolation(engine.dialect))
        async with conn.begin():
            outcome: Outcome | None = None
            while True:
                try:
                    tx.step = tx.op.send(outcome)  # type: ignore[arg-type]  # None starts it
                except StopIteration as done:
                    return done.value
                outcome = _outcome(await conn.execute(tx.step.statement, tx.step.params))
