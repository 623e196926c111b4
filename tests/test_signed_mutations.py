"""What the DSP acts on is exactly what was signed, however the markup is spelt.

A comment inside a value (``…:20<!---->02``) leaves the signature valid
(Canonical XML drops comments) and the schema happy (XSD reads the whole
text); a processing instruction there is signed (C14N keeps it) and valid too.
Either splits the text into two nodes, and a reader of ``element.text`` sees
only the first: the counter of one captured request could be "split" at each
position and the request accepted again each time.  Every value duis acts on
is the whole text (:func:`duis.messages.values.element_value`).

Two kinds of tests:

* every header field and representative body fields of signed samples, a
  comment and a processing instruction at every position of the text: the
  decoded message is the unsplit one, and the replay check refuses a resend;
* generated mutations of signed samples (comments, PIs, white space,
  character references, CDATA sections, namespace redeclarations, anywhere):
  each is refused with a :class:`DuisError`, or decodes to what was signed.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from duis.dsp.service import precheck
from duis.errors import DuisError
from duis.messages import Request
from duis.messages.codec import from_tree
from duis.schema import ensure_valid
from duis.signatures import CounterStore, CredentialStore, sign_with_store, verify
from duis.signatures import errors as E
from duis.signatures.profile import DS, SR
from duis.xmlparse import parse_bytes

ROOT = Path(__file__).resolve().parents[1]
PKI = ROOT / "samples" / "pki"
VALID = ROOT / "samples" / "messages" / "valid"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)

#: signed samples whose leaves cover every request header field (RequestID,
#: FirstInSequence, PrecedingServiceRequestID, CommandVariant, ServiceReference,
#: ServiceReferenceVariant), every response header field (RequestID, ResponseID,
#: ResponseCode, ResponseDateTime), and body fields the DSP acts on: firmware
#: image, version and device list, firmware hash, execution date-time, a
#: signed pre-command's GBCS payload, device details, an alert code
SAMPLES = [
    "ECS52_11.2_first_in_sequence_request.xml",
    "11.1_update_firmware_request.xml",
    "CS06_11.3_future_dated_request.xml",
    "CS06_11.3_signed_precommand_request.xml",
    "12.2_device_prenotification_request.xml",
    "ECS52_11.2_read_firmware_version_I0_response.xml",
    "N50_firmware_removed_from_cpl_dcc_alert.xml",
]
#: every signed sample, for the generated mutations
ALL_SAMPLES = sorted(p.name for p in VALID.glob("*.xml")
                     if etree.QName(etree.parse(str(p)).getroot()).localname
                     in ("Request", "Response"))


def _sign(data: bytes, store: CredentialStore) -> bytes:
    return sign_with_store(data, store, preserve_counter=True, now=NOW)


def decoded(data: bytes, store: CredentialStore, schema):
    """What the DSP acts on: the typed message and the RequestID its replay
    check reads, the DSP's way (validate, verify, decode the verified tree) and
    the verifier's alone (no schema); both must agree."""
    tree = ensure_valid(parse_bytes(data), schema, "<mutated>")
    verified = verify(data, store, now=NOW, tree=tree)
    message = from_tree(verified.tree)
    alone = verify(data, store, now=NOW)
    assert from_tree(alone.tree) == message
    assert alone.message_id == verified.message_id
    if isinstance(message, Request):
        assert verified.message_id == message.request_id
        checked = precheck(data, store, schema, now=NOW)
        assert checked.request == message and checked.message_id == message.request_id
    return message, verified.message_id


_SAMPLE_CACHE: dict[str, tuple[bytes, bytes]] = {}


def sample(name: str, store: CredentialStore) -> tuple[bytes, bytes]:
    """A sample without and with its signature (the test PKI signs it)."""
    if name not in _SAMPLE_CACHE:
        data = (VALID / name).read_bytes()
        _SAMPLE_CACHE[name] = (data, _sign(data, store))
    return _SAMPLE_CACHE[name]


def leaves(root: etree._Element) -> list[etree._Element]:
    """The simple-typed elements with a value, in document order (the signature's excluded)."""
    return [e for e in root.iter(etree.Element)
            if len(e) == 0 and (e.text or "").strip() and not e.tag.startswith(f"{{{DS}}}")]


def split(data: bytes, index: int, position: int, node) -> bytes:
    """``data`` with ``node`` (a comment or PI) inserted at ``position`` in the
    text of its ``index``-th leaf."""
    root = etree.fromstring(data)
    leaf = leaves(root)[index]
    text = leaf.text
    leaf.text = text[:position]
    node.tail = text[position:]
    leaf.insert(0, node)
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="UTF-8")


def _accepted(signed: bytes, store: CredentialStore) -> CounterStore:
    """A counter store that has accepted ``signed`` (a Request's counter)."""
    counters = CounterStore()
    verify(signed, store, now=NOW, counters=counters)
    return counters


def _refused_as_replay(data: bytes, store: CredentialStore, counters: CounterStore) -> None:
    """A Request with the counter already accepted is a replay, however it is
    spelt (a Response is not counter-checked)."""
    if etree.fromstring(data).tag == f"{{{SR}}}Request":
        with pytest.raises(E.ReplayedCounter):
            verify(data, store, now=NOW, counters=counters)


def _fields(name: str) -> list[str]:
    return [etree.QName(e).localname for e in leaves(etree.parse(str(VALID / name)).getroot())]


def test_the_samples_cover_every_header_field():
    names = {field for name in SAMPLES for field in _fields(name)}
    assert {"RequestID", "FirstInSequence", "PrecedingServiceRequestID", "CommandVariant",
            "ServiceReference", "ServiceReferenceVariant", "ResponseID", "ResponseCode",
            "ResponseDateTime", "FirmwareImage", "FirmwareVersion", "DeviceIDList",
            "FirmwareHash", "ExecutionDateTime", "GBCSPayload", "DCCAlertCode"} <= names


@pytest.mark.parametrize("name", SAMPLES)
def test_a_comment_anywhere_in_a_value_is_not_part_of_it(name, store, schema):
    """Inserted after signing, as an attacker would: still verifies, reads whole."""
    _, signed = sample(name, store)
    original = decoded(signed, store, schema)
    counters = _accepted(signed, store)
    root = etree.fromstring(signed)
    for index, leaf in enumerate(leaves(root)):
        for position in range(len(leaf.text) + 1):
            mutated = split(signed, index, position, etree.Comment(""))
            assert decoded(mutated, store, schema) == original, (leaf.tag, position)
            _refused_as_replay(mutated, store, counters)


@pytest.mark.parametrize("name", SAMPLES)
def test_a_processing_instruction_anywhere_in_a_value_is_not_part_of_it(name, store, schema):
    """Signed with it (C14N keeps a PI: inserted later it breaks the digest)."""
    unsigned, signed = sample(name, store)
    original = decoded(signed, store, schema)
    counters = _accepted(signed, store)
    root = etree.fromstring(unsigned)
    for index, leaf in enumerate(leaves(root)):
        for position in range(len(leaf.text) + 1):
            mutated = _sign(split(unsigned, index, position,
                                  etree.ProcessingInstruction("pi", "x")), store)
            assert b"<?pi x?>" in mutated
            assert decoded(mutated, store, schema) == original, (leaf.tag, position)
            _refused_as_replay(mutated, store, counters)
            if position == 1:  # signed in, so taking it out is a change
                with pytest.raises(E.DigestMismatch):
                    verify(mutated.replace(b"<?pi x?>", b""), store, now=NOW)


def _request_id_splits(signed: bytes, node_factory) -> list[bytes]:
    root = etree.fromstring(signed)
    index = next(i for i, e in enumerate(leaves(root)) if e.tag == f"{{{SR}}}RequestID")
    text = leaves(root)[index].text
    return [split(signed, index, position, node_factory()) for position in range(len(text) + 1)]


@pytest.mark.parametrize("name", [n for n in SAMPLES if n.endswith("_request.xml")])
def test_a_captured_request_split_at_each_position_is_accepted_once(name, store, schema):
    """The replay bypass: the counter split by a comment at each position, the
    shortest prefix first (so each would be "higher" than the one before)."""
    _, signed = sample(name, store)
    counter = decoded(signed, store, schema)[1].counter
    resends = _request_id_splits(signed, lambda: etree.Comment(""))
    # through verify's own counter store
    counters = CounterStore()
    accepted = []
    for data in resends + [signed]:
        try:
            accepted.append(verify(data, store, now=NOW, counters=counters).message_id.counter)
        except E.ReplayedCounter as exc:
            assert exc.found == str(counter)
    assert accepted == [counter]
    # the DSP's way: precheck, then its counter store
    dsp_counters = CounterStore()
    accepted = []
    for data in resends + [signed]:
        checked = precheck(data, store, schema, now=NOW)
        try:
            dsp_counters.check_and_record(checked.message_id.originator,
                                          checked.message_id.counter)
            accepted.append(checked.request.request_id.counter)
        except E.ReplayedCounter:
            pass
    assert accepted == [counter]


def test_a_request_signed_with_a_split_counter_is_accepted_once(store, schema):
    """A PI is signed: the sender's own split counter is its whole counter."""
    unsigned, signed = sample("ECS52_11.2_first_in_sequence_request.xml", store)
    root = etree.fromstring(unsigned)
    index = next(i for i, e in enumerate(leaves(root)) if e.tag == f"{{{SR}}}RequestID")
    text = leaves(root)[index].text
    position = text.rindex(":") + 2
    with_pi = _sign(split(unsigned, index, position, etree.ProcessingInstruction("p")), store)
    counters = CounterStore()
    verified = verify(with_pi, store, now=NOW, counters=counters)
    assert str(verified.message_id) == text
    for again in (with_pi, signed):
        with pytest.raises(E.ReplayedCounter):
            verify(again, store, now=NOW, counters=counters)


def test_signing_a_split_request_id_replaces_it_whole(store, schema):
    """A fresh counter replaces the whole value, not the text before the comment."""
    unsigned, _ = sample("ECS52_11.2_read_firmware_version_request.xml", store)
    root = etree.fromstring(unsigned)
    index = next(i for i, e in enumerate(leaves(root)) if e.tag == f"{{{SR}}}RequestID")
    text = leaves(root)[index].text
    mutated = split(unsigned, index, len(text) - 2, etree.Comment("c"))
    signed = sign_with_store(mutated, store, counter=lambda: 9_000_000, now=NOW)
    message, message_id = decoded(signed, store, schema)
    assert str(message_id) == str(message.request_id) == text.rsplit(":", 1)[0] + ":9000000"
    assert b"<!--c-->" not in signed


# --- generated mutations ------------------------------------------------------------

#: what may go where text is: markup that changes nothing a reader of the
#: value should see, and some that does (those must be refused)
_NEUTRAL = [b"<!---->", b"<!-- x -->", b"<?pi?>", b"<?pi data?>"]
_SPACE = [b" ", b"\n", b"\t", b"\r\n", b"&#x20;", b"&#10;"]


def _content_end(data: bytes) -> int:
    """Where the Signature starts (the end of the data when unsigned)."""
    end = data.find(b"<ds:Signature")
    return len(data) if end < 0 else end


def _text_spans(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of non-empty text between tags, inside the root and before the Signature."""
    start = data.index(b"?>") + 2 if data.startswith(b"<?xml") else 0
    end = _content_end(data)
    return [(start + m.start(1), start + m.end(1))
            for m in re.finditer(rb">([^<]+)<", data[start:end])]


def _gaps(data: bytes) -> list[int]:
    """Offsets just after a tag's ">" up to the Signature: between elements, or
    at the start of a text."""
    start = data.index(b"?>") + 2 if data.startswith(b"<?xml") else 0
    end = _content_end(data)
    return [start + m.end() for m in re.finditer(rb">", data[start:end])]


#: edits that spell the same content another way
NEUTRAL_KINDS = ["in-text", "char-ref", "cdata", "redeclare-same"]
ALL_KINDS = NEUTRAL_KINDS + ["between", "redeclare", "whitespace-in-text"]


@st.composite
def mutations(draw, kinds=ALL_KINDS):
    """(sample name, list of edits): each edit says where by two numbers taken
    modulo the places available when it is made."""
    name = draw(st.sampled_from(ALL_SAMPLES))
    count = draw(st.integers(1, 4))
    edits = []
    for _ in range(count):
        kind = draw(st.sampled_from(kinds))
        # where: which text (or tag, or gap), and the offset in it, counted from
        # its end when negative (so both ends of a value are near)
        edits.append((kind, draw(st.integers(0, 10**6)), draw(st.integers(-400, 400)),
                      draw(st.sampled_from(_NEUTRAL)), draw(st.sampled_from(_SPACE))))
    return name, edits


def apply(data: bytes, edits) -> tuple[bytes, bool]:
    """The signed bytes with the edits made (each reads the bytes as they are
    then), and whether every edit left the canonical form alone (a comment, a
    character reference or CDATA section for a character, a superfluous
    redeclaration): then the signature still holds and the message must be
    accepted, not just "refused or the same"."""
    same_c14n = True
    for kind, a, b, neutral, space in edits:
        spans = _text_spans(data)
        if kind in ("in-text", "char-ref", "cdata", "whitespace-in-text") and spans:
            start, end = spans[a % len(spans)]
            length = end - start + 1
            position = start + b % length if b >= 0 else end - (-b - 1) % length
            reference = data.rfind(b"&", start, position)
            if reference >= 0 and data.find(b";", reference, end) >= position:
                # inside a character reference an earlier edit wrote: after it instead
                position = data.find(b";", reference, end) + 1
            if kind == "in-text":
                data = data[:position] + neutral + data[position:]
                same_c14n &= neutral.startswith(b"<!--")
            elif kind == "whitespace-in-text":
                data = data[:position] + space + data[position:]
                same_c14n = False
            elif position < end and b"&" not in data[start:end] and data[position] < 0x80:
                char = data[position:position + 1]  # one ASCII character, spelt another way
                if kind == "char-ref":
                    replacement = f"&#x{ord(char):X};".encode()
                else:
                    replacement = b"<![CDATA[" + char + b"]]>"
                data = data[:position] + replacement + data[position + 1:]
        elif kind == "between":
            gaps = _gaps(data)
            position = gaps[a % len(gaps)]
            data = data[:position] + (neutral if b % 2 else space) + data[position:]
            same_c14n &= bool(b % 2) and neutral.startswith(b"<!--")
        elif kind in ("redeclare", "redeclare-same"):
            # a namespace declaration on an element start tag: the same prefix
            # (or another) bound to the same namespace, or sr bound elsewhere
            tags = [m.end(1) for m in re.finditer(rb"<(sr:[A-Za-z]+)", data[:_content_end(data)])]
            index = a % len(tags)
            choice = b % (3 if kind == "redeclare-same" else 4)
            declaration = [f' xmlns:sr="{SR}"', f' xmlns:x="{SR}"', f' xmlns="{SR}"',
                           ' xmlns:sr="urn:other"'][choice]
            start_tag = data[tags[index]:data.index(b">", tags[index])]
            if choice == 0 and index > 0 and b"xmlns:sr=" in start_tag:
                continue  # an earlier edit declared it there: twice is not well-formed
            data = data[:tags[index]] + declaration.encode() + data[tags[index]:]
            # sr again below the root is superfluous (on the root: a duplicate attribute)
            same_c14n &= choice == 0 and index > 0
    return data, same_c14n


_DECODED: dict[str, tuple] = {}


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=mutations())
def test_a_mutated_signed_message_is_refused_or_reads_as_signed(mutation, store, schema):
    name, edits = mutation
    _, signed = sample(name, store)
    if name not in _DECODED:
        _DECODED[name] = decoded(signed, store, schema)
    original = _DECODED[name]
    mutated, same_c14n = apply(signed, edits)
    try:
        result = decoded(mutated, store, schema)
    except DuisError:
        if same_c14n:  # what was signed is all there, spelt another way
            raise
        return  # refused: schema, syntax or signature
    assert result == original


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(mutation=mutations(kinds=NEUTRAL_KINDS))
def test_a_message_spelt_another_way_when_signed_reads_the_same(mutation, store, schema):
    """The sender's spelling (a PI or comment in a value, a character reference,
    a CDATA section, a redundant declaration), signed as it is: what is acted
    on is what the plain spelling gives."""
    name, edits = mutation
    unsigned, signed = sample(name, store)
    if name not in _DECODED:
        _DECODED[name] = decoded(signed, store, schema)
    # edited where the signed form has the same text, then signed again
    body_end = signed.index(b"<ds:Signature")
    mutated = apply(signed[:body_end] + signed[signed.index(b"</ds:Signature>") + 15:], edits)[0]
    try:
        result = decoded(_sign(mutated, store), store, schema)
    except DuisError:
        return
    assert result == _DECODED[name]
