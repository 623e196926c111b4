"""Scenario steps for MP102B and SECMP0024 (the format: ``docs/scenarios.md``).

- ``power-outage``: a comms hub loses power now, for a while (a genuine outage);
- ``publish-hub-firmware``: the DCC publishes a comms hub firmware release;
- ``query-hub-firmware``: a user asks where a hub's upgrade stands;

and, on ``advance`` steps, the AD1s written to the Suppression Log instead of
being sent (a note each, and the ``suppressed`` expectation).
"""

from __future__ import annotations

from ..dsp.hub_firmware import HubFirmwareRefused, duration_text
from ..dsp.suppression import SuppressedAlert
from ..messages import format_datetime
from .format import Step, for_profile, step_instant
from .rig import Rig, step_cause, step_duration
from .transcript import Transcript


def _power_outage(rig: Rig, step: Step, transcript: Transcript) -> None:
    outage = rig.operations.power_outage(
        step.get("hub"), step_duration(step, ("seconds", "minutes", "hours")),
        cause=step_cause(step))
    transcript.note(f"power cut at comms hub {outage.hub} until {format_datetime(outage.end)}")


def _publish_hub_firmware(rig: Rig, step: Step, transcript: Transcript) -> None:
    hubs = step.get("hubs")
    deploy_at, activate_at = step_instant(step.get("deploy_at")), \
        step_instant(step.get("activate_at"))
    assert deploy_at is not None and activate_at is not None  # the format checked both
    try:
        publication = rig.dsp.hub_firmware.publish(
            step.get("manufacturer"), step.get("model"), step.get("firmware_version"),
            deploy_at=deploy_at, activate_at=activate_at, hubs=hubs)
    except HubFirmwareRefused as exc:
        transcript.note(f"release refused: {exc.message}; expected {exc.expected}, "
                        f"found {exc.found}")
        outcome, outgoing = "refused", []
    else:
        release = publication.release
        transcript.note(f"release {release.number} published: {release.manufacturer} "
                        f"{release.model} {release.firmware_version} for "
                        f"{', '.join(release.hubs)}; deployment "
                        f"{format_datetime(release.deploy_at)}, activation "
                        f"{format_datetime(release.activate_at)} "
                        f"({duration_text(release.notice)} of notice)")
        outcome, outgoing = "published", publication.outgoing
    for out in outgoing:
        transcript.record_out(out, None)
    expect = step.get("expect") or {}
    if "outcome" in expect:
        transcript.check("release", for_profile(expect["outcome"], transcript.profile), outcome)
    if "alerts" in expect:
        transcript.check("alerts", list(for_profile(expect["alerts"], transcript.profile)),
                         [o.code for o in outgoing])


def _query_hub_firmware(rig: Rig, step: Step, transcript: Transcript) -> None:
    status = rig.dsp.hub_firmware.status(step.get("hub"), step.get("from"))
    transcript.note(status.text() if status is not None
                    else f"{step.get('hub')}: no comms hub firmware release")
    expect = step.get("expect") or {}
    found = {"stage": status.stage if status else None,
             "firmware_version": status.firmware_version if status else None,
             "running": status.running if status else None}
    labels = {"stage": "hub firmware stage", "firmware_version": "release version",
              "running": "version running"}
    for key, label in labels.items():
        if key in expect:
            transcript.check(label,
                             for_profile(expect[key], transcript.profile), found[key])


def log_position(rig: Rig) -> int:
    """The newest Suppression Log entry's number, to find the entries a step adds."""
    return rig.dsp.suppression.last_seq()


def record_suppressed(rig: Rig, transcript: Transcript, since_seq: int,
                      step: Step) -> list[SuppressedAlert]:
    """Note each AD1 logged since ``since_seq``; check the step's ``suppressed`` expectation."""
    entries = rig.dsp.suppression.log(after_seq=since_seq)
    for entry in entries:
        transcript.note(
            f"AD1 suppressed: hub {entry.hub} (outage from {format_datetime(entry.outage_start)}, "
            f"raised {format_datetime(entry.raised)}) for {entry.network_operator}, MPxN "
            f"{entry.mpxn}; activation in progress by {entry.activation_request} "
            f"({format_datetime(entry.window_opens)} to {format_datetime(entry.window_closes)});"
            f" Suppression Log entry {entry.seq}")
    expect = step.get("expect") or {}
    if "suppressed" in expect:
        transcript.check("AD1s suppressed", for_profile(expect["suppressed"], transcript.profile),
                         len(entries))
    return entries


HUB_STEPS = {"power-outage": _power_outage, "publish-hub-firmware": _publish_hub_firmware,
             "query-hub-firmware": _query_hub_firmware}
