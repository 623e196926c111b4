"""The MP105 recovery story driven over HTTP against ``duis serve``.

The shipped scenario ``mp105-esme-recovery-by-read`` is played step by step
through the web services (``duis send`` logic: sign, pick the service,
complete the critical round) and the admin endpoints (CPL, faults), with
the server on a driven clock at the scenario's start and seed, and its
deliveries going to a ``duis receive`` endpoint.  What comes back must be
what the in-process run produced: the same requests, the same synchronous
replies, the same device responses and DCC alerts (each to its recipient,
in order) and the same SMI changes, byte for byte against the goldens.
The other shipped MP105 scenarios (``mp105-*.toml``: retries, the GSME and its
GPF, N50, N51, future-dated activations moved on by ``POST /admin/clock``) are
checked the same way under ``baseline`` and ``mp105-option2``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from duis.catalogue import lookup
from duis.messages import build
from duis.scenario import read_scenario
from duis.scenario.format import for_profile
from duis.scenario.rig import FIRST_COUNTER, step_cause, step_duration
from duis.scenario.runner import request_of
from duis.scenario.transcript import Transcript
from duis.serve import Client, Endpoints, ReceiverThread, ServeConfig, ServerThread
from duis.smi import AuditRecord

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "samples/scenarios/mp105-esme-recovery-by-read.toml"


def wait_drained(client: Client, timeout: float = 10.0) -> None:
    """Until the server's outbox has nothing pending."""
    deadline = time.monotonic() + timeout
    while client.outbox(pending=True)["counts"]["pending"]:
        assert time.monotonic() < deadline, client.outbox(pending=True)
        time.sleep(0.02)


class RemoteRun:
    """Plays a scenario's steps over HTTP; records messages as a transcript names them."""

    def __init__(self, scenario, profile: str, client: Client, receiver: ReceiverThread) -> None:
        self.scenario, self.profile = scenario, profile
        self.client, self.receiver = client, receiver
        self.counters: dict[str, int] = {}
        self.files: list[tuple[str, bytes]] = []
        self.checks: list[tuple[int, str, object, object]] = []
        self._seen = 0

    def _add(self, name: str, data: bytes) -> None:
        self.files.append((f"{len(self.files) + 1:03d}-{name}.xml", data))

    def next_counter(self, sender: str) -> int:
        self.counters[sender] = self.counters.get(sender, FIRST_COUNTER - 1) + 1
        return self.counters[sender]

    def play(self) -> None:
        for step in self.scenario.steps:
            getattr(self, "_" + step.do.replace("-", "_"))(step)
            wait_drained(self.client)
            self._collect_deliveries()

    def _collect_deliveries(self) -> None:
        new = self.receiver.inbox.messages[self._seen:]
        self._seen += len(new)
        for item in sorted(new, key=lambda m: int(m.delivery)):
            data = (self.receiver.inbox.folder / item.file).read_bytes()
            self._add(f"out-{item.kind}-{item.code}-to-{item.recipient.replace('-', '')}", data)

    def _send(self, step) -> None:
        message = request_of(step, self.next_counter, self.scenario.source.parent)
        complete = (lookup(message.service_reference_variant).critical
                    and step.get("command_variant") is None)
        exchanges = self.client.send(build(message), preserve_counter=True, complete=complete)
        if len(exchanges) == 2:
            self.next_counter(str(message.originator))
        for exchange in exchanges:
            sent = exchange.message
            self._add(f"in-request-{sent.service_reference_variant}-cv{sent.command_variant}",
                      exchange.request)
            assert exchange.reply.status == 200, exchange.reply.text
            assert exchange.verified is not None
            reply = exchange.reply
            self._add(f"out-response-{reply.code}-to-{sent.originator.compact}", reply.body)
        expect = step.get("expect") or {}
        if "code" in expect:
            self.checks.append((step.index, "code", for_profile(expect["code"], self.profile),
                                exchanges[-1].reply.code))

    def _remove_cpl(self, step) -> None:
        self.client.remove_cpl(step.get("manufacturer"), step.get("model"),
                               step.get("firmware_version"), step.get("smets"),
                               cause=step_cause(step))

    def _add_cpl(self, step) -> None:
        self.client.add_cpl(step.get("manufacturer"), step.get("model"),
                            step.get("firmware_version"), step.get("smets"),
                            firmware_hash=step.get("firmware_hash"),
                            status=step.get("status", "Current"),
                            cause=step_cause(step))

    def _fault(self, step) -> None:
        self.client.fault(step.get("kind"), step.get("device"), step.get("share"))

    def _advance(self, step) -> None:
        self.client.advance(step_duration(step).total_seconds())

    def _expect(self, step) -> None:
        device = self.client.device(step.get("device"))
        for key in ("status", "firmware_version", "status_before_suspension"):
            if key in step.fields:
                self.checks.append((step.index, key, for_profile(step.get(key), self.profile),
                                    device[key]))


def golden_files(golden: Path, profile: str) -> list[tuple[str, bytes]]:
    folder = golden / profile
    return [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.xml"))
            if not p.name.endswith(".mmc.xml")]


@pytest.mark.parametrize("profile", ["baseline", "mp105-option1", "mp105-option2"])
def test_mp105_story_over_http_matches_the_in_process_goldens(tmp_path, profile):
    check_over_http(tmp_path, SCENARIO, profile)


OTHERS = sorted(p for p in SCENARIO.parent.glob("mp105-*.toml") if p != SCENARIO)


@pytest.mark.parametrize("path", OTHERS, ids=[p.stem for p in OTHERS])
def test_every_shipped_scenario_over_http_matches_its_goldens(tmp_path, path):
    """The other MP105 stories (retries, GSME and GPF, N50, N51, future-dated
    activations on the driven clock), under the profile where they differ most."""
    check_over_http(tmp_path, path, "mp105-option2")
    check_over_http(tmp_path / "baseline", path, "baseline")


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_mp105_story_with_worker_processes_matches_the_goldens(tmp_path):
    """Requests parsed, validated and verified, and what the DSP sends signed,
    in two worker processes (``--workers 3``): byte for byte the same run."""
    check_over_http(tmp_path, SCENARIO, "mp105-option2", workers=3)


def check_over_http(tmp_path: Path, path: Path, profile: str, workers: int = 1) -> None:
    scenario = read_scenario(path)
    golden = path.parent / "golden" / scenario.name
    with ReceiverThread(tmp_path / "received") as receiver:
        config = ServeConfig(port=0, world=scenario.world, smi=tmp_path / "smi.sqlite",
                             profile=profile, clock="driven", now=scenario.start,
                             seed=scenario.seed, endpoints=Endpoints.parse([receiver.url]),
                             workers=workers)
        with ServerThread(config) as server, Client(server.url, now=scenario.start) as client:
            assert len(server.server.engine.pool.pids if workers > 1 else []) == workers - 1
            server.server.engine.sign_batch_min = 1        # with workers, they sign everything
            run = RemoteRun(scenario, profile, client, receiver)
            run.play()
            audit = [AuditRecord(**row) for row in client.audit()]
        assert receiver.inbox.duplicates == 0

    assert run.checks, f"{scenario.name}: the run over HTTP checked nothing"
    failed = [c for c in run.checks if c[2] != c[3]]
    assert not failed, f"expectations not met over HTTP: {failed}"
    expected = golden_files(golden, profile)
    assert expected, f"no golden files in {golden / profile}"
    assert [name for name, _ in run.files] == [name for name, _ in expected]
    for (name, got), (_, want) in zip(run.files, expected, strict=True):
        assert got == want, f"{name} differs from the golden"
    transcript = Transcript(scenario.name, profile, scenario.start, smi_changes=audit)
    assert transcript.smi_text() == (golden / profile / "smi-changes.txt").read_text("utf-8")
