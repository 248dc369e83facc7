"""The two drivers: run an operation's statements on an Engine or an AsyncEngine."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from tokenauth import StoreUnreachableError

from ._deadline import Deadline, bounded
from ._engine import store_error
from ._ops import Op, Outcome, Step

if TYPE_CHECKING:
    # Importing sqlalchemy.ext.asyncio needs greenlet, an optional extra.
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["run_async", "run_sync"]

T = TypeVar("T")


def _conflict(step: Step, exc: sa_exc.IntegrityError) -> Exception:
    if step.conflict is not None:
        return step.conflict(f"{step.doing}: a record with this key already exists")
    return store_error(exc, step.doing)


def _outcome_sync(conn: Connection, step: Step) -> Outcome:
    result = conn.execute(step.statement)
    rows = tuple(result.all()) if result.returns_rows else ()
    return Outcome(rows=rows, rowcount=result.rowcount)


def _late(step: Step, seconds: float, exc: BaseException) -> StoreUnreachableError:
    return StoreUnreachableError(
        f"{step.doing}: the database did not answer within {seconds:g} s ({type(exc).__name__})"
    )


def _step_sync(engine: Engine, step: Step, deadline: float | None) -> Outcome:
    if deadline is None:
        with engine.begin() as conn:
            return _outcome_sync(conn, step)
    with Deadline(deadline) as bound:
        try:
            with engine.begin() as conn:
                bound.watch(conn.connection.dbapi_connection)
                return _outcome_sync(conn, step)
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            if bound.expired or isinstance(exc, TimeoutError):
                raise _late(step, deadline, exc) from exc
            raise


def run_sync(engine: Engine, op: Op[T], *, deadline: float | None = None) -> T:
    """Run ``op``, each statement in its own transaction; map driver errors.

    Args:
        engine: The engine (see :func:`~._deadline.guard_engine` for a deadline
            that covers its pre-ping and connects too).
        op: The operation.
        deadline: Seconds one statement may take end to end (pool wait,
            connect, run, commit); past it the connection's socket is shut
            down and StoreUnreachableError raised. None leaves it to the driver.
    """
    outcome: Outcome | None = None
    while True:
        try:
            step = op.send(outcome)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            outcome = _step_sync(engine, step, deadline)
        except sa_exc.IntegrityError as exc:
            raise _conflict(step, exc) from exc
        except (sa_exc.SQLAlchemyError, OSError) as exc:
            raise store_error(exc, step.doing) from exc


async def _outcome_async(conn: AsyncConnection, step: Step) -> Outcome:
    result = await conn.execute(step.statement)
    rows = tuple(result.all()) if result.returns_rows else ()
    return Outcome(rows=rows, rowcount=result.rowcount)


async def _step_async(engine: AsyncEngine, step: Step) -> Outcome:
    async with engine.begin() as conn:
        return await _outcome_async(conn, step)


async def run_async(engine: AsyncEngine, op: Op[T], *, deadline: float | None = None) -> T:
    """Run ``op`` on an async engine, as :func:`run_sync` does.

    Args:
        engine: The engine.
        op: The operation.
        deadline: Seconds one statement may take end to end (pool wait, connect,
            execution, and the driver's own clean-up, which is left to finish in
            the background); past it StoreUnreachableError is raised. Some async
            drivers (aiomysql) have no timeout of their own for a server that
            accepts and never answers, and psycopg's cancellation waits up to 10 s.
    """
    outcome: Outcome | None = None
    while True:
        try:
            step = op.send(outcome)  # type: ignore[arg-type]  # None starts the generator
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            outcome = await bounded(_step_async(engine, step), deadline)
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
