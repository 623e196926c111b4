"""The value of an element: the one way duis reads the text of a message element.

XML lets character data be split into several text nodes by comments and
processing instructions: ``<sr:RequestID>…:20<!---->02</sr:RequestID>``.
lxml's ``element.text`` is only the first of those nodes ("…:20"), while the
schema validators (XSD) and the DCC read the value of a simple-typed element
as **all** its character data concatenated, comments and processing
instructions left out ("…:2002").  Exclusive Canonical XML drops the comment
and keeps a processing instruction, but either way what was signed is the
whole text.  So anything duis acts on (a RequestID and its counter, a command
variant, a service reference, a hash, a firmware image, …) is read with
:func:`element_value`, never with ``.text``: reading only the first text node
would let one signed message be read in several ways (a captured request
replayed with its counter "split" at each position).

CDATA sections and character references (``&#x30;``) are merged into the text
by the parser already; entity references cannot occur (a DTD is refused).
"""

from __future__ import annotations

from lxml import etree


def element_value(element: etree._Element) -> str:
    """All the character data directly inside ``element``, concatenated: its
    text and the text after each of its child nodes, comments and processing
    instructions themselves left out (as XSD and the DCC read a simple-typed
    element).  ``""`` when there is none.

    For an element with element children (complex content) this is the text
    between them (white space, in a valid DUIS message), not their text.
    """
    text = element.text
    if len(element) == 0:  # no child node of any kind: the usual case, one text node
        return text or ""
    parts = [text] if text else []
    for child in element:
        tail = child.tail
        if tail:
            parts.append(tail)
    return "".join(parts)


def first_child(parent: etree._Element, tag: str) -> etree._Element | None:
    """The first child element of ``parent`` named ``tag`` (Clark notation), as
    ``parent.find(tag)`` gives it, or ``None``.  Where DUIS puts it first (the
    Header in a message, the RequestID in a Header) it is found without a search."""
    if len(parent):
        child = parent[0]
        if child.tag == tag:
            return child
    return next(parent.iterchildren(tag), None)


__all__ = ["element_value", "first_child"]
