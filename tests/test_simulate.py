"""Fleet simulation: the MP105 acceptance figures, determinism, signing, the
command line (JSON, plot), and the world it builds."""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

from duis import profiles as profiles_module
from duis.commands import simulate as simulate_command
from duis.profiles import BehaviourProfile
from duis.signatures import CredentialStore
from duis.simulate import (
    Campaign,
    CampaignSettings,
    FleetSpec,
    SimulationError,
    fleet_devices,
    run_profile,
    simulate,
)
from duis.simulate import run as run_module
from duis.simulate.campaign import SHARED
from duis.simulate.fleet import NEW_VERSION, OLD_VERSION
from duis.simulate.report import Timeline
from duis.simulate.run import default_jobs

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def acceptance(store):
    """The issue's run: 10,000 devices, 20% of 11.3 responses lost, every profile.
    Unsigned to keep the suite fast; signing changes no outcome (tested below)."""
    report = simulate(FleetSpec(devices=10_000, seed=1), CampaignSettings(lost=0.2, signing=False),
                      store)
    return {r.profile: r for r in report.results}


# --- acceptance ---------------------------------------------------------------------

@pytest.mark.slow
def test_every_suspended_device_is_upgraded_under_every_profile(acceptance):
    for result in acceptance.values():
        assert result.suspended_by_removal > 4_000
        assert result.upgraded == result.suspended_by_removal


@pytest.mark.slow
def test_baseline_leaves_about_a_fifth_of_upgraded_devices_wrongly_suspended(acceptance):
    baseline = acceptance["baseline"]
    assert 0.15 <= baseline.wrongly_suspended_share <= 0.25
    assert baseline.wrongly_suspended == baseline.still_suspended
    # its recovery could not help: every 11.2 to a Suspended device was refused
    assert baseline.codes["E5"] == baseline.wrongly_suspended


@pytest.mark.slow
def test_option2_leaves_no_device_wrongly_suspended(acceptance):
    assert acceptance["mp105-option2"].wrongly_suspended == 0
    assert acceptance["mp105-option2"].still_suspended == 0


@pytest.mark.slow
def test_option1_also_recovers_every_device_but_only_by_11_2(acceptance):
    """Documented result: Option 1 ends with none wrongly Suspended too, but the 11.3
    retries restore nothing; the 11.2 reads restore all the devices the loss left."""
    option1, baseline = acceptance["mp105-option1"], acceptance["baseline"]
    assert option1.wrongly_suspended == 0
    read = next(p for p in option1.phases if p.name == "read")
    assert read.devices == baseline.wrongly_suspended
    assert "E5" not in option1.codes


@pytest.mark.slow
def test_option2_retries_restore_smets2_devices_and_11_2_the_rest(acceptance):
    option2, option1 = acceptance["mp105-option2"], acceptance["mp105-option1"]
    read2 = next(p for p in option2.phases if p.name == "read")
    read1 = next(p for p in option1.phases if p.name == "read")
    assert 0 < read2.devices < read1.devices / 3
    assert option2.requests < option1.requests


@pytest.mark.slow
def test_the_same_responses_are_lost_under_every_profile(acceptance):
    lost = {r.lost_responses for r in acceptance.values()}
    assert len(lost) == 1
    first = {r.profile: next(p for p in r.phases if p.name == "retry 1").devices
             for r in acceptance.values()}
    assert len(set(first.values())) == 1


@pytest.mark.slow
def test_phases_account_for_every_request_and_the_timeline_ends_at_the_smi(acceptance):
    for result in acceptance.values():
        assert sum(p.requests for p in result.phases) == result.requests
        points = result.timeline.points()
        assert points[0] == (0.0, result.suspended_by_removal)
        assert points[-1][1] == result.still_suspended
        assert all(a[0] <= b[0] for a, b in pairwise(points))
        assert result.phases[-1].end == pytest.approx(result.simulated_seconds)


# --- determinism and signing ---------------------------------------------------------

@pytest.mark.slow
def test_same_seed_same_report_sequential_or_in_workers(store):
    spec, settings = FleetSpec(devices=800, seed=7), CampaignSettings(signing=False)
    one = simulate(spec, settings, store, jobs=1).without_machine_figures()
    two = simulate(spec, settings, store, jobs=2).without_machine_figures()
    assert one == two
    other = simulate(FleetSpec(devices=800, seed=8), settings, store).without_machine_figures()
    assert other != one


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_default_run_shares_the_roll_out_and_reports_the_same_as_one_process(store,
                                                                             monkeypatch):
    spec, settings = FleetSpec(devices=600, seed=4), CampaignSettings(signing=False)
    monkeypatch.setattr(run_module, "_cpus", lambda: 2)
    monkeypatch.setattr(run_module, "_available_kb", lambda: None)
    parallel = simulate(spec, settings, store)  # the default: every profile at once
    serial = simulate(spec, settings, store, jobs=1)
    assert parallel.without_machine_figures() == serial.without_machine_figures()
    # the roll-out ran once; then baseline and option 1 shared their retries
    rolled_out, retries = parallel.shared
    assert not serial.shared
    assert rolled_out.profiles == [r.profile for r in parallel.results]
    assert rolled_out.phases == ["remove", "distribute", "activate"]
    assert [p.name for p in serial.results[0].phases[:3]] == rolled_out.phases
    assert retries.profiles == ["baseline", "mp105-option1"]
    assert retries.phases == [p.name for p in serial.results[0].phases
                              if p.name.startswith("retry")]
    assert all(r.cpu_seconds >= rolled_out.cpu_seconds for r in parallel.results)
    # where they went separate ways, and why
    assert [(s["profiles"], s["step"], s["groups"]) for s in parallel.splits] == [
        (["baseline", "mp105-option1", "mp105-option2"], "retry 1",
         [["baseline", "mp105-option1"], ["mp105-option2"]]),
        (["baseline", "mp105-option1"], "read", [["baseline"], ["mp105-option1"]])]
    assert parallel.splits[0]["question"] == "processes_activation(False)"
    assert parallel.splits[1]["question"] == "allows_while_suspended('11.2', 1, 'SMETS2')"
    # what was processed: each shared step once, so fewer than the results add up to
    every = sum(r.messages for r in serial.results)
    assert serial.messages == every
    assert every - 2 * rolled_out.messages - retries.messages <= parallel.messages < every
    assert list(parallel.processes) == ["main", "baseline worker", "mp105-option1 worker",
                                        "mp105-option2 worker"]
    assert list(serial.processes) == ["main"]
    assert all(kb > 0 for kb in parallel.processes.values())
    assert all(r.cpu_seconds > 0 and r.cpu_per_message_us > 0 for r in parallel.results)
    # memory: the processes' proportional sets, measured (shared pages once)
    assert parallel.peak_memory_kb == parallel.measured_peak_kb > 0
    assert parallel.peak_memory_kb < sum(parallel.processes.values())
    data = parallel.to_dict()
    assert data["peak_memory_kb"] == parallel.peak_memory_kb
    assert [segment["phases"] for segment in data["shared"]] == [rolled_out.phases,
                                                                retries.phases]
    assert "processes" not in parallel.without_machine_figures()
    assert "shared" not in parallel.without_machine_figures()
    text = parallel.render()
    assert "remove, distribute, activate: done once for the 3 profiles" in text
    assert "retry 1, retry 2, retry 3: done once for baseline and mp105-option1" in text
    assert "peak memory of the run's processes together (shared pages counted once)" in text
    assert "done once" not in serial.render() and "processes" not in serial.render()


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_two_jobs_for_three_profiles_fork_three_copies_two_at_a_time(store):
    report = simulate(FleetSpec(devices=300, seed=2), CampaignSettings(signing=False), store,
                      jobs=2)
    assert list(report.processes) == ["main", "baseline worker", "mp105-option1 worker",
                                      "mp105-option2 worker"]
    assert [r.profile for r in report.results] == ["baseline", "mp105-option1",
                                                   "mp105-option2"]


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_profiles_that_disagree_during_the_roll_out_each_run_in_full(store, monkeypatch):
    """A profile whose answer during the roll-out differs (a made-up one that
    processes only failed activations) stops the sharing: every profile runs in
    full, and the results are those of one after the other."""

    class Contrary(BehaviourProfile):
        def processes_activation(self, successful: bool) -> bool:
            return not successful

    table = dict(profiles_module.profiles())
    table["mp105-option1"] = Contrary(**{f.name: getattr(table["mp105-option1"], f.name)
                                         for f in dataclasses.fields(BehaviourProfile)})
    monkeypatch.setattr(profiles_module, "profiles", lambda: table)
    spec, settings = FleetSpec(devices=400, seed=5), CampaignSettings(signing=False)
    forked = simulate(spec, settings, store, jobs=3)
    assert not forked.shared
    assert len(forked.notes) == 1 and "answered differently during the roll-out" in \
        forked.notes[0] and "processes_activation(True)" in forked.notes[0]
    assert "note: the profiles answered differently" in forked.render()
    serial = simulate(spec, settings, store, jobs=1)
    assert forked.without_machine_figures() == serial.without_machine_figures()


def test_a_failure_in_a_forked_copy_reaches_the_caller_whole(store, monkeypatch):
    def broken(self, step):
        if step == "read":
            raise SimulationError("recovery broke", source="fleet simulation",
                                  path=self.profile.name, expected="a recovery",
                                  found="a test fault")
        return run_step(self, step)

    run_step = Campaign.run_step
    monkeypatch.setattr(Campaign, "run_step", broken)
    with pytest.raises(SimulationError) as caught:
        simulate(FleetSpec(devices=200, seed=2), CampaignSettings(signing=False), store, jobs=3)
    error = caught.value
    assert (error.message, error.found) == ("recovery broke", "a test fault")
    # the first failure to arrive: one profile's, or a group's that shares the step
    # ("baseline + mp105-option1"), whichever worker process fails first
    assert set(error.path.split(" + ")) <= {"baseline", "mp105-option1", "mp105-option2"}
    assert any(f"worker process of {error.path}" in note for note in error.__notes__)


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_forked_copy_that_dies_without_a_word_is_reported(store, monkeypatch):
    import os

    def dying(self, step):
        if step == "read" and self.profile.name == "mp105-option1":
            os._exit(3)
        return run_step(self, step)

    run_step = Campaign.run_step
    monkeypatch.setattr(Campaign, "run_step", dying)
    with pytest.raises(SimulationError) as caught:
        simulate(FleetSpec(devices=200, seed=2), CampaignSettings(signing=False), store, jobs=3)
    assert caught.value.message == "a worker process ended without reporting its end"
    assert "mp105-option1" in caught.value.path  # the runner of its group


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_forked_copy_that_dies_before_saying_a_word_is_reported(store, monkeypatch):
    """The process that forks a runner records it: one that dies before it could
    say it started is noticed, not waited for forever."""
    import multiprocessing
    import os
    runner = run_module._runner
    everyone = ["baseline", "mp105-option1", "mp105-option2"]

    def mute(campaign, group, *rest):
        # every process forked to be a runner but the first (which the main process
        # starts) dies at once; a backup that goes on as a runner does not
        forked_as_runner = multiprocessing.current_process().name == \
            "duis simulate " + " + ".join(group)
        if forked_as_runner and group != everyone:
            os._exit(3)
        return runner(campaign, group, *rest)

    monkeypatch.setattr(run_module, "_runner", mute)
    with pytest.raises(SimulationError) as caught:
        simulate(FleetSpec(devices=200, seed=2), CampaignSettings(signing=False), store,
                 everyone, jobs=3)
    assert caught.value.message == "a worker process ended without reporting its end"
    assert caught.value.path in everyone or " + " in caught.value.path


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_pool_worker_that_dies_is_reported_not_thrown(store, monkeypatch):
    """Worker processes that each run a whole profile (the path without shared
    steps): one that dies gives the same clear error as a forked copy."""
    import os
    run_profile = run_module.run_profile

    def dying(spec, settings, name, *rest):
        if name == "mp105-option1":
            os._exit(3)
        return run_profile(spec, settings, name, *rest)

    monkeypatch.setattr(run_module, "run_profile", dying)
    with pytest.raises(SimulationError) as caught:
        run_module._in_workers(FleetSpec(devices=100, seed=2), CampaignSettings(signing=False),
                               store.directory, ["baseline", "mp105-option1"], None, 2, None)
    assert caught.value.message == "a worker process ended without reporting its end"
    assert "mp105-option1" in caught.value.path


def test_the_simulated_world_keeps_no_temporary_file_a_fork_would_share():
    from duis.clock import FixedClock
    from duis.simulate.fleet import START, build_inventory
    inventory = build_inventory(FleetSpec(devices=50), FixedClock(START))
    try:
        assert inventory.connection().execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY
    finally:
        inventory.close()


def test_progress_bar_drops_the_shared_roll_out_once_profiles_report():
    import io
    stream = io.StringIO()
    bar = simulate_command.ProgressBar(stream, every=0)
    bar(SHARED, "activate", 5, 10)
    assert "all profiles activate [##########..........] 5/10" in stream.getvalue()
    bar("baseline + mp105-option1", "retry 1", 1, 4)
    bar("mp105-option2", "retry 1", 2, 4)
    assert list(bar.state) == ["baseline + mp105-option1", "mp105-option2"]
    bar("baseline", "read", 1, 8)
    bar("mp105-option1", "read", 2, 8)
    assert list(bar.state) == ["mp105-option2", "baseline", "mp105-option1"]
    assert stream.getvalue().rstrip().endswith(
        "mp105-option2 retry 1  50% | baseline read  12% | mp105-option1 read  25%")


def test_progress_bar_keeps_a_part_per_running_shard_until_it_ends():
    import io

    from duis.simulate.campaign import ENDED
    stream = io.StringIO()
    bar = simulate_command.ProgressBar(stream, every=0)
    steps = [  # (event, the parts on the line after it)
        (("shard 1/3: all profiles", "activate", 5, 10), ["shard 1/3: all profiles"]),
        (("shard 2/3: all profiles", "distribute", 1, 4),
         ["shard 1/3: all profiles", "shard 2/3: all profiles"]),
        # shard 1's profiles part; shard 2's roll-out stays
        (("shard 1/3: baseline + mp105-option1", "retry 1", 1, 4),
         ["shard 2/3: all profiles", "shard 1/3: baseline + mp105-option1"]),
        (("shard 1/3: mp105-option2", "retry 1", 2, 4),
         ["shard 2/3: all profiles", "shard 1/3: baseline + mp105-option1",
          "shard 1/3: mp105-option2"]),
        # a profile of shard 2 with the same name leaves shard 1's parts alone
        (("shard 2/3: baseline", "read", 1, 8),
         ["shard 1/3: baseline + mp105-option1", "shard 1/3: mp105-option2",
          "shard 2/3: baseline"]),
        (("shard 1/3: all profiles", ENDED, 1, 1), ["shard 2/3: baseline"]),
        (("shard 3/3: all profiles", "build", 0, 9), ["shard 2/3: baseline",
                                                      "shard 3/3: all profiles"]),
    ]
    for event, parts in steps:
        bar(*event)
        assert list(bar.state) == parts, event
    assert stream.getvalue().rstrip().endswith(
        "shard 2/3: baseline read  12% | shard 3/3: all profiles build   0%")


def test_default_jobs_follow_cpus_profiles_and_memory():
    mb = 1024
    assert default_jobs(3, 100_000, cpus=1, available_kb=10**8) == 1
    assert default_jobs(1, 100_000, cpus=8, available_kb=10**8) == 1
    assert default_jobs(3, 100_000, cpus=2, available_kb=10**8) == 3  # all at once on 2 CPUs
    assert default_jobs(2, 100_000, cpus=16, available_kb=10**8) == 2
    assert default_jobs(3, 100_000, cpus=2, available_kb=None) == 3
    # workers take at most half of the memory available, else one process
    need = run_module.WORKER_BASE_KB + run_module.WORKER_KB_PER_DEVICE * 100_000
    assert default_jobs(3, 100_000, cpus=2, available_kb=int(2 * 2 * need)) == 2
    assert default_jobs(3, 100_000, cpus=2, available_kb=int(2 * need)) == 1
    assert default_jobs(3, 10_000_000, cpus=4, available_kb=4096 * mb) == 1
    with pytest.raises(ValueError):
        simulate(FleetSpec(devices=10), CampaignSettings(signing=False),
                 CredentialStore(SAMPLES / "pki"), jobs=0)


def test_memory_samples_keep_to_a_fiftieth_of_one_cpu(monkeypatch):
    """Sampling reads page tables, slower the more memory the run maps: a sample
    taking t seconds waits 50 t before the next, but never less than half a second."""
    now = [100.0]
    monkeypatch.setattr(run_module.time, "monotonic", lambda: now[0])

    def pss(pids, took):
        now[0] += took
        return 1000 * len(pids)

    monkeypatch.setattr(run_module, "_descendants", list)  # the pids are made up
    for took, expected in ((0.001, 100.5), (0.2, 110.0), (0.01, 100.5)):
        memory = run_module._MemorySampler()
        now[0] = 100.0
        monkeypatch.setattr(run_module, "_pss_kb", lambda pids, took=took: pss(pids, took))
        memory.sample({11, 12})
        assert memory.due == pytest.approx(expected)
        assert memory.peak_kb == 3000  # this process and the two running
        now[0] = expected - 0.01
        monkeypatch.setattr(run_module, "_pss_kb", lambda pids: pytest.fail("not due yet"))
        memory.sample({11, 12})


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_signed_run_gives_the_same_outcome_as_unsigned(store):
    spec = FleetSpec(devices=300, seed=3)
    signed = simulate(spec, CampaignSettings(signing=True), store)
    unsigned = simulate(spec, CampaignSettings(signing=False), store)
    assert signed.without_machine_figures()["profiles"] == \
        unsigned.without_machine_figures()["profiles"]
    assert signed.settings["signing"] and not unsigned.settings["signing"]


def test_no_loss_means_nothing_to_recover(store):
    result = run_profile(FleetSpec(devices=400), CampaignSettings(lost=0.0, signing=False),
                         "baseline", store)
    assert (result.lost_responses, result.wrongly_suspended, result.still_suspended) == (0, 0, 0)
    assert [p.name for p in result.phases] == ["remove", "distribute", "activate", "read"]
    assert result.phases[-1].devices == 0


def test_settings_are_checked():
    with pytest.raises(ValueError):
        CampaignSettings(lost=1.5)
    with pytest.raises(ValueError):
        CampaignSettings(distribution_batch=50_001)
    with pytest.raises(ValueError):
        FleetSpec(devices=0)


# --- the world ----------------------------------------------------------------------------

def test_fleet_has_exactly_n_devices_of_every_kind_and_both_generations():
    devices = list(fleet_devices(FleetSpec(devices=2_000, seed=5)))
    assert len(devices) == 2_000
    assert len({d.eui for d in devices}) == 2_000
    kinds = Counter((d.smets, d.device_type) for d in devices)
    for key in [("SMETS2", t) for t in ("CHF", "GPF", "ESME", "GSME", "PPMID")] + \
               [("SMETS1", t) for t in ("CHF", "ESME", "GSME")]:
        assert kinds[key] > 0, key
    hubs = {d.eui for d in devices if d.device_type == "CHF"}
    assert all(d.hub in hubs for d in devices if d.device_type != "CHF")
    meters = [d for d in devices if d.device_type in ("ESME", "GSME")]
    assert {d.firmware_version for d in meters} == {OLD_VERSION}
    assert NEW_VERSION != OLD_VERSION
    assert list(fleet_devices(FleetSpec(devices=2_000, seed=5))) == devices


def test_timeline_keeps_one_point_per_change_and_samples_exactly():
    timeline = Timeline()
    for second, count in [(0, 10), (1, 10), (2, 9), (2, 8), (5, 3)]:
        timeline.record(float(second), count)
    assert timeline.points() == [(0.0, 10), (2.0, 8), (5.0, 3)]
    long = Timeline()
    for n in range(1000):
        long.record(float(n), 1000 - n)
    sampled = long.sampled(10)
    assert len(sampled) == 10 and sampled[0] == (0.0, 1000) and sampled[-1] == (999.0, 1)


# --- the command line ---------------------------------------------------------------------

def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="duis")
    simulate_command.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", *argv])
    return args.run(args)


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_cli_json_report_and_plot(tmp_path, capsys):
    plot = tmp_path / "suspended.png"
    assert cli(["--devices", "600", "--no-sign", "--seed", "2", "--json",
                "--plot", str(plot), "--no-progress"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["settings"]["devices"] == 600 and data["settings"]["signing"] is False
    assert list(data["profiles"]) == ["baseline", "mp105-option1", "mp105-option2"]
    for name, result in data["profiles"].items():
        assert result["profile"] == name
        for key in ("upgraded", "wrongly_suspended", "requests", "messages",
                    "simulated_seconds", "wall_seconds", "messages_per_second", "timeline"):
            assert key in result
    assert data["profiles"]["mp105-option2"]["wrongly_suspended"] == 0
    assert data["profiles"]["baseline"]["wrongly_suspended"] > 0
    content = plot.read_bytes()
    assert content.startswith(PNG_MAGIC) and len(content) > 1000


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_cli_table_for_chosen_profiles(capsys):
    assert cli(["--devices", "300", "--no-sign", "--profiles", "baseline", "mp105-option2",
                "--lost", "0.5", "--progress"]) == 0
    captured = capsys.readouterr()
    header = captured.out.splitlines()[0].split()
    assert header == ["baseline", "mp105-option2"]
    assert "wrongly Suspended at the end" in captured.out
    assert "mp105-option2" in captured.err  # the progress line


def test_cli_refuses_bad_values(capsys):
    with pytest.raises(SystemExit) as caught:
        cli(["--lost", "2"])
    assert caught.value.code == 2
    assert "lost must be within 0..1" in capsys.readouterr().err


@pytest.mark.parametrize("argv, why", [
    # NaN and overflow were tracebacks from the clock; a huge retry count filled memory;
    # a huge fleet ran for ever with no output
    (["--latency", "nan"], "latency must be a number of seconds >= 0"),
    (["--latency", "inf"], "latency must be a number of seconds >= 0"),
    (["--latency", "1e300"], "past 1000 years"),
    (["--retry-after", "1e12"], "past 1000 years"),
    (["--max-retries", "99999999999999999999"], "max_retries must be within 0..1000"),
    (["--devices", "99999999999999999999"], "a fleet holds 1 to 10,000,000 devices"),
])
def test_cli_refuses_values_the_simulation_cannot_hold(capsys, argv, why):
    with pytest.raises(SystemExit) as caught:
        cli(["--devices", "20", "--no-sign", "--jobs", "1", *argv])
    assert caught.value.code == 2
    assert why in capsys.readouterr().err


def test_a_plot_without_matplotlib_names_the_extra(monkeypatch):
    """matplotlib is the optional extra duis[plot]: without it, a clear error."""
    import sys

    from duis.errors import MissingExtra
    from duis.simulate.plot import plot_png
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import fails as if absent
    with pytest.raises(MissingExtra) as caught:
        plot_png(None)
    assert caught.value.expected == "pip install 'duis[plot]'"
    assert caught.value.exit_code == 2


# --- a fleet run as shards -----------------------------------------------------------

def test_shards_hold_whole_systems_in_build_order_and_every_device_once():
    from duis.simulate.fleet import LARGEST_SYSTEM, shards
    spec = FleetSpec(devices=1_000, seed=3, shard_size=100)
    parts = shards(spec)
    whole = list(fleet_devices(spec))
    assert [d for part in parts for d in fleet_devices(spec, part)] == whole
    assert sum(part.devices for part in parts) == 1_000 and len(parts) == 10
    for k, part in enumerate(parts):
        assert (part.index, part.count, part.label) == (k, 10, f"shard {k + 1}/10")
        first = next(fleet_devices(spec, part))
        assert first == whole[part.made] and first.device_type == "CHF"  # a system's hub
        assert k * 100 <= part.made < k * 100 + LARGEST_SYSTEM  # the first system from k * 100
    assert parts[0].seed == 3 and len({part.seed for part in parts}) == 10
    assert shards(FleetSpec(devices=1_000, seed=3, shard_size=1_000)) == [
        dataclasses.replace(parts[0], count=1, devices=1_000)]
    assert shards(FleetSpec(devices=1_000, seed=4, shard_size=100))[1].seed != parts[1].seed
    with pytest.raises(ValueError, match="shard_size must be at least 5"):
        FleetSpec(devices=10, shard_size=4)


def _result(phases, points, **counts):
    from duis.simulate.report import Phase, ProfileResult
    timeline = Timeline()
    for seconds, count in points:
        timeline.record(seconds, count)
    figures = dict(suspended_by_removal=points[0][1], upgraded=1, wrongly_suspended=0,
                   still_suspended=points[-1][1], lost_responses=1, requests=2, received=3,
                   dsp_messages=4, codes={"I0": 1}, simulated_seconds=phases[-1][2],
                   wall_seconds=1.0, cpu_seconds=0.5, peak_memory_kb=100)
    figures.update(counts)
    return ProfileResult(profile="baseline", devices=10,
                         phases=[Phase(name, start, end, requests, devices)
                                 for name, start, end, requests, devices in phases],
                         timeline=timeline, **figures)


def test_shards_results_add_up_phase_after_phase_with_one_sender():
    """Shard A waits 10 s before its retry round, shard B had nothing to retry: the
    fleet's retry round starts 10 s after the activations of both, and each shard's
    changes move to its turn within each phase."""
    from duis.simulate.report import merge_results
    a = _result([("remove", 0, 0, 0, 5), ("activate", 0, 10, 5, 5), ("retry 1", 20, 24, 2, 1),
                 ("read", 24, 24, 0, 0)],
                [(0, 5), (4, 4), (10, 3), (22, 2)], codes={"I0": 2, "N29": 1})
    b = _result([("remove", 0, 0, 0, 3), ("activate", 0, 6, 3, 3), ("read", 6, 8, 1, 1)],
                [(0, 3), (6, 1), (8, 0)], codes={"I0": 5}, peak_memory_kb=300, cpu_seconds=None)
    merged = merge_results([a, b])
    assert [(p.name, p.start, p.end, p.requests, p.devices) for p in merged.phases] == [
        ("remove", 0, 0, 0, 8), ("activate", 0, 16, 8, 8), ("retry 1", 26, 30, 2, 1),
        ("read", 30, 32, 1, 1)]
    assert merged.timeline.points() == [(0, 8), (4, 7), (10, 6), (16, 4), (28, 3), (32, 2)]
    assert (merged.devices, merged.requests, merged.received, merged.suspended_by_removal,
            merged.still_suspended, merged.simulated_seconds) == (20, 4, 6, 8, 2, 32)
    assert merged.codes == {"I0": 7, "N29": 1}
    assert (merged.wall_seconds, merged.cpu_seconds, merged.peak_memory_kb) == (2.0, None, 300)
    alone = merge_results([a])
    assert alone.phases == a.phases and alone.timeline.points() == a.timeline.points()
    assert dataclasses.replace(alone, timeline=a.timeline) == a


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_fleet_of_shards_reports_the_same_in_one_process_or_several(store):
    spec, settings = FleetSpec(devices=900, seed=6, shard_size=300), CampaignSettings(signing=False)
    events = []
    one = simulate(spec, settings, store, jobs=1)
    two = simulate(spec, settings, store, jobs=2, progress=lambda *event: events.append(event))
    assert one.without_machine_figures() == two.without_machine_figures()
    assert one.shards == two.shards == 3 and two.to_dict()["shards"] == 3
    # progress names each event's shard; each shard's last event says it ended
    from duis.simulate.campaign import ENDED
    from duis.simulate.fleet import shard_of
    labels = ["shard 1/3", "shard 2/3", "shard 3/3"]
    assert {shard_of(name)[0] for name, _, _, _ in events} == set(labels)
    ended = [(name, done, total) for name, phase, done, total in events if phase == ENDED]
    assert sorted(ended) == [(f"{label}: all profiles", 1, 1) for label in labels]
    for label in labels:
        assert [e for e in events if shard_of(e[0])[0] == label][-1][1] == ENDED
    # each profile: the shards' campaigns, each run alone, added up
    from duis.simulate.fleet import shards
    alone = [run_profile(spec, settings, "mp105-option2", store, shard=part)
             for part in shards(spec)]
    option2 = next(r for r in two.results if r.profile == "mp105-option2")
    assert option2.devices == sum(r.devices for r in alone) == 900
    for name in ("suspended_by_removal", "upgraded", "lost_responses", "requests", "received",
                 "dsp_messages"):
        assert getattr(option2, name) == sum(getattr(r, name) for r in alone), name
    assert option2.codes == dict(sum((Counter(r.codes) for r in alone), Counter()))
    for result in two.results:
        assert sum(p.requests for p in result.phases) == result.requests
        assert all(a.end <= b.start for a, b in pairwise(result.phases))
        points = result.timeline.points()
        assert points[0] == (0.0, result.suspended_by_removal)
        assert points[-1][1] == result.still_suspended
        assert points[-1][0] <= result.simulated_seconds
        assert all(a[0] < b[0] for a, b in pairwise(points))
        assert result.phases[-1].end == result.simulated_seconds
    assert "the fleet ran as 3 shards of about 300 devices" in two.render()
    assert two.measured_peak_kb > 0 and two.shared and two.shared[0].profiles == [
        r.profile for r in two.results]
    # a fleet of one shard is the world it always was
    whole = FleetSpec(devices=900, seed=6)
    assert simulate(whole, settings, store, jobs=1).shards == 1


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_failing_shard_stops_the_run_and_kills_every_other_shard_whole(store, monkeypatch,
                                                                        tmp_path):
    """Shard 1 starts a worker of its own and waits; shard 2 fails.  The error
    reaches the caller whole, and shard 1 and its worker are killed, not left."""
    import os
    import time

    def failing(spec, settings, store, names, progress, jobs, shard, described):
        if shard.index == 0:
            child = os.fork()
            if child == 0:
                time.sleep(120)
                os._exit(0)
            (tmp_path / "pids.part").write_text(f"{os.getpid()} {child}")
            (tmp_path / "pids.part").rename(tmp_path / "pids")
            time.sleep(120)
        deadline = time.monotonic() + 30  # shard 2 breaks once shard 1 and its worker run
        while not (tmp_path / "pids").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        raise SimulationError("shard broke", source="fleet simulation", path="test",
                              expected="a report", found="a test fault")

    monkeypatch.setattr(run_module, "_world", failing)
    started = time.monotonic()
    with pytest.raises(SimulationError) as caught:
        simulate(FleetSpec(devices=60, seed=2, shard_size=30), CampaignSettings(signing=False),
                 store, jobs=2)
    assert time.monotonic() - started < 60
    assert caught.value.found == "a test fault"
    assert any("shard 2/2" in note for note in caught.value.__notes__)
    pids = [int(pid) for pid in (tmp_path / "pids").read_text().split()]
    deadline = time.monotonic() + 10
    while any(run_module._alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(run_module._alive(pid) for pid in pids)


@pytest.mark.slow  # seconds: make test-slow (CI) runs it
def test_a_shard_that_dies_without_a_word_is_reported(store, monkeypatch):
    import os
    world = run_module._world

    def dying(spec, settings, store, names, progress, jobs, shard, described):
        if shard.index == 1:
            os._exit(3)
        return world(spec, settings, store, names, progress, jobs, shard, described)

    monkeypatch.setattr(run_module, "_world", dying)
    with pytest.raises(SimulationError) as caught:
        simulate(FleetSpec(devices=60, seed=2, shard_size=30), CampaignSettings(signing=False),
                 store, jobs=2)
    assert caught.value.message == "a worker process ended without reporting its end"
    assert caught.value.path == "shard 2/2" and caught.value.found.endswith(" is gone")


def test_default_jobs_run_a_shard_per_cpu_as_memory_allows():
    assert default_jobs(1, 1_000_000, shards=10, cpus=2, available_kb=10**8) == 2
    assert default_jobs(3, 1_000_000, shards=10, cpus=4, available_kb=None) == 4
    assert default_jobs(1, 1_000_000, shards=10, cpus=1, available_kb=10**8) == 1
    assert default_jobs(3, 200_000, shards=2, cpus=8, available_kb=10**8) == 2
    per_shard = 2 * (run_module.WORKER_BASE_KB + run_module.WORKER_KB_PER_DEVICE * 100_000)
    assert default_jobs(3, 1_000_000, shards=10, cpus=8, available_kb=int(6 * per_shard)) == 3
    assert default_jobs(3, 1_000_000, shards=10, cpus=8, available_kb=int(per_shard)) == 1


def test_cli_takes_a_shard_size_and_refuses_one_below_a_system(capsys):
    from duis.cli import main
    assert main(["simulate", "--devices", "40", "--shard-size", "20", "--no-sign", "--json",
                 "--jobs", "1", "--profiles", "baseline", "--store", str(SAMPLES / "pki")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["shards"] == 2 and data["settings"]["shard_size"] == 20
    assert data["profiles"]["baseline"]["devices"] == 40
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--devices", "40", "--shard-size", "4"])
    assert exited.value.code == 2
    assert "shard_size must be at least 5 (a shard holds whole systems), found 4" in \
        capsys.readouterr().err
