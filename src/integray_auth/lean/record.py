"""The base of the small value classes the scripted commands build
(Authorization, Provider, TokenSet, ...).

They are plain classes with `__slots__`, not dataclasses: importing
`dataclasses` (it imports `inspect`) and decorating each class cost ~10 ms
of start-up, most of the budget of `list` and `token`, measured with `python -X importtime`.
"""

from __future__ import annotations


class Record:
    """Equality, a repr and `copy(**changes)`, all driven by the subclass's `__slots__`."""

    __slots__ = ()
    __hash__ = None  # compared by value, and most hold lists or dicts

    def copy(self, **changes):
        """A shallow copy with `changes` applied (what `dataclasses.replace` did)."""
        return type(self)(**{**self.as_dict(), **changes})

    def as_dict(self) -> dict:
        """The fields by name, in declaration order (shallow: lists are shared)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
