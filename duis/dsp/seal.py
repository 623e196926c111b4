"""Sealing: the DSP's xml-sign signature on what it sends, a step of its own.

The DSP's steps build every message unsigned (:class:`~.responses.Outgoing`,
its element and its bytes); :func:`seal` signs them with the DSP's credential
valid at ``now``.  Where sealing runs is the caller's choice, never a mode of
the DSP: :meth:`~duis.dsp.DSP.submit` is handle then seal; ``duis serve``
seals a batch in its own process, or sends the bytes (and their Canonical XML,
when a template gave it) to a worker process (:func:`seal_bytes`).  Both give
the very same bytes: ECDSA here is deterministic (RFC 6979), the unsigned bytes
parse back to the element they were built from, and the Canonical XML is that
element's.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from lxml import etree

from ..signatures import CredentialStore, sign_built
from ..signatures.credentials import Credential
from ..signatures.sign import sign_prepared
from ..xmlparse import parse_own
from .responses import XML_DECLARATION, Outgoing


def seal(outgoing: Iterable[Outgoing], store: CredentialStore,
         now: _dt.datetime) -> list[Outgoing]:
    """``outgoing`` signed with the DSP's credential valid at ``now``, in order;
    a message already signed is passed on as it is.

    Raises the store's :class:`~duis.signatures.CredentialError` when the DSP has
    no signing credential valid at ``now``.
    """
    credential = None
    sealed = []
    for out in outgoing:
        if out.signed:
            sealed.append(out)
            continue
        if credential is None:
            credential = store.dsp_signing_credential(now=now)
        sealed.append(out.with_signature(_signed(out.xml, credential, out.canonical,
                                                 out.element)))
    return sealed


def seal_bytes(unsigned: bytes, store: CredentialStore, now: _dt.datetime,
               canonical: bytes | None = None) -> bytes:
    """One unsigned message (an :attr:`Outgoing.xml`, and its
    :attr:`~Outgoing.canonical` when it has one) signed with the DSP's credential
    valid at ``now``, from its bytes alone (in another process): byte for byte
    what :func:`seal` gives."""
    return _signed(unsigned, store.dsp_signing_credential(now=now), canonical)


def _signed(xml: bytes, credential: Credential, canonical: bytes | None,
            element: etree._Element | None = None) -> bytes:
    """``xml``, an XML declaration and the element as lxml writes it, signed: with
    its Canonical XML at hand nothing is parsed; with its element (or ``xml``
    parsed), the element's serialization is not written again."""
    serialized = xml.removeprefix(XML_DECLARATION)
    if canonical is not None:
        return sign_prepared(serialized, canonical, credential)
    return sign_built(element if element is not None else parse_own(xml), credential,
                      serialized=serialized)


__all__ = ["seal", "seal_bytes"]
