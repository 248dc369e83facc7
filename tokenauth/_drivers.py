"""Sans-IO flows and the two drivers that run them.

A flow is a generator that yields :class:`Call` values (a store lookup, a
registry write, an argon2 verification) and returns its result. The flow holds
every decision; a driver only performs the calls: :func:`run_sync` directly,
:func:`run_async` awaiting coroutines and moving CPU-heavy calls off the event
loop. A :class:`~tokenauth.StoreError` raised by a call is thrown back into the
flow at the ``yield``, so a flow can handle it or let it propagate.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Generator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from types import CoroutineType
from typing import Any, TypeAlias, TypeVar

from ._errors import ConfigurationError
from ._frozen import maker
from ._registry import ApiKeyRecord, UserRecord
from ._store import CapOutcome, TokenRecord

__all__ = ["Call", "Flow", "awaitable", "run_async", "run_sync"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One step of I/O or heavy CPU work a flow needs done.

    Attributes:
        fn: What to call; may return a value or an awaitable (async drivers only).
        args: Positional arguments.
        blocking: CPU-bound or blocking work; an async driver runs it in a thread.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    blocking: bool = False


Flow: TypeAlias = Generator[Call, Any, T]


_make_call: Callable[[Callable[..., Any], tuple[Any, ...], bool], Call] = maker(Call)


def call_of(fn: Callable[..., Any], args: tuple[Any, ...]) -> Call:
    """``Call(fn, args)``, built cheaply (see ``tokenauth._frozen``): one per store call."""
    return _make_call(fn, args, False)


#: What stores and registries answer most often: types whose values are never awaitable.
_NEVER_AWAITABLE = frozenset(
    {
        type(None),
        bool,
        int,
        str,
        bytes,
        tuple,
        list,
        TokenRecord,
        CapOutcome,
        UserRecord,
        ApiKeyRecord,
    }
)


def awaitable(value: object) -> bool:
    """``inspect.isawaitable(value)``, with the common answers found first.

    ``inspect.isawaitable`` costs about half a microsecond for a plain value (an
    abstract-class check); a store's answer on the request path is a
    coroutine, None or a record, each told by its type alone.
    """
    kind = type(value)
    if kind is CoroutineType:
        return True
    if kind in _NEVER_AWAITABLE:
        return False
    return inspect.isawaitable(value)


def run_sync(flow: Flow[T], limiter: AbstractContextManager[Any] | None = None) -> T:
    """Run ``flow`` to completion, performing each call directly.

    ``blocking`` calls run inside ``limiter`` (a :class:`~tokenauth._shedding.HashQueue`
    holds a hash slot with it), when one is given.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if call.blocking and limiter is not None:
                with limiter:
                    value = call.fn(*call.args)
            else:
                value = call.fn(*call.args)
        except Exception as exc:  # handed to the flow, which decides
            error = exc
            continue
        if value is not None and awaitable(value):
            close = getattr(value, "close", None)
            if close is not None:
                close()
            flow.close()
            raise ConfigurationError(
                f"{getattr(call.fn, '__qualname__', call.fn)} is asynchronous: "
                "use AsyncTokenAuth with async stores and registries"
            )


async def run_async(flow: Flow[T], limiter: AbstractAsyncContextManager[Any] | None = None) -> T:
    """Run ``flow`` to completion on the event loop.

    Awaitable results are awaited; ``blocking`` calls run in a worker thread, at
    most as many at once as ``limiter`` allows, so the loop is never blocked.
    """
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            call = flow.send(value) if error is None else flow.throw(error)
        except StopIteration as stop:
            result: T = stop.value
            return result
        value, error = None, None
        try:
            if call.blocking:
                if limiter is None:
                    value = await asyncio.to_thread(call.fn, *call.args)
                else:
                    async with limiter:
                        value = await asyncio.to_thread(call.fn, *call.args)
            else:
                value = call.fn(*call.args)
                if value is not None and awaitable(value):
                    value = await value
        except Exception as exc:  # handed to the flow, which decides
            error = exc
