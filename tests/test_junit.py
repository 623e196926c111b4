"""JUnit XML reports: the shape CI tools read, counts that match, hostile text carried."""

from __future__ import annotations

from lxml import etree

from duis.junit import Case, junit_xml


def test_counts_outcomes_and_text():
    data = junit_xml("duis validate", [
        Case("a.xml", "validate"),
        Case("b.xml", "validate", 0.25, failure="invalid: 2 problems", details="line 3: ..."),
        Case("c.xml", "validate", error="cannot read file"),
        Case("d.xml", "validate", skipped="not covered"),
    ], seconds=1.5)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>\n<testsuites")
    root = etree.fromstring(data)
    suite = root.find("testsuite")
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time")} \
        == {"name": "duis validate", "tests": "4", "failures": "1", "errors": "1",
            "skipped": "1", "time": "1.500"}
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["a.xml", "b.xml", "c.xml", "d.xml"]
    assert list(cases[0]) == []
    failure = cases[1].find("failure")
    assert (failure.get("message"), failure.text, cases[1].get("time")) == \
        ("invalid: 2 problems", "line 3: ...", "0.250")
    assert cases[2].find("error").get("message") == "cannot read file"
    assert cases[3].find("skipped").get("message") == "not covered"


def test_text_xml_cannot_carry_is_replaced_not_fatal():
    data = junit_xml("s", [Case("x\x00y", "c", failure="bad \x1b[31m <&> \ud800")])
    case = etree.fromstring(data).find("testsuite/testcase")
    assert case.get("name") == "x\ufffdy"
    assert case.find("failure").get("message") == "bad \ufffd[31m <&> \ufffd"
