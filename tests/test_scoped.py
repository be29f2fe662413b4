"""scoped.contextmanager is contextlib.contextmanager made on the first call:
the same behaviour, without importing contextlib where nothing is held."""

from __future__ import annotations

import contextlib

import pytest

from integray_auth.lean.scoped import NoLock, contextmanager


def recorder(decorate):
    events = []

    @decorate
    def held(name):
        """Holds `name`."""
        events.append(("enter", name))
        try:
            yield name.upper()
        except KeyError as error:
            events.append(("handled", str(error)))
        finally:
            events.append(("exit", name))

    return held, events


@pytest.mark.parametrize("raised", [None, KeyError("k"), ValueError("v")], ids=["no error", "handled", "passed on"])
def test_it_behaves_as_contextlib_does(raised):
    outcomes = []
    for decorate in (contextmanager, contextlib.contextmanager):
        held, events = recorder(decorate)
        try:
            with held("lock") as value:
                events.append(("body", value))
                if raised is not None:
                    raise raised
            events.append(("after", None))
        except Exception as error:  # noqa: BLE001 - what escapes is part of the comparison
            events.append(("escaped", type(error).__name__))
        outcomes.append(events)

    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == ("body", "LOCK")


def test_it_keeps_the_name_and_the_documentation_and_works_as_a_method():
    held, _ = recorder(contextmanager)
    assert (held.__name__, held.__doc__) == ("held", "Holds `name`.")

    class Store:
        @contextmanager
        def transaction(self):
            yield self

    store = Store()
    with store.transaction() as inside:
        assert inside is store


def test_no_lock_holds_nothing_and_lets_errors_through():
    with NoLock() as value:
        assert value is None
    with pytest.raises(ValueError):
        with NoLock():
            raise ValueError
