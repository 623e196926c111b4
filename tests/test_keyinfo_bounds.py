"""What a signature's KeyInfo may carry is bounded before anything is done with it.

The issuer name and serial number come from a message nobody has
authenticated yet.  An 8 MB issuer name used to go into the issuer-name
normalisation cache (an LRU bounded by count, not bytes): four such messages
grew a serve worker by 2.3 GB, never freed.  A 5,000-digit serial made
``int()`` raise ValueError (Python's int-str conversion limit): a traceback,
HTTP 500.  Now both are refused first, with :class:`KeyInfoNotAllowed` saying
what was expected and how long the value was.
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from duis.signatures import credentials as C
from duis.signatures import errors as E
from duis.signatures import sign_with_store, verify
from duis.signatures.profile import MAX_ISSUER_NAME_CHARS, MAX_SERIAL_DIGITS, SR

ROOT = Path(__file__).resolve().parents[1]
PKI = ROOT / "samples" / "pki"
NOW = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
IS_USER = "90-B3-D5-1F-30-01-00-00"
REQUEST = (f'<sr:Request xmlns:sr="{SR}" schemaVersion="5.4"><sr:Header>'
           f"<sr:RequestID>{IS_USER}:00-DB-12-34-56-78-90-A0:1000</sr:RequestID>"
           "<sr:CommandVariant>1</sr:CommandVariant><sr:ServiceReference>11.2"
           "</sr:ServiceReference><sr:ServiceReferenceVariant>11.2</sr:ServiceReferenceVariant>"
           "</sr:Header><sr:Body><sr:ReadFirmwareVersion/></sr:Body></sr:Request>").encode()
_ISSUER = re.compile(rb"<ds:X509IssuerName>[^<]*</ds:X509IssuerName>")
_SERIAL = re.compile(rb"<ds:X509SerialNumber>[^<]*</ds:X509SerialNumber>")


@pytest.fixture(scope="module")
def signed(store) -> bytes:
    return sign_with_store(REQUEST, store, preserve_counter=True, now=NOW)


def with_issuer(signed: bytes, issuer: str) -> bytes:
    return _ISSUER.sub(b"<ds:X509IssuerName>" + issuer.encode() + b"</ds:X509IssuerName>",
                       signed)


def with_serial(signed: bytes, serial: str) -> bytes:
    return _SERIAL.sub(b"<ds:X509SerialNumber>" + serial.encode() + b"</ds:X509SerialNumber>",
                       signed)


def the_long_way(data: bytes) -> bytes:
    """White space between the Signature's elements: not duis's compact form,
    so the element-by-element reading decides (the same refusals)."""
    return data.replace(b"<ds:KeyInfo>", b"<ds:KeyInfo>\n  ")


@pytest.mark.parametrize("shape", [lambda d: d, the_long_way], ids=["compact", "long way"])
@pytest.mark.parametrize("length", [MAX_ISSUER_NAME_CHARS + 1, 8 * 1024 * 1024])
def test_a_long_issuer_name_is_refused_unread(store, signed, shape, length):
    before = C.normalise_dn_cache_size()
    data = shape(with_issuer(signed, "CN=" + "Z" * (length - 3)))
    with pytest.raises(E.KeyInfoNotAllowed) as caught:
        verify(data, store, now=NOW)
    error = caught.value
    assert error.found == f"{length} characters"
    assert str(MAX_ISSUER_NAME_CHARS) in error.expected
    assert error.path.endswith("/ds:X509IssuerName")
    assert len(str(error)) < 400  # the length is said, not the value
    assert C.normalise_dn_cache_size() == before


def test_an_issuer_name_at_the_cap_is_looked_up(store, signed):
    issuer = "CN=" + "Z" * (MAX_ISSUER_NAME_CHARS - 3)
    with pytest.raises(E.UnknownCertificate):
        verify(with_issuer(signed, issuer), store, now=NOW)


@pytest.mark.parametrize("shape", [lambda d: d, the_long_way], ids=["compact", "long way"])
@pytest.mark.parametrize("digits", [MAX_SERIAL_DIGITS + 1, 5000, 100_000])
def test_a_long_serial_is_refused_before_int(store, signed, shape, digits):
    with pytest.raises(E.KeyInfoNotAllowed) as caught:
        verify(shape(with_serial(signed, "9" * digits)), store, now=NOW)
    assert caught.value.found == f"{digits} digits"
    assert f"at most {MAX_SERIAL_DIGITS} digits" in caught.value.expected


def test_the_largest_x509_serial_is_read(store, signed):
    """20 octets, positive: below 2**159, 48 digits."""
    serial = str(2**159 - 1)
    assert len(serial) == MAX_SERIAL_DIGITS
    with pytest.raises(E.UnknownCertificate) as caught:
        verify(with_serial(signed, serial), store, now=NOW)
    assert serial in caught.value.found


def test_the_store_does_not_normalise_a_long_name(store):
    before = C.normalise_dn_cache_size()
    assert store.by_issuer_serial("CN=" + "Z" * 5000, 1) is None
    assert C.normalise_dn_cache_size() == before
    # normalising one still works (uncached), and short ones are still cached
    assert C.normalise_dn("cn=" + "z" * 5000) == C.normalise_dn("CN=" + "Z" * 5000)
    assert C.normalise_dn_cache_size() == before


_MEMORY_PROBE = textwrap.dedent("""
    import datetime as dt, gc, re, sys
    from duis.signatures import CredentialStore, sign_with_store, verify
    from duis.errors import DuisError
    pki, request = sys.argv[1], sys.argv[2].encode()
    size, count = int(sys.argv[3]), int(sys.argv[4])
    now = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    store = CredentialStore(pki)
    signed = sign_with_store(request, store, preserve_counter=True, now=now)
    issuer = re.compile(rb"<ds:X509IssuerName>[^<]*<")

    def rss():
        with open("/proc/self/status") as status:
            return next(int(l.split()[1]) for l in status if l.startswith("VmRSS:")) * 1024

    def attempt(i):
        name = b"CN=" + str(i).encode() + b"," + b"OU=" + b"x" * (size - 10)
        data = issuer.sub(b"<ds:X509IssuerName>" + name[:size] + b"<", signed)
        try:
            verify(data, store, now=now)
        except DuisError:
            pass

    for i in range(3):  # warm up: imports, parser, first allocations
        attempt(i)
    gc.collect()
    start = rss()
    for i in range(3, 3 + count):
        attempt(i)
    gc.collect()
    print(rss() - start)
""")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc to read RSS")
@pytest.mark.parametrize("size, count, bound", [
    (1024 * 1024, 48, 24 * 1024 * 1024),  # large names, refused unread: was ~100+ MB
    (MAX_ISSUER_NAME_CHARS, 3000, 16 * 1024 * 1024),  # names at the cap: the LRU bound
], ids=["1 MB names", "names at the cap"])
def test_memory_stays_bounded_with_distinct_issuer_names(size, count, bound):
    result = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(PKI), REQUEST.decode(),
                             str(size), str(count)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    growth = int(result.stdout.strip())
    assert growth < bound, f"RSS grew by {growth / 2**20:.1f} MB"
