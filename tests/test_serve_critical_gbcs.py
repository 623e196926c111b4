"""The critical flow over HTTP with the real client's signer (``gbcs.js sign-precommand``,
as a DCC Boxed client signs a PreCommand), against ``duis serve``.

- An 11.3 with CV 4 gets a PreCommand (a CS06 General Signing APDU without signature
  field); the DCC's signer signs it with **Supplier A's key from the reference key folder**
  (``../shared/reference/gbcs/keystore/90b3d51f30010000-ds.key``); CV 5 gets I99, and
  then the device's response, whose payload the DCC's parser decodes with a valid device
  signature.

  The reference folder's Supplier A (90-B3-D5-1F-30-01-00-00) is the test PKI's Supplier
  A, but its ds key is not the test PKI's, and its certificate expired on 2025-10-29.
  Resolved so: the server's credential store is the test PKI with Supplier A's ds
  certificate replaced by the reference one (the DSP checks the SignedPreCommand with
  it, the device the signed command it receives), and the server's driven clock is at
  2025-06-01, inside the reference certificate's validity.
- The MP105 story end to end, its critical rounds signed by the same signer: the story
  runs on its own dates (2026), after the reference certificate expired, so there the
  signer is handed the test PKI's Supplier A ds key as a key folder. Everything matches
  the goldens but the CV 5 requests, whose signature (the signer's nonces are random)
  differs while the command signed is the golden's, byte for byte.

Marked ``reference`` and ``interop``: skipped, with the reason, without Node or
``../shared``.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from duis.catalogue import lookup
from duis.gbcs import codec, from_base64
from duis.gbcs.wire.certificates import party_keys, write_key_folder
from duis.messages import build, leaf, node, request
from duis.scenario import read_scenario
from duis.scenario.runner import request_of
from duis.serve import Client, Endpoints, ReceiverThread, ServeConfig, ServerThread
from duis.signatures import CredentialStore

from .serve_helpers import wait_for
from .test_gbcs_real_interop import gbcs_js, parse, parser_verdicts, sign_precommand  # noqa: F401
from .test_serve_mp105 import SCENARIO, RemoteRun, golden_files

pytestmark = [pytest.mark.reference, pytest.mark.interop]

ROOT = Path(__file__).resolve().parents[1]
SUPPLIER, ESME = "90-B3-D5-1F-30-01-00-00", "00-DB-12-34-56-78-90-A0"
REFERENCE_VALID = dt.datetime(2025, 6, 1, 9, 0, tzinfo=dt.UTC)
PAYLOAD = re.compile(rb"<sr:GBCSPayload>([^<]+)</sr:GBCSPayload>")


@pytest.fixture(scope="module")
def tool(request) -> Path:
    return request.getfixturevalue("gbcs_js")


def payload_of(xml: bytes) -> bytes:
    found = PAYLOAD.search(xml)
    assert found is not None, xml[:200]
    return from_base64(found.group(1).decode("ascii"))


def complete_with_dcc_signer(client: Client, tool: Path, message, counter: int,
                             keys: Path) -> tuple[list, bytes]:
    """CV 4, the PreCommand signed by the DCC's signer, CV 5: the two exchanges."""
    first = client.send(build(message), preserve_counter=True)
    assert first[0].reply.code == "I0", first[0].reply.text
    precommand = payload_of(first[0].reply.body)
    assert precommand[0] == 0xDF and codec.read(precommand).message_code == 0x0012
    signed = sign_precommand(tool, precommand, SUPPLIER, keys)
    assert signed[:len(precommand)] == precommand and len(signed) == len(precommand) + 65
    body = node("SignedPreCommand", leaf("GBCSPayload", base64.b64encode(signed).decode()))
    second = request(message.originator, message.target, counter,
                     message.service_reference_variant, body, command_variant=5)
    return first + client.send(build(second), preserve_counter=True), signed


def test_an_11_3_signed_by_the_reference_supplier_key_gets_a_signed_device_response(
        tool, reference_dir, tmp_path):
    store_dir = tmp_path / "store"
    shutil.copytree(ROOT / "samples" / "pki", store_dir)
    # Supplier A's digital-signing certificate is the reference folder's (the DSP checks
    # the SignedPreCommand with it, the device the signed command it receives)
    for name in ("ds-90B3D51F30010000.pem", "ds-90B3D51F30010000.key"):
        (store_dir / name).unlink()
    reference_cert = reference_dir / "gbcs" / "keystore" / "90b3d51f30010000-ds.pem"
    shutil.copy(reference_cert, store_dir / "90b3d51f30010000-ds.pem")
    device_keys = tmp_path / "device-keys"
    write_key_folder(device_keys, party_keys(ESME), device=True, private=False)
    with ReceiverThread(tmp_path / "received") as receiver:
        config = ServeConfig(port=0, store=store_dir, clock="driven", now=REFERENCE_VALID,
                             endpoints=Endpoints.parse([receiver.url]))
        with ServerThread(config) as server, \
                Client(server.url, CredentialStore(store_dir), now=REFERENCE_VALID) as client:
            activate = request(SUPPLIER, ESME, 7001, "11.3", node(
                "ActivateFirmware", leaf("FirmwareHash", "AB" * 32)), command_variant=4)
            # signed by the reference folder's key (its signer searches that folder last)
            exchanges, signed = complete_with_dcc_signer(
                client, tool, activate, 7002, reference_dir / "gbcs" / "keystore")
            assert [e.reply.code for e in exchanges] == ["I0", "I99"], \
                [(e.reply.status, e.reply.body[:600]) for e in exchanges]
            wait_for(lambda: receiver.inbox.messages, what="the device response delivered")
            received = [receiver.inbox.folder / m.file for m in receiver.inbox.messages]
    assert received, "no device response was delivered"
    responses = [path.read_bytes() for path in received]
    device = [xml for xml in responses if b"<sr:GBCSPayload>" in xml]
    assert len(device) == 1, responses
    answer = payload_of(device[0])
    reading, = parse(tool, [answer], keys=device_keys)
    assert reading["ok"], reading
    assert parser_verdicts(reading["message"]) == {"mac": None, "signature": "true"}
    message = codec.read(answer)
    assert (message.message_code, message.transaction, str(message.originator)) == \
        (0x0012, 7002 - 1, ESME)  # the response repeats the PreCommand's counter
    # the command the device acted on is the one the reference supplier signed
    assert codec.read(signed[:-65]).transaction == message.transaction


class DccSignedRun(RemoteRun):
    """The MP105 story over HTTP, its critical rounds completed by the DCC's signer."""

    def __init__(self, *args, tool: Path, keys: Path, **kw) -> None:
        super().__init__(*args, **kw)
        self.tool, self.keys = tool, keys

    def _send(self, step) -> None:
        message = request_of(step, self.next_counter, self.scenario.source.parent)
        if not (lookup(message.service_reference_variant).critical
                and step.get("command_variant") is None):
            self.counters[str(message.originator)] -= 1  # the parent takes it again
            return super()._send(step)
        exchanges, _ = complete_with_dcc_signer(
            self.client, self.tool, message, self.next_counter(str(message.originator)),
            self.keys)
        for exchange in exchanges:
            sent = exchange.message
            self._add(f"in-request-{sent.service_reference_variant}-cv{sent.command_variant}",
                      exchange.request)
            assert exchange.reply.status == 200, exchange.reply.text
            self._add(f"out-response-{exchange.reply.code}-to-{sent.originator.compact}",
                      exchange.reply.body)
        return None


def test_the_mp105_story_runs_with_the_dcc_signer(tool, tmp_path):
    keys = tmp_path / "supplier-a"
    keys.mkdir()
    credential = CredentialStore(ROOT / "samples" / "pki").gbcs_credential(SUPPLIER, "ds")
    assert credential.private_key is not None
    (keys / "90b3d51f30010000-ds.key").write_bytes(credential.private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    scenario = read_scenario(SCENARIO)
    profile = "mp105-option2"
    golden = SCENARIO.parent / "golden" / scenario.name
    with ReceiverThread(tmp_path / "received") as receiver:
        config = ServeConfig(port=0, world=scenario.world, smi=tmp_path / "smi.sqlite",
                             profile=profile, clock="driven", now=scenario.start,
                             seed=scenario.seed, endpoints=Endpoints.parse([receiver.url]))
        with ServerThread(config) as server, Client(server.url, now=scenario.start) as client:
            run = DccSignedRun(scenario, profile, client, receiver, tool=tool, keys=keys)
            run.play()
    failed = [c for c in run.checks if c[2] != c[3]]
    assert run.checks and not failed, failed
    expected = golden_files(golden, profile)
    assert [name for name, _ in run.files] == [name for name, _ in expected]
    signed_rounds = 0
    for (name, got), (_, want) in zip(run.files, expected, strict=True):
        if "in-request-11.3-cv5" in name:
            # the signer's signature differs (random nonces); the command it signed does not
            assert payload_of(got)[:-64] == payload_of(want)[:-64], name
            signed_rounds += 1
        else:
            assert got == want, f"{name} differs from the golden"
    assert signed_rounds >= 1
