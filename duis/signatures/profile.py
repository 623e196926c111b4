"""The DUIS signature profile, as data.

One enveloped ``ds:Signature``, last child of the root ``sr:Request`` /
``sr:Response``; exactly this SignedInfo; KeyInfo naming the signer's
certificate by issuer and serial.  Nothing else is "tried": the verifier
compares against these values and refuses anything different.

Canonicalisation, precisely (this is what the DCC's own tool and every
XML-DSig implementation do, and what interoperability needs):

* ``SignedInfo`` is canonicalised with **exclusive** C14N 1.0 (the
  ``CanonicalizationMethod``) before it is signed.
* The document (``URI=""``: the whole document, comments excluded) minus the
  Signature element goes through the enveloped-signature transform, whose
  output is a node-set; XML-DSig then converts it to octets with **inclusive**
  Canonical XML 1.0 without comments.  That is what is digested, and those
  octets are the "signed bytes" the verifier hands back.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import catalogue as _catalogue
from ..namespaces import DS, SR, ds, sr  # noqa: F401 - the profile's namespaces, used as P.DS

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
ECDSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"

#: the most a KeyInfo value may carry, checked before anything is done with it
#: (the issuer name and serial come from a message not yet authenticated).
#: Real issuer DNs are a few dozen characters (``CN=Z1,OU=07``).  An X.509
#: serial is a positive integer of at most 20 octets (RFC 5280 4.1.2.2), so
#: below 2**159, which has 48 decimal digits; the SMKI's are 8 octets.
MAX_ISSUER_NAME_CHARS = 1024
MAX_SERIAL_DIGITS = len(str(2**159))
assert MAX_SERIAL_DIGITS == 48

#: P-256 coordinates are 32 bytes; the XML-DSig ECDSA value is raw r || s
COORDINATE_BYTES = 32
SIGNATURE_BYTES = 2 * COORDINATE_BYTES
DIGEST_BYTES = 32


SIGNATURE = ds("Signature")
ROOTS = frozenset({sr("Request"), sr("Response")})
#: element children of the root, in order, around an enveloped signature
ENVELOPE = (sr("Header"), sr("Body"), SIGNATURE)
#: the Signature's parts that hold what is signed and the values
SIGNED_INFO = ds("SignedInfo")
DIGEST_VALUE = ds("DigestValue")
SIGNATURE_VALUE = ds("SignatureValue")
ISSUER_NAME = ds("X509IssuerName")
SERIAL_NUMBER = ds("X509SerialNumber")


@dataclass(frozen=True)
class Node:
    """One element of the allowed Signature structure.

    ``attributes`` maps each allowed attribute to its one allowed value
    (``None``: any value); all listed attributes are required.  ``children``
    are the element children in order; ``text`` says whether the element
    carries character data (only leaves do).
    """

    name: str
    attributes: tuple[tuple[str, str | None], ...] = ()
    children: tuple[Node, ...] = ()
    text: bool = False


#: the one Signature shape the profile allows (:mod:`duis.signatures.template`
#: makes the markup and the shortcuts from it; verify checks against it)
STRUCTURE = Node(SIGNATURE, children=(
    Node(SIGNED_INFO, children=(
        Node(ds("CanonicalizationMethod"), (("Algorithm", EXC_C14N),)),
        Node(ds("SignatureMethod"), (("Algorithm", ECDSA_SHA256),)),
        Node(ds("Reference"), (("URI", ""),), children=(
            Node(ds("Transforms"), children=(
                Node(ds("Transform"), (("Algorithm", ENVELOPED),)),
            )),
            Node(ds("DigestMethod"), (("Algorithm", SHA256),)),
            Node(DIGEST_VALUE, text=True),
        )),
    )),
    Node(SIGNATURE_VALUE, text=True),
    Node(ds("KeyInfo"), children=(
        Node(ds("X509Data"), children=(
            Node(ds("X509IssuerSerial"), children=(
                Node(ISSUER_NAME, text=True),
                Node(SERIAL_NUMBER, text=True),
            )),
        )),
    )),
))


def preorder(node: Node):
    """``node`` and its descendants in document order."""
    yield node
    for child in node.children:
        yield from preorder(child)


#: algorithm attributes, by element, with the one allowed value
ALGORITHMS = {
    ds("CanonicalizationMethod"): EXC_C14N,
    ds("SignatureMethod"): ECDSA_SHA256,
    ds("DigestMethod"): SHA256,
}

#: SMKI remote-party role codes (certificate OU) that mark an XML-signing
#: certificate; ``137``/``135`` are the decimal spellings older certificates use
USER_XML_SIGN_OU = frozenset({"87", "135"})
DSP_XML_SIGN_OU = frozenset({"89", "137"})
LEGACY_OU = frozenset({"135", "137"})
ISSUING_AUTHORITY_OU = "07"

#: DUIS user role codes (DUIS "User Role" values)
USER_ROLES = frozenset(_catalogue.USER_ROLES)
