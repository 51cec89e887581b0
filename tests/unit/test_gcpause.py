"""services.gcpause: the cyclic collector waits during bulk reads and comes back afterwards."""

from __future__ import annotations

import gc

import pytest

from pcipass.services import gcpause


def test_paused_blocks_nest_and_the_outermost_restores_the_collector() -> None:
    assert gc.isenabled()
    with gcpause.paused():
        assert not gc.isenabled()
        with gcpause.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block does not re-enable too early
    assert gc.isenabled()


def test_a_collector_disabled_by_the_caller_stays_disabled() -> None:
    gc.disable()
    try:
        with gcpause.paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_an_exception_still_restores_the_collector() -> None:
    with pytest.raises(RuntimeError), gcpause.paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_blocks_of_two_threads_ending_in_any_order_restore_the_collector() -> None:
    """The first thread's block ends before the second's: the collector must still come back
    (the second block found it off, but only because the first had turned it off)."""
    import threading

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()

    def first() -> None:
        with gcpause.paused():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second() -> None:
        first_in.wait(10)
        with gcpause.paused():
            second_in.set()
            first_out.wait(10)
            assert not gc.isenabled()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(20)
    assert gc.isenabled()
