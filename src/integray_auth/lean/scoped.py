"""contextlib's two helpers the stores and the index use, without importing
contextlib where nothing is held.

`import contextlib` brings collections, functools, operator, reprlib, types
and keyword: about 3 ms, a tenth of `token`, which never takes a lock or opens
a transaction when its token is valid. Every `with` below is on a write path
(a refresh, a change to the index), where contextlib is imported on the first
call and does the work itself: the behaviour is contextlib's, not a copy of it.
"""

from __future__ import annotations


def contextmanager(func):
    """contextlib.contextmanager(func), made on the first call."""
    made = None

    def call(*args, **kwargs):
        nonlocal made
        if made is None:
            import contextlib

            made = contextlib.contextmanager(func)
        return made(*args, **kwargs)

    call.__name__, call.__qualname__, call.__doc__ = func.__name__, func.__qualname__, func.__doc__
    call.__module__, call.__wrapped__ = func.__module__, func
    return call


class NoLock:
    """contextlib.nullcontext() for a lock that is not needed."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info) -> bool:
        return False
