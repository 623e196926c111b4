"""Every shipped scenario (``samples/scenarios/*.toml``) under every profile it
declares: its expectations pass, two runs give the same bytes, every
transcript message is schema-valid (bundled schema; official one when
``../shared/reference`` is present) and every signed message verifies.

Parametrized by scenario and profile, so a failure names both.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from duis.scenario import ScenarioError, Transcript, read_scenario, run_scenario
from duis.schema import validate
from duis.signatures import CredentialStore, verify
from duis.signatures.errors import SignatureError

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
SCENARIO_DIR = SAMPLES / "scenarios"
SCENARIOS = sorted(SCENARIO_DIR.glob("*.toml"))
MMC_SUFFIX = ".mmc.xml"


def _cases() -> list:
    """(scenario file, profile) pairs; an unreadable scenario is still a case, and fails."""
    cases = []
    for path in SCENARIOS:
        try:
            profiles = read_scenario(path).profiles
        except ScenarioError:
            cases.append(pytest.param(path, None, id=f"{path.stem}[unreadable]"))
            continue
        cases += [pytest.param(path, name, id=f"{path.stem}[{name}]") for name in profiles]
    return cases


CASES = _cases()


@cache
def _run(path: Path, profile: str | None, store: CredentialStore,
         attempt: int = 1) -> Transcript:
    """One run of ``path`` under ``profile`` (cached: the checks below share it)."""
    if profile is None:
        read_scenario(path)  # raises the ScenarioError, naming file, line and field
    return run_scenario(read_scenario(path), profile, store=store)


def _messages(transcript: Transcript) -> list[tuple[str, bytes]]:
    return [(name, data) for name, data in transcript.files if name.endswith(".xml")]


def test_scenarios_are_shipped():
    assert SCENARIOS, f"no scenario files in {SCENARIO_DIR}"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_name_is_its_file_name(path: Path):
    """Transcripts and goldens are filed under the scenario's name: keep it the file's."""
    assert read_scenario(path).name == path.stem


@pytest.mark.parametrize("path", [p for p in SCENARIOS if p.stem.startswith("mp105-")],
                         ids=lambda p: p.stem)
def test_mp105_scenarios_run_under_every_profile(path: Path):
    assert set(read_scenario(path).profiles) == {"baseline", "mp105-option1", "mp105-option2"}


@pytest.mark.parametrize("path, profile", CASES)
def test_expectations_pass(path: Path, profile: str, store):
    transcript = _run(path, profile, store)
    assert transcript.checks, "the scenario checks nothing"
    failures = "\n".join(f"step {c.step}: {c.what}: expected {c.expected!r}, found {c.found!r}"
                         for c in transcript.failures)
    assert transcript.passed, f"{path.name} [{profile}]:\n{failures}\n\n{transcript.summary()}"


@pytest.mark.parametrize("path, profile", CASES)
def test_two_runs_give_the_same_bytes(path: Path, profile: str, store):
    first, second = _run(path, profile, store), _run(path, profile, store, attempt=2)
    assert first.outputs(), f"{path.name} [{profile}]: the run wrote nothing"
    assert [name for name, _ in first.outputs()] == [name for name, _ in second.outputs()]
    for (name, a), (_, b) in zip(first.outputs(), second.outputs(), strict=True):
        assert a == b, f"{path.name} [{profile}]: {name} differs between two runs"


@pytest.mark.parametrize("path, profile", CASES)
def test_transcript_is_valid_against_the_bundled_schema(path: Path, profile: str,
                                                        bundled_schema, store):
    messages = _messages(_run(path, profile, store))
    assert messages
    for name, data in messages:
        report = validate(data, bundled_schema)
        assert report.valid, f"{path.name} [{profile}] {name}:\n{report.render()}"


@pytest.mark.reference
@pytest.mark.parametrize("path, profile", CASES)
def test_transcript_is_valid_against_the_official_schema(path: Path, profile: str,
                                                         official_schema, store):
    messages = _messages(_run(path, profile, store))
    assert messages
    for name, data in messages:
        report = validate(data, official_schema)
        assert report.valid, f"{path.name} [{profile}] {name}:\n{report.render()}"


@pytest.mark.parametrize("path, profile", CASES)
def test_every_signed_message_verifies(path: Path, profile: str, store):
    """Requests carry the user's signature, everything out the DSP's; MMC
    companions are unsigned readable documents."""
    start = read_scenario(path).start
    messages = _messages(_run(path, profile, store))
    assert any(not name.endswith(MMC_SUFFIX) for name, _ in messages), "nothing signed"
    for name, data in messages:
        if name.endswith(MMC_SUFFIX):
            assert b"xmldsig" not in data, f"{name}: an MMC document is not signed"
            continue
        verify(data, store, now=start, source=name)


def test_a_tampered_transcript_message_does_not_verify(store):
    """The check above is not vacuous: one changed byte in a signed response fails."""
    path = SCENARIO_DIR / "mp105-esme-recovery-by-read.toml"
    transcript = _run(path, "mp105-option1", store)
    name, data = next((n, d) for n, d in _messages(transcript)
                      if "-out-dcc-alert-N29-" in n)
    tampered = data.replace(b"90-A0</sr:DeviceID>", b"90-A2</sr:DeviceID>", 1)
    assert tampered != data
    with pytest.raises(SignatureError):
        verify(tampered, store, now=read_scenario(path).start, source=name)
