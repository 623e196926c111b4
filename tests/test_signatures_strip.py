"""The one whitespace rule signing applies (duis.signatures.c14n.strip_ignorable_whitespace),
case by case: whitespace-only text goes where an element has element children,
everything else stays."""

from __future__ import annotations

import pytest
from lxml import etree

from duis.signatures.c14n import strip_ignorable_whitespace

CASES = [
    # input, the same after stripping
    ("<a>\n  <b>x</b>\n  <c/>\n</a>", "<a><b>x</b><c/></a>"),
    ("<a><b> </b></a>", "<a><b> </b></a>"),  # a leaf's text is data
    ("<a> </a>", "<a> </a>"),
    ("<a> <!--c--> </a>", "<a> <!--c--> </a>"),  # no element child: nothing goes
    ("<a> <!--c--> <b/> </a>", "<a><!--c--><b/></a>"),
    ("<a>x<!--c-->  <b/></a>", "<a>x<!--c--><b/></a>"),  # a comment's tail counts
    ("<a>x <b/> y</a>", "<a>x <b/> y</a>"),  # mixed content with data keeps it
    ("<a>\t\r\n<b/>&#13;</a>", "<a><b/></a>"),  # the four XML space characters
    ("<a>\u00a0<b/></a>", "<a>\u00a0<b/></a>"),  # not XML white space
    ("<a><?p x?> <b/></a>", "<a><?p x?><b/></a>"),
    ("<a xml:space='preserve'> <b/></a>", '<a xml:space="preserve"><b/></a>'),
    ("<a><b>\n <c/>\n</b>\n</a>", "<a><b><c/></b></a>"),  # at every depth
]


@pytest.mark.parametrize(("given", "expected"), CASES)
def test_strip_ignorable_whitespace(given, expected):
    root = etree.fromstring(given)
    strip_ignorable_whitespace(root)
    assert etree.tostring(root, encoding="unicode") == expected


#: CDATA sections kept as nodes (a tree given to sign() may come from such a parser)
CDATA_CASES = [
    ("<a> <![CDATA[x]]><b/></a>", "<a> <![CDATA[x]]><b/></a>"),  # the text is " x"
    ("<a><b/> <![CDATA[ ]]></a>", "<a><b/></a>"),  # white space in both nodes
    ("<a><b><![CDATA[ ]]></b></a>", "<a><b><![CDATA[ ]]></b></a>"),  # a leaf's
]


@pytest.mark.parametrize(("given", "expected"), CDATA_CASES)
def test_text_split_by_cdata_is_judged_whole(given, expected):
    root = etree.fromstring(given, etree.XMLParser(strip_cdata=False))
    strip_ignorable_whitespace(root)
    assert etree.tostring(root, encoding="unicode") == expected


def test_a_subtree_is_stripped_within_itself():
    root = etree.fromstring("<r> <a> <b/> </a> </r>")
    strip_ignorable_whitespace(root[0])
    assert etree.tostring(root, encoding="unicode") == "<r> <a><b/></a> </r>"
