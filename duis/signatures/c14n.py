"""The byte forms the DUIS profile signs, and the one whitespace rule.

See :mod:`duis.signatures.profile` for why the document is canonicalised
inclusively and SignedInfo exclusively.
"""

from __future__ import annotations

from lxml import etree

#: the four characters XML calls white space
XML_SPACE = " \t\r\n"


def signed_info_octets(signed_info: etree._Element) -> bytes:
    """Exclusive C14N 1.0 (no comments) of ``ds:SignedInfo``: the signed input."""
    return etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)


def document_octets(tree: etree._ElementTree, signature: etree._Element | None) -> bytes:
    """Inclusive C14N 1.0 (no comments) of the document without ``signature``.

    This is the enveloped-signature transform followed by XML-DSig's default
    node-set-to-octets conversion.  ``signature`` is detached from ``tree``
    (the caller owns the tree); the text after it stays where it was.
    ``None``: the tree holds it no longer (it was left out when parsing).
    """
    if signature is not None:
        detach(signature)
    return etree.tostring(tree, method="c14n", exclusive=False, with_comments=False)


def detach(element: etree._Element) -> None:
    """Remove ``element`` but keep its tail text in the document.

    lxml stores the text that follows an element as that element's ``tail``
    and would drop it with the element; the enveloped-signature transform
    removes the element node only.
    """
    parent = element.getparent()
    if parent is None:
        raise ValueError("the root element cannot be detached")
    tail = element.tail
    if tail:
        previous = element.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    element.tail = None
    parent.remove(element)


def strip_ignorable_whitespace(root: etree._Element) -> None:
    """Drop whitespace-only text between elements (element-only content).

    The DCC's signing tool parses with a schema and discards such whitespace
    before it digests, so it only accepts documents signed without it.  Text
    of leaf elements (no element child) is data and is never touched.

    The rule: an element with at least one element child loses its text and
    its children's tails (comments' and processing instructions' too) where
    each is white space only.
    """
    # one walk over the elements (comments and processing instructions count as
    # children for len(), but an element with only those keeps its text: the
    # first test below is the cheap one, the second the rule)
    for parent in root.iter(etree.Element):
        if len(parent) == 0 or next(parent.iterchildren(etree.Element), None) is None:
            continue
        text = parent.text
        if text is not None and not text.strip(XML_SPACE):
            parent.text = None
        for child in parent:
            tail = child.tail
            if tail is not None and not tail.strip(XML_SPACE):
                child.tail = None
