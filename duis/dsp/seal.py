"""Sealing: the DSP's xml-sign signature on what it sends, a step of its own.

The DSP's steps build every message unsigned (:class:`~.responses.Outgoing`,
its element and its bytes); :func:`seal` signs them with the DSP's credential
valid at ``now``.  Where sealing runs is the caller's choice, never a mode of
the DSP: :meth:`~duis.dsp.DSP.submit` is handle then seal; ``duis serve``
seals a batch in its own process, or sends the bytes to a worker process
(:func:`seal_bytes`).  Both give the very same bytes: ECDSA here is
deterministic (RFC 6979), and the unsigned bytes parse back to the element
they were built from.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable

from ..signatures import CredentialStore, sign_built
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
        # the unsigned bytes are the element's own serialization: not written again;
        # with their Canonical XML at hand, nothing is parsed either
        serialized = out.xml[len(XML_DECLARATION):]
        if out.canonical is not None:
            xml = sign_prepared(serialized, out.canonical, credential)
        else:
            element = out.element if out.element is not None else parse_own(out.xml)
            xml = sign_built(element, credential, serialized=serialized)
        sealed.append(out.with_signature(xml))
    return sealed


def seal_bytes(unsigned: bytes, store: CredentialStore, now: _dt.datetime) -> bytes:
    """One unsigned message (an :attr:`Outgoing.xml`) signed with the DSP's credential
    valid at ``now``, from its bytes alone (in another process): byte for byte what
    :func:`seal` gives."""
    root = parse_own(unsigned)
    return sign_built(root, store.dsp_signing_credential(now=now))


__all__ = ["seal", "seal_bytes"]
