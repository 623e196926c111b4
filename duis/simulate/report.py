"""What a fleet simulation reports: per profile, the devices left wrongly
Suspended, the messages it took and how long, and the suspended devices over
simulated time; as a readable table or as JSON."""

from __future__ import annotations

from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .fleet import shard_label

#: the figures of a result that depend on the machine, not on the simulation
MACHINE_FIGURES = ("wall_seconds", "cpu_seconds", "messages_per_second", "peak_memory_kb")
#: at most this many points of each timeline go into the JSON output
JSON_TIMELINE_POINTS = 500


class Timeline:
    """Suspended devices over simulated time: a step function, kept compactly
    (one point per change; 100,000 changes take under 2 MB)."""

    def __init__(self) -> None:
        self.seconds = array("d")
        self.suspended = array("l")

    def record(self, seconds: float, suspended: int) -> None:
        """From ``seconds`` on, ``suspended`` devices are Suspended."""
        if self.seconds and self.seconds[-1] == seconds:
            self.suspended[-1] = suspended
        elif not self.suspended or self.suspended[-1] != suspended:
            self.seconds.append(seconds)
            self.suspended.append(suspended)

    def points(self) -> list[tuple[float, int]]:
        return list(zip(self.seconds, self.suspended, strict=True))  # appended together

    def sampled(self, limit: int = JSON_TIMELINE_POINTS) -> list[tuple[float, int]]:
        """At most ``limit`` points: the first, the last, and evenly spaced ones between
        (a step function read at those instants is exact there)."""
        points = self.points()
        if len(points) <= limit:
            return points
        step = (len(points) - 1) / (limit - 1)
        return [points[round(i * step)] for i in range(limit)]

    def __len__(self) -> int:
        return len(self.seconds)


@dataclass(frozen=True)
class Phase:
    """One step of the campaign, as simulated time and messages."""

    name: str
    start: float
    """Simulated seconds since the campaign started."""
    end: float
    requests: int
    """DUIS requests the supplier sent in this phase."""
    devices: int
    """Devices the phase addressed."""


@dataclass
class ProfileResult:
    """The outcome of one campaign under one behaviour profile."""

    profile: str
    devices: int
    """Devices in the fleet."""
    suspended_by_removal: int
    """Devices the CPL removal suspended (the meters running the removed firmware)."""
    upgraded: int
    """Of those, devices running the new firmware at the end (emulated devices' truth)."""
    wrongly_suspended: int
    """Devices Suspended in the SMI at the end although they run Current firmware."""
    still_suspended: int
    """Devices Suspended in the SMI at the end, whatever they run."""
    lost_responses: int
    """11.3 responses lost on the way back (first activations and retries)."""
    requests: int
    """DUIS requests the supplier sent."""
    received: int
    """DUIS messages the DSP sent to the supplier (responses, DCC alerts)."""
    dsp_messages: int
    """DUIS messages the DSP sent to anyone (with the network operator's N29 copies)."""
    codes: dict[str, int]
    """Messages the DSP sent, by response or alert code."""
    simulated_seconds: float
    wall_seconds: float
    peak_memory_kb: int | None = None
    """Peak resident memory of the process that ran the campaign, when it ended
    (VmHWM; None where /proc is not available)."""
    phases: list[Phase] = field(default_factory=list)
    timeline: Timeline = field(default_factory=Timeline, repr=False)
    cpu_seconds: float | None = None
    """CPU time the campaign took in its process (with profiles running at once on
    fewer CPUs, wall time counts the waiting; this does not)."""

    @property
    def messages(self) -> int:
        """Every DUIS message across the interface: requests and what the DSP sent."""
        return self.requests + self.dsp_messages

    @property
    def messages_per_second(self) -> float:
        return self.messages / self.wall_seconds if self.wall_seconds else 0.0

    @property
    def cpu_per_message_us(self) -> float | None:
        """CPU microseconds per message."""
        if self.cpu_seconds is None or not self.messages:
            return None
        return self.cpu_seconds / self.messages * 1e6

    @property
    def wrongly_suspended_share(self) -> float:
        """Wrongly Suspended devices as a share of the upgraded ones."""
        return self.wrongly_suspended / self.upgraded if self.upgraded else 0.0

    def to_dict(self, *, timeline_points: int = JSON_TIMELINE_POINTS) -> dict[str, Any]:
        data = {name: value for name, value in asdict(self).items()
                if name not in ("timeline", "phases")}
        data.update(messages=self.messages, messages_per_second=round(self.messages_per_second, 1),
                    wrongly_suspended_share=round(self.wrongly_suspended_share, 4),
                    simulated_hours=round(self.simulated_seconds / 3600, 3),
                    phases=[asdict(p) for p in self.phases],
                    timeline=[[s, n] for s, n in self.timeline.sampled(timeline_points)])
        data["codes"] = dict(sorted(self.codes.items()))
        return data


@dataclass(frozen=True)
class SharedSteps:
    """Phases a run did once for several profiles, in one copy of the world
    (:mod:`duis.simulate.run`).  Each of those profiles' results counts them too,
    as if it had run alone."""

    profiles: list[str]
    phases: list[str]
    messages: int
    """DUIS messages of the shared phases (requests and what the DSP sent)."""
    wall_seconds: float
    cpu_seconds: float


@dataclass
class SimulationReport:
    """Every profile's result, with the settings that produced them."""

    settings: dict[str, Any]
    results: list[ProfileResult]
    processes: dict[str, int | None] = field(default_factory=dict)
    """Peak resident memory (VmHWM, kB) of each process of the run: ``main``, and
    one per worker process when the profiles ran in worker processes."""
    shared: list[SharedSteps] = field(default_factory=list)
    """What was done once for several profiles: the roll-out for all of them, then
    the steps each group of profiles agreed on."""
    splits: list[dict[str, Any]] = field(default_factory=list)
    """Where profiles sharing a copy of the world went separate ways: the step, the
    question they answered differently, each one's answer, the groups formed."""
    spent_cpu_seconds: float | None = None
    """With shared steps: the CPU time of the campaigns, each step counted once."""
    processed_messages: int | None = None
    """With shared steps: the messages processed, each step's counted once."""
    measured_peak_kb: int | None = None
    """With forked copies of the world: the largest proportional set size (PSS) of
    all the run's processes added up, sampled every half second while the copies
    ran (pages they share count once), or the main process's peak if larger."""
    notes: list[str] = field(default_factory=list)
    """What the reader should know about how the run went (e.g. why a roll-out
    could not be shared)."""
    shards: int = 1
    """Shards the fleet ran as, each a world of its own (:func:`~.fleet.shards`)."""

    @property
    def peak_memory_kb(self) -> int | None:
        """The memory the run needed at most: :attr:`measured_peak_kb` when measured,
        otherwise the processes' peaks added up (None when one is unknown), an upper
        bound: the peaks need not coincide, and pages a worker shares with the main
        process are counted in both."""
        if self.measured_peak_kb is not None:
            return self.measured_peak_kb
        peaks = list(self.processes.values())
        known = [peak for peak in peaks if peak is not None]
        return sum(known) if peaks and len(known) == len(peaks) else None

    @property
    def messages(self) -> int:
        """DUIS messages the run processed (shared steps' counted once)."""
        if self.processed_messages is not None:
            return self.processed_messages
        return sum(r.messages for r in self.results)

    @property
    def cpu_seconds(self) -> float | None:
        """CPU time the campaigns took (shared steps' counted once)."""
        if self.spent_cpu_seconds is not None:
            return self.spent_cpu_seconds
        spent = [r.cpu_seconds for r in self.results]
        known = [seconds for seconds in spent if seconds is not None]
        if len(known) != len(spent):
            return None
        return sum(known)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"settings": self.settings, "shards": self.shards,
                                "profiles": {r.profile: r.to_dict() for r in self.results}}
        if self.shared:
            data["shared"] = [asdict(segment) for segment in self.shared]
            data["splits"] = list(self.splits)
            data["messages_processed"] = self.messages
            data["cpu_seconds"] = self.cpu_seconds
        if self.processes:
            data["processes"] = dict(self.processes)
            data["peak_memory_kb"] = self.peak_memory_kb
        if self.notes:
            data["notes"] = list(self.notes)
        return data

    def without_machine_figures(self) -> dict[str, Any]:
        """The report minus what depends on the machine and on how the run was split
        (wall time, memory, the processes, shared steps): the same settings and
        seed always give the same."""
        data = self.to_dict()
        for key in ("processes", "peak_memory_kb", "shared", "splits", "messages_processed",
                    "cpu_seconds", "notes"):
            data.pop(key, None)
        for result in data["profiles"].values():
            for name in MACHINE_FIGURES:
                del result[name]
        return data

    def render(self) -> str:
        """A readable table, one column per profile."""
        rows = [
            ("devices in the fleet", lambda r: f"{r.devices:,}"),
            ("suspended by the CPL removal", lambda r: f"{r.suspended_by_removal:,}"),
            ("upgraded to the new firmware", lambda r: f"{r.upgraded:,}"),
            ("11.3 responses lost", lambda r: f"{r.lost_responses:,}"),
            ("wrongly Suspended at the end", lambda r: f"{r.wrongly_suspended:,} "
                                                      f"({r.wrongly_suspended_share:.1%})"),
            ("requests sent", lambda r: f"{r.requests:,}"),
            ("messages from the DSP", lambda r: f"{r.dsp_messages:,}"),
            ("messages in all", lambda r: f"{r.messages:,}"),
            ("simulated duration", lambda r: _duration(r.simulated_seconds)),
            ("wall time", lambda r: f"{r.wall_seconds:.1f} s"),
            ("CPU time", lambda r: "?" if r.cpu_seconds is None else f"{r.cpu_seconds:.1f} s"),
            ("messages per second", lambda r: f"{r.messages_per_second:,.0f}"),
            ("peak memory", lambda r: "?" if r.peak_memory_kb is None
                else f"{r.peak_memory_kb / 1024:,.0f} MB"),
        ]
        names = [r.profile for r in self.results]
        cells = [[label] + [fmt(r) for r in self.results] for label, fmt in rows]
        widths = [max(len(row[i]) for row in cells + [[""] + names])
                  for i in range(len(names) + 1)]
        # a column per profile, and its width
        lines = ["  ".join([" " * widths[0]]
                           + [n.rjust(w) for n, w in zip(names, widths[1:], strict=True)])]
        for row in cells:
            lines.append("  ".join([row[0].ljust(widths[0])]
                                   + [c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                 strict=True)]))
        for shared in self.shared:
            who = (f"the {len(shared.profiles)} profiles" if len(shared.profiles) == len(names)
                   else " and ".join(shared.profiles))
            lines.append(f"{', '.join(shared.phases)}: done once for {who} "
                         f"({shared.messages:,} messages, {shared.wall_seconds:.1f} s)")
        if self.shared:
            lines.append("(each profile's figures include what it shared)")
        if self.shards > 1:
            lines.append(f"the fleet ran as {self.shards:,} shards of about "
                         f"{self.settings.get('shard_size', 0):,} devices, each a world of its "
                         f"own; the figures add them up (wall and CPU time: each shard's, "
                         f"added up)")
        total = self.peak_memory_kb
        if self.measured_peak_kb is not None:
            lines.append(f"peak memory of the run's processes together "
                         f"(shared pages counted once): {self.measured_peak_kb / 1024:,.0f} MB")
        elif len(self.processes) > 1 and total is not None:
            lines.append(f"peak memory of the {len(self.processes)} processes added up "
                         f"(main and workers): {total / 1024:,.0f} MB")
        lines += [f"note: {note}" for note in self.notes]
        lines.append("")
        lines += [f"{r.profile}: " + ", ".join(f"{code} {count:,}" for code, count
                                               in sorted(r.codes.items()))
                  for r in self.results]
        return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h {rest // 60:02d} min"


# --- a fleet run as shards: the shards' reports added up ----------------------------

def merge_reports(reports: list[SimulationReport], settings: dict[str, Any]) -> SimulationReport:
    """One report for a fleet run as shards (:func:`duis.simulate.fleet.shards`), from
    each shard's, in shard order: per profile, :func:`merge_results`; the steps shared
    and the split, per group of profiles, added up; each process's peak, the largest
    over the shards; notes and splits with the shard they come from.
    ``measured_peak_kb`` is left to the caller, who knows which shards ran at once."""
    labels = [shard_label(n, len(reports)) for n in range(len(reports))]
    names = [r.profile for r in reports[0].results]
    merged = SimulationReport(settings=settings, shards=len(reports), results=[
        merge_results([next(r for r in report.results if r.profile == name)
                       for report in reports]) for name in names])
    for report in reports:
        for process, peak in report.processes.items():
            known = merged.processes.get(process)
            merged.processes[process] = peak if known is None else max(known, peak or 0)
    groups: dict[tuple[str, ...], SharedSteps] = {}
    for report in reports:
        for steps in report.shared:
            key = tuple(steps.profiles)
            known_steps = groups.get(key)
            groups[key] = steps if known_steps is None else SharedSteps(
                steps.profiles, _in_order([known_steps.phases, steps.phases]),
                known_steps.messages + steps.messages,
                known_steps.wall_seconds + steps.wall_seconds,
                known_steps.cpu_seconds + steps.cpu_seconds)
    merged.shared = list(groups.values())
    merged.splits = [{"shard": label, **split}
                     for label, report in zip(labels, reports, strict=True)
                     for split in report.splits]
    merged.notes = [f"{label}: {note}" for label, report in zip(labels, reports, strict=True)
                    for note in report.notes]
    if all(r.spent_cpu_seconds is not None for r in reports):
        merged.spent_cpu_seconds = sum(r.spent_cpu_seconds or 0.0 for r in reports)
        merged.processed_messages = sum(r.messages for r in reports)
    return merged


def merge_results(results: list[ProfileResult]) -> ProfileResult:
    """One profile's result over a fleet run as shards, from each shard's, in shard
    order.

    The supplier is one sender, so the campaign's simulated time is as if it
    ran each phase shard after shard: phase ``p`` starts when phase ``p - 1``
    ended in every shard (after the wait before it, where any shard waited) and
    lasts as long as it lasted in all the shards together.  Each shard's timeline
    moves to its turn within each phase, and the fleet's timeline adds up every
    shard's count at each instant.  Counts add up; wall and CPU time add up (the
    time the shards' campaigns took, whether or not they ran at once); the peak
    memory is the largest of the shards'.
    """
    names = _in_order([[p.name for p in r.phases] for r in results])
    own = [{p.name: p for p in r.phases} for r in results]
    # the fleet's phases: each begins after the wait any shard had before it
    phases: list[Phase] = []
    offsets: list[dict[str, float]] = [{} for _ in results]
    end = 0.0
    for name in names:
        waits = [_wait_before(r.phases, name) for r in results]
        start = end + max(w for w in waits if w is not None)
        at = start
        for n, phases_of in enumerate(own):
            phase = phases_of.get(name)
            if phase is not None:
                offsets[n][name] = at - phase.start
                at += phase.end - phase.start
        phases.append(Phase(name, start, at, sum(o[name].requests for o in own if name in o),
                            sum(o[name].devices for o in own if name in o)))
        end = at
    timeline = _merged_timeline(results, names, offsets)
    codes: Counter[str] = Counter()
    for result in results:
        codes.update(result.codes)
    cpu = [r.cpu_seconds for r in results]
    peaks = [r.peak_memory_kb for r in results if r.peak_memory_kb is not None]
    first = results[0]
    return replace(
        first, devices=sum(r.devices for r in results),
        **{name: sum(getattr(r, name) for r in results) for name in _ADDED_UP},
        codes=dict(codes), simulated_seconds=end,
        wall_seconds=sum(r.wall_seconds for r in results),
        cpu_seconds=None if None in cpu else sum(c or 0.0 for c in cpu),
        peak_memory_kb=max(peaks) if peaks else None, phases=phases, timeline=timeline)


#: the counts of a :class:`ProfileResult` that add up over shards
_ADDED_UP = ("suspended_by_removal", "upgraded", "wrongly_suspended", "still_suspended",
             "lost_responses", "requests", "received", "dsp_messages")


def _in_order(lists: list[list[str]]) -> list[str]:
    """Every name of ``lists``, each once, in the order they come in (each list is
    in that order, some lacking names others have)."""
    merged: list[str] = []
    for names in lists:
        place = 0
        for name in names:
            if name in merged:
                place = merged.index(name) + 1
            else:
                merged.insert(place, name)
                place += 1
    return merged


def _wait_before(phases: list[Phase], name: str) -> float | None:
    """Simulated seconds between the phase before ``name`` and ``name``; None when
    these phases have no ``name``."""
    for n, phase in enumerate(phases):
        if phase.name == name:
            return phase.start - (phases[n - 1].end if n else 0.0)
    return None


def _merged_timeline(results: list[ProfileResult], names: list[str],
                     offsets: list[dict[str, float]]) -> Timeline:
    """Every shard's timeline moved to its turns (``offsets``: per shard, what to add
    to a time within each of its phases), added up instant by instant."""
    counts = [r.timeline.suspended[0] if len(r.timeline) else 0 for r in results]
    timeline = Timeline()
    timeline.record(0.0, sum(counts))
    points = [r.timeline.points() for r in results]
    place = [0] * len(results)
    total = sum(counts)
    for name in names:
        for n, result in enumerate(results):
            phase = next((p for p in result.phases if p.name == name), None)
            if phase is None:
                continue
            shift = offsets[n][name]
            shard_points = points[n]
            while place[n] < len(shard_points) and shard_points[place[n]][0] <= phase.end:
                seconds, count = shard_points[place[n]]
                total += count - counts[n]
                counts[n] = count
                timeline.record(seconds + shift, total)
                place[n] += 1
    for n, shard_points in enumerate(points):  # after a shard's last phase: nothing changes
        assert place[n] == len(shard_points), "a point after the last phase"
    return timeline
