"""The XML namespaces of DUIS messages: the one place each URI is written.

``SR`` is the Service User Gateway namespace (requests, responses, headers and
bodies), ``RA`` the Response and Alert namespace of the MMC output, ``DS`` the
XML-DSig namespace of the enveloped signature and ``XSI`` the schema-instance
namespace.  :data:`PREFIXES` gives the prefix each has in the markup duis
writes; :func:`sr`, :func:`ra` and :func:`ds` give an element's Clark name
(``{namespace}local``) as lxml spells tags.
"""

from __future__ import annotations

SR = "http://www.dccinterface.co.uk/ServiceUserGateway"
RA = "http://www.dccinterface.co.uk/ResponseAndAlert"
DS = "http://www.w3.org/2000/09/xmldsig#"
XSI = "http://www.w3.org/2001/XMLSchema-instance"

#: the prefix each namespace has in the markup duis writes
PREFIXES = {SR: "sr", RA: "ra", DS: "ds", XSI: "xsi"}


def sr(name: str) -> str:
    """Clark name of a DUIS element."""
    return f"{{{SR}}}{name}"


def ra(name: str) -> str:
    """Clark name of an MMC output (Response and Alert) element."""
    return f"{{{RA}}}{name}"


def ds(name: str) -> str:
    """Clark name of an XML-DSig element."""
    return f"{{{DS}}}{name}"


__all__ = ["DS", "PREFIXES", "RA", "SR", "XSI", "ds", "ra", "sr"]
