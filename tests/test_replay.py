"""Replay protection: per-originator counters that strictly increase and persist."""

from __future__ import annotations

import datetime as dt
import sqlite3
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
    clock = FixedClock(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))
    counter = MillisecondCounter(clock)
    assert [counter(), counter()] == [1704067200000, 1704067200001]
    clock.advance(seconds=1)
    assert counter() == 1704067201000


def test_a_captured_request_split_by_comments_is_one_request_to_the_dsp():
    """Issue 13: the RequestID counter of one captured request split by a comment
    at each position (the signature still holds: comments are not signed), the
    shortest prefix first.  The DSP reads the whole value each time: it acts
    once, then refuses every resend as a replay."""
    from pathlib import Path

    from lxml import etree

    from duis.clock import FixedClock
    from duis.dsp import DSP
    from duis.messages import build, node, request
    from duis.profiles import profile
    from duis.signatures import CredentialStore, sign_with_store
    from duis.smi import load_world

    root = Path(__file__).resolve().parents[1]
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    clock = FixedClock(now)
    store = CredentialStore(root / "samples" / "pki")
    inventory = load_world(root / "samples" / "worlds" / "default.toml", clock=clock)
    dsp = DSP(inventory, store, profile=profile("mp105-option2"), clock=clock,
              counters=CounterStore())
    message = request(USER, "00-DB-12-34-56-78-90-A0", 2002, "11.2", node("ReadFirmwareVersion"))
    signed = sign_with_store(build(message), store, preserve_counter=True, now=now)
    text = f"{USER}:00-DB-12-34-56-78-90-A0:2002"
    resends = []
    for position in range(len(text) + 1):
        tree = etree.fromstring(signed)
        element = tree.find(".//{*}RequestID")
        element.text = text[:position]
        comment = etree.Comment("")
        comment.tail = text[position:]
        element.append(comment)
        resends.append(etree.tostring(tree))
    try:
        outcomes = []
        for data in resends + [signed]:
            try:
                outcomes.append(dsp.submit(data).request.counter)
            except ReplayedCounter as exc:
                assert exc.found == "2002"
                outcomes.append("replay")
        assert outcomes == [2002] + ["replay"] * len(resends)
    finally:
        inventory.close()


def test_a_counter_store_path_that_cannot_be_one_is_refused_by_name(tmp_path):
    # each raised sqlite3's own error, a traceback from duis verify --counters
    from duis.errors import UnreadableInput
    (tmp_path / "notes.txt").write_text("not a database " * 100)
    (tmp_path / "afile").write_text("x")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (a)")
    db.close()
    before = other.read_bytes()
    for path, why in ((tmp_path / "notes.txt", "cannot open the counter store"),
                      (tmp_path, "cannot open the counter store"),
                      (tmp_path / "afile" / "counters.db", "cannot open the counter store"),
                      (other, "not a counter store")):
        with pytest.raises(UnreadableInput, match=why) as caught:
            CounterStore(path)
        assert caught.value.source == str(path)
    assert other.read_bytes() == before, "another application's database is left as it was"


def test_a_request_refused_on_the_way_consumes_no_counter(tmp_path, capsys):
    # duis submit --counters recorded the counter before acting: a SignedPreCommand for
    # no PreCommand (refused, nothing done) burnt it, and a lower legitimate one was
    # then refused as a replay
    from pathlib import Path

    from duis.cli import main
    valid = Path(__file__).resolve().parents[1] / "samples/messages/valid"
    signed = {}
    for counter, name in ((700, "CS06_11.3_signed_precommand_request.xml"),
                          (650, "ECS52_11.2_read_firmware_version_request.xml")):
        out = tmp_path / f"r{counter}.xml"
        assert main(["sign", "--counter", str(counter), "-o", str(out),
                     str(valid / name)]) == 0
        signed[counter] = out
    common = ["submit", "--smi", str(tmp_path / "smi.sqlite"), "--counters",
              str(tmp_path / "counters.sqlite"), "--now", "2026-03-01T09:00:00Z"]
    assert main([*common, str(signed[700])]) == 1
    assert "does not match a PreCommand" in capsys.readouterr().err
    assert CounterStore(tmp_path / "counters.sqlite").last("90-B3-D5-1F-30-01-00-00") is None
    assert main([*common, str(signed[650])]) == 0
    assert main([*common, str(signed[650])]) == 1              # and a replay still is one
    assert "replay" in capsys.readouterr().err
