"""A scenario run's transcript: every message in and out, numbered in order,
the MMC XML of device replies, a readable summary and the SMI changes."""

from __future__ import annotations

import datetime as _dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..dsp import Outgoing
from ..files import write_folder
from ..messages import Request, format_datetime
from ..smi import AuditRecord
from .format import Step

SUMMARY, SMI_CHANGES = "summary.txt", "smi-changes.txt"


@dataclass(frozen=True)
class Check:
    step: int
    what: str
    expected: object
    found: object

    @property
    def passed(self) -> bool:
        return self.expected == self.found


@dataclass
class Transcript:
    scenario: str
    profile: str
    start: _dt.datetime
    files: list[tuple[str, bytes]] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    smi_changes: list[AuditRecord] = field(default_factory=list)
    step: Step | None = None
    _number: int = 0

    # --- recording ------------------------------------------------------------------

    def begin(self, step: Step, now: _dt.datetime) -> None:
        self.step = step
        note = f" - {step.get('note')}" if step.get("note") else ""
        self.lines.append(f"step {step.index} at {format_datetime(now)}: {step.do}{note}")

    def record_in(self, xml: bytes, message: Request) -> None:
        name = (f"in-request-{message.service_reference_variant}"
                f"-cv{message.command_variant}")
        self._add(name, xml)
        self.lines.append(f"  -> {self._last} {message.service_reference_variant} "
                          f"CV {message.command_variant} from {message.originator} "
                          f"to {message.target}")

    def record_out(self, out: Outgoing, mmc: bytes | None) -> None:
        name = f"out-{out.kind}-{out.code}-to-{out.recipient.replace('-', '')}"
        self._add(name, out.xml)
        line = f"  <- {self._last} {out.kind} {out.code} to {out.recipient}"
        if mmc is not None:
            self.files.append((self._last.replace(".xml", ".mmc.xml"), mmc))
            line += " (+ MMC)"
        self.lines.append(line)

    def note(self, text: str) -> None:
        self.lines.append(f"  {text}")

    def check(self, what: str, expected: object, found: object) -> None:
        check = Check(self.step.index if self.step else 0, what, expected, found)
        self.checks.append(check)
        verdict = "ok" if check.passed else f"FAILED, found {found!r}"
        self.lines.append(f"  expect {what} = {expected!r}: {verdict}")

    def _add(self, name: str, xml: bytes) -> None:
        self._number += 1
        self._last = f"{self._number:03d}-{name}.xml"
        self.files.append((self._last, xml))

    # --- reading ----------------------------------------------------------------------

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def summary(self) -> str:
        failed = len(self.failures)
        head = [f"scenario: {self.scenario}", f"profile:  {self.profile}",
                f"start:    {format_datetime(self.start)}",
                f"result:   {'passed' if not failed else f'{failed} expectation(s) failed'} "
                f"({len(self.checks)} checked, {self._number} messages)", ""]
        return "\n".join(head + self.lines) + "\n"

    def story(self) -> str:
        """One line per step, for a quick read (``duis run --story``, ``make demo``)."""
        lines, current = [], None
        for line in self.lines:
            if line.startswith("step "):
                current = line.split(": ", 1)[1]
                lines.append(f"  {current}")
            elif line.startswith("  <- "):
                parts = line.split()
                lines[-1] += f" | {parts[2]} {parts[3]}"
            elif line.startswith("  expect ") and "FAILED" in line:
                lines[-1] += " | " + line.strip()
            elif line.startswith("  expect ") and current and current.startswith("expect"):
                lines[-1] += " | " + line.strip()[len("expect "):].replace(": ok", "")
        return f"{self.scenario} [{self.profile}]\n" + "\n".join(lines) + "\n"

    def smi_text(self) -> str:
        rows = [f"{r.seq:>4} {r.at} {r.entity} {r.key} {r.field}: {r.old!r} -> {r.new!r}"
                f"  ({r.reason}; {r.cause})" for r in self.smi_changes]
        return "\n".join(rows) + ("\n" if rows else "")

    def outputs(self) -> list[tuple[str, bytes]]:
        """Every file of the transcript, in order: messages, then summary and SMI changes."""
        return self.files + [(SUMMARY, self.summary().encode("utf-8")),
                             (SMI_CHANGES, self.smi_text().encode("utf-8"))]

    def write(self, directory: str | os.PathLike) -> Path:
        """Write the transcript to ``directory`` atomically: a new folder beside it
        is filled, then swapped in; a reader never sees a half-written transcript."""
        return write_folder(Path(directory), self.outputs())
