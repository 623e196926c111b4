"""Validation reports: every schema error with line, XPath, reason, expected and found."""

from __future__ import annotations

import os
from typing import NamedTuple

from ..errors import InputError

VALID, INVALID, NOT_COVERED, UNUSABLE = "valid", "invalid", "not-covered", "unusable"
#: exit code of ``duis validate`` for each verdict
EXIT_CODES = {VALID: 0, INVALID: 1, NOT_COVERED: 1, UNUSABLE: 2}

#: errors listed in one report at most
DEFAULT_MAX_ERRORS = 100
#: seconds the detailed report may take (after the verdict)
DEFAULT_REPORT_SECONDS = 2.0


class _Bounds(NamedTuple):
    max_errors: int
    seconds: float


class ReportLimits(_Bounds):
    """Bounds on the report of an invalid document (never on the verdict).

    Beyond them the report stops and says so (:attr:`ValidationReport.truncated`):
    ``max_errors``, the errors listed at most; ``seconds``, the time the detailed
    report may take (past it, what was found so far is kept).
    """

    __slots__ = ()

    def __new__(cls, max_errors: int = DEFAULT_MAX_ERRORS,
                seconds: float = DEFAULT_REPORT_SECONDS) -> ReportLimits:
        if not isinstance(max_errors, int) or max_errors < 1:
            raise InputError("bad maximum number of errors", expected="a whole number, 1 or more",
                             found=repr(max_errors))
        if not isinstance(seconds, (int, float)) or not 0 < seconds < float("inf"):
            raise InputError("bad report time limit", expected="seconds, more than 0",
                             found=repr(seconds))
        return super().__new__(cls, max_errors, seconds)

    @classmethod
    def from_env(cls) -> ReportLimits:
        """Limits from ``DUIS_MAX_ERRORS`` / ``DUIS_REPORT_SECONDS`` when set."""
        return cls(_env_number("DUIS_MAX_ERRORS", int, DEFAULT_MAX_ERRORS),
                   _env_number("DUIS_REPORT_SECONDS", float, DEFAULT_REPORT_SECONDS))


def _env_number(name: str, kind: type, default):
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return kind(text)
    except ValueError:
        raise InputError(f"bad {name}", expected=f"a number ({kind.__name__})",
                         found=repr(text[:40])) from None


DEFAULT_REPORT_LIMITS = ReportLimits()


class SchemaIssue(NamedTuple):
    """One thing wrong with a document."""

    reason: str
    line: int | None = None
    path: str | None = None
    expected: str | None = None
    found: str | None = None

    def render(self) -> str:
        text = f"line {self.line}: {self.reason}" if self.line else self.reason
        if self.path:
            text += f"\n    at {self.path}"
        if self.expected is not None:
            text += f"\n    expected: {self.expected}"
        if self.found is not None:
            text += f"\n    found:    {self.found}"
        return text


class ValidationReport(NamedTuple):
    """The verdict on one document and, when it is not valid, why."""

    source: str
    verdict: str
    schema: str
    root: str | None = None
    service_reference_variant: str | None = None
    issues: tuple[SchemaIssue, ...] = ()
    truncated: str | None = None
    """Why the list of issues stops early (``None``: it is complete), e.g.
    ``"stopped after 100 errors"`` or ``"time limit 2.0 s reached"``."""

    @property
    def valid(self) -> bool:
        return self.verdict == VALID

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def as_dict(self) -> dict:
        data = self._asdict()
        data["issues"] = [issue._asdict() for issue in self.issues]
        return data

    def to_json(self) -> str:
        import json  # not at the top: a plain ``duis validate`` does without it
        return json.dumps(self.as_dict(), sort_keys=True)

    def render(self) -> str:
        head = f"{self.source}: {self.verdict}"
        if self.verdict != UNUSABLE:
            head += f" ({self.schema} schema"
            srv = self.service_reference_variant
            head += f", SR {srv})" if srv else ")"
        if not self.issues:
            return head
        count = len(self.issues)
        more = "+" if self.truncated else ""
        lines = [f"{head}: {count}{more} problem{'s' if count != 1 or more else ''}"]
        lines += ["  " + issue.render().replace("\n", "\n  ") for issue in self.issues]
        if self.truncated:
            lines.append(f"  report truncated: {self.truncated}")
        return "\n".join(lines)
