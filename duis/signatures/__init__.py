"""XML signatures in the DUIS profile, and GBCS-level command signatures.

``sign`` / ``sign_with_store`` produce the DUIS enveloped signature;
``verify`` accepts only that profile and returns what was signed;
``CredentialStore`` holds certificates and keys; ``CounterStore`` refuses
replayed RequestID counters; ``generate_test_pki`` builds the project's own
ZAZ1-shaped test PKI.  Failures are the narrow classes in ``errors``.
See ``docs/signatures.md``.
"""

from . import errors
from .credentials import Credential, CredentialStore
from .replay import CounterStore, MillisecondCounter
from .sign import sign, sign_built, sign_with_store
from .testpki import generate_test_pki
from .verify import VerifiedMessage, verify

__all__ = ["sign", "sign_built", "sign_with_store", "verify", "VerifiedMessage", "CredentialStore",
           "Credential", "CounterStore", "MillisecondCounter", "generate_test_pki", "errors"]
