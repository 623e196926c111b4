"""Replay protection: per-originator counters that strictly increase and persist."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading

import pytest

from duis.clock import FixedClock
from duis.messages.ids import MAX_COUNTER
from duis.signatures import CounterStore, MillisecondCounter
from duis.signatures.errors import ReplayedCounter

USER = "90-B3-D5-1F-30-01-00-00"
OTHER = "90-B3-D5-1F-30-02-00-00"


def test_counters_strictly_increase_per_originator():
    store = CounterStore()
    assert store.last(USER) is None
    store.check_and_record(USER, 5)
    store.check_and_record(OTHER, 1)  # each originator has its own sequence
    with pytest.raises(ReplayedCounter) as repeated:
        store.check_and_record(USER, 5)
    assert repeated.value.found == "5" and "above 5" in repeated.value.expected
    with pytest.raises(ReplayedCounter):
        store.check_and_record(USER, 4)
    store.check_and_record(USER, 6)
    assert store.last(USER) == 6 and store.last(OTHER) == 1


def test_spellings_of_an_eui_are_one_originator():
    store = CounterStore()
    store.check_and_record("90b3d51f30010000", 9)
    with pytest.raises(ReplayedCounter):
        store.check_and_record(USER, 9)


def test_full_64_bit_range():
    store = CounterStore()
    store.check_and_record(USER, 2**63 + 1)  # beyond SQLite's signed integers
    with pytest.raises(ReplayedCounter):
        store.check_and_record(USER, 2**63)
    store.check_and_record(USER, MAX_COUNTER)
    with pytest.raises(ReplayedCounter):
        store.check_and_record(USER, MAX_COUNTER + 1)


def test_the_record_survives_a_restart(tmp_path):
    path = tmp_path / "counters.db"
    with CounterStore(path) as store:
        store.check_and_record(USER, 1000)
    code = ("import sys; from duis.signatures import CounterStore\n"
            f"s = CounterStore({str(path)!r}); print(s.last({USER!r}))\n"
            f"s.check_and_record({USER!r}, 1001)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "1000"
    with CounterStore(path) as store:
        assert store.last(USER) == 1001
        with pytest.raises(ReplayedCounter):
            store.check_and_record(USER, 1001)


def test_concurrent_acceptance_happens_once(tmp_path):
    path = tmp_path / "counters.db"
    accepted = []

    def attempt():
        with CounterStore(path) as store:
            try:
                store.check_and_record(USER, 42)
                accepted.append(1)
            except ReplayedCounter:
                pass

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert accepted == [1]


def test_millisecond_counter():
    clock = FixedClock(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc))
    counter = MillisecondCounter(clock)
    assert [counter(), counter()] == [1704067200000, 1704067200001]
    clock.advance(seconds=1)
    assert counter() == 1704067201000
