"""MP102B: AD1 power outage alerts after a firmware activation, the Suppression Log,
rebooting meters and the ``duis suppression-log`` command (docs/mp102b.md).

The default world: Supplier A's SMETS2 ESME ...90-A0 (Acme Meters) behind hub
...90-A1, Supplier B's SMETS1 ESME ...91-B0 behind hub ...91-B1, one network
operator.  Most tests cut a hub's power by hand so that its alert is raised at
an exact instant; the end-to-end test lets a rebooting meter do it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from duis.cli import main
from duis.clock import FixedClock
from duis.devices.power import OUTAGE_ALERT_AFTER
from duis.messages import build, leaf, node, parse_message, request
from duis.scenario import read_scenario
from duis.scenario.format import ScenarioError
from duis.schema import check_tree, load_schema
from duis.settings import (
    DEFAULT_SETTINGS,
    Settings,
    SettingsError,
    load_settings,
    settings_from_text,
)
from duis.signatures import CredentialStore, sign_with_store, verify
from duis.signatures.gbcs import sign_command
from duis.smi import SqliteInventory, load_world
from duis.xmlparse import parse_bytes
from tests.rigs import DspRig

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
WORLD = SAMPLES / "worlds/default.toml"
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
SUPPLIER_A, SUPPLIER_B = "90-B3-D5-1F-30-01-00-00", "90-B3-D5-1F-30-02-00-00"
OPERATOR = "90-B3-D5-1F-30-03-00-00"
ESME, HUB, MPAN = "00-DB-12-34-56-78-90-A0", "00-DB-12-34-56-78-90-A1", "1900000000011"
S1_ESME, S1_HUB = "00-DB-12-34-56-78-91-B0", "00-DB-12-34-56-78-91-B1"
IMAGE_1_1_0 = b"Acme Meters/AM-E2/1.1.0"
HASH_1_1_0 = "34F55C16C3EE1E5E7DD18E6E48DAEBDB884F12B2FF9AEA60178BD8C553B316FE"
HASH_4_6 = "48E079D15F487346CCB6A3760B6C627D945329D70DB45894EF552A5DBFC6C46D"
MINUTE = dt.timedelta(minutes=1)

LISTED = Settings(ad1_suppression_manufacturers=frozenset({"Acme Meters", "Legacy Meters"}),
                  ad1_suppression_devices=frozenset({ESME, S1_ESME}),
                  rebooting_esme_manufacturers=frozenset())
"""Both meters subject to suppression; nothing reboots (the tests cut the power)."""


class Rig(DspRig):
    """The DSP rig (:class:`tests.rigs.DspRig`) on the default world at ``NOW``, and
    the steps of these tests; ``counter`` is the last RequestID counter used."""

    @classmethod
    def make(cls, store: CredentialStore, settings: Settings, *,
             inventory: SqliteInventory | None = None, clock: FixedClock | None = None,
             devices: bool = True) -> Rig:
        """On the default world, or on ``inventory`` (with its ``clock``)."""
        return cls.build(store, WORLD if inventory is None else inventory,
                         clock=clock or FixedClock(NOW), settings=settings, devices=devices)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.counter = 1000

    def send(self, target: str, variant: str, body, cv: int | None = None,
             sender: str = SUPPLIER_A):
        self.counter += 1
        message = request(sender, target, self.counter, variant, body, command_variant=cv)
        signed = sign_with_store(build(message), self.store, preserve_counter=True,
                                 now=self.clock.now())
        return self.dsp.submit(signed)

    def activate(self, target: str = ESME, digest: str = HASH_1_1_0,
                 at: dt.datetime | None = None, sender: str = SUPPLIER_A):
        """11.3 the way an adaptor sends it: CV 4, sign the PreCommand, CV 5."""
        items = [leaf("FirmwareHash", digest)]
        if at is not None:
            items.insert(0, leaf("ExecutionDateTime", at.strftime("%Y-%m-%dT%H:%M:%SZ")))
        pre = self.send(target, "11.3", node("ActivateFirmware", *items), cv=4, sender=sender)
        assert pre.response.code == "I0"
        command = base64.b64decode(parse_message(pre.response.xml, validate=False)
                                   .payload.text_at("GBCSPayload"))
        key = self.store.for_eui(sender, "ds")[0].private_key
        signed = base64.b64encode(sign_command(command, key)).decode()
        return self.send(target, "11.3", node("SignedPreCommand", leaf("GBCSPayload", signed)),
                         cv=5, sender=sender)

    def distribute(self):
        body = node("UpdateFirmware", leaf("FirmwareImage", base64.b64encode(IMAGE_1_1_0).decode()),
                    leaf("FirmwareVersion", "1.1.0"), leaf("DeviceIDList", ESME))
        return self.send(self.dsp.dsp_eui, "11.1", body)

    def alert_at(self, hub: str, raised: dt.datetime):
        """A genuine outage whose power outage alert is raised at ``raised``; the DSP's
        clock moves there and the DSP ticks.  Returns the DCC alerts it sent."""
        start = raised - OUTAGE_ALERT_AFTER
        self.clock.set(start)
        self.network.power.cut(hub, start, dt.timedelta(minutes=5))
        self.clock.set(raised)
        return [o for o in self.dsp.tick() if o.kind == "dcc-alert"]

    def log(self, **query):
        return self.dsp.suppression.log(**query)


@pytest.fixture
def rig(store):
    return Rig.make(store, LISTED)


def codes(outgoing) -> list[str]:
    return [o.code for o in outgoing]


# --- acceptance: what is suppressed ------------------------------------------------------

def test_ad1_inside_the_window_from_a_qualifying_hub_is_suppressed_and_logged(rig):
    submission = rig.activate()
    assert submission.response.code == "I99"
    request_id = f"{SUPPLIER_A}:{ESME}:{rig.counter}"
    sent = rig.alert_at(HUB, NOW + 10 * MINUTE)
    assert sent == []
    [entry] = rig.log()
    assert (entry.hub, entry.esme, entry.mpxn, entry.network_operator) == \
        (HUB, ESME, MPAN, OPERATOR)
    assert (entry.outage_start, entry.raised) == (NOW + 7 * MINUTE, NOW + 10 * MINUTE)
    assert entry.activation_request == request_id
    assert (entry.window_opens, entry.window_closes) == (NOW, NOW + 30 * MINUTE)
    assert entry.logged == NOW + 10 * MINUTE


@pytest.mark.parametrize("offset, suppressed", [
    (dt.timedelta(minutes=30), True),
    (dt.timedelta(minutes=30, seconds=1), False),
], ids=["30:00 suppressed", "30:01 sent"])
def test_the_window_is_30_minutes_both_ends_included(rig, offset, suppressed):
    rig.activate()
    sent = rig.alert_at(HUB, NOW + offset)
    if suppressed:
        assert (codes(sent), len(rig.log())) == ([], 1)
    else:
        assert (codes(sent), rig.log()) == (["AD1"], [])
        assert sent[0].recipient == OPERATOR


def _not_listed(rig):
    rig.dsp.suppression.settings = Settings(
        ad1_suppression_manufacturers=frozenset({"Landis+Gyr"}),
        ad1_suppression_devices=LISTED.ad1_suppression_devices)
    rig.activate()


def _not_on_guid_list(rig):
    rig.dsp.suppression.settings = Settings(
        ad1_suppression_manufacturers=LISTED.ad1_suppression_manufacturers,
        ad1_suppression_devices=frozenset({"00-DB-00-00-00-00-00-99"}))
    rig.activate()


def _smets1(rig):
    rig.activate(S1_ESME, HASH_4_6, sender=SUPPLIER_B)


def _read_instead_of_activate(rig):
    assert rig.send(ESME, "11.2", node("ReadFirmwareVersion")).response.code == "I99"


@pytest.mark.parametrize("case, hub", [
    (_not_listed, HUB), (_not_on_guid_list, HUB), (_smets1, S1_HUB),
    (_read_instead_of_activate, HUB),
], ids=["manufacturer not listed", "device not on the GUID list", "SMETS1 ESME",
        "11.2 instead of 11.3"])
def test_never_suppressed(rig, case, hub):
    case(rig)
    assert rig.dsp.suppression.marks() == []
    sent = rig.alert_at(hub, NOW + 5 * MINUTE)
    assert codes(sent) == ["AD1"]
    assert sent[0].recipient == OPERATOR
    assert rig.log() == []


def test_a_future_dated_activation_opens_the_window_at_its_execution_time(rig):
    execution = NOW + dt.timedelta(hours=2)
    rig.activate(at=execution)
    [mark] = rig.dsp.suppression.marks()
    assert (mark.requested, mark.opens, mark.closes) == \
        (NOW, execution, execution + 30 * MINUTE)
    assert codes(rig.alert_at(HUB, NOW + 10 * MINUTE)) == ["AD1"]        # before: sent
    assert codes(rig.alert_at(HUB, execution - dt.timedelta(seconds=1))) == ["AD1"]
    assert rig.alert_at(HUB, execution) == []                            # opens: suppressed
    assert rig.alert_at(HUB, execution + 30 * MINUTE) == []
    assert codes(rig.alert_at(HUB, execution + dt.timedelta(minutes=30, seconds=1))) == ["AD1"]
    assert [e.raised for e in rig.log()] == [execution, execution + 30 * MINUTE]


def test_an_ad1_from_another_hub_goes_out_while_a_hub_is_marked(rig):
    rig.activate()
    assert codes(rig.alert_at(S1_HUB, NOW + 5 * MINUTE)) == ["AD1"]
    assert rig.alert_at(HUB, NOW + 12 * MINUTE) == []
    assert [e.hub for e in rig.log()] == [HUB]


def test_only_the_request_that_reaches_the_device_marks(rig):
    """A PreCommand request (CV 4) activates nothing; an 11.3 the DSP answers E20
    (the hub is without power) activated nothing either."""
    rig.send(ESME, "11.3", node("ActivateFirmware", leaf("FirmwareHash", HASH_1_1_0)), cv=4)
    assert rig.dsp.suppression.marks() == []
    rig.network.power_off(HUB)
    submission = rig.activate()
    assert [o.code for o in submission.outgoing] == ["I99", "E20"]
    assert rig.dsp.suppression.marks() == []


def test_a_mark_is_made_whatever_the_device_answers(rig):
    """Nothing was distributed: the meter answers noImageHeld, but the DSP cannot know
    before the answer that it will not reboot; the hub is marked all the same."""
    rig.activate()
    assert [m.esme for m in rig.dsp.suppression.marks()] == [ESME]


def test_without_emulated_devices_the_request_still_marks(store):
    rig = Rig.make(store, LISTED, devices=False)
    dsp = rig.dsp
    assert rig.network is None
    assert rig.activate().response.code == "I99"
    assert [m.hub for m in dsp.suppression.marks()] == [HUB]


# --- the whole story: a meter that reboots --------------------------------------------------

def test_a_rebooting_meter_raises_the_ad1_that_is_suppressed(store):
    settings = Settings(ad1_suppression_manufacturers=LISTED.ad1_suppression_manufacturers,
                        ad1_suppression_devices=LISTED.ad1_suppression_devices,
                        rebooting_esme_manufacturers=frozenset({"Acme Meters"}))
    rig = Rig.make(store, settings)
    assert rig.distribute().response.code == "I0"
    reply = [o for o in rig.activate().outgoing if o.kind == "device-response"][0]
    assert reply.gbcs.payload.status == "success"
    assert rig.network.device(HUB).powered is False          # the meter cut the hub's power
    rig.clock.set(NOW + MINUTE)
    assert codes(rig.send(ESME, "11.2", node("ReadFirmwareVersion")).outgoing) == ["I99", "E20"]
    rig.clock.set(NOW + 2 * MINUTE + dt.timedelta(seconds=59))
    assert rig.dsp.tick() == []
    rig.clock.set(NOW + 3 * MINUTE)
    assert rig.dsp.tick() == []                               # raised now, suppressed
    assert [(e.outage_start, e.raised) for e in rig.log()] == [(NOW, NOW + 3 * MINUTE)]
    rig.clock.set(NOW + 4 * MINUTE)
    rig.dsp.tick()
    assert rig.network.device(HUB).powered is True
    assert rig.inventory.device(ESME).firmware_version == "1.1.0"


def test_a_meter_of_another_make_does_not_reboot(store):
    rig = Rig.make(store, Settings(rebooting_esme_manufacturers=frozenset({"Landis+Gyr"})))
    rig.distribute()
    rig.activate()
    assert rig.network.device(HUB).powered is True
    assert rig.network.power.outages == []


def test_an_outage_of_exactly_three_minutes_raises_nothing(rig):
    power = rig.network.power
    power.cut(HUB, NOW, OUTAGE_ALERT_AFTER)
    assert power.due(NOW + 10 * MINUTE) == []
    power.cut(HUB, NOW + 20 * MINUTE, OUTAGE_ALERT_AFTER + dt.timedelta(seconds=1))
    [alert] = power.due(NOW + 30 * MINUTE)
    assert (alert.payload.start, alert.payload.raised) == (NOW + 20 * MINUTE, NOW + 23 * MINUTE)
    assert str(alert.originator) == HUB


# --- the AD1 message --------------------------------------------------------------------------

def test_the_ad1_is_valid_signed_and_names_hub_start_and_mpxn(rig, store):
    [ad1] = rig.alert_at(HUB, NOW + 5 * MINUTE)
    report = check_tree(parse_bytes(ad1.xml), load_schema())
    assert report.valid, report.render()
    verify(ad1.xml, store, now=NOW)
    alert = parse_message(ad1.xml).body
    assert alert.text_at("DCCAlertCode") == "AD1"
    event = alert.find("DCCAlert/PowerOutageEvent")
    assert (event.text_at("CommsHubDeviceID"), event.text_at("MPxN")) == (HUB, MPAN)
    assert event.text_at("StartDateTime") == "2026-03-02T09:02:00.000Z"


@pytest.mark.reference
def test_ad1_is_valid_against_the_official_schema(rig, official_schema):
    [ad1] = rig.alert_at(HUB, NOW + 5 * MINUTE)
    report = check_tree(parse_bytes(ad1.xml), official_schema)
    assert report.valid, report.render()


# --- the Suppression Log: filters, persistence -------------------------------------------------

def test_log_filters(rig):
    rig.activate()
    rig.alert_at(HUB, NOW + 5 * MINUTE)
    rig.alert_at(HUB, NOW + 15 * MINUTE)
    assert len(rig.log(hub=HUB)) == 2
    assert rig.log(hub=S1_HUB) == []
    assert len(rig.log(network_operator=OPERATOR)) == 2
    assert rig.log(network_operator=SUPPLIER_A) == []
    assert [e.seq for e in rig.log(since=NOW + 10 * MINUTE)] == [2]
    assert [e.seq for e in rig.log(until=NOW + 10 * MINUTE)] == [1]
    assert [e.seq for e in rig.log(after_seq=1)] == [2]


def test_the_log_is_kept_in_the_smi_database(store, tmp_path):
    path = tmp_path / "smi.sqlite"
    clock = FixedClock(NOW)
    inventory = SqliteInventory(path, clock=clock)
    load_world(WORLD, inventory)
    rig = Rig.make(store, LISTED, inventory=inventory, clock=clock)
    rig.activate()
    rig.alert_at(HUB, NOW + 5 * MINUTE)
    inventory.close()
    code = main(["suppression-log", "--smi", str(path), "--json"])
    assert code == 0


# --- settings ----------------------------------------------------------------------------------

def test_the_default_settings_suppress_nothing_and_match_the_sample_file():
    assert DEFAULT_SETTINGS.ad1_suppression_devices == frozenset()
    assert DEFAULT_SETTINGS.ad1_suppression_window == dt.timedelta(minutes=30)
    assert DEFAULT_SETTINGS.hub_firmware_notice == dt.timedelta(days=7)
    assert load_settings(SAMPLES / "settings/default.toml") == DEFAULT_SETTINGS


def test_settings_files_name_the_problem():
    with pytest.raises(SettingsError) as caught:
        settings_from_text('[ad1_suppression]\nwindow_minutes = 30\ndevices = ["nope"]\n', "s.toml")
    error = caught.value
    assert (error.line, error.path) == (3, "ad1_suppression.devices")
    assert error.expected == "a list of EUI-64s"
    with pytest.raises(SettingsError) as caught:
        settings_from_text("[emulation]\ncolour = 1\n", "s.toml")
    assert (caught.value.message, caught.value.line) == ("unknown field", 2)
    with pytest.raises(SettingsError, match="unknown table"):
        settings_from_text("[mp999]\n", "s.toml")
    with pytest.raises(SettingsError, match="not valid TOML"):
        settings_from_text("[ad1_suppression\n", "s.toml")
    assert settings_from_text("[ad1_suppression]\nwindow_minutes = 45\n") \
        .ad1_suppression_window == dt.timedelta(minutes=45)


def test_a_scenario_names_its_settings(tmp_path):
    scenario = read_scenario(SAMPLES / "scenarios/mp102b-ad1-suppression.toml")
    assert scenario.settings == SAMPLES / "scenarios/../settings/mp102b.toml"
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[scenario]\nname = "x"\nworld = "{WORLD}"\nsettings = "missing.toml"\n'
                   'start = "2026-03-02T09:00:00Z"\n\n[[step]]\ndo = "advance"\nminutes = 1\n'
                   'expect = { suppressed = -1 }\n')
    with pytest.raises(ScenarioError) as caught:
        read_scenario(bad)
    problems = [(e.message, e.path) for e in caught.value.errors]
    assert ("settings file not found", "scenario.settings") in problems
    assert ("bad expectation value", "step[1].expect.suppressed") in problems


# --- duis suppression-log ------------------------------------------------------------------------

SCENARIO = str(SAMPLES / "scenarios/mp102b-ad1-suppression.toml")


def test_cli_lists_the_log_of_a_scenario(capsys):
    assert main(["suppression-log", "--scenario", SCENARIO]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Suppression Log: 2 entries"
    assert f"hub {HUB} MPxN {MPAN} for {OPERATOR}" in out


def test_cli_filters_and_json(capsys):
    assert main(["suppression-log", "--scenario", SCENARIO, "--json", "--network-operator",
                 OPERATOR.replace("-", "").lower(), "--since", "2026-03-02T09:10:00Z"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [(e["raised"], e["outage_start"]) for e in entries] == \
        [("2026-03-02T09:30:00.000Z", "2026-03-02T09:27:00.000Z")]
    assert main(["suppression-log", "--scenario", SCENARIO, "--json", "--hub", S1_HUB]) == 0
    assert json.loads(capsys.readouterr().out) == {"entries": []}
    assert main(["suppression-log", "--scenario", SCENARIO, "--until",
                 "2026-03-02T09:03:00Z"]) == 0
    assert capsys.readouterr().out.startswith("Suppression Log: 1 entry\n")


def test_cli_refuses_bad_filters_and_needs_a_source(capsys):
    assert main(["suppression-log", "--scenario", SCENARIO, "--hub", "nope"]) == 2
    assert "not an EUI-64" in capsys.readouterr().err
    assert main(["suppression-log", "--scenario", SCENARIO, "--since", "yesterday"]) == 2
    with pytest.raises(SystemExit):
        main(["suppression-log"])


def test_cli_on_a_new_smi_file_lists_nothing(tmp_path, capsys):
    assert main(["suppression-log", "--smi", str(tmp_path / "new.sqlite")]) == 0
    assert capsys.readouterr().out == "Suppression Log: 0 entries\n"


def test_an_outage_cut_now_leaves_earlier_pending_events_alone(rig):
    power = rig.network.power
    power.cut(HUB, NOW, 5 * MINUTE)                       # its events wait for due()
    rig.clock.set(NOW + 10 * MINUTE)
    power.cut(S1_HUB, NOW + 10 * MINUTE, 5 * MINUTE)      # takes effect at once
    assert rig.network.device(S1_HUB).powered is False
    assert rig.network.device(HUB).powered is False       # its power-on is not processed yet
    alerts = power.due(NOW + 20 * MINUTE)
    assert [(str(a.originator), a.payload.raised) for a in alerts] == \
        [(HUB, NOW + 3 * MINUTE), (S1_HUB, NOW + 13 * MINUTE)]
    assert rig.network.device(HUB).powered and rig.network.device(S1_HUB).powered


@pytest.mark.parametrize("value", ["inf", "nan", "-1", "1e300", "true", '"30"'])
def test_a_settings_span_is_a_number_python_can_hold(value):
    # inf, nan and 1e300 once raised OverflowError or ValueError with a traceback
    with pytest.raises(SettingsError) as caught:
        settings_from_text(f"[ad1_suppression]\nwindow_minutes = {value}\n", "s.toml")
    error = caught.value
    assert (error.message, error.line, error.path, error.expected) == (
        "bad value", 2, "ad1_suppression.window_minutes", "a number of minutes >= 0")
