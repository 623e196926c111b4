"""``duis receive`` keeps each message once: a repeat is the same signed content,
however its bytes are spelled, and what it records is what was verified."""

from __future__ import annotations

import datetime as dt
import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from duis.serve import Client, ReceiverThread

ROOT = Path(__file__).resolve().parents[1]
RESPONSE = (ROOT / "samples/scenarios/golden/mp105-unknown-version/baseline"
            / "013-out-response-I99-to-90B3D51F30020000.xml").read_bytes()
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def post(url: str, body: bytes) -> int:
    """POST ``body`` to the receiver on a connection of its own; the HTTP status."""
    with Client(url, timeout=10) as client:
        return client.request("POST", "/", body, "application/xml").status


def test_a_respelled_repeat_is_a_duplicate_not_a_new_message(tmp_path, store):
    commented = RESPONSE.replace(b"<sr:ResponseCode>I99", b"<sr:ResponseCode><!-- x -->I99", 1)
    assert commented != RESPONSE
    with ReceiverThread(tmp_path, store=store, now=NOW) as receiver:
        assert [post(receiver.url, body) for body in (RESPONSE, commented, RESPONSE)] \
            == [204, 204, 204]
        assert len(receiver.inbox.messages) == 1 and receiver.inbox.duplicates == 2
        assert receiver.inbox.messages[0].code == "I99"
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert len(index) == 1


def test_a_tampered_message_is_rejected_not_counted_as_a_repeat(tmp_path, store):
    tampered = RESPONSE.replace(b"I99", b"E19", 1)
    with ReceiverThread(tmp_path, store=store, now=NOW) as receiver:
        assert post(receiver.url, RESPONSE) == 204
        assert post(receiver.url, tampered) == 403
        assert receiver.inbox.duplicates == 0 and len(receiver.inbox.messages) == 1


def post_with(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST ``body`` with extra ``headers``; the status and the reply's body."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("POST", "/", body=body,
                           headers={"Content-Type": "application/xml", **headers})
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


SUPPLIER_B = "90-B3-D5-1F-30-02-00-00"


@pytest.mark.parametrize("header, value, why", [
    ("X-DUIS-Kind", "response/../../elsewhere", "bad X-DUIS-Kind header"),
    ("X-DUIS-Kind", "reply", "bad X-DUIS-Kind header"),
    ("X-DUIS-Recipient", "a" * 300, "bad X-DUIS-Recipient header"),
    ("X-DUIS-Recipient", "../x", "bad X-DUIS-Recipient header"),
    ("X-DUIS-Recipient", "90b3d51f30020000", "bad X-DUIS-Recipient header"),
])
def test_delivery_headers_that_no_dsp_sends_are_refused(tmp_path, store, header, value, why):
    # each once made the file's name a path or too long: 500 and a traceback
    inbox = tmp_path / "inbox"
    with ReceiverThread(inbox, store=store, now=NOW) as receiver:
        status, text = post_with(receiver.url, RESPONSE, {header: value})
        assert (status, why in text.decode()) == (400, True), text
        assert receiver.inbox.messages == []
        assert post_with(receiver.url, RESPONSE, {"X-DUIS-Kind": "response",
                                                  "X-DUIS-Recipient": SUPPLIER_B}) == (204, b"")
    assert sorted(p.name for p in inbox.iterdir()) == [
        "000001-response-I99-to-90B3D51F30020000.xml", "index.jsonl", "rejected"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inbox"]


def test_a_stored_name_is_a_file_name_whatever_the_message_says(tmp_path):
    # unverified, a message may say anything: its code goes into the name cut and cleaned
    code = "../../" + "x" * 300
    body = (ROOT / "samples/messages/valid/ECS52_11.2_acknowledgement_I99_response.xml") \
        .read_bytes().replace(b">I99<", f">{code}<".encode())
    inbox = tmp_path / "inbox"
    with ReceiverThread(inbox, verify_messages=False) as receiver:
        assert post_with(receiver.url, body, {}) == (204, b"")
        assert receiver.inbox.messages[0].code == code, "the index keeps what the message says"
    assert sorted(p.name for p in inbox.iterdir()) == [
        "000001-response-.._.._" + "x" * 34 + ".xml", "index.jsonl"]
