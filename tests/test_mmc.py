"""The MMC translation layer (duis.mmc): the mapping table, requests as GBCS
commands, device replies as MMC output, and the ``translate`` / ``mmc`` CLI."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

import duis.cli
from duis.catalogue import lookup
from duis.gbcs import codec
from duis.gbcs.codec import from_base64, read, to_base64
from duis.gbcs.keys import world_keys
from duis.gbcs.model import (
    STATUSES,
    ActivateFirmware,
    ActivationResult,
    CommandOutcome,
    DistributeImage,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    ImageDistributionResult,
    Kind,
    PowerOutageAlert,
    ReadFirmwareVersion,
    TopUp,
    UpdateSecurityCredentials,
)
from duis.messages import (
    EUI64,
    MessageID,
    build,
    leaf,
    node,
    parse_message,
    request,
    response,
    response_message,
)
from duis.mmc import (
    MappingInvalid,
    TranslationError,
    command_for,
    load_mapping,
    mapping,
    mmc_document,
    mmc_for_payload,
    mmc_for_response,
    use_case_for,
)
from duis.mmc.output import ALERTS, RESPONSES
from duis.mmc.translate import BUILDERS
from duis.signatures import CredentialStore
from duis.signatures.gbcs import sign_command

ROOT = Path(__file__).resolve().parents[1]
VALID = ROOT / "samples" / "messages" / "valid"
UTC = dt.UTC
USER = EUI64.parse("90-B3-D5-1F-30-01-00-00")
ESME = EUI64.parse("00-DB-12-34-56-78-90-A0")
GSME = EUI64.parse("00-DB-12-34-56-78-90-A2")
HASH = bytes.fromhex("9BC9B87DB00B456CB727B38262F1D5ED824ED59E9A23AD3513184D3F7B413FFC")
WHEN = dt.datetime(2026, 3, 2, 10, 15, 29, tzinfo=UTC)
DEVICE_TYPES = ("ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS", "IHD")
NON_DEVICE = ("8.2", "11.4", "12.1", "12.2")
STORE = CredentialStore(ROOT / "samples" / "pki")
KEYS = world_keys(STORE, acb=STORE.dsp_signing_credential().eui)


def encode(message: GbcsMessage) -> bytes:
    """The bytes of ``message`` as the DSP or the device sends them (real GBCS, protected)."""
    return codec.encode(message, KEYS)


def decode(data: bytes, keys=KEYS) -> GbcsMessage:
    return codec.decode(data, keys)

#: the oracle: (variant, device type) -> (use case, message code), written out by hand
EXPECTED = {
    ("2.2", "ESME"): ("CS01a", 0xF101), ("2.2", "GSME"): ("CS01b", 0xF102),
    ("6.23", "ESME"): ("CS02b", 0xF103), ("6.23", "GSME"): ("CS02b", 0xF103),
    ("11.1", "CHF"): ("CS05a", 0xF104), ("11.1", "ESME"): ("CS05b", 0xF105),
    ("11.1", "GSME"): ("CS05b", 0xF105), ("11.1", "HCALCS"): ("CS05b", 0xF105),
    ("11.1", "PPMID"): ("CS05c", 0xF106),
    ("11.2", "ESME"): ("ECS52", 0x0059), ("11.2", "CHF"): ("ECS52", 0x0059),
    ("11.2", "GSME"): ("GCS38", 0x0084), ("11.2", "GPF"): ("GCS38", 0x0084),
    ("11.2", "PPMID"): ("CS08", 0x0129), ("11.2", "HCALCS"): ("CS08", 0x0129),
    **{("11.3", t): ("CS06", 0x0012) for t in ("ESME", "GSME", "CHF", "GPF", "PPMID", "HCALCS")},
}
#: variant -> (command payload, response payload, MMC element or None)
PAYLOADS = {
    "2.2": (TopUp, CommandOutcome, None),
    "6.23": (UpdateSecurityCredentials, CommandOutcome, None),
    "11.1": (DistributeImage, ImageDistributionResult, None),
    "11.2": (ReadFirmwareVersion, FirmwareVersionReport, "ReadFirmwareVersionRsp"),
    "11.3": (ActivateFirmware, ActivationResult, "ActivateFirmwareRsp"),
}


# --- the mapping table ----------------------------------------------------------------------------

def test_mapping_covers_exactly_the_expected_pairs():
    assert {(v, t): (c.code, c.message_code) for v, t, c in mapping().rows()} == EXPECTED


@pytest.mark.parametrize("variant, device_type", sorted(EXPECTED), ids="-".join)
def test_use_case_per_service_request_and_device_type(variant, device_type):
    case = use_case_for(variant, device_type)
    assert (case.code, case.message_code) == EXPECTED[variant, device_type]
    assert (case.command, case.response, case.mmc_response) == PAYLOADS[variant]
    assert use_case_for(variant, device_type.lower()) == case


UNMAPPED = [(v, t) for v in [*PAYLOADS, *NON_DEVICE, "4.1.1", "99.9"] for t in DEVICE_TYPES
            if (v, t) not in EXPECTED]


@pytest.mark.parametrize("variant, device_type", UNMAPPED, ids="-".join)
def test_unmapped_pairs_are_refused_naming_both(variant, device_type):
    with pytest.raises(TranslationError) as caught:
        use_case_for(variant, device_type)
    text = str(caught.value)
    assert variant in text
    if variant in NON_DEVICE:
        assert "has no device command" in text
    else:
        assert device_type in text


def test_no_device_command_variants_are_recorded():
    assert set(mapping().no_device_command) == set(NON_DEVICE)


def test_cs06_is_0012_and_alerts_answer_it():
    assert use_case_for("11.3", "ESME").message_code_hex == "0012"
    alerts = mapping().alerts
    assert {code: (a.outcome, a.answers, a.payload) for code, a in alerts.items()} == {
        0x8F66: ("success", "CS06", FirmwareActivationAlert),
        0x8F67: ("failure", "CS06", FirmwareActivationAlert)}


def test_every_mapped_payload_and_element_has_code_behind_it():
    table = mapping()
    assert {c.command for c in table.use_cases.values()} <= set(BUILDERS)
    assert {c.mmc_response for c in table.use_cases.values()} - {None} <= set(RESPONSES)
    assert {a.mmc_alert for a in table.alerts.values()} <= set(ALERTS)


@pytest.mark.parametrize("variant", sorted(PAYLOADS))
def test_device_types_agree_with_the_catalogue(variant):
    """Where the SR catalogue records device types, the mapping serves exactly those."""
    recorded = lookup(variant).device_types
    mapped = {t for (v, t) in EXPECTED if v == variant}
    assert not recorded or mapped == set(recorded)


@pytest.mark.reference
def test_use_case_names_match_the_gbcs_catalogue(reference_dir):
    entries = json.loads((reference_dir / "catalogue" / "gbcs-use-cases.json")
                         .read_text("utf-8"))
    by_code = {e["Code"]: e for e in entries}
    for code, case in mapping().use_cases.items():
        assert code in by_code, code
        assert by_code[code]["Use Case Title"] == f"{code} {case.title}"
    for code in ("ECS52", "GCS38"):
        assert by_code[code]["Service Reference"] == "11.2"
    assert by_code["CS01a"]["Service Reference"] == "2.2"


MAPPING_TEXT = (ROOT / "duis" / "mmc" / "mapping.toml").read_text("utf-8")


@pytest.mark.parametrize("old, new", [
    ('device_types = ["GSME", "GPF"]', 'device_types = ["GSME", "ESME"]'),  # ESME twice in 11.2
    ("message_code = 0xF106", "message_code = 0xF105"),                      # duplicate code
    ('command = "TopUp"', 'command = "CommandOutcome"'),                     # a response as command
    ('response = "ActivationResult"', 'response = "Nonsense"'),
    ('device_types = ["PPMID"]', 'device_types = ["TOASTER"]'),
    ('[no_device_command."12.1"]', '[no_device_command."11.2"]'),
    ("[use_case.CS06]", "[use_case.CS06"),
])
def test_mapping_data_is_checked(old, new):
    assert old in MAPPING_TEXT
    with pytest.raises(MappingInvalid):
        load_mapping(MAPPING_TEXT.replace(old, new, 1))


# --- requests -> GBCS commands --------------------------------------------------------------------

def _sample(name: str):
    return parse_message(VALID / name)


SAMPLE_COMMANDS = [
    ("CS01a_2.2_top_up_device_request.xml", "ESME", 0xF101, 2013, ESME,
     TopUp("73018450291736450182")),
    ("CS01a_2.2_top_up_device_request.xml", "GSME", 0xF102, 2013, ESME,
     TopUp("73018450291736450182")),
    ("CS02b_6.23_update_security_credentials_cos_request.xml", "ESME", 0xF103, 2012, ESME,
     UpdateSecurityCredentials(base64.b64decode(
         "MIIBACBzdGFuZC1pbiBERVIgY2VydGlmaWNhdGUgAAECAwQFBgcICQoLDA0ODw=="))),
    ("CS06_11.3_immediate_request.xml", "ESME", 0x0012, 2004, ESME, ActivateFirmware(HASH)),
    ("CS06_11.3_future_dated_request.xml", "GPF", 0x0012, 2005, ESME,
     ActivateFirmware(HASH, dt.datetime(2026, 3, 9, 2, 30, tzinfo=UTC))),
    ("ECS52_11.2_read_firmware_version_request.xml", "ESME", 0x0059, 2002, ESME,
     ReadFirmwareVersion()),
    ("ECS52_11.2_first_in_sequence_request.xml", "CHF", 0x0059, 2014, ESME,
     ReadFirmwareVersion()),
    ("GCS38_11.2_read_firmware_version_gsme_request.xml", "GSME", 0x0084, 2003, GSME,
     ReadFirmwareVersion()),
    ("GCS38_11.2_read_firmware_version_gsme_request.xml", "HCALCS", 0x0129, 2003, GSME,
     ReadFirmwareVersion()),
]


@pytest.mark.parametrize("name, device_type, code, counter, target, payload", SAMPLE_COMMANDS,
                         ids=[f"{row[0].split('_request')[0]}-{row[1]}" for row in SAMPLE_COMMANDS])
def test_translates_each_covered_request_sample(name, device_type, code, counter, target,
                                                payload):
    message = command_for(_sample(name), device_type)
    assert message == GbcsMessage(Kind.COMMAND, USER, target, counter, code, payload)
    assert decode(encode(message)) == message


def test_update_firmware_goes_to_the_named_device():
    sample = _sample("11.1_update_firmware_request.xml")
    image = base64.b64decode(sample.body.text_at("FirmwareImage"))
    second = EUI64.parse("00-DB-12-34-56-78-90-B0")
    message = command_for(sample, "ESME", target=second)
    assert message == GbcsMessage(Kind.COMMAND, USER, second, 2001, 0xF105,
                                  DistributeImage(image, "2.0.1"))
    assert command_for(sample, "CHF", target=str(second)).message_code == 0xF104
    with pytest.raises(TranslationError, match="names 2 devices"):
        command_for(sample, "ESME")
    with pytest.raises(TranslationError, match="not in the request's DeviceIDList"):
        command_for(sample, "ESME", target=GSME)


def test_transaction_can_be_chosen_and_target_must_agree():
    sample = _sample("ECS52_11.2_read_firmware_version_request.xml")
    assert command_for(sample, "ESME", transaction=7).transaction == 7
    assert command_for(sample, "ESME", target=ESME).target == ESME
    with pytest.raises(TranslationError, match="differs from the RequestID target"):
        command_for(sample, "ESME", target=GSME)
    with pytest.raises(TranslationError, match="transaction"):
        command_for(sample, "ESME", transaction=2**64)


@pytest.mark.parametrize("name", ["8.2_read_inventory_request.xml",
                                  "8.2_read_inventory_by_postcode_request.xml",
                                  "11.4_update_ppmid_firmware_request.xml",
                                  "12.1_request_wan_matrix_request.xml",
                                  "12.2_device_prenotification_request.xml"])
def test_non_device_requests_have_no_command(name):
    with pytest.raises(TranslationError, match="has no device command"):
        command_for(_sample(name), "ESME")


def test_a_request_body_that_does_not_fit_the_variant_is_refused():
    wrong = request(USER, ESME, 5, "11.3", node("ReadFirmwareVersion"))
    with pytest.raises(TranslationError, match="must carry ActivateFirmware"):
        command_for(wrong, "ESME")


def test_fractional_execution_times_are_cut_to_seconds():
    body = node("ActivateFirmware", leaf("ExecutionDateTime", "2026-03-09T02:30:00.750+01:00"),
                leaf("FirmwareHash", HASH.hex().upper()))
    message = command_for(request(USER, ESME, 5, "11.3", body), "ESME")
    assert message.payload.execution == dt.datetime(2026, 3, 9, 1, 30, tzinfo=UTC)


# --- signed pre-commands --------------------------------------------------------------------------

def _signed_request(command: bytes, counter: int = 2006, target: EUI64 = ESME):
    key = ec.generate_private_key(ec.SECP256R1())  # not checked by the translation
    body = node("SignedPreCommand", leaf("GBCSPayload", to_base64(sign_command(command, key))))
    return request(USER, target, counter, "11.3", body, command_variant=5)


def test_a_signed_precommand_yields_the_signed_command():
    precommand = command_for(_sample("CS06_11.3_immediate_request.xml"), "ESME")
    signed = _signed_request(codec.precommand(precommand))
    assert command_for(signed, "ESME") == precommand


def test_a_signed_precommand_must_fit_the_request():
    precommand = command_for(_sample("CS06_11.3_immediate_request.xml"), "ESME")
    with pytest.raises(TranslationError, match="target does not match"):
        command_for(_signed_request(codec.precommand(precommand), target=GSME), "ESME")
    other = command_for(_sample("ECS52_11.2_read_firmware_version_request.xml"), "ESME")
    with pytest.raises(TranslationError, match="message code does not match"):
        command_for(_signed_request(codec.plain(other)), "ESME")


def test_a_signed_precommand_without_signature_is_refused():
    command = codec.precommand(command_for(_sample("CS06_11.3_immediate_request.xml"), "ESME"))
    unsigned = request(USER, ESME, 2006, "11.3",
                       node("SignedPreCommand", leaf("GBCSPayload", to_base64(command))),
                       command_variant=5)
    with pytest.raises(TranslationError, match="carries no GBCS signature"):
        command_for(unsigned, "ESME")
    garbage = request(USER, ESME, 2007, "11.3",
                      node("SignedPreCommand", leaf("GBCSPayload", to_base64(b"\xd1" * 40))),
                      command_variant=5)
    with pytest.raises(TranslationError, match="not a GBCS command") as caught:
        command_for(garbage, "ESME")
    assert "0xDF" in caught.value.expected


def test_the_sample_signed_precommand_carries_the_sample_precommand():
    signed = command_for(_sample("CS06_11.3_signed_precommand_request.xml"), "ESME")
    issued = read(from_base64(_sample("CS06_11.3_precommand_response.xml")
                              .payload.text_at("GBCSPayload")))
    assert signed == issued


# --- device replies -> MMC output -----------------------------------------------------------------

def _reply(kind, code, payload, transaction=2006):
    return GbcsMessage(kind, ESME, USER, transaction, code, payload)


ALERT_AT = dt.datetime(2026, 3, 9, 2, 30, tzinfo=UTC)
REPLIES = {
    "11.2-ECS52": (_reply(Kind.RESPONSE, 0x0059, FirmwareVersionReport("2.0.1"), 2002), "11.2"),
    "11.2-GCS38": (_reply(Kind.RESPONSE, 0x0084, FirmwareVersionReport("G1")), "11.2"),
    "11.2-CS08": (_reply(Kind.RESPONSE, 0x0129, FirmwareVersionReport("PP 7.1")), "11.2"),
    "11.3-success": (_reply(Kind.RESPONSE, 0x0012, ActivationResult("success", "2.0.1")), "11.3"),
    "11.3-already-active": (_reply(Kind.RESPONSE, 0x0012,
                                   ActivationResult("activationFailure", "2.0.1"), 2106), "11.3"),
    "11.3-smets1-retry": (_reply(Kind.RESPONSE, 0x0012, ActivationResult("success")), "11.3"),
    "11.3-scheduled": (_reply(Kind.RESPONSE, 0x0012, ActivationResult(None)), "11.3"),
    "8F66": (_reply(Kind.ALERT, 0x00CA, FirmwareActivationAlert("success", "2.0.1", ALERT_AT,
                                                                2006), 2205), None),
    "8F67": (_reply(Kind.ALERT, 0x00CA, FirmwareActivationAlert("hashMismatch", None, ALERT_AT,
                                                                2006), 2205), None),
}


@pytest.mark.parametrize("key", REPLIES)
def test_mmc_output_validates_against_the_bundled_schema(key, bundled_schema):
    message, variant = REPLIES[key]
    document = mmc_document(message, service_reference_variant=variant, when=WHEN)
    assert build(document, schema=bundled_schema).startswith(b"<?xml")


@pytest.mark.reference
@pytest.mark.parametrize("key", REPLIES)
def test_mmc_output_validates_against_the_official_schema(key, official_schema):
    message, variant = REPLIES[key]
    build(mmc_document(message, service_reference_variant=variant, when=WHEN),
          schema=official_schema)


@pytest.mark.parametrize("key, sample", [
    ("11.3-success", "CS06_11.3_activate_firmware_mmc.xml"),
    ("11.3-already-active", "CS06_11.3_already_active_mmc.xml"),
    ("8F66", "8F66_firmware_activation_device_alert_mmc.xml"),
])
def test_mmc_output_matches_the_samples_byte_for_byte(key, sample):
    message, variant = REPLIES[key]
    when = ALERT_AT + dt.timedelta(seconds=4) if variant is None else WHEN
    document = mmc_document(message, service_reference_variant=variant, when=when)
    assert build(document) == (VALID / sample).read_bytes()


def test_mmc_output_shows_code_status_and_version():
    message, _ = REPLIES["11.3-already-active"]
    root = mmc_document(message, service_reference_variant="11.3", when=WHEN).root
    rsp = root.find("Body/ResponseMessage/SMETSData/ActivateFirmwareRsp")
    code = rsp.child("ActivateImageResponseCode")
    assert dict(code.attrs) == {"ResponseCode": str(STATUSES["activationFailure"])}
    assert code.text_at("ASN1Status") == "activationFailure"
    assert rsp.text_at("FirmwareVersion") == "2.0.1"
    assert root.text_at("Header/GBCSHexadecimalMessageCode") == "0012"
    scheduled = mmc_document(REPLIES["11.3-scheduled"][0], service_reference_variant="11.3",
                             when=WHEN).root
    assert scheduled.find("Body/ResponseMessage/SMETSData/ActivateFirmwareRsp").children == ()


@pytest.mark.parametrize("message, variant, match", [
    (_reply(Kind.COMMAND, 0x0012, ActivateFirmware(HASH)), "11.3", "a command has no MMC output"),
    (REPLIES["11.2-ECS52"][0], "11.3", "does not answer service request 11.3"),
    (REPLIES["11.2-ECS52"][0], None, "needs its service reference variant"),
    (_reply(Kind.RESPONSE, 0x0012, FirmwareVersionReport("1")), "11.3",
     "must carry ActivationResult"),
    (_reply(Kind.RESPONSE, 0xF101, CommandOutcome("success")), "2.2", "no element for CS01a"),
    (_reply(Kind.ALERT, 0xF1A0, PowerOutageAlert(ALERT_AT, ALERT_AT)), None,
     "no MMC output for this alert code"),
])
def test_replies_without_mmc_output_are_refused(message, variant, match):
    with pytest.raises(TranslationError, match=match):
        mmc_document(message, service_reference_variant=variant, when=WHEN)


def test_mmc_for_payload_reads_base64():
    message, variant = REPLIES["11.2-ECS52"]
    document = mmc_for_payload(to_base64(encode(message)), variant, WHEN)
    assert document == mmc_document(message, service_reference_variant=variant, when=WHEN)


versions = st.text(st.characters(blacklist_categories=("Cc", "Cs"),
                                 blacklist_characters="\ufffe\uffff"), min_size=1, max_size=8)
#: the statuses real GBCS carries in a CS06 outcome (and its alert)
statuses = st.sampled_from(["success", "noImageHeld", "hashMismatch", "activationFailure"])
versions = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1,
                   max_size=8)
replies = st.one_of(
    st.tuples(st.builds(FirmwareVersionReport, versions).map(
        lambda p: _reply(Kind.RESPONSE, 0x0059, p)), st.just("11.2")),
    st.tuples((st.builds(ActivationResult, statuses, st.none() | versions)
               | st.just(ActivationResult(None, None))).map(
        lambda p: _reply(Kind.RESPONSE, 0x0012, p)), st.just("11.3")),
    st.tuples(st.builds(FirmwareActivationAlert, statuses, st.none() | versions,
                        st.just(ALERT_AT), st.integers(0, 2**64 - 1)).map(
        lambda p: _reply(Kind.ALERT, 0x00CA, p)),
        st.none()))


@settings(max_examples=150, deadline=None)
@given(replies)
def test_any_decodable_reply_gives_schema_valid_mmc(reply):
    message, variant = reply
    assert decode(encode(message)) == message
    build(mmc_document(message, service_reference_variant=variant, when=WHEN))


# --- whole DUIS Responses -------------------------------------------------------------------------

def _response_xml(message: GbcsMessage, carrier: str = "response", variant: str = "11.2",
                  alert_code: str | None = None) -> bytes:
    payload = to_base64(encode(message))
    code = alert_code or f"{message.alert_code:04X}"
    request_id = MessageID(USER, ESME, message.transaction)
    if carrier == "response":
        body = response_message(variant, leaf("GBCSPayload", payload))
    elif carrier == "future-dated":
        body = response_message(variant, node(
            "FutureDatedDeviceAlertMessage", leaf("FutureDatedAlertCode", code),
            leaf("GBCSPayload", payload), leaf("InstructionNumber", 1),
            leaf("TotalCommandInstructions", 1)))
    else:
        body = node("DeviceAlertMessage", leaf("AlertCode", code), leaf("GBCSPayload", payload))
        return build(response(None, "I0", ALERT_AT, body,
                              response_id=MessageID(ESME, USER, message.transaction)))
    return build(response(request_id, "I0", WHEN, body))


def test_mmc_for_response_finds_each_carrier():
    for message, variant, carrier in [(REPLIES["11.2-ECS52"][0], "11.2", "response"),
                                      (REPLIES["8F66"][0], "11.3", "future-dated"),
                                      (REPLIES["8F67"][0], None, "alert")]:
        parsed = parse_message(_response_xml(message, carrier, variant or "11.3"))
        reply, document = mmc_for_response(parsed)
        assert reply.message == message
        build(document)


def test_mmc_for_response_checks_the_alert_code():
    xml = _response_xml(REPLIES["8F66"][0], "alert", alert_code="8F67")
    with pytest.raises(TranslationError, match="alert code disagrees"):
        mmc_for_response(parse_message(xml), "x.xml")


# --- CLI ------------------------------------------------------------------------------------------

@pytest.fixture
def cli(monkeypatch):
    commands = tuple(dict.fromkeys((*duis.cli.COMMANDS, "translate", "mmc")))
    monkeypatch.setattr(duis.cli, "COMMANDS", commands)

    def run(*argv: str, stdin: bytes | None = None) -> int:
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
        return duis.cli.main(list(argv))
    return run


def test_cli_translate_prints_hex_and_a_summary(cli, capsys):
    assert cli("translate", str(VALID / "CS06_11.3_future_dated_request.xml")) == 0
    out, err = capsys.readouterr()
    data = bytes.fromhex(out.strip())
    assert data[0] == 0xDF and data == codec.precommand(read(data))  # the PreCommand, unsigned
    message = read(data)
    assert message.message_code == 0x0012 and message.transaction == 2005
    assert "use_case: CS06" in err and "execution: 2026-03-09T02:30:00Z" in err


def test_cli_translate_base64_and_json(cli, capsys):
    path = str(VALID / "GCS38_11.2_read_firmware_version_gsme_request.xml")
    assert cli("translate", "--device-type", "GPF", "--base64", "-q", path) == 0
    out, err = capsys.readouterr()
    data = from_base64(out)
    assert data[0] == 0xDD and err == ""  # MAC'd by the DSP as Access Control Broker
    assert decode(data, KEYS).message_code == 0x0084
    assert cli("translate", "--device-type", "PPMID", "--json", path) == 0
    facts = json.loads(capsys.readouterr().out)
    assert (facts["use_case"], facts["message_code"], facts["device_type"]) == \
        ("CS08", "0x0129", "PPMID")
    assert decode(bytes.fromhex(facts["hex"]), KEYS) == read(from_base64(facts["base64"]))


def test_cli_translate_reads_stdin(cli, capsys):
    data = (VALID / "CS01a_2.2_top_up_device_request.xml").read_bytes()
    assert cli("translate", "--device-type", "GSME", "--json", "-", stdin=data) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["source"] == "<stdin>" and facts["use_case"] == "CS01b"


@pytest.mark.parametrize("args, code, text", [
    (["ECS52_11.2_read_firmware_version_request.xml"], 2, "give --device-type"),
    (["--device-type", "IHD", "ECS52_11.2_read_firmware_version_request.xml"], 1,
     "no GBCS use case for device type IHD"),
    (["8.2_read_inventory_request.xml"], 1, "has no device command"),
    (["--device-type", "ESME", "11.1_update_firmware_request.xml"], 1, "names 2 devices"),
    (["CS06_11.3_activate_firmware_mmc.xml"], 2, "reads a DUIS service request"),
])
def test_cli_translate_exit_codes(cli, capsys, args, code, text):
    *options, name = args
    assert cli("translate", *options, str(VALID / name)) == code
    assert text in capsys.readouterr().err


def test_cli_translate_refuses_unusable_and_invalid_input(cli, capsys, tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_bytes(b"<sr:Request")
    assert cli("translate", str(broken)) == 2
    invalid = tmp_path / "invalid.xml"
    invalid.write_bytes((VALID / "CS01a_2.2_top_up_device_request.xml").read_bytes()
                        .replace(b"73018450291736450182", b"123"))
    assert cli("translate", "--device-type", "ESME", str(invalid)) == 1


def test_cli_mmc_prints_schema_valid_mmc(cli, capsys, tmp_path, bundled_schema):
    from duis.schema import validate
    for key, carrier in [("11.2-ECS52", "response"), ("11.3-success", "response"),
                         ("8F66", "future-dated"), ("8F67", "alert")]:
        message, variant = REPLIES[key]
        path = tmp_path / f"{key}.xml"
        path.write_bytes(_response_xml(message, carrier, variant or "11.3"))
        assert cli("mmc", str(path)) == 0, capsys.readouterr().err
        out = capsys.readouterr().out.encode("utf-8")
        assert validate(out, bundled_schema).valid
        assert b"<ra:GBCSResponse" in out


def test_cli_mmc_json_stdin_and_output_file(cli, capsys, tmp_path):
    xml = _response_xml(REPLIES["11.3-already-active"][0], "response", "11.3")
    assert cli("mmc", "--json", "-", stdin=xml) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["message"]["payload"] == {"type": "ActivationResult",
                                            "status": "activationFailure",
                                            "firmware_version": "2.0.1"}
    assert "<ra:ASN1Status>activationFailure</ra:ASN1Status>" in result["mmc"]
    target = tmp_path / "out.xml"
    assert cli("mmc", "-o", str(target), "-", stdin=xml) == 0
    assert target.read_bytes().startswith(b"<?xml") and capsys.readouterr().out == ""


@pytest.mark.parametrize("name, code, text", [
    ("ECS52_11.2_acknowledgement_I99_response.xml", 1, "carries no device reply"),
    ("CS06_11.3_precommand_response.xml", 1, "a PreCommand"),
    ("AD1_power_outage_dcc_alert.xml", 1, "carries no device reply"),
    ("ECS52_11.2_read_firmware_version_request.xml", 2, "reads a DUIS Response"),
])
def test_cli_mmc_exit_codes(cli, capsys, name, code, text):
    assert cli("mmc", str(VALID / name)) == code
    assert text in capsys.readouterr().err


def test_cli_mmc_refuses_a_reply_without_mmc_output(cli, capsys, tmp_path):
    path = tmp_path / "topup.xml"
    path.write_bytes(_response_xml(_reply(Kind.RESPONSE, 0xF101, CommandOutcome("success")),
                                   "response", "2.2"))
    assert cli("mmc", str(path)) == 1
    assert "no element for CS01a" in capsys.readouterr().err


@pytest.mark.parametrize("name, element", [
    ("8F66_device_alert_response.xml", "FirmwareActivationDeviceAlert"),
    ("ECS52_11.2_read_firmware_version_I0_response.xml", "ReadFirmwareVersionRsp"),
])
def test_cli_mmc_reads_the_sample_device_replies(cli, capsys, name, element):
    assert cli("mmc", str(VALID / name)) == 0
    assert f"<ra:{element}" in capsys.readouterr().out
