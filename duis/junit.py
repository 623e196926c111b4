"""JUnit XML reports, the format CI systems read (Jenkins, GitLab, GitHub Actions'
test reporters): one ``<testsuite>`` of ``<testcase>`` elements, each passed,
failed (``<failure>``: the check did not hold), in error (``<error>``: it could
not be checked) or skipped.

:func:`junit_xml` returns the document's bytes; the caller decides where they go
(``duis validate --junit-xml FILE``, ``duis golden check --junit-xml FILE``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    """One test case: ``failure``, ``error`` and ``skipped`` hold their message
    (at most one of them is set); ``details`` is the longer text shown under it."""

    name: str
    classname: str
    seconds: float = 0.0
    failure: str | None = None
    error: str | None = None
    skipped: str | None = None
    details: str = ""


def junit_xml(suite: str, cases: Iterable[Case], *, seconds: float = 0.0) -> bytes:
    """A JUnit XML document (UTF-8, with a declaration) for the ``cases`` of ``suite``."""
    cases = list(cases)
    counts = {"tests": len(cases),
              "failures": sum(c.failure is not None for c in cases),
              "errors": sum(c.error is not None for c in cases),
              "skipped": sum(c.skipped is not None for c in cases)}
    root = ET.Element("testsuites", {k: str(v) for k, v in counts.items()},
                      name=_clean(suite), time=f"{seconds:.3f}")
    element = ET.SubElement(root, "testsuite", {k: str(v) for k, v in counts.items()},
                            name=_clean(suite), time=f"{seconds:.3f}")
    for case in cases:
        item = ET.SubElement(element, "testcase", name=_clean(case.name),
                             classname=_clean(case.classname), time=f"{case.seconds:.3f}")
        for tag, message in (("failure", case.failure), ("error", case.error),
                             ("skipped", case.skipped)):
            if message is not None:
                outcome = ET.SubElement(item, tag, message=_clean(message))
                if case.details:
                    outcome.text = _clean(case.details)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def _clean(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (a report quotes input)."""
    return "".join(ch if ch in "\t\n\r" or ch >= " " and ch not in "\ufffe\uffff"
                   and not "\ud800" <= ch <= "\udfff" else "\ufffd" for ch in text)


__all__ = ["Case", "junit_xml"]
