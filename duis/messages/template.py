"""Documents laid out from texts: the first of each shape built and validated, the
rest filled into its template.

A *layout* turns named texts into a document (a DUIS message or an MMC document);
:class:`TemplateBook` gives the bytes its writer gives for ``layout(texts)``, the same
ones, and refuses what the writer refuses (:class:`~duis.errors.SchemaInvalid`):

- The first document of each *shape* (the layout, and which texts are left out
  (``None``) or empty: an empty element is written ``<x/>``) is written and validated
  the long way.  Marking each text and writing the layout again gives the shape's
  *template*: the markup with a slot for each text and how it is escaped there.  It
  is kept only if filling it with the first document's texts gives that document's
  bytes exactly.
- Later documents of that shape only have their texts escaped and filled in.  That
  is sound for the texts the caller formats itself, valid over their whole range by
  construction (identifiers, counters, times, base64 of bytes); a text from elsewhere
  (a name in ``foreign``: a code passed in, a version a device reports) is validated
  the long way the first time it is seen in its place, and remembered (at most
  :data:`SEEN_MAX` per place; beyond, new ones take the long way).  A text outside
  printable ASCII always takes the long way.

In XML Schema a simple value's validity depends only on the declaration of the
element or attribute that holds it, and a place in a shape always has the same
declaration; the DUIS and MMC schemas have no identity constraints, IDs or
``xsi:type``, which would break that.

A book may also keep each shape's *Canonical XML* (C14N 1.0, what a signature
digests) as a second template, made the same way from the canonical form of the
marked document and kept only if it gives the first document's canonical form
exactly (:meth:`TemplateBook.render_with_canonical`): a filled document then
comes with the octets its signature digests, without being parsed.  C14N escapes
printable ASCII as lxml does, but for ``>`` in an attribute value, which it
leaves as it is.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable
from typing import Any

#: the texts a document is laid out from, by name; ``None`` leaves an optional part out
Texts = dict[str, str | None]
#: a layout: texts -> the document its writer writes
Layout = Callable[[Texts], Any]
#: a writer: (document, validate) -> its bytes; with validate, raises SchemaInvalid for
#: a document the schema refuses
Writer = Callable[[Any, bool], bytes]
#: a document's bytes -> its Canonical XML (None: it has none the book should keep)
Canonical = Callable[[bytes], bytes | None]

#: texts remembered as valid per place; beyond this many, new ones take the long way
SEEN_MAX = 1024
#: a character lxml escapes in printable ASCII text or attribute values
_ESCAPED = re.compile(r'[&<>"]')
#: how lxml escapes printable ASCII in text and in attribute values
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
#: how Canonical XML escapes printable ASCII in attribute values (text: as lxml)
_C14N_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", '"': "&quot;"})
#: what marks text number i while a template is made (no layout writes it)
_MARK = "\x7f"

_Shape = tuple[Hashable, tuple[str, ...], tuple[bool | None, ...]]


class TemplateBook:
    """The templates of one writer (one schema), by shape (module docstring);
    with ``canonical``, each shape's Canonical XML too."""

    def __init__(self, write: Writer, *, foreign: frozenset[str] = frozenset(),
                 canonical: Canonical | None = None) -> None:
        self.write = write
        self.foreign = foreign
        self.canonical = canonical
        self._templates: dict[_Shape, tuple[_Template, _Template | None]] = {}
        self._seen: dict[tuple[_Shape, str], set[str]] = {}

    def render(self, layout: Layout, name: Hashable, texts: Texts) -> bytes:
        """``write(layout(texts), True)``'s bytes.  ``name`` names the layout (with
        anything it is made for that is not a text: two layouts never share one)."""
        return self.render_with_canonical(layout, name, texts, canonical=False)[0]

    def render_with_canonical(self, layout: Layout, name: Hashable, texts: Texts, *,
                              canonical: bool = True) -> tuple[bytes, bytes | None]:
        """:meth:`render`'s bytes and, when ``canonical`` and they were filled into a
        template, their Canonical XML (the book's ``canonical`` of them); else ``None``."""
        shape = (name, tuple(texts), tuple(None if t is None else bool(t)
                                           for t in texts.values()))
        templates = self._templates.get(shape)
        fits = _fits(texts)
        if templates is not None and fits and self._known(shape, texts):
            template, second = templates
            return template.fill(texts), \
                second.fill(texts) if canonical and second is not None else None
        document = self.write(layout(texts), True)  # raises if the schema refuses it
        if fits:
            if templates is None:
                templates = self._made(layout, texts, document)
                if templates is None:
                    return document, None  # a layout a template cannot show
                self._templates[shape] = templates
            self._remember(shape, texts)
        return document, None

    def _made(self, layout: Layout, texts: Texts,
              document: bytes) -> tuple[_Template, _Template | None] | None:
        """The templates of ``document``'s shape, each kept only if it gives
        ``document`` (and its canonical form) from its texts."""
        marked = self.write(layout(_marked(texts)), False)
        template = _Template.of(marked, texts, _ATTRIBUTE_ESCAPES)
        if template is None or template.fill(texts) != document:
            return None
        second = None
        if self.canonical is not None and (expected := self.canonical(document)) is not None \
                and (marked_canonical := self.canonical(marked)) is not None:
            second = _Template.of(marked_canonical, texts, _C14N_ATTRIBUTE_ESCAPES)
            if second is not None and second.fill(texts) != expected:
                second = None
        return template, second

    def _known(self, shape: _Shape, texts: Texts) -> bool:
        for name in self.foreign:
            text = texts.get(name)
            if text is not None and text not in self._seen.get((shape, name), ()):
                return False
        return True

    def _remember(self, shape: _Shape, texts: Texts) -> None:
        for name in self.foreign:
            text = texts.get(name)
            if text is not None:
                seen = self._seen.setdefault((shape, name), set())
                if len(seen) < SEEN_MAX:
                    seen.add(text)


def _in_attribute(before: str) -> bool:
    """Whether markup ending with ``before`` is inside an attribute value: in the tag
    its last ``<`` opens (neither form writes ``<`` in a text or value) between
    double quotes (both write ``"`` in a value as ``&quot;``; C14N leaves ``>`` in
    one as it is)."""
    in_value = False
    for char in before[before.rfind("<") + 1:]:
        if char == '"':
            in_value = not in_value
        elif char == ">" and not in_value:
            return False
    return in_value


def _marked(texts: Texts) -> Texts:
    """``texts`` with each non-empty one replaced by a mark of its number."""
    return {name: (f"{_MARK}{i}{_MARK}" if text else text)
            for i, (name, text) in enumerate(texts.items())}


def _fits(texts: Texts) -> bool:
    """Whether every text is printable ASCII (what a template is trusted to escape)."""
    joined = "".join(filter(None, texts.values()))
    return joined.isascii() and joined.isprintable()


class _Template:
    """A document's markup with a ``{}`` where each text goes (``slots``: the text's
    name and how it is escaped there, in order)."""

    def __init__(self, markup: str, slots: tuple[tuple[str, dict[int, str]], ...]) -> None:
        self.markup, self.slots = markup, slots

    @classmethod
    def of(cls, marked: bytes, texts: Texts,
           attribute_escapes: dict[int, str]) -> _Template | None:
        """The template of ``texts``' shape from ``marked``, their layout written with
        :func:`_marked` texts (None if it holds anything but ASCII of its own); a text
        in an attribute value is escaped with ``attribute_escapes``."""
        names = list(texts)
        if not marked.isascii():
            return None
        pieces, slots = [], []
        markup = marked.decode("ascii")
        position = 0
        while (start := markup.find(_MARK, position)) >= 0:
            end = markup.index(_MARK, start + 1)
            pieces.append(markup[position:start].replace("{", "{{").replace("}", "}}"))
            slots.append((names[int(markup[start + 1:end])],
                          attribute_escapes if _in_attribute(markup[:start]) else _TEXT_ESCAPES))
            position = end + 1
        pieces.append(markup[position:].replace("{", "{{").replace("}", "}}"))
        assert {name for name, _ in slots} == {n for n in names if texts[n]}, \
            slots  # a text may recur
        return cls("{}".join(pieces), tuple(slots))

    def fill(self, texts: Texts) -> bytes:
        values = [texts[name] or "" for name, _ in self.slots]
        if _ESCAPED.search("".join(values)) is not None:  # the usual text needs none
            values = [value.translate(escapes)
                      for value, (_, escapes) in zip(values, self.slots, strict=True)]
        return self.markup.format(*values).encode("ascii")


__all__ = ["SEEN_MAX", "Canonical", "Layout", "TemplateBook", "Texts", "Writer"]
