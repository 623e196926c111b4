"""SECMP0024: comms hub firmware releases, their notice, schedule, status and alerts,
and the ``duis hub-firmware`` command (docs/secmp0024.md).

The world ``samples/worlds/comms-hubs.toml``: Supplier A's hub ...90-A1 (with a
GPF and an ESME), Supplier B's hub ...92-C1, a network operator and an RSA; both
hubs run NW-CH2 2.1.0, and 2.2.0 is Current on the CPL.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from duis.cli import main
from duis.clock import FixedClock
from duis.dsp.hub_firmware import (
    ACTIVE,
    FAILED,
    NOT_DEPLOYED,
    PENDING_ACTIVATION,
    HubFirmwareRefused,
    duration_text,
)
from duis.messages import parse_message
from duis.schema import check_tree, load_schema
from duis.settings import Settings
from duis.signatures import verify
from duis.smi import SqliteInventory, load_world
from duis.xmlparse import parse_bytes
from tests.rigs import DspRig

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
WORLD = SAMPLES / "worlds/comms-hubs.toml"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
DAY, SECOND = dt.timedelta(days=1), dt.timedelta(seconds=1)
SUPPLIER_A, SUPPLIER_B = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"
OPERATOR, AGENT = "90-B3-D5-1F-30-03-00-00", "90-B3-D5-1F-30-04-00-00"
HUB_A, GPF_A, HUB_B = "00-DB-12-34-56-78-90-A1", "00-DB-12-34-56-78-90-A3", \
    "00-DB-12-34-56-78-92-C1"
MODEL = ("Northwind Comms", "NW-CH2", "2.2.0")
DEPLOY, ACTIVATE = NOW + 4 * DAY, NOW + 8 * DAY


class Rig(DspRig):
    """The DSP rig (:class:`tests.rigs.DspRig`) on the comms hubs world at ``NOW``, and
    the steps of these tests."""

    @classmethod
    def make(cls, store, *, settings: Settings | None = None, devices: bool = True,
             inventory=None) -> Rig:
        """On the comms hubs world, or on ``inventory`` (moved to the rig's clock)."""
        clock = FixedClock(NOW)
        inventory = inventory or load_world(WORLD, clock=clock)
        inventory.clock = clock
        return cls.build(store, inventory, clock=clock, settings=settings, devices=devices)

    @property
    def hubs(self):
        return self.dsp.hub_firmware

    def publish(self, deploy=DEPLOY, activate=ACTIVATE, **kw):
        return self.hubs.publish(*MODEL, deploy_at=deploy, activate_at=activate, **kw)

    def at(self, when: dt.datetime):
        self.clock.set(when)
        return self.dsp.tick()

    def stage(self, hub: str) -> str | None:
        status = self.hubs.status(hub)
        return status.stage if status else None


@pytest.fixture
def rig(store):
    return Rig.make(store)


def summary(outgoing) -> list[tuple[str, str]]:
    return [(o.code, o.recipient) for o in outgoing]


def content(outgoing, kind: str):
    return parse_message(outgoing.xml).body.find(f"DCCAlert/{kind}")


# --- acceptance: notice ---------------------------------------------------------------------------

def test_the_notification_is_sent_at_least_seven_days_before_the_activation(rig):
    publication = rig.publish()
    release = publication.release
    assert release.notice >= dt.timedelta(days=7)
    assert summary(publication.outgoing) == [("N42", SUPPLIER_A), ("N42", SUPPLIER_B),
                                             ("N42", AGENT)]
    for notice in publication.outgoing:
        assert parse_message(notice.xml).header.when == NOW
    lists = [content(o, "FirmwareUpgradeRequested").text_at("DeviceList")
             for o in publication.outgoing]
    assert lists == [HUB_A, HUB_B, f"{HUB_A},{HUB_B}"]
    first = content(publication.outgoing[0], "FirmwareUpgradeRequested")
    assert (first.text_at("DeviceType"), first.text_at("FirmwareVersion")) == ("CHF", "2.2.0")


def test_exactly_seven_days_of_notice_is_enough(rig):
    assert rig.publish(deploy=NOW, activate=NOW + 7 * DAY).release.notice == 7 * DAY


@pytest.mark.parametrize("activate", [NOW + 7 * DAY - SECOND, NOW + DAY, NOW],
                         ids=["7 days less a second", "1 day", "now"])
def test_a_schedule_with_less_notice_is_refused(rig, activate):
    with pytest.raises(HubFirmwareRefused) as caught:
        rig.publish(deploy=NOW, activate=activate)
    assert caught.value.path == "activate_at"
    assert "at least 7 days" in caught.value.expected
    assert rig.hubs.releases() == []
    assert rig.stage(HUB_A) is None


def test_the_notice_is_a_setting(store):
    rig = Rig.make(store, settings=Settings(hub_firmware_notice=10 * DAY,
                                       hub_firmware_deployment_notice=2 * DAY))
    with pytest.raises(HubFirmwareRefused, match="at least 10 days"):
        rig.publish()                                   # 8 days of notice
    with pytest.raises(HubFirmwareRefused, match="deployment is too soon"):
        rig.publish(deploy=NOW + DAY, activate=NOW + 10 * DAY)
    assert rig.publish(deploy=NOW + 2 * DAY, activate=NOW + 10 * DAY).release.number == 1


# --- acceptance: the status query at every stage --------------------------------------------------

def test_the_status_query_reflects_every_stage(rig):
    assert rig.hubs.status(HUB_A, SUPPLIER_A) is None
    rig.publish()
    status = rig.hubs.status(HUB_A, SUPPLIER_A)
    assert (status.stage, status.firmware_version, status.running) == \
        (NOT_DEPLOYED, "2.2.0", "2.1.0")
    assert (status.deploy_at, status.activate_at) == (DEPLOY, ACTIVATE)
    assert rig.at(DEPLOY - SECOND) == []
    assert rig.stage(HUB_A) == NOT_DEPLOYED
    deployed = rig.at(DEPLOY)
    assert summary(deployed) == [("N43", SUPPLIER_A), ("N43", AGENT), ("N43", SUPPLIER_B),
                                 ("N43", AGENT)]
    assert content(deployed[0], "CSPFirmwareDeliveryStatus").text_at(
        "CommsHubTransferStatus") == "Success"
    assert rig.network.device(HUB_A).held_image.version == "2.2.0"
    assert rig.network.device(GPF_A).held_image.version == "2.2.0"
    assert (rig.stage(HUB_A), rig.stage(HUB_B)) == (PENDING_ACTIVATION, PENDING_ACTIVATION)
    assert rig.at(ACTIVATE - SECOND) == []
    activated = rig.at(ACTIVATE)
    assert [code for code, _ in summary(activated)] == ["N44"] * 4
    assert content(activated[0], "CommsHubFirmwareActivation").text_at("FirmwareVersion") \
        == "2.2.0"
    status = rig.hubs.status(HUB_A, AGENT)
    assert (status.stage, status.running) == (ACTIVE, "2.2.0")
    for eui in (HUB_A, GPF_A, HUB_B):
        assert rig.inventory.device(eui).firmware_version == "2.2.0"
        assert rig.network.device(eui).firmware_version == "2.2.0"
    assert rig.at(ACTIVATE + DAY) == []                 # nothing is done twice


def test_a_late_tick_deploys_then_activates(rig):
    rig.publish()
    assert [o.code for o in rig.at(ACTIVATE + DAY)] == ["N43"] * 4 + ["N44"] * 4
    assert rig.stage(HUB_B) == ACTIVE


# --- acceptance: failures -------------------------------------------------------------------------

def test_a_failed_activation_is_reported_as_such(rig):
    rig.publish()
    rig.at(DEPLOY)
    rig.faults.power_loss_on_next_activation(HUB_A)
    activated = rig.at(ACTIVATE)
    assert summary(activated) == [("N45", SUPPLIER_A), ("N45", AGENT), ("N44", SUPPLIER_B),
                                  ("N44", AGENT)]
    report = content(activated[0], "CommsHubFirmwareActivation")
    assert (report.text_at("DeviceID"), report.text_at("FirmwareVersion")) == (HUB_A, "2.1.0")
    status = rig.hubs.status(HUB_A)
    assert (status.stage, status.running) == (FAILED, "2.1.0")
    assert status.detail == "activation failed: activationFailure; running 2.1.0"
    assert rig.inventory.device(HUB_A).firmware_version == "2.1.0"
    assert rig.network.device(GPF_A).firmware_version == "2.1.0"   # the GPF follows its hub
    assert rig.stage(HUB_B) == ACTIVE


@pytest.mark.parametrize("fault, detail", [
    ("unreachable", "deployment failed: the hub was unreachable"),
    ("corrupt", "deployment failed: the image failed verification"),
    ("no-response", "deployment failed: no-response from the hub"),
])
def test_a_failed_deployment_is_reported_and_the_hub_left_out(rig, fault, detail):
    rig.publish()
    {"unreachable": lambda: rig.faults.unreachable(HUB_B),
     "corrupt": lambda: rig.faults.corrupt_next_image(HUB_B),
     "no-response": lambda: rig.faults.no_response(HUB_B)}[fault]()
    deployed = rig.at(DEPLOY)
    statuses = [content(o, "CSPFirmwareDeliveryStatus").text_at("CommsHubTransferStatus")
                for o in deployed]
    assert statuses == ["Success", "Success", "Failure", "Failure"]
    failure = content(deployed[2], "CSPFirmwareDeliveryStatus")
    assert failure.text_at("UpdateFirmwareRequestID") == f"{rig.dsp.dsp_eui}:{HUB_B}:1"
    assert (rig.stage(HUB_B), rig.hubs.status(HUB_B).detail) == (FAILED, detail)
    rig.faults.clear()
    assert summary(rig.at(ACTIVATE)) == [("N44", SUPPLIER_A), ("N44", AGENT)]
    assert rig.inventory.device(HUB_B).firmware_version == "2.1.0"


def test_without_emulated_devices_every_step_succeeds(store):
    rig = Rig.make(store, devices=False)
    rig.publish()
    rig.at(DEPLOY)
    assert rig.stage(HUB_A) == PENDING_ACTIVATION
    rig.at(ACTIVATE)
    assert rig.stage(HUB_A) == ACTIVE
    assert rig.inventory.device(HUB_A).firmware_version == "2.2.0"


def test_a_suspended_hub_is_restored_by_the_new_firmware(rig):
    """The activation is processed like any firmware version a device reports (MP105):
    2.2.0 is Current, so a hub suspended by the removal of 2.1.0 comes back (N29)."""
    rig.inventory.remove_cpl_entry("Northwind Comms", "NW-CH2", "2.1.0", reason="removed",
                                   cause="test")
    assert rig.inventory.device(HUB_A).status == "Suspended"
    rig.publish()
    rig.at(DEPLOY)
    codes = [o.code for o in rig.at(ACTIVATE)]
    assert codes.count("N29") == 6         # CHF A, GPF A, CHF B: supplier + operator each
    assert rig.inventory.device(HUB_A).status == "Commissioned"


# --- what the DCC refuses to publish --------------------------------------------------------------

@pytest.mark.parametrize("change, message", [
    (dict(version="9.9"), "not a Current SMETS2 CPL entry"),
    (dict(image=b"not the image"), "not the CPL entry's"),
    (dict(deploy=ACTIVATE + SECOND), "deployment comes after the activation"),
    (dict(hubs=["00-DB-12-34-56-78-90-A0"]), "not a comms hub of the release's model"),
])
def test_releases_the_dcc_cannot_publish(rig, change, message):
    version = change.pop("version", MODEL[2])
    deploy = change.pop("deploy", DEPLOY)
    with pytest.raises(HubFirmwareRefused, match=message):
        rig.hubs.publish(*MODEL[:2], version, deploy_at=deploy, activate_at=ACTIVATE, **change)
    assert rig.hubs.releases() == []


def test_a_removed_version_and_a_hub_already_in_a_release_are_refused(rig):
    rig.publish(hubs=[HUB_A])
    with pytest.raises(HubFirmwareRefused, match="already in progress"):
        rig.publish(hubs=[HUB_A, HUB_B])
    assert rig.publish().release.hubs == (HUB_B,)        # the default: hubs not busy
    rig.inventory.set_cpl_status(*MODEL, "SMETS2", status="Removed", reason="r", cause="c")
    with pytest.raises(HubFirmwareRefused, match="Current SMETS2"):
        rig.publish()


def test_only_users_who_hear_of_a_hub_may_query_it(rig):
    rig.publish()
    assert rig.hubs.status(HUB_B, SUPPLIER_B).stage == NOT_DEPLOYED
    assert rig.hubs.status(HUB_B, AGENT).stage == NOT_DEPLOYED
    for user in (SUPPLIER_A, OPERATOR):
        with pytest.raises(HubFirmwareRefused, match="may not query"):
            rig.hubs.status(HUB_B, user)


# --- every alert is schema-valid and signed -------------------------------------------------------

def _every_alert(store):
    rig = Rig.make(store)
    out = rig.publish().outgoing
    rig.faults.unreachable(HUB_B)
    out += rig.at(DEPLOY)
    rig.faults.clear()
    rig.faults.power_loss_on_next_activation(HUB_A)
    out += rig.at(ACTIVATE)
    rig = Rig.make(store)
    rig.publish()
    rig.at(DEPLOY)
    out += rig.at(ACTIVATE)
    assert sorted({o.code for o in out}) == ["N42", "N43", "N44", "N45"]
    return out


def test_every_alert_is_valid_against_the_bundled_schema_and_verifies(store):
    schema = load_schema()
    for out in _every_alert(store):
        report = check_tree(parse_bytes(out.xml), schema)
        assert report.valid, f"{out.code}: {report.render()}"
        verify(out.xml, store, now=NOW)


@pytest.mark.reference
def test_every_alert_is_valid_against_the_official_schema(store, official_schema):
    for out in _every_alert(store):
        report = check_tree(parse_bytes(out.xml), official_schema)
        assert report.valid, f"{out.code}: {report.render()}"


# --- persistence across DSPs ----------------------------------------------------------------------

def test_a_deployed_hub_is_remembered_by_the_next_dsp(store, tmp_path):
    path = tmp_path / "dcc.sqlite"
    clock = FixedClock(NOW)
    inventory = SqliteInventory(path, clock=clock)
    load_world(WORLD, inventory)
    first = Rig.make(store, inventory=inventory)
    first.publish()
    first.at(DEPLOY)
    inventory.close()
    second = Rig.make(store, inventory=SqliteInventory(path))
    assert second.network.device(HUB_A).held_image.version == "2.2.0"
    assert [o.code for o in second.at(ACTIVATE)] == ["N44"] * 4
    assert second.stage(HUB_A) == ACTIVE


def test_duration_text():
    assert duration_text(7 * DAY) == "7 days"
    assert duration_text(dt.timedelta(days=6, hours=17)) == "6 days 17 hours"
    assert duration_text(dt.timedelta(hours=1, seconds=1)) == "1 hour 1 second"
    assert duration_text(-dt.timedelta(minutes=90)) == "-1 hour 30 minutes"
    assert duration_text(dt.timedelta(0)) == "0 seconds"


# --- duis hub-firmware ----------------------------------------------------------------------------

def test_cli_publish_run_status_list(tmp_path, capsys):
    db = ["--smi", str(tmp_path / "dcc.sqlite")]
    assert main(["hub-firmware", "publish", *db, "--world", str(WORLD), "--now",
                 "2026-03-02T09:00:00Z", "--deploy", "2026-03-06T09:00:00Z", "--activate",
                 "2026-03-10T09:00:00Z", *MODEL]) == 0
    out = capsys.readouterr().out
    assert "release 1: Northwind Comms NW-CH2 2.2.0" in out and "(8 days of notice)" in out
    assert out.count("dcc-alert N42") == 3
    assert main(["hub-firmware", "status", *db, "--now", "2026-03-03T00:00:00Z", HUB_A]) == 0
    assert "not deployed" in capsys.readouterr().out
    assert main(["hub-firmware", "run", *db, "--now", "2026-03-06T09:00:00Z", "--json"]) == 0
    assert [m["code"] for m in json.loads(capsys.readouterr().out)["messages"]] == ["N43"] * 4
    assert main(["hub-firmware", "run", *db, "--now", "2026-03-10T09:00:00Z"]) == 0
    assert capsys.readouterr().out.startswith("4 messages sent\n")
    assert main(["hub-firmware", "status", *db, "--json", "--from", SUPPLIER_A, HUB_A]) == 0
    status = json.loads(capsys.readouterr().out)
    assert (status["stage"], status["running"]) == ("active", "2.2.0")
    assert main(["hub-firmware", "list", *db, "--json"]) == 0
    [release] = json.loads(capsys.readouterr().out)["releases"]
    assert release["hubs"] == {HUB_A: "active", HUB_B: "active"}
    assert main(["hub-firmware", "list", *db]) == 0
    assert f"  {HUB_B}: active (activated 2.2.0)" in capsys.readouterr().out


def test_cli_refuses_short_notice_with_exit_1(tmp_path, capsys):
    assert main(["hub-firmware", "publish", "--smi", str(tmp_path / "dcc.sqlite"), "--world",
                 str(WORLD), "--now", "2026-03-02T09:00:00Z", "--deploy",
                 "2026-03-03T09:00:00Z", "--activate", "2026-03-09T08:59:59Z", *MODEL]) == 1
    err = capsys.readouterr().err
    assert "the activation is too soon" in err and "6 days 23 hours 59 minutes 59 seconds" in err


def test_cli_status_at_the_end_of_a_scenario(capsys):
    scenario = str(SAMPLES / "scenarios/secmp0024-hub-firmware-failures.toml")
    assert main(["hub-firmware", "status", "--scenario", scenario, HUB_A]) == 0
    assert capsys.readouterr().out == (
        f"{HUB_A}: release 1 (2.2.0) failed; activation failed: activationFailure; "
        f"running 2.1.0\n")
    assert main(["hub-firmware", "status", "--scenario", scenario, "--from", SUPPLIER_A,
                 HUB_B]) == 1
    assert "may not query" in capsys.readouterr().err
    assert main(["hub-firmware", "list", "--scenario", scenario]) == 0
    assert f"  {HUB_B}: failed (deployment failed: the hub was unreachable)" in \
        capsys.readouterr().out


def test_scenario_steps_are_checked_when_read(tmp_path):
    from duis.scenario import read_scenario
    from duis.scenario.format import ScenarioError
    bad = tmp_path / "bad.toml"
    bad.write_text(
        f'[scenario]\nname = "x"\nworld = "{WORLD}"\nstart = "2026-03-02T09:00:00Z"\n\n'
        '[[step]]\ndo = "publish-hub-firmware"\nmanufacturer = "M"\nmodel = "X"\n'
        'firmware_version = "1"\ndeploy_at = "soon"\nactivate_at = 2026-03-10T02:00:00Z\n'
        'hubs = ["nope"]\nexpect = { outcome = "maybe" }\n\n'
        '[[step]]\ndo = "query-hub-firmware"\nhub = "00-DB"\nexpect = { stage = "done" }\n\n'
        '[[step]]\ndo = "power-outage"\nhub = "00-DB-12-34-56-78-90-A1"\n')
    with pytest.raises(ScenarioError) as caught:
        read_scenario(bad)
    problems = {(e.message, e.path) for e in caught.value.errors}
    assert problems == {
        ("bad instant", "step[1].deploy_at"), ("not an EUI-64", "step[1].hubs[0]"),
        ("bad expectation value", "step[1].expect.outcome"),
        ("not an EUI-64", "step[2].hub"), ("bad expectation value", "step[2].expect.stage"),
        ("bad outage duration", "step[3]"),
    }


# --- a step and its SMI change are one transaction -----------------------------------------
# (duis hub-firmware run ticked outside any transaction: a hub marked "active" while the
# SMI's write of its new version failed stayed so for ever, the SMI at the old version)

def test_an_activation_whose_smi_write_fails_is_not_recorded_and_runs_again(tmp_path):
    from duis.smi.faults import FailOnWrite, InjectedFault
    smi = str(tmp_path / "smi.sqlite")
    publish = ["hub-firmware", "publish", "--smi", smi, "--world", str(WORLD),
               "--now", "2026-03-02T09:00:00Z", "--deploy", "2026-03-06T02:00:00Z",
               "--activate", "2026-03-10T02:00:00Z", "Northwind Comms", "NW-CH2", "2.2.0"]
    assert main(publish) == 0
    assert main(["hub-firmware", "run", "--smi", smi, "--now", "2026-03-06T02:00:00Z"]) == 0
    rig_clock = FixedClock(dt.datetime(2026, 3, 10, 2, 0, tzinfo=dt.UTC))
    from duis.devices import Network
    from duis.dsp import DSP
    from duis.signatures import CredentialStore
    inventory = SqliteInventory(smi, clock=rig_clock)
    dsp = DSP(inventory, CredentialStore(SAMPLES / "pki"), clock=rig_clock,
              network=Network.from_inventory(inventory, clock=rig_clock))
    inventory.write_hook = FailOnWrite(label="device.update")
    with pytest.raises(InjectedFault):
        dsp.tick()
    inventory.close()
    after = SqliteInventory(smi)
    assert after.device(HUB_A).firmware_version == "2.1.0"
    stages = dict(after.connection().execute("SELECT hub, stage FROM secmp0024_hub"))
    after.close()
    assert stages[HUB_A] == "deployed-pending-activation", stages
    assert main(["hub-firmware", "run", "--smi", smi, "--now", "2026-03-11T02:00:00Z"]) == 0
    again = SqliteInventory(smi)
    assert again.device(HUB_A).firmware_version == "2.2.0"
    again.close()
