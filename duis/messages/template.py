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

#: texts remembered as valid per place; beyond this many, new ones take the long way
SEEN_MAX = 1024
#: a character lxml escapes in printable ASCII text or attribute values
_ESCAPED = re.compile(r'[&<>"]')
#: how lxml escapes printable ASCII in text and in attribute values
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTRIBUTE_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
#: what marks text number i while a template is made (no layout writes it)
_MARK = "\x7f"

_Shape = tuple[Hashable, tuple[str, ...], tuple[bool | None, ...]]


class TemplateBook:
    """The templates of one writer (one schema), by shape (module docstring)."""

    def __init__(self, write: Writer, *, foreign: frozenset[str] = frozenset()) -> None:
        self.write = write
        self.foreign = foreign
        self._templates: dict[_Shape, _Template] = {}
        self._seen: dict[tuple[_Shape, str], set[str]] = {}

    def render(self, layout: Layout, name: Hashable, texts: Texts) -> bytes:
        """``write(layout(texts), True)``'s bytes.  ``name`` names the layout (with
        anything it is made for that is not a text: two layouts never share one)."""
        shape = (name, tuple(texts), tuple(None if t is None else bool(t)
                                           for t in texts.values()))
        template = self._templates.get(shape)
        fits = _fits(texts)
        if template is not None and fits and self._known(shape, texts):
            return template.fill(texts)
        document = self.write(layout(texts), True)  # raises if the schema refuses it
        if fits:
            if template is None:
                template = _Template.of(lambda marked: self.write(layout(marked), False),
                                        texts)
                if template is None or template.fill(texts) != document:
                    return document  # a layout a template cannot show
                self._templates[shape] = template
            self._remember(shape, texts)
        return document

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
    def of(cls, write: Callable[[Texts], bytes], texts: Texts) -> _Template | None:
        """The template of ``texts``' shape: the layout written with a mark in each text
        (None if the layout writes anything but ASCII of its own)."""
        names = list(texts)
        written = write({name: (f"{_MARK}{i}{_MARK}" if texts[name] else texts[name])
                         for i, name in enumerate(names)})
        if not written.isascii():
            return None
        marked = written.decode("ascii")
        pieces, slots = [], []
        rest = marked
        while (start := rest.find(_MARK)) >= 0:
            end = rest.index(_MARK, start + 1)
            before = rest[:start]
            in_attribute = before.rfind("<") > before.rfind(">")
            pieces.append(before.replace("{", "{{").replace("}", "}}"))
            slots.append((names[int(rest[start + 1:end])],
                          _ATTRIBUTE_ESCAPES if in_attribute else _TEXT_ESCAPES))
            rest = rest[end + 1:]
        pieces.append(rest.replace("{", "{{").replace("}", "}}"))
        assert {name for name, _ in slots} == {n for n in names if texts[n]}, \
            slots  # a text may recur
        return cls("{}".join(pieces), tuple(slots))

    def fill(self, texts: Texts) -> bytes:
        values = [texts[name] or "" for name, _ in self.slots]
        if _ESCAPED.search("".join(values)) is not None:  # the usual text needs none
            values = [value.translate(escapes)
                      for value, (_, escapes) in zip(values, self.slots, strict=True)]
        return self.markup.format(*values).encode("ascii")


__all__ = ["SEEN_MAX", "Layout", "TemplateBook", "Texts", "Writer"]
