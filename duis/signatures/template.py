"""The profile's one Signature as a template: what signing writes, what verifying recognises.

:data:`TEMPLATE` is built once from :data:`duis.signatures.profile.STRUCTURE`
and is the only place that turns that shape into bytes or patterns:

* :attr:`SignatureTemplate.markup`: the Signature as duis writes it (compact,
  the ``ds`` prefix), in pieces around its values;
* :meth:`SignatureTemplate.signed_info_octets`: SignedInfo's exclusive C14N,
  the octets every signature signs, given the digest;
* :meth:`SignatureTemplate.element`: the Signature as an element, values filled in;
* :attr:`SignatureTemplate.paths`: where each part sits, by tag;
* three recognisers, :meth:`SignatureTemplate.read_enveloped` (from a
  message's bytes), :meth:`SignatureTemplate.read_compact` and
  :meth:`SignatureTemplate.canonical_signed_info` (from the element), that
  :func:`duis.signatures.verify` tries before its element-by-element check.

Which check is the real one: the element-by-element check in
:mod:`duis.signatures.verify` (``_Checker._walk`` against ``STRUCTURE``)
defines what the profile accepts and names the first difference.  The
recognisers here are shortcuts: each answers ``None`` unless the Signature is
one the element-by-element check accepts, and then gives the same values
(``tests/test_signatures_fastpath.py`` and ``tests/test_signatures_enveloped.py``
check them).
"""

from __future__ import annotations

import binascii
import copy
import re
from collections.abc import Sequence
from typing import NamedTuple, cast

from lxml import etree

from . import profile as P
from .c14n import signed_info_octets

#: the text put where each value goes while the pieces are cut out
_MARK = b"MARK"
#: white space as exclusive C14N writes it (a carriage return becomes a reference)
_C14N_SPACE = rb"(?:[ \t\n]|&#xD;)*"
_WHITESPACE = b" \t\r\n"
#: the rest of the Signature's start tag as lxml writes it: the namespace
#: declarations in scope (a value holds no quote character: lxml would quote
#: it with apostrophes), then its end
_MORE_NAMESPACES = re.compile(rb'(?: xmlns(?::[^\s="]+)?="[^"]*")*>')
#: an end tag, nothing else
_END_TAG = re.compile(rb"</[^\s<>/]+>")
#: a value as :meth:`SignatureTemplate.read_enveloped` takes it from the bytes:
#: printable ASCII, tab and line feed, without "<", ">" or "&" (what lxml writes
#: as it is, so the same values :meth:`SignatureTemplate.read_compact` reads)
_PLAIN = rb"([\t\n\x20-\x25\x27-\x3b\x3d\x3f-\x7e]*)"


class SignatureValues(NamedTuple):
    """What a Signature in the profile says, read and checked for form."""

    issuer: str
    """The issuer's distinguished name, white space around it dropped."""
    serial: int
    """The certificate's serial number."""
    digest: bytes
    """The document's SHA-256 digest (32 bytes)."""
    value: bytes
    """The raw ``r || s`` signature value (64 bytes)."""
    signed_info: bytes | None
    """SignedInfo's exclusive C14N, the signed octets; ``None`` when the check
    that read the values did not produce them (the caller canonicalises)."""


class SignatureTemplate:
    """The one Signature shape ``structure`` allows, as markup, octets and recognisers.

    ``structure`` must name SignedInfo (:data:`~duis.signatures.profile.SIGNED_INFO`)
    and have exactly the value elements :data:`VALUE_TAGS`, in that order,
    each tag once.
    """

    def __init__(self, structure: P.Node) -> None:
        nodes = tuple(P.preorder(structure))
        tags = [node.name for node in nodes]
        assert len(set(tags)) == len(tags), "each part of the Signature is found by its tag"
        #: the value elements' tags, in document order
        self.values: tuple[str, ...] = tuple(node.name for node in nodes if node.text)
        assert self.values == VALUE_TAGS, self.values
        assert all(value is not None and ">" not in value
                   for node in nodes for _, value in node.attributes), \
            "every attribute has its one value, and no '>' (the shape pattern cuts at '><')"
        self._element = _build(structure)
        #: each part's place, as a path from the Signature (``/ds:SignedInfo/...``)
        #: and as its index among the Signature's elements in document order
        self.paths: dict[str, str] = {}
        self._index: dict[str, int] = {}
        for index, element in enumerate(self._element.iter()):
            path = self._element.getroottree().getpath(element)  # /ds:Signature/...
            tag = cast(str, element.tag)  # built by _build from the profile's str names
            self.paths[tag] = path.partition("/ds:Signature")[2]
            self._index[tag] = index

        marked = self.element(*(_MARK.decode("ascii"),) * len(self.values))
        #: the Signature as lxml serializes it on its own, around the values in
        #: :data:`VALUE_TAGS` order: what :mod:`duis.signatures.sign` writes
        self.markup: tuple[bytes, ...] = _cut(etree.tostring(marked), len(self.values))
        signed_info = marked.find(P.SIGNED_INFO)
        assert signed_info is not None  # the profile's structure holds one
        #: SignedInfo's exclusive C14N around the digest.  Exclusive C14N of an
        #: element does not depend on where it sits (an ancestor's declaration
        #: is written only where the element uses it, and SignedInfo declares
        #: ``ds`` itself), so these are the signed octets of every signature.
        before, after = _cut(signed_info_octets(signed_info), 1)
        self.signed: tuple[bytes, bytes] = (before, after)

        #: the markup duis writes, each value a plain text (read_enveloped)
        self._enveloped = re.compile(_PLAIN.join(re.escape(piece) for piece in self.markup))

        # the compact reader: the start tag up to its declarations, the rest
        # of the markup after it
        self._start = self.markup[0][:self.markup[0].index(b">")]
        assert self._start == f'<ds:Signature xmlns:ds="{P.DS}"'.encode("ascii"), self._start
        self._inner = (self.markup[0][len(self._start) + 1:],) + self.markup[1:]

        # the shape pattern: the Signature's exclusive C14N (with comments)
        # with white space allowed between elements and any text without
        # markup as each value; SignedInfo is captured
        canonical = etree.tostring(marked, method="c14n", exclusive=True, with_comments=True)
        declared = signed_info_octets(signed_info)
        self._signed_info_declared = declared[:declared.index(b">")]  # <ds:SignedInfo xmlns:ds=..
        self._signed_info_start = b"<" + _prefixed(P.SIGNED_INFO)
        inside = self._signed_info_start + declared[len(self._signed_info_declared):]
        before, found, after = canonical.partition(inside)
        assert found and before.endswith(b">") and after.startswith(b"<"), canonical
        self._shape = re.compile(
            _pattern(before) + _C14N_SPACE + b"(?P<signed_info>" + _pattern(inside) + b")"
            + _C14N_SPACE + _pattern(after))

    def element(self, digest: str, value: str, issuer: str, serial: str) -> etree._Element:
        """A new Signature element holding these texts (a ``ds`` declaration of its own)."""
        signature = copy.deepcopy(self._element)
        elements = list(signature.iter())
        for tag, text in zip(self.values, (digest, value, issuer, serial), strict=True):
            elements[self._index[tag]].text = text
        return signature

    def signed_info_octets(self, digest: bytes) -> bytes:
        """SignedInfo's exclusive C14N naming ``digest`` (the base64 text, as ASCII bytes)."""
        return self.signed[0] + digest + self.signed[1]

    def read_compact(self, signature: etree._Element) -> SignatureValues | None:
        """The values of ``signature`` if it is exactly the profile's in the
        compact form duis writes (no white space between elements, the ``ds``
        prefix, no character reference in a value) and each value is well
        formed; else ``None`` (the element-by-element check decides and reports).

        The values come with SignedInfo's octets.
        """
        # lxml's serialization shows every node, attribute and declaration in
        # the subtree and escapes "&", "<", ">", CR and anything beyond ASCII
        # with "&": so when it matches the profile's markup with values free
        # of "&", the elements, attributes and texts are the profile's and the
        # values are the texts byte for byte
        markup = etree.tostring(signature, with_tail=False)
        if markup.find(b"&") >= 0 or not markup.startswith(self._start):
            return None
        start = _MORE_NAMESPACES.match(markup, len(self._start))
        if start is None:
            return None
        # each value runs from the end of the markup before it to the next "<";
        # rebuilt around them, the profile's markup must give the very bytes
        inner = self._inner
        head = start.end()
        position = head
        texts = []
        for literal in inner[:-1]:
            position += len(literal)
            end = markup.find(b"<", position)
            if end < 0:
                return None
            texts.append(markup[position:end])
            position = end
        if markup[head:] != b"".join((inner[0], texts[0], inner[1], texts[1], inner[2],
                                      texts[2], inner[3], texts[3], inner[4])):
            return None
        return self._values(texts)

    def read_enveloped(self, data: bytes) -> tuple[int, int, SignatureValues] | None:
        """Where the Signature is in a whole message's bytes (``data[start:end]``)
        and its values,
        if the message ends with it as duis writes it: the root's last child,
        right before the root's end tag (then only white space), exactly the
        compact markup around values of printable ASCII without ``<``, ``>`` or
        ``&``, each well formed; else ``None`` (the tree decides).

        Read from the bytes, the Signature need not be parsed, and the message
        without it is ``data[:start] + data[end:]``.  The bytes can be
        taken at their word: the end tag, followed by white space only, is
        markup (a comment, CDATA section or processing instruction would have
        to close after it) and so is the root's; the markup before it holds no
        ``-->``, ``]]>`` or ``?>`` (its only ``>`` close its own tags), so
        ``<ds:Signature`` opens an element, this one, the root's last child;
        and its values, free of references, character data the parser changes
        (a carriage return) or refuses, are the texts the parser would give.
        When the message without it is well formed, the message is, with this
        Signature and no other in this place (:func:`duis.signatures.verify`
        parses the rest and checks it).
        """
        end = len(data)
        while end and data[end - 1] in _WHITESPACE:
            end -= 1
        close = data.rfind(b"</", 0, end)
        if close < 0 or _END_TAG.fullmatch(data, close, end) is None \
                or not data.endswith(self.markup[-1], 0, close):
            return None
        start = data.rfind(self.markup[0], 0, close)
        match = self._enveloped.fullmatch(data, start, close) if start >= 0 else None
        if match is None:
            return None
        values = self._values(match.groups())
        return None if values is None else (start, close, values)

    def _values(self, texts: Sequence[bytes]) -> SignatureValues | None:
        """The values the texts (as the markup holds them, no reference in them)
        give, if each is well formed and within its bound; else ``None``."""
        digest_text, value_text, issuer_text, serial_text = texts
        try:
            digest = binascii.a2b_base64(digest_text.translate(None, _WHITESPACE),
                                         strict_mode=True)
            value = binascii.a2b_base64(value_text.translate(None, _WHITESPACE),
                                        strict_mode=True)
        except (binascii.Error, ValueError):
            return None
        if len(issuer_text) > P.MAX_ISSUER_NAME_CHARS or len(serial_text) > P.MAX_SERIAL_DIGITS:
            return None  # the element-by-element check refuses it, saying so
        issuer = issuer_text.decode("ascii").strip()
        serial = serial_text.decode("ascii").strip()
        if len(digest) != P.DIGEST_BYTES or len(value) != P.SIGNATURE_BYTES or not issuer \
                or not serial.isdigit():
            return None
        # SignedInfo uses the ds namespace alone and C14N escapes nothing such
        # a digest text holds: its octets are the template's around the text
        return SignatureValues(issuer, int(serial), digest, value,
                               self.signed[0] + digest_text + self.signed[1])

    def canonical_signed_info(self, signature: etree._Element) -> bytes | None:
        """SignedInfo's exclusive C14N if ``signature`` is exactly the profile's
        shape, white space between elements allowed (no comment, processing
        instruction or other text, the ``ds`` prefix); else ``None``.

        The values are not read or checked: in such a Signature each part is
        the only element with its tag.
        """
        octets = etree.tostring(signature, method="c14n", exclusive=True, with_comments=True)
        match = self._shape.fullmatch(octets)
        if match is None:
            return None
        # SignedInfo's part of the Signature's octets, with the ds declaration
        # the Signature carried moved onto it (exclusive C14N of an element
        # depends on its ancestors only for the namespaces it uses)
        return self._signed_info_declared \
            + match.group("signed_info")[len(self._signed_info_start):]


#: the value elements, in document order: what signing fills in and verifying reads
VALUE_TAGS = (P.DIGEST_VALUE, P.SIGNATURE_VALUE, P.ISSUER_NAME, P.SERIAL_NUMBER)


def _build(spec: P.Node, parent: etree._Element | None = None) -> etree._Element:
    """``spec`` as an element (values empty), under ``parent``."""
    element = etree.Element(spec.name, nsmap={"ds": P.DS}) if parent is None \
        else etree.SubElement(parent, spec.name)
    for name, value in spec.attributes:
        assert value is not None  # Template checks that each attribute has its one value
        element.set(name, value)
    for child in spec.children:
        _build(child, element)
    return element


def _cut(data: bytes, count: int) -> tuple[bytes, ...]:
    """``data`` split at the ``count`` marks it holds."""
    pieces = tuple(data.split(_MARK))
    assert len(pieces) == count + 1, pieces
    return pieces


def _prefixed(tag: str) -> bytes:
    """An xmldsig tag as the template writes it (``ds:`` prefix)."""
    return b"ds:" + etree.QName(tag).localname.encode("ascii")


def _pattern(canonical: bytes) -> bytes:
    """A pattern for canonical markup of the template: the same, white space
    allowed between any two tags, any text without markup where a mark is."""
    return (b">" + _C14N_SPACE + b"<").join(
        re.escape(piece).replace(_MARK, rb"[^<]*") for piece in canonical.split(b"><"))


TEMPLATE = SignatureTemplate(P.STRUCTURE)

__all__ = ["TEMPLATE", "VALUE_TAGS", "SignatureTemplate", "SignatureValues"]
