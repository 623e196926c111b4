"""The PreCommand book: a SignedPreCommand is redeemed for the command issued, byte for byte."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from duis.dsp.critical import PreCommandBook, PreCommandMismatch
from duis.gbcs import ActivateFirmware, GbcsMessage, Kind, read
from duis.gbcs.wire.usecases import CS06
from duis.messages import EUI64, leaf, node, request

USER, OTHER = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"
METER = "00-DB-12-34-56-78-90-A0"
NOW = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
TRAILER = b"\x40" + b"\x07" * 64  # the signature is not checked here


def command(transaction: int, execution: dt.datetime | None = None) -> GbcsMessage:
    return GbcsMessage(Kind.COMMAND, EUI64.parse(USER), EUI64.parse(METER), transaction, CS06,
                       ActivateFirmware(b"\x11" * 32, execution))


def signed_request(data: bytes, originator: str = USER, counter: int = 9000):
    payload = base64.b64encode(data + TRAILER).decode("ascii")
    return request(originator, METER, counter, "11.3",
                   node("SignedPreCommand", leaf("GBCSPayload", payload)), command_variant=5)


def redeem(book: PreCommandBook, store, data: bytes, originator: str = USER):
    return book.redeem(signed_request(data, originator), store, NOW, "<test>",
                       check_signature=False).command


def test_the_command_issued_comes_back_for_its_bytes_every_time(store):
    book = PreCommandBook()
    issued = command(41)
    data = book.issue(issued)
    first = redeem(book, store, data)
    assert first is issued  # no decoding needed: these are the bytes issued
    again = redeem(book, store, data)  # a second time, decoded: the same command
    assert again == issued and again is not issued
    assert read(data) == issued


def test_a_command_that_does_not_decode_to_itself_is_decoded(store):
    book = PreCommandBook()
    local = dt.timezone(dt.timedelta(hours=1))
    issued = command(42, dt.datetime(2026, 3, 9, 3, 30, tzinfo=local))
    data = book.issue(issued)
    redeemed = redeem(book, store, data)
    assert redeemed == issued and redeemed is not issued
    assert redeemed.payload.execution.tzinfo == dt.UTC  # as the bytes carry it
    utc = command(43, dt.datetime(2026, 3, 9, 2, 30, tzinfo=dt.UTC))
    assert redeem(book, store, book.issue(utc)) is utc


def test_bytes_that_were_not_issued_to_this_user_are_refused(store):
    book = PreCommandBook()
    data = book.issue(command(44))
    with pytest.raises(PreCommandMismatch):
        redeem(book, store, data, originator=OTHER)
    with pytest.raises(PreCommandMismatch):
        redeem(book, store, PreCommandBook().issue(command(44, NOW)))
    with pytest.raises(PreCommandMismatch):
        redeem(PreCommandBook(), store, data)
    assert redeem(book, store, data) == command(44)  # still redeemable by its user


def test_the_book_remembers_the_last_limit_precommands_and_refuses_a_forgotten_one(store):
    book = PreCommandBook(limit=3)
    issued = [book.issue(command(100 + n)) for n in range(5)]
    assert len(book.issued) == 3  # a user asking for PreCommands it never signs: bounded
    assert redeem(book, store, issued[4]) == command(104)
    assert redeem(book, store, issued[2]) == command(102)
    with pytest.raises(PreCommandMismatch, match="does not match") as refused:
        redeem(book, store, issued[0])  # the oldest, forgotten
    assert "no PreCommand issued for transaction 100" in str(refused.value)
