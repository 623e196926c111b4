"""``duis receive`` keeps each message once: a repeat is the same signed content,
however its bytes are spelled, and what it records is what was verified."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

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
