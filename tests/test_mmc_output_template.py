"""``mmc_output`` gives exactly the bytes ``build(mmc_document(...))`` gives (which
validates them), for every MMC layout, every shape (optional parts present or not)
and texts that need escaping or that a template is not trusted with."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from duis.errors import SchemaInvalid
from duis.gbcs.model import (
    STATUSES,
    ActivationResult,
    FirmwareActivationAlert,
    FirmwareVersionReport,
    GbcsMessage,
    Kind,
)
from duis.messages import build
from duis.messages.ids import EUI64
from duis.mmc import mapping
from duis.mmc.output import mmc_document, mmc_output

DEVICE, USER = EUI64.parse("00-DB-12-34-56-78-90-A0"), EUI64.parse("90-B3-D5-1F-30-01-00-00")
#: a firmware version as a device may report it: ASCII with the characters XML
#: escapes, and now and then one a template is not trusted with
VERSIONS = st.text(st.sampled_from('AZaz09.-_ &<>"\'{}') | st.sampled_from("é\u2603\t"),
                   min_size=0, max_size=20)
COUNTERS = st.integers(min_value=0, max_value=2**64 - 1)
WHEN = st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2040, 1, 1),
                    timezones=st.just(dt.UTC))


def _case(element: str):
    return next(case for case in mapping().use_cases.values() if case.mmc_response == element)


def _same(message: GbcsMessage, variant: str | None, when: dt.datetime) -> None:
    """mmc_output gives build(mmc_document(...))'s bytes, or raises what it raises."""
    try:
        expected: bytes | type = build(mmc_document(message, service_reference_variant=variant,
                                                    when=when))
    except SchemaInvalid:
        expected = SchemaInvalid
    # twice: the first call of a shape builds its template, the second fills it
    for _ in range(2):
        if expected is SchemaInvalid:
            with pytest.raises(SchemaInvalid):
                mmc_output(message, service_reference_variant=variant, when=when)
        else:
            assert mmc_output(message, service_reference_variant=variant, when=when) == expected


def test_a_version_the_schema_refuses_is_refused_after_valid_ones_of_that_shape():
    case = _case("ActivateFirmwareRsp")  # its FirmwareVersion holds at most 8 characters
    when = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)

    def result(counter: int, version: str) -> GbcsMessage:
        return GbcsMessage(Kind.RESPONSE, DEVICE, USER, counter, case.message_code,
                           ActivationResult("success", version))

    for version in ("1.0.0", "1.0.1", "1.0.0-rc.1"):
        _same(result(7, version), case.variant, when)
    with pytest.raises(SchemaInvalid, match="FirmwareVersion"):
        mmc_output(result(8, "1.0.0-rc.1"), service_reference_variant=case.variant, when=when)
    assert mmc_output(result(8, "1.0.1"), service_reference_variant=case.variant, when=when) \
        == build(mmc_document(result(8, "1.0.1"), service_reference_variant=case.variant,
                              when=when))


@settings(max_examples=60, deadline=None)
@given(version=VERSIONS, counter=COUNTERS, when=WHEN)
def test_firmware_version_reports(version, counter, when):
    case = _case("ReadFirmwareVersionRsp")
    message = GbcsMessage(Kind.RESPONSE, DEVICE, USER, counter, case.message_code,
                          FirmwareVersionReport(version))
    _same(message, case.variant, when)


@settings(max_examples=80, deadline=None)
@given(status=st.none() | st.sampled_from(sorted(STATUSES)), version=st.none() | VERSIONS,
       counter=COUNTERS, when=WHEN)
def test_activation_results_of_every_shape(status, version, counter, when):
    case = _case("ActivateFirmwareRsp")
    message = GbcsMessage(Kind.RESPONSE, DEVICE, USER, counter, case.message_code,
                          ActivationResult(status, version))
    _same(message, case.variant, when)


@settings(max_examples=80, deadline=None)
@given(status=st.sampled_from(sorted(STATUSES)), version=st.none() | VERSIONS,
       counter=COUNTERS, command_counter=COUNTERS, when=WHEN, execution=WHEN)
def test_activation_alerts_of_every_shape(status, version, counter, command_counter, when,
                                         execution):
    for code, meaning in mapping().alerts.items():
        if meaning.payload is not FirmwareActivationAlert:
            continue
        payload = FirmwareActivationAlert(status, version, execution, command_counter)
        if payload.alert_code != code:
            continue
        _same(GbcsMessage(Kind.ALERT, DEVICE, USER, counter, code, payload), None, when)
