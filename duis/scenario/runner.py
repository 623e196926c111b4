"""Run a scenario under one behaviour profile and keep its transcript.

Everything is deterministic: the clock starts at the scenario's ``start`` and
moves only on ``advance`` steps; RequestID counters are numbered from 1000 per
originator; the devices' faults draw from the scenario's seed; signatures are
deterministic.  Two runs give the same bytes.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

from ..catalogue import lookup
from ..dsp import DSP, Outgoing
from ..errors import DuisError
from ..messages import MMCDocument, Request, Response, build, parse_message, request, to_node
from ..mmc.output import has_mmc_output, mmc_for_gbcs
from ..namespaces import SR
from ..signatures import CredentialStore, sign_with_store
from ..signatures.gbcs import sign_command
from ..smi import CplEntry
from ..xmlparse import parse_bytes
from . import hub_steps
from .format import Scenario, Step, body_element, for_profile
from .rig import Rig, step_cause, step_duration
from .transcript import Transcript

DEFAULT_SENDER = "90-B3-D5-1F-30-01-00-00"


class StepFailed(DuisError):
    """A step could not be carried out (not an unmet expectation: those are reported)."""

    exit_code = 2


def run_scenario(scenario: Scenario, profile_name: str, *,
                 store: CredentialStore | None = None,
                 after: Callable[[DSP], None] | None = None) -> Transcript:
    """Execute every step under ``profile_name``; unmet expectations are recorded,
    not raised.  ``after`` is called with the DSP once the steps are done, to read
    its final state (the Suppression Log, comms hub firmware stages, ...)."""
    rig = Rig.for_scenario(scenario, profile_name, store)
    transcript = Transcript(scenario.name, profile_name, scenario.start)
    first_audit = rig.dsp.inventory.last_seq()
    for step in scenario.steps:
        transcript.begin(step, rig.clock.now())
        try:
            _STEPS[step.do](rig, step, transcript)
        except DuisError as exc:
            raise StepFailed(f"step {step.index} ({step.do}) failed: {exc.message}",
                             source=str(scenario.source), line=step.line,
                             path=f"step[{step.index}]", expected=exc.expected,
                             found=exc.found) from exc
    transcript.smi_changes = list(rig.dsp.inventory.audit(since_seq=first_audit))
    if after is not None:
        after(rig.dsp)
    return transcript


# --- steps -------------------------------------------------------------------------

def _send(rig: Rig, step: Step, transcript: Transcript) -> None:
    message = request_of(step, rig.next_counter, rig.base)
    service = lookup(message.service_reference_variant)
    if service.critical and step.get("command_variant") is None:
        pre = _submit(rig, message, transcript)
        if pre.response.code != "I0":
            return _check_send(step, transcript, pre, [pre])
        answer = parse_message(pre.response.xml, validate=False)
        # the I0 to a CV 4 request carries the PreCommand
        assert isinstance(answer, Response) and answer.payload is not None
        command = base64.b64decode(answer.payload.required_text("GBCSPayload"))
        key = rig.store.for_eui(message.originator, "ds")[0].private_key
        assert key is not None  # the test PKI holds each user's ds key
        signed = base64.b64encode(sign_command(command, key)).decode("ascii")
        body = to_node(parse_bytes(
            f'<SignedPreCommand xmlns="{SR}"><GBCSPayload>{signed}</GBCSPayload>'
            f'</SignedPreCommand>'.encode()).getroot())
        second = request(message.originator, message.target,
                         rig.next_counter(str(message.originator)),
                         message.service_reference_variant, body, command_variant=5)
        final = _submit(rig, second, transcript)
        return _check_send(step, transcript, final, [pre, final])
    submission = _submit(rig, message, transcript)
    _check_send(step, transcript, submission, [submission])


def request_of(step: Step, next_counter: Callable[[str], int], base: Path) -> Request:
    """The request a ``send`` step describes (unsigned), with its sender's next counter
    (``next_counter(sender)``); a request file is relative to ``base``."""
    sender = step.get("from", DEFAULT_SENDER)
    counter = next_counter(sender)
    variant = str(step.get("service"))
    if step.get("file"):
        found = parse_message(base / step.get("file"), validate=False)
        if isinstance(found, MMCDocument):
            raise StepFailed("a send step's file must be a DUIS message",
                             path=str(step.get("file")), expected="sr:Request",
                             found="an MMC document")
        body = found.body
    else:
        body = to_node(body_element(step.get("body") or f"<{_default_body(variant)}/>"))
    return request(sender, step.get("to"), counter, variant, body,
                   command_variant=step.get("command_variant"))


def _default_body(variant: str) -> str:
    defaults = {"11.2": "ReadFirmwareVersion"}
    if variant not in defaults:
        raise StepFailed(f"service {variant} needs a body", expected="body or file",
                         found="neither")
    return defaults[variant]


def _submit(rig: Rig, message: Request, transcript: Transcript):
    signed = sign_with_store(build(message), rig.store, preserve_counter=True,
                             now=rig.clock.now())
    transcript.record_in(signed, message)
    step = transcript.step
    assert step is not None  # a step is being run
    submission = rig.dsp.submit(signed, source=f"step {step.index}")
    for out in submission.outgoing:
        transcript.record_out(out, _mmc(out, rig))
    return submission


def _mmc(out: Outgoing, rig: Rig) -> bytes | None:
    """The MMC output of a device reply, or None (not a device reply, or one the MMC
    output format has no element for: the DUIS message is the whole record then)."""
    if out.gbcs is None or out.gbcs_bytes is None or not has_mmc_output(out.gbcs):
        return None
    return mmc_for_gbcs(out.gbcs_bytes, out.service_reference_variant, rig.clock.now())


def _check_send(step: Step, transcript: Transcript, final, submissions) -> None:
    expect = step.get("expect") or {}
    profile = transcript.profile
    if "code" in expect:
        transcript.check("response code", for_profile(expect["code"], profile),
                         final.response.code)
    if "device_response" in expect:
        transcript.check("device response", for_profile(expect["device_response"], profile),
                         final.delivery)
    if "alerts" in expect:
        sent = [o.code for s in submissions for o in s.outgoing
                if o.kind in ("dcc-alert", "device-alert")]
        transcript.check("alerts", list(for_profile(expect["alerts"], profile)), sent)


def _advance(rig: Rig, step: Step, transcript: Transcript) -> None:
    logged = hub_steps.log_position(rig)
    outgoing = rig.dsp.seal(rig.operations.move_clock(
        advance_seconds=step_duration(step).total_seconds()))
    for out in outgoing:
        transcript.record_out(out, _mmc(out, rig))
    expect = step.get("expect") or {}
    if "alerts" in expect:
        transcript.check("alerts", list(for_profile(expect["alerts"], transcript.profile)),
                         [o.code for o in outgoing])
    hub_steps.record_suppressed(rig, transcript, logged, step)


def _remove_cpl(rig: Rig, step: Step, transcript: Transcript) -> None:
    suspended = rig.operations.remove_cpl(step.get("manufacturer"), step.get("model"),
                                          step.get("firmware_version"), step.get("smets"),
                                          cause=step_cause(step))
    transcript.note(f"CPL entry removed; suspended: {', '.join(suspended) or 'none'}")


def _add_cpl(rig: Rig, step: Step, transcript: Transcript) -> None:
    entry = CplEntry(step.get("manufacturer"), step.get("model"), step.get("firmware_version"),
                     step.get("firmware_hash"), step.get("smets"), step.get("status", "Current"))
    rig.operations.add_cpl(entry, cause=step_cause(step))
    transcript.note(f"CPL entry added: {entry.model} {entry.firmware_version} ({entry.status})")


def _fault(rig: Rig, step: Step, transcript: Transcript) -> None:
    kind, device = step.get("kind"), step.get("device")
    rig.operations.fault(kind, device, step.get("share"))
    transcript.note(f"fault: {kind}" + (f" on {device}" if device else ""))


def _expect(rig: Rig, step: Step, transcript: Transcript) -> None:
    profile = transcript.profile
    device = rig.dsp.inventory.device(step.get("device")) if step.get("device") else None
    for key in ("status", "firmware_version", "status_before_suspension", "smets", "hub"):
        if key in step.fields:
            found = getattr(device, key) if device else "no such device"
            transcript.check(f"{step.get('device')} {key}",
                             for_profile(step.get(key), profile), found)
    if "gpf_copy" in step.fields:
        network = rig.dsp.network
        assert network is not None  # a rig's DSP has its devices
        copy = network.device(step.get("device")).copy
        transcript.check(f"{step.get('device')} GSME copy",
                         for_profile(step.get("gpf_copy"), profile),
                         copy.version if copy else None)


def _join(rig: Rig, step: Step, transcript: Transcript) -> None:
    device = rig.operations.join(step.get("device"), step.get("hub"), cause=step_cause(step))
    transcript.note(f"{device.eui} joined the system of hub {step.get('hub')} "
                    f"(SMI generation {device.smets})")


_STEPS = {"send": _send, "advance": _advance, "remove-cpl": _remove_cpl,
          "add-cpl": _add_cpl, "fault": _fault, "expect": _expect, "join": _join,
          **hub_steps.HUB_STEPS}
